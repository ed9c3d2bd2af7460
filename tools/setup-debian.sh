#!/usr/bin/env bash
# Installs the system packages mlmd-remote's build and tests use, on Debian 12
# (bookworm) or newer, as root. Idempotent; safe to run again.
set -euo pipefail

packages=(
  git ca-certificates python3 python3-venv
  # A local bazel for offline builds (bazelisk falls back to it), and the rule
  # repositories Debian's bazel-bootstrap lacks; bazel needs a JDK.
  bazel-bootstrap bazel-rules-java bazel-platforms bazel-skylib default-jdk-headless
  # The "system" proto toolchain.
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  # verify --server container: debootstrap for the local image (a Docker engine: below);
  # verify --platform linux/arm64: qemu-user-static and binfmt_misc.
  debootstrap qemu-user-static binfmt-support
  # The behaviour suite's TLS tests and verify --platform's TLS server make certificates with it.
  openssl
  # npm test lints the shell scripts.
  shellcheck
  # verify --backend mysql|postgresql: the tool starts its own throw-away instances of these.
  mariadb-server mariadb-client postgresql
)

# Debian's Docker engine only where there is no docker at all: GitHub's runners
# (ubuntu-24.04) have their own (docker-ce, containerd.io), which docker.io
# conflicts with and would replace.
if ! command -v docker >/dev/null 2>&1; then
  packages+=(docker.io)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The database packages would start system services on install; the tool runs
# its own instances instead, so no service may start (policy-rc.d exit 101).
policy=${MLMD_REMOTE_POLICY_RC_D:-/usr/sbin/policy-rc.d}  # (the variable is for tests)
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
