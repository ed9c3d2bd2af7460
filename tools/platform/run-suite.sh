#!/usr/bin/env bash
# shellcheck disable=SC2317  # finish runs from the EXIT trap
# Runs the behaviour suite (tools/behaviour_suite) with our wheel installed in
# a foreign Debian root filesystem, against an MLMD server on this host. It
# shows that the pure-Python wheel works where the official one does not:
# ARM64, and CPythons outside the official wheels' range. The root
# filesystems come from rootfs.sh; see README.md beside this file.
#
#   tools/platform/run-suite.sh --platform NAME --wheel PATH
#                               [--suite DIR] [--requirements FILE]
#                               [--cache-dir DIR] [--junit FILE] [--mirror URL]
#                               [--force] [--build-only] [--keep-root]
#
#   --platform NAME  linux/arm64   Debian bookworm arm64, CPython 3.11, run
#                                  under qemu-user-static via binfmt_misc
#                    cpython-3.13  Debian trixie amd64, CPython 3.13
#                    cpython-3.9   Debian bullseye amd64, CPython 3.9
#   --wheel PATH     the wheel to install (pip install PATH, as a user would;
#                    its dependencies come from PyPI, resolved in the rootfs)
#   --suite DIR      the pytest suite to run (default tools/behaviour_suite)
#   --requirements FILE  what pip installs next to the wheel, in the same
#                    command, as a user would (default
#                    tools/verify/client-requirements.txt: pytest)
#   --cache-dir DIR  where the rootfs tarballs and build logs are kept (default
#                    $MLMD_REMOTE_PLATFORM_CACHE, else
#                    ${XDG_CACHE_HOME:-~/.cache}/mlmd-remote/platform, as
#                    mlmd-remote uses; symlinks are resolved)
#   --junit FILE     copy pytest's JUnit XML here (default
#                    DIR/junit-<platform>.xml)
#   --mirror URL     Debian mirror for debootstrap (default: the Debian archive
#                    apt uses on this machine, else http://deb.debian.org/debian)
#   --force          rebuild the rootfs even when a cached one matches
#   --build-only     build (or find) the cached rootfs, run nothing
#   --keep-root      leave the throw-away rootfs of this run on disk (unmounted)
#
# Environment: MLMD_PORT (required unless --build-only) and MLMD_HOST (default
# 127.0.0.1) name the server; MLMD_OFFICIAL (for tools/consumer_suite/co_install),
# MLMD_SLOW_HOST/PORT/DELAY_MS,
# MLMD_TLS_HOST/PORT/CA_FILE and MLMD_MTLS_HOST/PORT/CA_FILE/CLIENT_CERT/
# CLIENT_KEY are passed on when set (their files are copied
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

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=$(dirname "$script_path")
repo=$(cd "$here/../.." && pwd)
suite_dir=$repo/tools/behaviour_suite
client_reqs=$repo/tools/verify/client-requirements.txt
tool=run-suite
# shellcheck source=tools/platform/rootfs.sh
. "$here/rootfs.sh"

# Fields of the PLATFORM-RESULT line, filled in as we go.
distro="" py="" got_machine="" grpcio="" grpcio_tag="" protobuf=""
pip_version="" mlmd_installed="" pytest_exit="" tests_json=null junit_out="" suite_seconds=""

json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
json_opt() { if [ -n "$1" ]; then json_str "$1"; else printf null; fi; }
json_num() { if [ -n "$1" ]; then printf '%s' "$1"; else printf null; fi; }

# Called by rootfs.sh's EXIT trap: the one line on stdout.
finish() {
  printf 'PLATFORM-RESULT {"platform":%s,"distro":%s,"machine":%s,"python":%s,"ml_metadata_remote":%s,"grpcio":%s,"grpcio_tag":%s,"protobuf":%s,"pip":%s,"exit":%s,"stage":%s,"reason":%s,"cached":%s,"tests":%s,"pytest_exit":%s,"junit":%s,"suite_seconds":%s,"seconds":%s}\n' \
    "$(json_opt "$platform")" "$(json_opt "$distro")" "$(json_opt "$got_machine")" "$(json_opt "$py")" "$(json_opt "$mlmd_installed")" \
    "$(json_opt "$grpcio")" "$(json_opt "$grpcio_tag")" "$(json_opt "$protobuf")" \
    "$(json_opt "$pip_version")" "$1" "$(json_str "$stage")" "$(json_opt "$reason")" \
    "${cached:-null}" "$tests_json" "$(json_num "$pytest_exit")" "$(json_opt "$junit_out")" \
    "$(json_num "$suite_seconds")" "$(( $(date +%s) - start ))"
}

usage() { sed -n '3,/^set -euo/p' "$script_path" | sed '$d; s/^# \{0,1\}//'; }

# --- arguments --------------------------------------------------------------
wheel=""
junit=""
build_only=0
install_traps
while [ $# -gt 0 ]; do
  if common_option "$@"; then shift "$taken"; continue; fi
  if option_value wheel "$@"; then wheel=$value; shift "$taken"; continue; fi
  if option_value junit "$@"; then junit=$value; shift "$taken"; continue; fi
  if option_value suite "$@"; then suite_dir=$value; shift "$taken"; continue; fi
  if option_value requirements "$@"; then client_reqs=$value; shift "$taken"; continue; fi
  case "$1" in
    --build-only) build_only=1; shift ;;
    --keep-root) keep_root=1; shift ;;
    -h|--help) trap - EXIT; usage; exit 0 ;;
    *) usage >&2; fail 2 "unknown argument '$1'; see --help" ;;
  esac
done

[ -n "$platform" ] || usage >&2
select_platform
if [ "$build_only" = 0 ]; then
  [ -n "$wheel" ] || fail 2 "--wheel is required; build one with 'npm run wheel' (dist/*.whl)"
  [ -f "$wheel" ] || fail 2 "the wheel $wheel does not exist; build it with 'npm run wheel'"
  case "$(basename "$wheel")" in *.whl) ;; *) fail 2 "--wheel must name a .whl file, got $wheel" ;; esac
  wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
  if ! compgen -G "$suite_dir/test_*.py" >/dev/null; then fail 2 "no pytest suite (test_*.py) in $suite_dir"; fi
  [ -f "$client_reqs" ] || fail 2 "the suite requirements are missing ($client_reqs)"

  mlmd_host=${MLMD_HOST:-127.0.0.1}
  mlmd_port=${MLMD_PORT:-}
  [ -n "$mlmd_port" ] || fail 2 "MLMD_PORT is not set; start a server with 'node bin/mlmd-remote.js server start' and export MLMD_PORT=<its port> ('server status' shows it)"
  case "$mlmd_port" in *[!0-9]*) fail 2 "MLMD_PORT must be a port number, got '$mlmd_port'" ;; esac
  if ! (exec 3<>"/dev/tcp/$mlmd_host/$mlmd_port") 2>/dev/null; then
    fail 2 "nothing listens on $mlmd_host:$mlmd_port (MLMD_HOST/MLMD_PORT); start the server with 'node bin/mlmd-remote.js server start'"
  fi
  for v in MLMD_TLS_CA_FILE MLMD_MTLS_CA_FILE MLMD_MTLS_CLIENT_CERT MLMD_MTLS_CLIENT_KEY; do
    if [ -n "${!v:-}" ] && [ ! -r "${!v}" ]; then fail 2 "$v=${!v} is not a readable file"; fi
  done
fi

check_host
open_cache
run_log=$cache_dir/run-$slug.log
[ -n "$junit" ] || junit=$cache_dir/junit-$slug.xml
ensure_rootfs
if [ "$build_only" = 1 ]; then
  stage="done"
  exit 0
fi

# --- a throw-away copy, and the run ----------------------------------------
new_root run

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
print("mlmd=" + (v("ml-metadata-remote") or v("ml-metadata")))
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
# The wheel's path in here and pip's settings, for suites that install more (co_install).
suite_env=(MLMD_HOST="$mlmd_host" MLMD_PORT="$mlmd_port" MLMD_WHEEL="$in_wheel" PYTHONDONTWRITEBYTECODE=1 "${pip_env[@]}")
for v in MLMD_SLOW_HOST MLMD_SLOW_PORT MLMD_SLOW_DELAY_MS MLMD_TLS_HOST MLMD_TLS_PORT MLMD_MTLS_HOST MLMD_MTLS_PORT MLMD_OFFICIAL; do
  [ -n "${!v:-}" ] && suite_env+=("$v=${!v}")
done
# The certificate files, copied in under /mlmd-platform/tls/.
mkdir -p "$root/mlmd-platform/tls"
for v in MLMD_TLS_CA_FILE MLMD_MTLS_CA_FILE MLMD_MTLS_CLIENT_CERT MLMD_MTLS_CLIENT_KEY; do
  if [ -n "${!v:-}" ]; then
    cp -L "${!v}" "$root/mlmd-platform/tls/$v.pem"
    suite_env+=("$v=/mlmd-platform/tls/$v.pem")
  fi
done
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
