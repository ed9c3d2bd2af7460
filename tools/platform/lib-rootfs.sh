# shellcheck shell=bash disable=SC2034  # variables are read by the sourcing scripts
# What every script that builds or runs a Debian root filesystem shares:
# messages, the table of root filesystems (releases.tsv), mounts and trees,
# children run with a log, chroot, and slimming a fresh debootstrap. Sourced
# by rootfs.sh (so by run-suite.sh and serve.sh) and by
# tools/container/build-image.sh. Defines functions and variables only.
#
# The sourcing script may set before sourcing:
#   tool      name for messages (default "rootfs")
#   platform  shown in messages as tool[platform] once set

# shellcheck source=tools/platform/debian-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh"

# --- output -----------------------------------------------------------------
tool=${tool:-rootfs}
platform=${platform:-}
start=$(date +%s)
say() { echo "$tool${platform:+[$platform]}: $*" >&2; }
step() { say "[$(( $(date +%s) - start ))s] $*"; }

# fail CODE MESSAGE: one sentence naming the fix, then exit with CODE.
fail() {
  local code=$1; shift
  reason=$*
  say "error: $*"
  exit "$code"
}

# --- the table of root filesystems ----------------------------------------------
rootfs_table=$(dirname "${BASH_SOURCE[0]}")/releases.tsv
rootfs_columns="kind name debian arch python machine"

# rootfs_rows: every row of $rootfs_table as "KIND NAME DEBIAN ARCH PYTHON
# MACHINE", in file order; says what is wrong and returns 1 when the file is
# not of that form (src/releases.ts refuses the same).
rootfs_rows() {
  local f header=""
  [ -r "$rootfs_table" ] || { say "error: cannot read $rootfs_table"; return 1; }
  while read -r -a f || [ ${#f[@]} -gt 0 ]; do
    case "${f[0]:-#}" in '#'*) continue ;; esac
    if [ -z "$header" ]; then
      header="${f[*]}"
      [ "$header" = "$rootfs_columns" ] \
        || { say "error: $rootfs_table names the columns '$header', expected '$rootfs_columns'"; return 1; }
      continue
    fi
    [ ${#f[@]} -eq 6 ] || { say "error: $rootfs_table: '${f[*]}' has ${#f[@]} columns, expected 6"; return 1; }
    printf '%s\n' "${f[*]}"
  done <"$rootfs_table"
  [ -n "$header" ] || { say "error: $rootfs_table has no rows"; return 1; }
}

# rootfs_row KIND NAME: sets row_debian, row_arch, row_python and row_machine
# from NAME's row of KIND (platform, release); returns 1 when there is none,
# 2 when the table cannot be read.
rootfs_row() {
  local rows k n d a p m
  rows=$(rootfs_rows) || return 2
  while read -r k n d a p m; do
    if [ "$k" = "$1" ] && [ "$n" = "$2" ]; then
      row_debian=$d row_arch=$a row_python=$p row_machine=$m
      return 0
    fi
  done <<<"$rows"
  return 1
}

# rootfs_names KIND: the names of KIND's rows, in file order, one space apart.
rootfs_names() {
  local rows k n rest names=""
  rows=$(rootfs_rows) || return 1
  while read -r k n rest; do
    [ "$k" = "$1" ] && names+="${names:+ }$n"
  done <<<"$rows"
  printf '%s\n' "$names"
}

# --- trees and mounts -------------------------------------------------------------
work=""
# new_work KIND: a fresh $cache_dir/KIND.XXXXXX (in $work) holding our pid,
# so a later run can tell it is stale, and an empty $work/root (in $root).
# shellcheck disable=SC2154  # cache_dir is the sourcing script's
new_work() {
  work=$(mktemp -d "$cache_dir/$1.XXXXXX")
  echo $$ >"$work/pid"
  root=$work/root
  mkdir -p "$root"
}
unmount_under() {
  # Unmounts whatever is mounted at or below $1, deepest first (e.g. /proc
  # left by an interrupted debootstrap), so that removing $1 cannot reach the host.
  local dir=$1 m
  awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts 2>/dev/null | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
mounted_under() {
  awk -v d="$1/" 'index($2 "/", d) == 1 { n++ } END { exit !(n > 0) }' /proc/mounts 2>/dev/null && return 0
  # Belt and braces: ask the kernel about the places we mount on, whatever
  # their spelling.
  local m
  for m in "$1" "$1"/{dev,proc,sys,tmp,data} "$1"/root "$1"/root/{dev,proc,sys,tmp,data,opt/mlmd-server/app}; do
    mountpoint -q "$m" 2>/dev/null && return 0
  done
  return 1
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
  # Never removes a tree that still has something mounted in it (a bind
  # mount of the host's data, /dev).
  local dir=$1
  unmount_under "$dir"
  if mounted_under "$dir"; then
    say "warning: could not unmount everything under $dir; leaving it on disk"
    return 0
  fi
  rm -rf --one-file-system "$dir"
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

# slim_rootfs ROOT: drops what no run and no image needs from a fresh
# debootstrap: downloaded .debs, apt lists, docs, man pages, logs and message
# translations (a third of it). tzdata stays. Part of rootfs.sh's recipe key;
# build-image.sh's cached base does not see edits here: bump its base_revision.
slim_rootfs() {
  local root=$1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/debootstrap
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
}
# scrub_rootfs ROOT: removes what the build host left in a tree that is kept
# (a tarball, an image, a server tree): device nodes, temporary files, caches
# and its DNS settings.
scrub_rootfs() {
  local root=$1
  rm -rf "${root:?}"/dev/* "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache
  : >"$root/etc/resolv.conf"
}
# cache_tar ROOT TAR: ROOT as the tarball TAR, which appears only complete.
cache_tar() {
  tar -C "$1" --numeric-owner -cf "$2.tmp" . && mv "$2.tmp" "$2"
}

# --- children -----------------------------------------------------------------
# view MODE: how a child's output is shown on stderr while it runs. progress:
# lines matching $show_pattern, and every 25th matching $count_pattern as a
# count (per second word); all: every line, indented.
show_pattern='^$'
count_pattern=''
view() {
  if [ "$1" = all ]; then
    sed -u 's/^/  | /'
  else
    awk -v show="$show_pattern" -v count="$count_pattern" -v tool="$tool" '
      $0 ~ show { print tool ":   " $0; fflush(); next }
      count != "" && $0 ~ count { if (++n[$2] % 25 == 0) { print tool ":   ... " $2 " " n[$2] " packages"; fflush() } }'
  fi
}

# run_child LOG MODE CMD...: runs CMD (a function is fine) in a process group
# of its own, output appended to LOG and shown through `view MODE` while it
# runs; returns its exit status. We wait with `wait`, which a signal
# interrupts, so INT/TERM to the script stop the child promptly (the exit
# trap calls stop_children) instead of waiting for it to finish.
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
  # Is any process of group $1 still running (zombies do not count)? cat
  # fails for a process that exits meanwhile; under pipefail that must not
  # count as "none".
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v g="$1" '
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

# chroot_argv ROOT VAR=VALUE... -- CMD...: sets $argv to the command that
# runs CMD in ROOT with a clean environment: nothing of the host's leaks in
# except what is named. chroot_env runs it.
chroot_argv() {
  local root=$1; shift
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  argv=(env -i HOME=/root LANG=C.UTF-8 TERM=dumb
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    "${vars[@]}" chroot "$root" "$@")
}
chroot_env() {
  local argv
  chroot_argv "$@"
  "${argv[@]}"
}
