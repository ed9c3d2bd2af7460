#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions called from traps
# Runs the reference server (tools/reference_server/server.py) with an
# official ml-metadata release that has no wheel for this host's CPython,
# inside a Debian root filesystem whose CPython it does have (rootfs.sh). The
# server shares this host's network, so it listens on this host's 127.0.0.1.
# It runs in the foreground until it exits or this script gets SIGTERM/SIGINT;
# then everything is unmounted and removed. See README.md beside this file.
#
#   tools/platform/serve.sh --platform NAME --requirements FILE --data-dir DIR
#                           [--cache-dir DIR] [--mirror URL] [--force]
#                           [--prepare-only] -- SERVER-ARGS...
#
#   --platform NAME      a platform of rootfs.sh, e.g. cpython-3.9 (bullseye)
#   --requirements FILE  the server venv's pins, e.g.
#                        tools/reference_server/requirements-1.14.0.txt
#   --data-dir DIR       a host directory the server sees as /data (its SQLite
#                        file and ready file go there, so name them /data/...)
#   --cache-dir DIR      as for run-suite.sh: rootfs tarballs, server trees
#   --mirror URL         Debian mirror for debootstrap
#   --force              rebuild the rootfs and the server venv
#   --prepare-only       build (or find) the cached rootfs and server tree; serve nothing
#   SERVER-ARGS          passed to server.py, e.g. --host 127.0.0.1 --port 0
#                        --db /data/metadata.sqlite --ready-file /data/ready.json
#
# The rootfs with the server venv is kept extracted as DIR/server-<platform>-<key>,
# keyed by the rootfs recipe and the requirements file: the first start pays
# for pip, later ones bind-mount it read-only and start in about a second.
#
# Exit: the server's own status when it stops by itself; 0 after
# --prepare-only; 2 usage; 3 this host cannot run the platform (not root, no
# debootstrap and no cached rootfs, no emulation); 4 the rootfs or the server
# venv could not be built (mirror, PyPI, no such release for that CPython);
# 130/143 stopped by SIGINT/SIGTERM (the normal way to stop it).
set -euo pipefail

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=$(dirname "$script_path")
repo=$(cd "$here/../.." && pwd)
server_py=$repo/tools/reference_server/server.py
tool=serve
# shellcheck source=tools/platform/rootfs.sh
. "$here/rootfs.sh"

usage() { sed -n '3,/^set -euo/p' "$script_path" | sed '$d; s/^# \{0,1\}//'; }

requirements="" data_dir="" prepare_only=0
install_traps
while [ $# -gt 0 ]; do
  if common_option "$@"; then shift "$taken"; continue; fi
  if option_value requirements "$@"; then requirements=$value; shift "$taken"; continue; fi
  if option_value data-dir "$@"; then data_dir=$value; shift "$taken"; continue; fi
  case "$1" in
    --prepare-only) prepare_only=1; shift ;;
    --) shift; break ;;
    -h|--help) trap - EXIT; usage; exit 0 ;;
    *) usage >&2; fail 2 "unknown argument '$1' (server arguments go after --); see --help" ;;
  esac
done
server_args=("$@")

select_platform
[ -n "$requirements" ] || fail 2 "--requirements is required, e.g. tools/reference_server/requirements-1.14.0.txt"
[ -r "$requirements" ] || fail 2 "the requirements file $requirements does not exist"
grep -q '^ml-metadata==' "$requirements" || fail 2 "$requirements pins no ml-metadata==<version>; the server needs the official store"
[ -f "$server_py" ] || fail 2 "the reference server is missing ($server_py)"
if [ "$prepare_only" = 0 ]; then
  [ -n "$data_dir" ] || fail 2 "--data-dir is required (the server's SQLite file lives there)"
  mkdir -p "$data_dir" || fail 2 "cannot create the data directory $data_dir"
  data_dir=$(real_dir "$data_dir" "data directory")
fi
mlmd_version=$(sed -n 's/^ml-metadata==\([^ ;#]*\).*/\1/p' "$requirements" | head -n1)

check_host
command -v setpriv >/dev/null 2>&1 || fail 3 "the host lacks 'setpriv'; install it (util-linux)"
open_cache

# --- the server tree (cached) ----------------------------------------------------
# The rootfs with the server venv installed, kept extracted: the server never
# writes to it, so each start bind-mounts it read-only (milliseconds) instead
# of extracting a tarball (seconds). Keyed by the rootfs recipe and the pins.
venv=/opt/mlmd-server/venv
tree_key=$( { echo "$recipe"; echo "$venv"; grep -v '^\s*\(#\|$\)' "$requirements"; } | sha256sum | cut -c1-16)
tree=$cache_dir/server-$slug-$tree_key
tree_log=$cache_dir/server-$slug-$tree_key.log

# Is a server running from one of our trees? (Then none may be replaced.)
serving() {
  local d pid
  for d in "$cache_dir"/serve.*; do
    pid=$(cat "$d/pid" 2>/dev/null || true)
    [ -n "$pid" ] && [ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null && return 0
  done
  return 1
}

build_tree() {
  : >"$tree_log"
  say "building the server venv for ml-metadata $mlmd_version on $platform (log: $tree_log)"
  new_root tree
  mkdir -p "$root/opt/mlmd-server/app" "$root/data"
  cp "$requirements" "$root/opt/mlmd-server/requirements.txt"
  step "python3 -m venv $venv"
  run_logged "$tree_log" "python3 -m venv" 4 chroot_env "$root" -- /usr/bin/python3 -m venv "$venv"
  step "pip install -r $(basename "$requirements") (official wheels for CPython $want_py from PyPI)"
  show_pattern='^(Collecting|Successfully installed|ERROR|error:)'
  run_logged "$tree_log" "pip install (ml-metadata $mlmd_version for CPython $want_py)" 4 \
    chroot_env "$root" "${pip_env[@]}" -- "$venv/bin/python" -m pip install --only-binary=:all: -r /opt/mlmd-server/requirements.txt
  run_logged "$tree_log" "import ml_metadata" 4 \
    chroot_env "$root" -- "$venv/bin/python" -c 'import ml_metadata.metadata_store.pywrap.metadata_store_extension'
  unmount_under "$root"
  mounted_under "$root" && fail 4 "could not unmount everything under $root; unmount it by hand (see /proc/mounts)"
  # The tree is kept: none of the host's network settings or pip
  # configuration (it may hold index credentials) stays in it.
  scrub_rootfs "$root"
  rm -f "$root/etc/pip.conf" "$root/etc/xdg/pip/pip.conf"
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  if serving; then
    say "keeping the older server trees: a server runs from one"
  else
    find "$cache_dir" -maxdepth 1 -name "server-$slug-*" ! -name "$(basename "$tree")" ! -name "$(basename "$tree_log")" \
      -exec rm -rf --one-file-system {} +
  fi
  mv "$root" "$tree"
  step "cached the server tree as $(basename "$tree") ($(du -sh "$tree" | cut -f1))"
  cleanup
}

# Lock order: the server tree's (fd 8), then the rootfs's (fd 9), and the
# rootfs is only needed when the tree is built.
take_lock "server-$slug" 8
if [ "$force" = 1 ] && [ -d "$tree" ]; then
  serving && fail 4 "--force would replace $tree, which a running server uses; stop it first"
  rm -rf --one-file-system "$tree"
fi
if [ ! -d "$tree" ]; then
  ensure_rootfs
  stage=build
  build_tree
else
  step "using the cached server tree $(basename "$tree") (ml-metadata $mlmd_version)"
fi
exec 9>&-
if [ "$prepare_only" = 1 ]; then
  stage="done"
  exit 0
fi

# --- serve ----------------------------------------------------------------------
# The tree read-only, made private first so nothing mounted below it
# propagates anywhere; a fresh /tmp; the host's data directory as /data and
# the server script's directory as /opt/mlmd-server/app. remove_tree
# unmounts all of it before deleting the run directory, so neither the tree
# nor the data are touched.
stage=prepare
new_work serve
mount --bind "$tree" "$root"
mount --make-private "$root"
mount -o remount,bind,ro "$root"
exec 8>&-
mount_pseudo "$root"
check_runs "$root"
mount -t tmpfs -o size=256m,mode=1777 tmpfs "$root/tmp"
mount --bind "$data_dir" "$root/data"
mount --bind "$(dirname "$server_py")" "$root/opt/mlmd-server/app"
mount -o remount,bind,ro "$root/opt/mlmd-server/app"
stage=serve
step "ml-metadata $mlmd_version (CPython $want_py, $distro) serving from $data_dir: server.py ${server_args[*]}"
chroot_argv "$root" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 -- "$venv/bin/python" /opt/mlmd-server/app/server.py "${server_args[@]}"
# The server is our direct child (the subshell execs) with a parent-death
# signal: if this script is killed outright, so is the server. The next
# serve.sh or run-suite.sh then removes the mounts left behind.
set -m
( exec setpriv --pdeathsig KILL "${argv[@]}" ) </dev/null &
child=$!
set +m
rc=0
wait "$child" || rc=$?
child=""
stage="done"
say "the server exited ($rc)"
exit "$rc"
