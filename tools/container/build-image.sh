#!/usr/bin/env bash
# Builds the mlmd-remote reference-server image locally: a Debian root
# filesystem made with debootstrap, a venv holding the official ml-metadata
# wheel of one release (tools/reference_server/requirements*.txt), and
# tools/reference_server/server.py, imported with `docker import` and run the
# way gcr.io/tfx-oss-public/ml_metadata_store_server runs (GRPC_PORT and
# METADATA_STORE_SERVER_CONFIG_FILE, shell-form entrypoint). No image
# registry is used; see README.md beside this file.
#
#   tools/container/build-image.sh [--mlmd-version V] [--tag NAME:TAG]
#                                  [--cache-dir DIR] [--mirror URL] [--force]
#
#   --mlmd-version V the ml-metadata release to serve (default: the pinned
#                    upstream release of mlmd-remote.json, the one the wheel
#                    is built from). requirements.txt's release, or
#                    another V with requirements-V.txt, runs on the Debian
#                    and CPython its row of tools/platform/releases.tsv
#                    names: 1.16.0 on bookworm (CPython 3.11), 1.14.0 on
#                    bullseye (CPython 3.9), as it has no wheels past 3.10
#   --tag NAME:TAG   image to create (default mlmd-remote/reference-server:V)
#   --cache-dir DIR  where the debootstrap base, the downloaded wheels and the
#                    finished rootfs tarball are kept (default
#                    $MLMD_REMOTE_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/mlmd-remote/container)
#   --mirror URL     Debian mirror for debootstrap (default: the archive apt
#                    is configured with on this machine for that Debian
#                    release, from /etc/apt/sources.list{,.d/*}; else
#                    http://deb.debian.org/debian)
#   --force          rebuild everything, ignoring the image and all caches
#
# The recipe hash covers this script, tools/platform/lib-rootfs.sh, the
# release's Debian and CPython, the requirements file and the server's
# modules (tools/reference_server/*.py). The image
# carries it as label mlmd-remote.recipe: when the image already has it the
# script does nothing. The finished rootfs is cached as rootfs-<hash>.tar, so
# re-importing (e.g. after `docker rmi`) takes seconds; the debootstrap base
# (the slow part) is cached separately so editing the server rebuilds in
# seconds too.
#
# Needs: the docker CLI and a running engine (tools/container/start-docker.sh
# starts one), and, when the rootfs is not cached, root, debootstrap, tar and
# a host Python with pip (to download the wheels; the chroot needs no network).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tool=build-image platform=""
lib=$repo/tools/platform/lib-rootfs.sh
# shellcheck source=tools/platform/lib-rootfs.sh
. "$lib"
server_dir=$repo/tools/reference_server
server_py=$server_dir/server.py
# server.py and the modules beside it (not its tests, which live in tests/).
server_modules=("$server_dir"/*.py)

variant=minbase
include=python3,python3-venv,ca-certificates
wheel_platform=manylinux2014_x86_64
prefix=/opt/mlmd-reference        # venv at $prefix/venv, server at $prefix/server.py (and its modules)
label_key=mlmd-remote.recipe
# Bump when the debootstrap step (below) changes in a way the parameters
# above do not show; the cached base tarball is keyed by it.
base_revision=2

die() { fail 1 "$*"; }
no_containers_hint="(without containers, tests can run the same server directly: --server reference)"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

tag=""
mlmd_version=""
cache_dir=${MLMD_REMOTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlmd-remote/container}
mirror=""
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --mlmd-version) [ $# -ge 2 ] || die "--mlmd-version needs a value"; mlmd_version=$2; shift 2 ;;
    --mlmd-version=*) mlmd_version=${1#*=}; shift ;;
    --tag) [ $# -ge 2 ] || die "--tag needs a value"; tag=$2; shift 2 ;;
    --tag=*) tag=${1#*=}; shift ;;
    --cache-dir) [ $# -ge 2 ] || die "--cache-dir needs a value"; cache_dir=$2; shift 2 ;;
    --cache-dir=*) cache_dir=${1#*=}; shift ;;
    --mirror) [ $# -ge 2 ] || die "--mirror needs a value"; mirror=$2; shift 2 ;;
    --mirror=*) mirror=${1#*=}; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[ -f "$server_py" ] || die "missing $server_py"
pinned() { sed -n -E 's/^[[:space:]]*ml[-_]metadata[[:space:]]*==[[:space:]]*([^[:space:];#]+).*/\1/Ip' "$1" | head -n1; }
if [ -z "$mlmd_version" ]; then
  mlmd_version=$(sed -n -E 's/.*"tag"[[:space:]]*:[[:space:]]*"v?([^"]+)".*/\1/p' "$repo/mlmd-remote.json" | head -n1)
  [ -n "$mlmd_version" ] || die "no upstream tag in $repo/mlmd-remote.json; name the release with --mlmd-version"
fi
if [ "$(pinned "$server_dir/requirements.txt")" = "$mlmd_version" ]; then
  requirements=$server_dir/requirements.txt
elif [ -f "$server_dir/requirements-$mlmd_version.txt" ]; then
  requirements=$server_dir/requirements-$mlmd_version.txt
else
  die "no pins for ml-metadata $mlmd_version: tools/reference_server/requirements.txt pins $(pinned "$server_dir/requirements.txt") and there is no requirements-$mlmd_version.txt"
fi
[ "$(pinned "$requirements")" = "$mlmd_version" ] || die "$requirements does not pin ml-metadata==$mlmd_version"
# Which Debian has a CPython the release has wheels for.
# (Status 2: the table is unreadable, and rootfs_row said so.)
rootfs_row release "$mlmd_version" || { [ $? = 2 ] && exit 1
  die "tools/platform/releases.tsv has no row for ml-metadata $mlmd_version; add one naming the Debian release whose CPython its wheels are for"; }
suite=$row_debian py_version=$row_python
tag=${tag:-mlmd-remote/reference-server:$mlmd_version}

recipe=$( { cat "${BASH_SOURCE[0]}" "$lib"; printf '%s\n' "$suite" "$py_version"; cat "$requirements" "${server_modules[@]}"; } | sha256sum | cut -c1-64)
short=${recipe:0:16}

start=$(date +%s)

# --- the engine -------------------------------------------------------------
command -v docker >/dev/null 2>&1 \
  || die "no docker CLI on PATH ('apt-get install docker.io' brings it) $no_containers_hint"
if ! docker_err=$(docker info 2>&1 >/dev/null); then
  die "no Docker engine answers (${docker_err##*$'\n'}); start one with tools/container/start-docker.sh $no_containers_hint"
fi

mkdir -p "$cache_dir"
cache_dir=$(cd "$cache_dir" && pwd)
# One build at a time per cache dir (parallel test runs may all call this);
# a waiter then finds the image built and does nothing.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_dir/.lock"
  if ! flock -n 9; then
    say "another build-image.sh is running on $cache_dir; waiting for it"
    flock 9
  fi
fi

if [ "$force" = 0 ]; then
  have=$(docker image inspect --format "{{ index .Config.Labels \"$label_key\" }}" "$tag" 2>/dev/null || true)
  if [ "$have" = "$recipe" ]; then
    say "$tag is up to date (recipe $short); nothing to do"
    exit 0
  fi
  [ -n "$have" ] && say "$tag exists with another recipe (${have:0:16}); rebuilding as $short"
fi

rootfs_tar=$cache_dir/rootfs-$mlmd_version-$short.tar
log=$cache_dir/build-$mlmd_version-$short.log

# --- the root filesystem ----------------------------------------------------
cleanup() {
  stop_children
  if [ -n "$work" ] && [ -d "$work" ]; then remove_tree "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chroot_run() {
  # A clean environment: nothing from the host leaks into the image.
  chroot_env "$rootfs" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1 -- "$@"
}

host_pip() {
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip "$@"
  else
    # No pip on the host Python: a throw-away venv in the cache brings one.
    local venv=$cache_dir/host-pip-venv
    if [ ! -x "$venv/bin/pip" ]; then
      python3 -m venv "$venv" >/dev/null 2>&1 \
        || die "the host needs pip, or python3-venv to make one ('apt-get install python3-pip' or 'python3-venv')"
    fi
    "$venv/bin/pip" "$@"
  fi
}

if [ "$force" = 1 ] || [ ! -s "$rootfs_tar" ]; then
  [ "$(id -u)" = 0 ] || die "building the root filesystem needs root (debootstrap and chroot); run as root"
  command -v debootstrap >/dev/null 2>&1 \
    || PATH=$PATH:/usr/sbin:/sbin command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap is not installed; run 'apt-get install debootstrap'"
  export PATH=$PATH:/usr/sbin:/sbin
  command -v python3 >/dev/null 2>&1 || die "the host needs python3 (to download the wheels with pip)"
  command -v sha256sum >/dev/null 2>&1 || die "the host needs coreutils' sha256sum"

  : >"$log"
  say "building $tag (recipe $short; log: $log)"
  work=$(mktemp -d "$cache_dir/work.XXXXXX")
  rootfs=$work/rootfs
  mkdir -p "$rootfs"

  base_key=$(printf '%s\n' "$suite" "$variant" "$include" "$base_revision" | sha256sum | cut -c1-16)
  base_tar=$cache_dir/base-$suite-$base_key.tar
  if [ "$force" = 0 ] && [ -s "$base_tar" ]; then
    step "1/5 reusing the debootstrap base $(basename "$base_tar")"
    tar -C "$rootfs" --numeric-owner -xpf "$base_tar"
  else
    # The host's source for that release, else its main archive (a bookworm
    # host's mirror carries bullseye too), else Debian's.
    mirror=${mirror:-$(debian_mirror "$suite")}
    mirror=${mirror:-$(debian_mirror "")}
    mirror=${mirror:-http://deb.debian.org/debian}
    step "1/5 debootstrap --variant=$variant --include=$include $suite from $mirror (takes a few minutes)"
    show_pattern='^(I: (Retrieving (Release|Packages) |Checking component|Resolving dependencies|Found (packages in base|additional)|Installing core|Unpacking the base|Configuring the base|Configuring python3 |Base system installed)|E: |W: )'
    count_pattern='^I: (Retrieving|Extracting|Unpacking|Configuring) [a-z0-9]'
    run_logged "$log" debootstrap 1 debootstrap --variant="$variant" --include="$include" "$suite" "$rootfs" "$mirror"
    count_pattern=''
    unmount_under "$rootfs"
    # tzdata stays, as in the official image.
    slim_rootfs "$rootfs"
    step "1/5 caching the base as $(basename "$base_tar")"
    rm -f "$cache_dir"/base-"$suite"-*.tar
    cache_tar "$rootfs" "$base_tar"
  fi

  got_py=$(chroot_run /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$got_py" = "$py_version" ] || die "the rootfs has Python $got_py but the wheels are for $py_version"

  req_key=$(printf '%s\n' "$wheel_platform" "$py_version" | cat - "$requirements" | sha256sum | cut -c1-16)
  wheels=$cache_dir/wheels-$req_key
  if [ "$force" = 1 ] || [ ! -e "$wheels/.complete" ]; then
    step "2/5 pip download (host) of $(basename "$requirements") for cp$py_version $wheel_platform into $(basename "$wheels")"
    rm -rf "$wheels"
    show_pattern='^(Collecting|Saved|Successfully downloaded|ERROR)'
    run_logged "$log" "pip download" 1 host_pip download --disable-pip-version-check --progress-bar off \
      --only-binary=:all: --platform "$wheel_platform" --python-version "$py_version" \
      --implementation cp -r "$requirements" -d "$wheels"
    touch "$wheels/.complete"
  else
    step "2/5 reusing the wheels in $(basename "$wheels")"
  fi

  step "3/5 venv at $prefix/venv and offline pip install (chroot)"
  mkdir -p "$rootfs/wheels" "$rootfs$prefix"
  cp "$wheels"/*.whl "$rootfs/wheels/"
  cp "$requirements" "$rootfs/wheels/requirements.txt"
  show_pattern='^(Successfully installed|ERROR)'
  run_logged "$log" "python3 -m venv" 1 chroot_run /usr/bin/python3 -m venv "$prefix/venv"
  run_logged "$log" "pip install" 1 chroot_run "$prefix/venv/bin/pip" install --no-index --find-links /wheels \
    -r /wheels/requirements.txt
  rm -rf "$rootfs/wheels"
  install -m 0644 "${server_modules[@]}" "$rootfs$prefix/"
  # Byte-compile the server too so a container starts without writing .pyc.
  chroot_run "$prefix/venv/bin/python" -m compileall -q -l "$prefix"

  step "4/5 smoke test in the chroot (imports and --help)"
  show_pattern='^(OK|Traceback|[A-Za-z]*Error)'
  run_logged "$log" "smoke test" 1 chroot_run "$prefix/venv/bin/python" -c '
import grpc, ml_metadata
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store
print("OK ml-metadata", ml_metadata.__version__, "grpcio", grpc.__version__)'
  got_mlmd=$(chroot_run "$prefix/venv/bin/python" -c 'import ml_metadata; print(ml_metadata.__version__)')
  [ "$got_mlmd" = "$mlmd_version" ] || die "the venv has ml-metadata $got_mlmd, $(basename "$requirements") pins $mlmd_version"
  run_logged "$log" "server.py --help" 1 chroot_run "$prefix/venv/bin/python" "$prefix/server.py" --help

  # Docker mounts its own /dev, /proc, /sys, /etc/hosts, /etc/resolv.conf
  # and /etc/hostname; leave none of the build host's in the image.
  scrub_rootfs "$rootfs"
  echo mlmd-reference >"$rootfs/etc/hostname"

  step "5/5 caching the root filesystem as $(basename "$rootfs_tar") ($(du -sh "$rootfs" | cut -f1))"
  rm -f "$cache_dir"/rootfs-"$mlmd_version"-*.tar "$cache_dir"/rootfs-"$mlmd_version"-*.tar.tmp
  cache_tar "$rootfs" "$rootfs_tar"
  # Keep the cache to the current recipe's log, and drop files of the older
  # naming (rootfs-<recipe>.tar, build-<recipe>.log, before one per release).
  find "$cache_dir" -maxdepth 1 -name "build-$mlmd_version-*.log" ! -name "build-$mlmd_version-$short.log" -delete
  find "$cache_dir" -maxdepth 1 -regextype posix-extended -regex '.*/(rootfs|build)-[0-9a-f]{16}\.(tar|log)' -delete
  cleanup; work=""
else
  step "reusing the cached root filesystem $(basename "$rootfs_tar")"
fi

# --- the image --------------------------------------------------------------
# Same interface as gcr.io/tfx-oss-public/ml_metadata_store_server: the two
# environment variables, and a shell-form entrypoint that expands them when
# the container starts (exec: python is PID 1 and gets docker stop's SIGTERM).
# Each word is double-quoted as in the official Dockerfile, so an empty or
# spaced value stays one argument. The shell form of ENTRYPOINT (as in the
# official Dockerfile) is stored as ["/bin/sh", "-c", "<this string>"].
entrypoint="exec \"$prefix/venv/bin/python\" \"$prefix/server.py\" \"--grpc_port=\${GRPC_PORT}\" \"--metadata_store_server_config_file=\${METADATA_STORE_SERVER_CONFIG_FILE}\""
step "importing the image $tag ($(du -h "$rootfs_tar" | cut -f1) tarball)"
old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
new_id=$(docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONUNBUFFERED=1' \
  --change 'ENV GRPC_PORT=8080' \
  --change 'ENV METADATA_STORE_SERVER_CONFIG_FILE=' \
  --change 'EXPOSE 8080' \
  --change "LABEL $label_key=$recipe" \
  --change "LABEL mlmd-remote.ml-metadata=$mlmd_version" \
  --change "ENTRYPOINT $entrypoint" \
  --message "mlmd-remote reference server (ml-metadata $mlmd_version, recipe $short)" \
  - "$tag" <"$rootfs_tar")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  # The previous build of this tag is now untagged; drop it unless in use.
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
size=$(docker image inspect --format '{{.Size}}' "$tag")
step "done: $tag ($(( size / 1024 / 1024 )) MiB, recipe $short)"
