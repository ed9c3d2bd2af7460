#!/usr/bin/env bash
# shellcheck disable=SC2317  # on_exit and the functions it calls run from traps
# Runs the behaviour suite (tools/behaviour_suite) with our wheel installed in
# a foreign Debian root filesystem, against an MLMD server on this host. It
# shows that the pure-Python wheel works where the official one does not:
# ARM64, and CPythons outside the official wheels' range. See README.md
# beside this file.
#
#   tools/platform/run-suite.sh --platform NAME --wheel PATH
#                               [--cache-dir DIR] [--junit FILE] [--mirror URL]
#                               [--force] [--build-only] [--keep-root]
#
#   --platform NAME  linux/arm64   Debian bookworm arm64, CPython 3.11, run
#                                  under qemu-user-static via binfmt_misc
#                    cpython-3.13  Debian trixie amd64, CPython 3.13
#                    cpython-3.9   Debian bullseye amd64, CPython 3.9
#   --wheel PATH     the wheel to install (pip install PATH, as a user would;
#                    its dependencies come from PyPI, resolved in the rootfs)
#   --cache-dir DIR  where the rootfs tarballs and build logs are kept (default
#                    $MLMD_REMOTE_CACHE_DIR/platform, else
#                    ${XDG_CACHE_HOME:-~/.cache}/mlmd-remote/platform)
#   --junit FILE     copy pytest's JUnit XML here (default
#                    DIR/junit-<platform>.xml)
#   --mirror URL     Debian mirror for debootstrap (default: the Debian archive
#                    apt uses on this machine, else http://deb.debian.org/debian)
#   --force          rebuild the rootfs even when a cached one matches
#   --build-only     build (or find) the cached rootfs, run nothing
#   --keep-root      leave the throw-away rootfs of this run on disk (unmounted)
#
# Environment: MLMD_PORT (required unless --build-only) and MLMD_HOST (default
# 127.0.0.1) name the server; MLMD_SLOW_HOST/PORT/DELAY_MS and
# MLMD_TLS_HOST/PORT/CA_FILE are passed on when set (the CA file is copied
# into the rootfs). The chroot shares this host's network namespace, so
# 127.0.0.1 is this host.
#
# Output: progress on stderr; one last line on stdout,
#   PLATFORM-RESULT {"platform":...,"machine":...,"python":...,"exit":N,...}
# Exit: 0 suite passed; 1 suite failed, or the wheel could not be installed;
# 2 usage error (bad argument, no wheel, MLMD_PORT unset or nothing listens);
# 3 this host cannot run the platform (not root, no debootstrap, no
# qemu-user-static, no binfmt_misc); 4 the rootfs could not be built or
# prepared (mirror, network, PyPI unreachable before the wheel was tried).
set -euo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=$(dirname "$script_path")
repo=$(cd "$here/../.." && pwd)
suite_dir=$repo/tools/behaviour_suite
client_reqs=$repo/tools/verify/client-requirements.txt

# --- recipes ----------------------------------------------------------------
# Every platform is: debootstrap --variant=minbase of SUITE for ARCH with
# $include, checked to have CPython PY, where platform.machine() is MACHINE.
include=python3,python3-venv,ca-certificates,openssl
variant=minbase
recipe_for() {
  case "$1" in
    linux/arm64)  suite=bookworm; arch=arm64; want_py=3.11; machine=aarch64 ;;
    cpython-3.13) suite=trixie;   arch=amd64; want_py=3.13; machine=x86_64 ;;
    cpython-3.9)  suite=bullseye; arch=amd64; want_py=3.9;  machine=x86_64 ;;
    *) return 1 ;;
  esac
}
platforms="linux/arm64 cpython-3.13 cpython-3.9"

# --- output -----------------------------------------------------------------
platform=""
start=$(date +%s)
say() { echo "run-suite${platform:+[$platform]}: $*" >&2; }
step() { say "[$(( $(date +%s) - start ))s] $*"; }

# Fields of the PLATFORM-RESULT line, filled in as we go.
stage=setup reason="" cached="" py="" got_machine="" grpcio="" grpcio_tag="" protobuf=""
pip_version="" mlmd_installed="" pytest_exit="" tests_json=null junit_out="" suite_seconds=""
distro=""
result_printed=0

json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
json_opt() { if [ -n "$1" ]; then json_str "$1"; else printf null; fi; }
json_num() { if [ -n "$1" ]; then printf '%s' "$1"; else printf null; fi; }

print_result() {
  local rc=$1
  [ "$result_printed" = 0 ] || return 0
  result_printed=1
  printf 'PLATFORM-RESULT {"platform":%s,"distro":%s,"machine":%s,"python":%s,"ml_metadata_remote":%s,"grpcio":%s,"grpcio_tag":%s,"protobuf":%s,"pip":%s,"exit":%s,"stage":%s,"reason":%s,"cached":%s,"tests":%s,"pytest_exit":%s,"junit":%s,"suite_seconds":%s,"seconds":%s}\n' \
    "$(json_opt "$platform")" "$(json_opt "$distro")" "$(json_opt "$got_machine")" "$(json_opt "$py")" "$(json_opt "$mlmd_installed")" \
    "$(json_opt "$grpcio")" "$(json_opt "$grpcio_tag")" "$(json_opt "$protobuf")" \
    "$(json_opt "$pip_version")" "$rc" "$(json_str "$stage")" "$(json_opt "$reason")" \
    "${cached:-null}" "$tests_json" "$(json_num "$pytest_exit")" "$(json_opt "$junit_out")" \
    "$(json_num "$suite_seconds")" "$(( $(date +%s) - start ))"
}

# fail CODE MESSAGE: one sentence naming the fix, then exit with CODE.
fail() {
  local code=$1; shift
  reason=$*
  say "error: $*"
  exit "$code"
}

usage() { sed -n '3,/^set -euo/p' "$script_path" | sed '$d; s/^# \{0,1\}//'; }

# --- arguments --------------------------------------------------------------
wheel=""
cache_dir=${MLMD_REMOTE_CACHE_DIR:+$MLMD_REMOTE_CACHE_DIR/platform}
cache_dir=${cache_dir:-${XDG_CACHE_HOME:-$HOME/.cache}/mlmd-remote/platform}
junit=""
mirror=""
force=0 build_only=0 keep_root=0
need() { [ "$2" -ge 2 ] || { usage >&2; fail 2 "$1 needs a value"; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) need "$1" $#; platform=$2; shift 2 ;;
    --platform=*) platform=${1#*=}; shift ;;
    --wheel) need "$1" $#; wheel=$2; shift 2 ;;
    --wheel=*) wheel=${1#*=}; shift ;;
    --cache-dir) need "$1" $#; cache_dir=$2; shift 2 ;;
    --cache-dir=*) cache_dir=${1#*=}; shift ;;
    --junit) need "$1" $#; junit=$2; shift 2 ;;
    --junit=*) junit=${1#*=}; shift ;;
    --mirror) need "$1" $#; mirror=$2; shift 2 ;;
    --mirror=*) mirror=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --build-only) build_only=1; shift ;;
    --keep-root) keep_root=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; fail 2 "unknown argument '$1'; see --help" ;;
  esac
done

# From here on every exit prints the PLATFORM-RESULT line and cleans up.
work=""
unmount_under() {
  # Unmounts whatever is mounted at or below $1, deepest first.
  local dir=$1 m
  awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts 2>/dev/null | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
mounted_under() {
  awk -v d="$1/" 'index($2 "/", d) == 1 { n++ } END { exit !(n > 0) }' /proc/mounts 2>/dev/null
}
kill_rooted_in() {
  # Kills the processes whose root directory is inside $1: those we started
  # in a chroot there (by this run, or by one that was SIGKILLed).
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case "$r/" in "$1"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
}
remove_tree() {
  # Never removes a tree that still has something mounted in it.
  local dir=$1
  unmount_under "$dir"
  if mounted_under "$dir"; then
    say "warning: could not unmount everything under $dir; leaving it on disk"
    return 0
  fi
  rm -rf --one-file-system "$dir"
}
cleanup() {
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ "$keep_root" = 1 ] && [ "$stage" != build ]; then
      unmount_under "$work"
      if mounted_under "$work"; then
        say "warning: could not unmount everything under $work; leaving it as it is"
      else
        local kept
        kept=$(mktemp -d "$cache_dir/kept-$slug.XXXXXX")
        mv "$work/root" "$kept/root"
        rm -rf --one-file-system "$work"
        say "kept the throw-away rootfs at $kept/root (unmounted; remove it with rm -rf --one-file-system $kept)"
      fi
    else
      remove_tree "$work"
    fi
  fi
  work=""
}
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if declare -F stop_children >/dev/null; then stop_children; fi
  cleanup
  print_result "$rc"
  exit "$rc"
}
trap on_exit EXIT
trap 'reason="interrupted"; say "interrupted; stopping and cleaning up"; exit 130' INT
trap 'reason="terminated"; say "terminated; stopping and cleaning up"; exit 143' TERM

[ -n "$platform" ] || { usage >&2; fail 2 "--platform is required (one of: $platforms)"; }
recipe_for "$platform" || fail 2 "unknown platform '$platform'; use one of: $platforms"
slug=${platform//\//-}
distro="debian-$suite-$arch"
if [ "$build_only" = 0 ]; then
  [ -n "$wheel" ] || fail 2 "--wheel is required; build one with 'npm run wheel' (dist/*.whl)"
  [ -f "$wheel" ] || fail 2 "the wheel $wheel does not exist; build it with 'npm run wheel'"
  case "$(basename "$wheel")" in *.whl) ;; *) fail 2 "--wheel must name a .whl file, got $wheel" ;; esac
  wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
  [ -f "$suite_dir/conftest.py" ] || fail 2 "the behaviour suite is missing ($suite_dir/conftest.py)"
  [ -f "$client_reqs" ] || fail 2 "the suite requirements are missing ($client_reqs)"

  mlmd_host=${MLMD_HOST:-127.0.0.1}
  mlmd_port=${MLMD_PORT:-}
  [ -n "$mlmd_port" ] || fail 2 "MLMD_PORT is not set; start a server with 'node bin/mlmd-remote.js server start' and export MLMD_PORT=<its port> ('server status' shows it)"
  case "$mlmd_port" in *[!0-9]*) fail 2 "MLMD_PORT must be a port number, got '$mlmd_port'" ;; esac
  if ! (exec 3<>"/dev/tcp/$mlmd_host/$mlmd_port") 2>/dev/null; then
    fail 2 "nothing listens on $mlmd_host:$mlmd_port (MLMD_HOST/MLMD_PORT); start the server with 'node bin/mlmd-remote.js server start'"
  fi
  if [ -n "${MLMD_TLS_CA_FILE:-}" ] && [ ! -r "$MLMD_TLS_CA_FILE" ]; then
    fail 2 "MLMD_TLS_CA_FILE=$MLMD_TLS_CA_FILE is not a readable file"
  fi
fi

# --- what this host needs ---------------------------------------------------
[ "$(id -u)" = 0 ] || fail 3 "chroot, mount and debootstrap need root; run this script as root (e.g. with sudo)"
for tool in chroot mount umount tar sha256sum awk; do
  command -v "$tool" >/dev/null 2>&1 || fail 3 "the host lacks '$tool'; install it (coreutils, mount, tar, gawk/mawk)"
done

host_arch=$(dpkg --print-architecture 2>/dev/null || true)
if [ -z "$host_arch" ]; then
  case "$(uname -m)" in
    x86_64) host_arch=amd64 ;; aarch64) host_arch=arm64 ;; *) host_arch=$(uname -m) ;;
  esac
fi
foreign=0
[ "$arch" = "$host_arch" ] || foreign=1
qemu_arch=""
case "$arch" in arm64) qemu_arch=aarch64 ;; amd64) qemu_arch=x86_64 ;; esac
qemu_static=/usr/bin/qemu-$qemu_arch-static
binfmt=/proc/sys/fs/binfmt_misc
binfmt_interp="" binfmt_fixed=0

ensure_binfmt() {
  # The kernel must hand $arch ELF binaries to qemu: a qemu-$qemu_arch entry in
  # binfmt_misc. Registers it (system-wide, as binfmt-support would at boot)
  # when missing.
  [ -x "$qemu_static" ] \
    || fail 3 "$platform needs $qemu_static to emulate $arch on this $host_arch host; run 'apt-get install qemu-user-static binfmt-support'"
  if [ ! -e "$binfmt/status" ]; then
    step "mounting binfmt_misc at $binfmt"
    local err
    if ! err=$(mount -t binfmt_misc binfmt_misc "$binfmt" 2>&1); then
      fail 3 "binfmt_misc is not available here ($(echo "$err" | head -n1 | sed "s/^ *//")); on a container host, register qemu on the host or run privileged, else 'modprobe binfmt_misc' and 'mount -t binfmt_misc binfmt_misc $binfmt'"
    fi
  fi
  if [ "$(cat "$binfmt/status" 2>/dev/null)" != enabled ]; then
    echo 1 >"$binfmt/status" 2>/dev/null \
      || fail 3 "binfmt_misc is disabled and cannot be enabled; run 'echo 1 > $binfmt/status' as root on the host"
  fi
  local entry=$binfmt/qemu-$qemu_arch
  if [ ! -e "$entry" ]; then
    step "registering the qemu-$qemu_arch binfmt_misc handler"
    if command -v update-binfmts >/dev/null 2>&1; then
      update-binfmts --enable "qemu-$qemu_arch" >/dev/null 2>&1 || true
    fi
    if [ ! -e "$entry" ] && [ -r "/usr/lib/binfmt.d/qemu-$qemu_arch.conf" ]; then
      grep -v '^[[:space:]]*\(#\|$\)' "/usr/lib/binfmt.d/qemu-$qemu_arch.conf" | head -n1 >"$binfmt/register" 2>/dev/null || true
    fi
    [ -e "$entry" ] \
      || fail 3 "no qemu-$qemu_arch handler in binfmt_misc and registering one failed; run 'update-binfmts --enable qemu-$qemu_arch' (package binfmt-support)"
  fi
  if [ "$(head -n1 "$entry")" != enabled ]; then
    echo 1 >"$entry" 2>/dev/null \
      || fail 3 "the qemu-$qemu_arch binfmt_misc handler is disabled; run 'update-binfmts --enable qemu-$qemu_arch'"
  fi
  binfmt_interp=$(sed -n 's/^interpreter //p' "$entry")
  grep -q '^flags:.*F' "$entry" && binfmt_fixed=1
  step "binfmt_misc: qemu-$qemu_arch -> $binfmt_interp (flags: $(sed -n 's/^flags: //p' "$entry"))"
}

provide_qemu() {
  # Without the F flag the kernel opens the interpreter inside the chroot, so
  # it must exist there at the registered path.
  local root=$1
  if [ "$foreign" = 1 ] && [ "$binfmt_fixed" = 0 ] && [ -n "$binfmt_interp" ]; then
    mkdir -p "$root$(dirname "$binfmt_interp")"
    cp "$qemu_static" "$root$binfmt_interp"
  fi
}

if [ "$foreign" = 1 ]; then
  [ -n "$qemu_arch" ] || fail 3 "$platform ($arch) cannot be emulated on this $host_arch host: no qemu mapping for $arch"
  ensure_binfmt
fi

# --- the cache --------------------------------------------------------------
mkdir -p "$cache_dir"
cache_dir=$(cd "$cache_dir" && pwd)
recipe=$( { cat "$script_path"; printf '\n%s\n' "$platform" "$suite" "$arch" "$include" "$variant"; cat "$client_reqs" 2>/dev/null || true; } | sha256sum | cut -c1-64)
short=${recipe:0:16}
rootfs_tar=$cache_dir/rootfs-$slug-$short.tar
build_log=$cache_dir/build-$slug-$short.log
run_log=$cache_dir/run-$slug.log
[ -n "$junit" ] || junit=$cache_dir/junit-$slug.xml

# Throw-away trees of runs and builds that died without cleaning up
# (SIGKILL, reboot): their pid is gone (or never written, a minute on).
for old in "$cache_dir"/run.* "$cache_dir"/build.*; do
  [ -d "$old" ] || continue
  pid=$(cat "$old/pid" 2>/dev/null || true)
  if [ -z "$pid" ] && [ -z "$(find "$old" -maxdepth 0 -mmin +1)" ]; then continue; fi
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    say "removing the stale run directory $(basename "$old")"
    kill_rooted_in "$old"
    sleep 0.2
    remove_tree "$old"
  fi
done

default_mirror() {
  # The main Debian archive apt uses here (a "deb" source whose suites include
  # a plain release name, not -updates/-security), one-line or deb822 format.
  grep -qs '^ID=debian' /etc/os-release || return 0
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk '
    function plain(s,   n, a, i) { n = split(s, a, " "); for (i = 1; i <= n; i++) if (a[i] ~ /^[a-z]+$/) return 1; return 0 }
    function flush() {
      if (types ~ /(^| )deb( |$)/ && enabled != "no" && plain(suites) && uris != "" && uris !~ /security/) {
        split(uris, u, " "); print u[1]; found = 1; exit
      }
      types = ""; suites = ""; uris = ""; enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]*#/) next
      key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") types = val
      else if (key == "uris") uris = val
      else if (key == "suites") suites = val
      else if (key == "enabled") enabled = tolower(val)
      next
    }
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) ~ /^[a-z]+$/ && $i !~ /security/) { print $i; found = 1; exit }
    }
    END { if (!found) flush() }
  ' "${files[@]}" 2>/dev/null | head -n1
}

# view MODE: how a child's output is shown on stderr while it runs. progress:
# lines matching $show_pattern, and every 25th matching $count_pattern as a
# count (per second word); all: every line, indented.
show_pattern='^$'
count_pattern=''
view() {
  if [ "$1" = all ]; then
    sed -u 's/^/  | /'
  else
    awk -v show="$show_pattern" -v count="$count_pattern" '
      $0 ~ show { print "run-suite:   " $0; fflush(); next }
      count != "" && $0 ~ count { if (++n[$2] % 25 == 0) { print "run-suite:   ... " $2 " " n[$2] " packages"; fflush() } }'
  fi
}

# run_child LOG MODE CMD...: runs CMD (a function is fine) in a process group
# of its own, output appended to LOG and shown through `view MODE` while it
# runs; returns its exit status. We wait with `wait`, which a signal
# interrupts, so INT/TERM to this script stop the child promptly (on_exit
# kills its group) instead of waiting for it to finish.
child="" viewer=""
run_child() {
  local log=$1 mode=$2; shift 2
  local offset rc=0
  offset=$(( $(stat -c %s "$log") + 1 ))
  set -m
  "$@" >>"$log" 2>&1 </dev/null &
  child=$!
  set +m
  tail -c "+$offset" -s 0.2 --pid="$child" -F "$log" 2>/dev/null | view "$mode" >&2 &
  viewer=$!
  wait "$child" || rc=$?
  child=""
  wait "$viewer" 2>/dev/null || true
  viewer=""
  return "$rc"
}

group_alive() {
  # Is any process of group $1 still running (zombies do not count)?
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '
    { s = $0; sub(/.*\) /, "", s); split(s, a, " "); if (a[3] == g && a[1] != "Z") { found = 1; exit } }
    END { exit !found }'
}

stop_children() {
  if [ -n "$child" ]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    for _ in $(seq 50); do group_alive "$child" || break; sleep 0.1; done
    kill -KILL -- "-$child" 2>/dev/null || true
    child=""
  fi
  if [ -n "$viewer" ]; then kill "$viewer" 2>/dev/null || true; viewer=""; fi
  # Anything else still running inside our throw-away tree (a process the
  # suite left behind) would keep its mounts busy.
  if [ -n "$work" ]; then kill_rooted_in "$work"; fi
}

# run_logged LOG LABEL EXITCODE CMD...: run_child in progress mode; on
# failure shows the log's tail and exits with EXITCODE.
run_logged() {
  local log=$1 label=$2 code=$3; shift 3
  echo "=== $(date -Is) $label: $*" >>"$log"
  local rc=0
  run_child "$log" progress "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "$label failed (exit $rc); last lines of $log:"
    tail -n 15 "$log" | sed 's/^/  | /' >&2
    fail "$code" "$label failed (exit $rc); see $log$( [ "$code" = 4 ] && echo ' (a network or mirror problem? try --mirror URL)')"
  fi
}

# chroot_env ROOT VAR=VALUE... -- CMD...: a clean environment, nothing of the
# host's leaks in except what is named.
chroot_env() {
  local root=$1; shift
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "${vars[@]}" chroot "$root" "$@"
}

mount_pseudo() {
  # /proc and /sys fresh, /dev as a recursive bind made a slave, so nothing
  # mounted or unmounted in the chroot propagates back to the host.
  local root=$1
  mkdir -p "$root/proc" "$root/sys" "$root/dev"
  mount -t proc proc "$root/proc"
  mount -t sysfs -o ro sysfs "$root/sys" 2>/dev/null || true
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
}

# --- build the rootfs (cached) ----------------------------------------------
exec 9>"$cache_dir/.lock-$slug"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
  say "another run is building the $platform rootfs in $cache_dir; waiting for it"
  set -m; flock 9 & child=$!; set +m   # waited for with `wait`: INT/TERM stay prompt
  wait "$child"; child=""
fi

if [ "$force" = 1 ] || [ ! -s "$rootfs_tar" ]; then
  cached=false
  stage=build
  command -v debootstrap >/dev/null 2>&1 \
    || fail 3 "debootstrap is not installed, and the $platform rootfs is not cached; run 'apt-get install debootstrap'"
  mirror=${mirror:-$(default_mirror)}
  mirror=${mirror:-http://deb.debian.org/debian}
  : >"$build_log"
  say "building the $platform rootfs: Debian $suite $arch, $include (recipe $short; log: $build_log)"
  work=$(mktemp -d "$cache_dir/build.XXXXXX")
  echo $$ >"$work/pid"
  root=$work/root
  mkdir -p "$root"

  show_pattern='^(I: (Retrieving (Release|Packages) |Checking component|Resolving dependencies|Found (packages in base|additional)|Installing core|Unpacking the base|Configuring the base|Base system installed)|E: |W: )'
  count_pattern='^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]'
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  keyring_arg=()
  [ -r "$keyring" ] && keyring_arg=(--keyring="$keyring")
  if [ "$foreign" = 1 ]; then
    step "1/4 debootstrap --foreign --arch=$arch --variant=$variant $suite from $mirror (first stage, native; about a minute)"
    run_logged "$build_log" "debootstrap (first stage)" 4 \
      debootstrap --arch="$arch" --foreign --variant="$variant" --include="$include" "${keyring_arg[@]}" "$suite" "$root" "$mirror"
    provide_qemu "$root"
    step "2/4 debootstrap --second-stage under qemu-$qemu_arch (emulated dpkg; several minutes)"
    if ! chroot "$root" /bin/true 2>>"$build_log"; then
      fail 3 "the kernel does not run $arch binaries in the chroot even with the qemu-$qemu_arch binfmt_misc handler; check 'update-binfmts --display qemu-$qemu_arch'"
    fi
    # debootstrap mounts /proc and /sys itself; /dev has the nodes the
    # first stage made.
    run_logged "$build_log" "debootstrap (second stage)" 4 \
      chroot_env "$root" -- /debootstrap/debootstrap --second-stage
    unmount_under "$root"
  else
    step "1/4 debootstrap --arch=$arch --variant=$variant $suite from $mirror (a few minutes)"
    run_logged "$build_log" "debootstrap" 4 \
      debootstrap --arch="$arch" --variant="$variant" --include="$include" "${keyring_arg[@]}" "$suite" "$root" "$mirror"
    unmount_under "$root"
    step "2/4 (native: no second stage)"
  fi

  step "3/4 checking the rootfs (CPython $want_py with venv and ensurepip, machine $machine)"
  mount_pseudo "$root"
  got=$(chroot_env "$root" -- /usr/bin/python3 -c 'import ensurepip, platform, sys, venv; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], platform.machine()))' 2>>"$build_log") \
    || fail 4 "python3 (with venv and ensurepip) does not run in the new $platform rootfs; see $build_log"
  unmount_under "$root"
  # Nothing may stay mounted (the host's /dev!) before files are deleted.
  if mounted_under "$root"; then
    fail 4 "could not unmount everything under $root; unmount it by hand (see /proc/mounts)"
  fi
  [ "${got% *}" = "$want_py" ] || fail 4 "the $suite rootfs has CPython ${got% *}, the $platform recipe expects $want_py; fix the recipe in $script_path"
  [ "${got#* }" = "$machine" ] || fail 4 "python in the $platform rootfs reports machine ${got#* }, expected $machine"
  # What no run needs: downloaded .debs, apt lists, docs, man pages and
  # message translations; the qemu binary if we copied one (each run copies
  # the one that matches the handler registered then).
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/debootstrap \
    "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  if [ "$foreign" = 1 ] && [ "$binfmt_fixed" = 0 ] && [ -n "$binfmt_interp" ]; then
    rm -f "$root$binfmt_interp"
  fi
  rm -rf "${root:?}"/dev/*
  : >"$root/etc/resolv.conf"

  step "4/4 caching the rootfs as $(basename "$rootfs_tar") ($(du -sh "$root" | cut -f1))"
  find "$cache_dir" -maxdepth 1 \( -name "rootfs-$slug-*.tar" -o -name "rootfs-$slug-*.tar.tmp" \) -delete
  tar -C "$root" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  find "$cache_dir" -maxdepth 1 -name "build-$slug-*.log" ! -name "build-$slug-$short.log" -delete
  cleanup
  step "rootfs built and cached"
else
  cached=true
  step "using the cached rootfs $(basename "$rootfs_tar") (recipe $short)"
fi

if [ "$build_only" = 1 ]; then
  stage="done"
  exec 9>&-
  exit 0
fi

# --- a throw-away copy, and the run ----------------------------------------
stage=prepare
work=$(mktemp -d "$cache_dir/run.XXXXXX")
echo $$ >"$work/pid"
root=$work/root
mkdir -p "$root"
step "extracting a throw-away rootfs into $(basename "$work")"
tar -C "$root" --numeric-owner -xpf "$rootfs_tar"
exec 9>&-   # the tarball may be rebuilt by others from here on
provide_qemu "$root"
mount_pseudo "$root"
if [ "$foreign" = 1 ] && ! chroot "$root" /bin/true 2>/dev/null; then
  fail 3 "the kernel does not run $arch binaries in the chroot even with the qemu-$qemu_arch binfmt_misc handler; check 'update-binfmts --display qemu-$qemu_arch'"
fi

# Network and trust as on the host: DNS, hosts, the host's CA bundle (pip
# must trust what the host trusts, e.g. an egress proxy's CA) and its pip
# configuration (index URL, certificate path).
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp -L /etc/hosts "$root/etc/hosts" 2>/dev/null || true
host_ca=${PIP_CERT:-}
[ -n "$host_ca" ] && [ -r "$host_ca" ] || host_ca=/etc/ssl/certs/ca-certificates.crt
if [ -r "$host_ca" ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp -L "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
fi
for f in /etc/pip.conf /etc/xdg/pip/pip.conf; do
  if [ -r "$f" ]; then mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"; fi
done
pip_env=(PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1 PIP_PROGRESS_BAR=off
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt)
for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT \
         http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && pip_env+=("$v=${!v}")
done

# The wheel (its file name must stay a wheel name), the suite, its pins.
mkdir -p "$root/mlmd-platform/wheel" "$root/suite" "$root/out"
cp "$wheel" "$root/mlmd-platform/wheel/"
cp "$client_reqs" "$root/mlmd-platform/client-requirements.txt"
tar -C "$suite_dir" --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache -cf - . | tar -C "$root/suite" -xf -
in_wheel=/mlmd-platform/wheel/$(basename "$wheel")

: >"$run_log"
echo "=== $(date -Is) $platform: wheel $wheel, server $mlmd_host:$mlmd_port, rootfs $(basename "$rootfs_tar")" >>"$run_log"
stage=install
step "python3 -m venv /venv"
run_logged "$run_log" "python3 -m venv" 4 chroot_env "$root" -- /usr/bin/python3 -m venv /venv
step "pip install $(basename "$wheel") + $(grep -v '^\s*\(#\|$\)' "$client_reqs" | tr '\n' ' ')(dependencies from PyPI, resolved for $platform$( [ "$foreign" = 1 ] && echo ', emulated'))"
show_pattern='^(Collecting|Successfully installed|ERROR|error:)'
run_logged "$run_log" "pip install" 1 chroot_env "$root" "${pip_env[@]}" -- \
  /venv/bin/python -m pip install "$in_wheel" -r /mlmd-platform/client-requirements.txt

facts=$(chroot_env "$root" -- /venv/bin/python - <<'EOF' 2>>"$run_log"
import importlib.metadata as md, platform
def v(name):
    try:
        return md.version(name)
    except Exception:
        return ""
tag = ""
try:
    wheel = md.distribution("grpcio").read_text("WHEEL") or ""
    tag = " ".join(l.split(":", 1)[1].strip() for l in wheel.splitlines() if l.startswith("Tag:"))
except Exception:
    pass
print("py=" + platform.python_version())
print("machine=" + platform.machine())
print("grpcio=" + v("grpcio"))
print("grpcio_tag=" + tag)
print("protobuf=" + v("protobuf"))
print("pip=" + v("pip"))
print("mlmd=" + v("ml-metadata-remote"))
EOF
) || fail 1 "the venv's python could not report its packages; see $run_log"
while IFS='=' read -r k val; do
  case "$k" in
    py) py=$val ;; machine) got_machine=$val ;; grpcio) grpcio=$val ;; grpcio_tag) grpcio_tag=$val ;;
    protobuf) protobuf=$val ;; pip) pip_version=$val ;; mlmd) mlmd_installed=$val ;;
  esac
done <<<"$facts"
step "installed: CPython $py on $got_machine, pip $pip_version, ml-metadata-remote ${mlmd_installed:-?}, grpcio $grpcio ($grpcio_tag), protobuf $protobuf"
[ "$got_machine" = "$machine" ] || fail 4 "python in the $platform rootfs reports machine $got_machine, expected $machine"

# --- the suite ----------------------------------------------------------------
stage=suite
suite_env=(MLMD_HOST="$mlmd_host" MLMD_PORT="$mlmd_port" PYTHONDONTWRITEBYTECODE=1)
for v in MLMD_SLOW_HOST MLMD_SLOW_PORT MLMD_SLOW_DELAY_MS MLMD_TLS_HOST MLMD_TLS_PORT; do
  [ -n "${!v:-}" ] && suite_env+=("$v=${!v}")
done
if [ -n "${MLMD_TLS_CA_FILE:-}" ]; then
  cp -L "$MLMD_TLS_CA_FILE" "$root/mlmd-platform/tls-ca.pem"
  suite_env+=(MLMD_TLS_CA_FILE=/mlmd-platform/tls-ca.pem)
fi
step "pytest /suite against $mlmd_host:$mlmd_port$( [ "$foreign" = 1 ] && echo " (emulated $machine; slower)")"
suite_start=$(date +%s)
pytest_exit=0
run_child "$run_log" all chroot_env "$root" "${suite_env[@]}" -- /bin/sh -c \
  'cd /suite && exec /venv/bin/python -m pytest /suite -q -o junit_family=xunit1 --junitxml=/out/junit.xml' \
  || pytest_exit=$?
suite_seconds=$(( $(date +%s) - suite_start ))

if [ -s "$root/out/junit.xml" ]; then
  mkdir -p "$(dirname "$junit")"
  cp "$root/out/junit.xml" "$junit"
  junit_out=$(cd "$(dirname "$junit")" && pwd)/$(basename "$junit")
  counts=$(chroot_env "$root" -- /venv/bin/python - <<'EOF' 2>>"$run_log" || true
import xml.etree.ElementTree as ET
root = ET.parse("/out/junit.xml").getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(t["tests"], t["tests"] - t["failures"] - t["errors"] - t["skipped"], t["failures"], t["errors"], t["skipped"])
EOF
)
  if [ -n "$counts" ]; then
    read -r n_total n_passed n_failed n_errors n_skipped <<<"$counts"
    tests_json="{\"total\":$n_total,\"passed\":$n_passed,\"failed\":$n_failed,\"errors\":$n_errors,\"skipped\":$n_skipped}"
  fi
fi
if [ "$pytest_exit" = 0 ]; then
  stage="done"
  step "suite passed on $platform (CPython $py, $got_machine) in ${suite_seconds}s; JUnit XML: $junit_out"
  exit 0
fi
fail 1 "the suite failed on $platform (pytest exit $pytest_exit); see the output above, $run_log and ${junit_out:-no JUnit XML}"
