#!/usr/bin/env bash
# Starts a local Docker engine if none answers, for building and running the
# mlmd-remote reference-server image (see README.md beside this file).
#
#   tools/container/start-docker.sh [LOG_FILE]
#
# - Installs nothing: it needs `docker` (the CLI) and `dockerd` on PATH
#   (Debian: `apt-get install docker.io`).
# - Idempotent: when `docker info` already works it says so and exits 0.
# - Otherwise it starts `dockerd --storage-driver=vfs` (see below) in the background
#   (detached, so it outlives this script), with its output in LOG_FILE
#   (default: /tmp/mlmd-remote-dockerd.log) and its pid in
#   $DOCKERD_PIDFILE (default: /var/run/docker.pid, dockerd's own pid file;
#   stop it with `kill "$(cat /var/run/docker.pid)"`), and waits until
#   `docker info` works, at most $DOCKERD_START_TIMEOUT seconds (default 60).
#
# Storage driver: $DOCKERD_STORAGE_DRIVER, default vfs. vfs works on any
# backing filesystem, also inside containers where overlayfs cannot be
# nested, but `docker create` copies the whole image (about 6-10 s for this
# ~220 MB image on a 2-core machine). overlay2 creates a container in well
# under a second where the kernel and filesystem allow it;
# DOCKERD_STORAGE_DRIVER=auto tries overlay2 and falls back to vfs. Each
# driver keeps its own images: after switching, build-image.sh re-imports
# the cached root filesystem (a few seconds).
#
# Networking: the image is meant to be run with `--network host` only, so the
# engine needs no bridge and no NAT. If dockerd cannot start because it cannot
# create the default bridge (docker0) or program iptables (missing kernel
# modules, no nf_tables/legacy iptables, restricted network namespace), the
# script retries once with `--iptables=false --bridge=none`: the engine then
# has no default bridge network, so containers must use `--network host`
# (or `none`), which is exactly what the tests do. Set DOCKERD_NO_BRIDGE=1 to
# start that way directly.
set -euo pipefail

log_file=${1:-/tmp/mlmd-remote-dockerd.log}
timeout=${DOCKERD_START_TIMEOUT:-60}
storage_driver=${DOCKERD_STORAGE_DRIVER:-vfs}
pidfile=${DOCKERD_PIDFILE:-/var/run/docker.pid}

say() { echo "start-docker: $*" >&2; }

case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

if ! command -v docker >/dev/null 2>&1; then
  say "no docker CLI on PATH; install it with 'apt-get install docker.io'" \
      "(or run the same server without containers: --server reference)"
  exit 1
fi

if docker info >/dev/null 2>&1; then
  say "a Docker engine already answers ($(docker info --format '{{.ServerVersion}}, storage driver {{.Driver}}' 2>/dev/null || echo '?')); nothing to do"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "no Docker engine answers and 'dockerd' is not installed; install it with 'apt-get install docker.io'" \
      "(or run the same server without containers: --server reference)"
  exit 1
fi

if [ "$(id -u)" != 0 ]; then
  say "starting dockerd needs root (this machine's tests run as root); run this script as root"
  exit 1
fi

# A dockerd that is still starting (e.g. another run of this script) must not
# get a second instance next to it: wait for it instead.
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
   && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" = dockerd ]; then
  say "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting up to ${timeout}s"
  for _ in $(seq "$timeout"); do
    docker info >/dev/null 2>&1 && { say "engine is up"; exit 0; }
    sleep 1
  done
  say "dockerd (pid $(cat "$pidfile")) did not answer within ${timeout}s; see its log"
  exit 1
fi

mkdir -p "$(dirname "$log_file")"

# start_dockerd DRIVER EXTRA_ARGS... -> 0 when `docker info` works, 1 when
# dockerd exited (its output of this attempt is in $attempt_log), 2 on
# timeout (dockerd left running).
attempt_log=""
start_dockerd() {
  local driver=$1; shift
  say "starting dockerd --storage-driver=$driver${*:+ $*} (log: $log_file)"
  echo "=== $(date -Is) dockerd --storage-driver=$driver --pidfile=$pidfile $*" >>"$log_file"
  local first_line
  first_line=$(( $(wc -l <"$log_file") + 1 ))
  # setsid + nohup: detached from this shell's session and signals, so the
  # engine keeps running after the script (or the calling shell) exits.
  setsid nohup dockerd --storage-driver="$driver" --pidfile="$pidfile" "$@" \
    >>"$log_file" 2>&1 </dev/null &
  local pid=$! waited=0
  while [ "$waited" -lt "$timeout" ]; do
    if docker info >/dev/null 2>&1; then
      say "engine is up after ${waited}s (dockerd pid $pid; stop it with: kill $pid)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      attempt_log=$(tail -n +"$first_line" "$log_file")
      say "dockerd exited during start-up; last lines of its log:"
      printf '%s\n' "$attempt_log" | tail -n 4 | cut -c1-300 | sed 's/^/  | /' >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
    if [ $((waited % 10)) -eq 0 ]; then say "still waiting for dockerd (${waited}s)"; fi
  done
  say "dockerd (pid $pid) did not answer within ${timeout}s; it is left running, see $log_file"
  return 2
}

network_failure() {
  printf '%s\n' "$attempt_log" | tail -n 40 | grep -qiE 'iptables|bridge|docker0|nat chain|netfilter|ip_tables|xtables'
}

if [ "$storage_driver" = auto ]; then
  drivers=(overlay2 vfs)
else
  drivers=("$storage_driver")
fi
for driver in "${drivers[@]}"; do
  rc=0
  if [ "${DOCKERD_NO_BRIDGE:-0}" = 1 ]; then
    start_dockerd "$driver" --iptables=false --bridge=none || rc=$?
  else
    start_dockerd "$driver" || rc=$?
    if [ "$rc" -eq 1 ] && network_failure; then
      say "the failure looks like bridge/iptables set-up; retrying with --iptables=false --bridge=none (host networking only)"
      rc=0
      start_dockerd "$driver" --iptables=false --bridge=none || rc=$?
    fi
  fi
  [ "$rc" -eq 0 ] && exit 0
  [ "$rc" -eq 2 ] && exit 1
done
say "could not start a Docker engine; see $log_file" \
    "(tests can run the same server without containers: --server reference)"
exit 1
