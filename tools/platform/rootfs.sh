# shellcheck shell=bash disable=SC2317,SC2034  # functions run from traps; variables are read by the entry scripts
# Debian root filesystems for other platforms, built with debootstrap, cached
# as tarballs keyed by their recipe, and extracted into throw-away trees to
# run things in with chroot. Sourced by run-suite.sh (the behaviour suite on
# a platform) and serve.sh (the reference server on a platform); see
# README.md beside this file.
#
# The entry script sets, before calling anything here:
#   tool        name for messages ("run-suite", "serve")
#   platform    one of $platforms (checked by select_platform)
#   cache_dir   where tarballs, logs and throw-away trees live
#   mirror      Debian mirror ("" = the one apt uses here)
#   force       1 = rebuild the rootfs even when cached
#   keep_root   1 = keep this run's tree on disk (unmounted) at exit
# and may define finish RC, called last on every exit.

export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
# shellcheck source=tools/platform/lib-rootfs.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-rootfs.sh"

# --- recipes ----------------------------------------------------------------
# Every platform is: debootstrap --variant=minbase of SUITE for ARCH with
# $include, checked to have CPython PY, where platform.machine() is MACHINE:
# its platform row of releases.tsv.
include=python3,python3-venv,ca-certificates,openssl
variant=minbase
recipe_for() {
  rootfs_row platform "$1" || return 1
  suite=$row_debian arch=$row_arch want_py=$row_python machine=$row_machine
}
platforms=$(rootfs_names platform) || fail 2 "the platform table is unreadable; restore tools/platform/releases.tsv"

stage=setup reason="" cached=""

# --- options every entry script takes -------------------------------------------
# Per machine, as mlmd-remote's platformCacheDir() has it.
cache_dir=${MLMD_REMOTE_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlmd-remote/platform}
mirror="" force=0 keep_root=0
# option_value NAME ARGS...: the value of --NAME VALUE or --NAME=VALUE at the
# front of ARGS (in $value, with $taken words used), else returns 1.
option_value() {
  local name=$1; shift
  case "$1" in
    "--$name") [ $# -ge 2 ] || { usage >&2; fail 2 "--$name needs a value"; }; value=$2; taken=2 ;;
    "--$name="*) value=${1#*=}; taken=1 ;;
    *) return 1 ;;
  esac
}
# common_option ARGS...: takes --platform, --cache-dir, --mirror or --force
# from the front of ARGS ($taken words), else returns 1.
common_option() {
  if option_value platform "$@"; then platform=$value
  elif option_value cache-dir "$@"; then cache_dir=$value
  elif option_value mirror "$@"; then mirror=$value
  elif [ "$1" = --force ]; then force=1; taken=1
  else return 1
  fi
}

# --- trees, mounts and processes ----------------------------------------------
# real_dir DIR WHAT: DIR's physical path (symlinks resolved, as /proc/mounts
# shows it). Refuses paths /proc/mounts would escape (spaces, backslashes),
# which the mount checks below could not match.
real_dir() {
  local dir
  dir=$(cd "$1" 2>/dev/null && pwd -P) || fail 2 "cannot use $1 as the $2"
  case "$dir" in *[[:space:]\\]*) fail 2 "the $2 $dir has a space or backslash in its path; choose another" ;; esac
  printf '%s\n' "$dir"
}
cleanup() {
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ "${keep_root:-0}" = 1 ] && [ "$stage" != build ]; then
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
  # Clean-up must finish: no second signal (a Ctrl-C reaches us and mlmd-remote,
  # which then sends TERM) and no failing command may cut it short.
  set +e
  trap '' INT TERM HUP
  trap - EXIT
  stop_children
  cleanup
  if declare -F finish >/dev/null; then finish "$rc"; fi
  exit "$rc"
}
# From here on every exit stops what we started and cleans up.
install_traps() {
  trap on_exit EXIT
  trap 'reason="interrupted"; say "interrupted; stopping and cleaning up"; exit 130' INT
  trap 'reason="terminated"; say "terminated; stopping and cleaning up"; exit 143' TERM
}

# --- the platform and this host -------------------------------------------------
# select_platform: checks $platform and sets its recipe, slug and distro.
select_platform() {
  [ -n "$platform" ] || fail 2 "--platform is required (one of: $platforms)"
  recipe_for "$platform" || fail 2 "unknown platform '$platform'; use one of: $platforms"
  slug=${platform//\//-}
  distro="debian-$suite-$arch"
}

# check_host: root, the tools, and for a foreign architecture a working qemu
# binfmt_misc handler. Exits 3 when this host cannot run the platform.
check_host() {
  [ "$(id -u)" = 0 ] || fail 3 "chroot, mount and debootstrap need root; run this as root (e.g. with sudo)"
  local t probe
  for t in chroot mount umount mountpoint unshare tar sha256sum awk; do
    command -v "$t" >/dev/null 2>&1 || fail 3 "the host lacks '$t'; install it (coreutils, mount, util-linux, tar, gawk/mawk)"
  done
  # Root without the right to mount (an unprivileged container) cannot run
  # anything here; try it in a mount namespace of its own, which leaves nothing.
  probe=$(mktemp -d)
  if ! unshare -m --propagation private mount -t tmpfs none "$probe" 2>/dev/null; then
    rmdir "$probe"
    fail 3 "this root cannot mount (no CAP_SYS_ADMIN, e.g. an unprivileged container); run privileged, or on the host"
  fi
  rmdir "$probe"
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
  if [ "$foreign" = 1 ]; then
    [ -n "$qemu_arch" ] || fail 3 "$platform ($arch) cannot be emulated on this $host_arch host: no qemu mapping for $arch"
    ensure_binfmt
  fi
}

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

check_runs() {
  if [ "$foreign" = 1 ] && ! chroot "$1" /bin/true 2>/dev/null; then
    fail 3 "the kernel does not run $arch binaries in the chroot even with the qemu-$qemu_arch binfmt_misc handler; check 'update-binfmts --display qemu-$qemu_arch'"
  fi
}

# --- the cache ----------------------------------------------------------------
# open_cache: the cache directory, the recipe key and the tarball's name, and
# removes the throw-away trees of runs that died without cleaning up.
open_cache() {
  mkdir -p "$cache_dir" || fail 2 "cannot create the cache directory $cache_dir"
  cache_dir=$(real_dir "$cache_dir" "cache directory")
  # The key is what decides the tarball's content: the build function itself
  # and the platform's parameters. Editing anything else here, or the entry
  # scripts, keeps the cached rootfs.
  recipe=$( { declare -f build_rootfs slim_rootfs scrub_rootfs cache_tar; printf '\n%s\n' "$platform" "$suite" "$arch" "$include" "$variant" "$want_py" "$machine"; } | sha256sum | cut -c1-64)
  short=${recipe:0:16}
  rootfs_tar=$cache_dir/rootfs-$slug-$short.tar
  build_log=$cache_dir/build-$slug-$short.log

  # Trees of runs, builds and servers that died without cleaning up (SIGKILL,
  # reboot): their pid is gone (or never written, a minute on).
  local old pid
  for old in "$cache_dir"/run.* "$cache_dir"/build.* "$cache_dir"/serve.* "$cache_dir"/tree.*; do
    [ -d "$old" ] || continue
    pid=$(cat "$old/pid" 2>/dev/null || true)
    if [ -z "$pid" ] && [ -z "$(find "$old" -maxdepth 0 -mmin +1)" ]; then continue; fi
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      say "removing the stale directory $(basename "$old")"
      kill_rooted_in "$old"
      sleep 0.2
      remove_tree "$old"
    fi
  done
}

# take_lock NAME FD: holds DIR/.lock-NAME (flock) on file descriptor FD, so
# concurrent builds of one tarball wait for each other; closing FD (or
# exiting) releases it.
take_lock() {
  local name=$1 fd=$2
  eval "exec $fd>\"\$cache_dir/.lock-\$name\""
  if command -v flock >/dev/null 2>&1 && ! flock -n "$fd"; then
    say "another run is building $name in $cache_dir; waiting for it"
    set -m; flock "$fd" & child=$!; set +m   # waited for with `wait`: INT/TERM stay prompt
    wait "$child"; child=""
  fi
}

# ensure_rootfs: builds the platform's tarball unless a cached one matches.
# Holds the platform's lock (fd 9) until new_root has extracted a copy.
ensure_rootfs() {
  take_lock "$slug" 9
  if [ "${force:-0}" = 1 ] || [ ! -s "$rootfs_tar" ]; then
    cached=false
    stage=build
    # Where the packages come from is not part of the recipe.
    mirror=${mirror:-$(debian_mirror "")}
    mirror=${mirror:-http://deb.debian.org/debian}
    build_rootfs
    step "rootfs built and cached"
  else
    cached=true
    step "using the cached rootfs $(basename "$rootfs_tar") (recipe $short)"
  fi
}

build_rootfs() {
  command -v debootstrap >/dev/null 2>&1 \
    || fail 3 "debootstrap is not installed, and the $platform rootfs is not cached; run 'apt-get install debootstrap'"
  : >"$build_log"
  say "building the $platform rootfs: Debian $suite $arch, $include (recipe $short; log: $build_log)"
  local root
  new_work build

  show_pattern='^(I: (Retrieving (Release|Packages) |Checking component|Resolving dependencies|Found (packages in base|additional)|Installing core|Unpacking the base|Configuring the base|Base system installed)|E: |W: )'
  count_pattern='^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]'
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg keyring_arg=()
  [ -r "$keyring" ] && keyring_arg=(--keyring="$keyring")
  if [ "$foreign" = 1 ]; then
    step "1/4 debootstrap --foreign --arch=$arch --variant=$variant $suite from $mirror (first stage, native; about a minute)"
    run_logged "$build_log" "debootstrap (first stage)" 4 \
      debootstrap --arch="$arch" --foreign --variant="$variant" --include="$include" "${keyring_arg[@]}" "$suite" "$root" "$mirror"
    provide_qemu "$root"
    step "2/4 debootstrap --second-stage under qemu-$qemu_arch (emulated dpkg; several minutes)"
    check_runs "$root"
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
  local got
  got=$(chroot_env "$root" -- /usr/bin/python3 -c 'import ensurepip, platform, sys, venv; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], platform.machine()))' 2>>"$build_log") \
    || fail 4 "python3 (with venv and ensurepip) does not run in the new $platform rootfs; see $build_log"
  unmount_under "$root"
  # Nothing may stay mounted (the host's /dev!) before files are deleted.
  if mounted_under "$root"; then
    fail 4 "could not unmount everything under $root; unmount it by hand (see /proc/mounts)"
  fi
  [ "${got% *}" = "$want_py" ] || fail 4 "the $suite rootfs has CPython ${got% *}, the $platform recipe expects $want_py; fix its row in tools/platform/releases.tsv"
  [ "${got#* }" = "$machine" ] || fail 4 "python in the $platform rootfs reports machine ${got#* }, expected $machine"
  # What no run needs, and the qemu binary if we copied one (each run copies
  # the one that matches the handler registered then).
  slim_rootfs "$root"
  if [ "$foreign" = 1 ] && [ "$binfmt_fixed" = 0 ] && [ -n "$binfmt_interp" ]; then
    rm -f "$root$binfmt_interp"
  fi
  scrub_rootfs "$root"

  step "4/4 caching the rootfs as $(basename "$rootfs_tar") ($(du -sh "$root" | cut -f1))"
  find "$cache_dir" -maxdepth 1 \( -name "rootfs-$slug-*.tar" -o -name "rootfs-$slug-*.tar.tmp" \) -delete
  cache_tar "$root" "$rootfs_tar"
  find "$cache_dir" -maxdepth 1 -name "build-$slug-*.log" ! -name "build-$slug-$short.log" -delete
  cleanup
}

# --- a throw-away tree ------------------------------------------------------------
# new_root KIND: extracts the cached rootfs into $cache_dir/KIND.XXXXXX/root
# (sets $work and $root), mounts /proc, /sys and /dev, and gives it the host's
# network and trust: DNS, hosts, the host's CA bundle (pip must trust what the
# host trusts, e.g. an egress proxy's CA) and its pip configuration. Sets
# $pip_env, the variables pip needs in there.
new_root() {
  stage=prepare
  new_work "$1"
  step "extracting a throw-away rootfs into $(basename "$work")"
  tar -C "$root" --numeric-owner -xpf "$rootfs_tar"
  exec 9>&-   # the tarball may be rebuilt by others from here on
  provide_qemu "$root"
  mount_pseudo "$root"
  check_runs "$root"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  cp -L /etc/hosts "$root/etc/hosts" 2>/dev/null || true
  local host_ca=${PIP_CERT:-} f v
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
  return 0
}
