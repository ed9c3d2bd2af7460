#!/usr/bin/env bash
# Runs the reference-server image the way the tests do and checks it serves:
# host networking, GRPC_PORT and METADATA_STORE_SERVER_CONFIG_FILE set, the
# config copied in before start, "Server listening on" in the log, then an
# official ml-metadata client (the image's own venv, in a second container on
# the host network) calls get_artifact_types() on 127.0.0.1 and must get [].
#
#   tools/container/smoke-test.sh [--image NAME:TAG] [--port N]
#
# Default image: mlmd-remote/reference-server:<pinned upstream release>, the
# one build-image.sh builds by default. Default port:
# a free one on 127.0.0.1. Removes its containers when done. Exit 0 on success.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
say() { echo "smoke-test: $*" >&2; }
die() { say "FAIL: $*"; exit 1; }

image=""
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2 ;;
    --image=*) image=${1#*=}; shift ;;
    --port) port=$2; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
if [ -z "$image" ]; then
  v=$(sed -n -E 's/.*"tag"[[:space:]]*:[[:space:]]*"v?([^"]+)".*/\1/p' "$repo/mlmd-remote.json" | head -n1)
  image=mlmd-remote/reference-server:$v
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI (--server reference runs the same server without containers)"
docker info >/dev/null 2>&1 || die "no Docker engine answers; start one with tools/container/start-docker.sh"
docker image inspect "$image" >/dev/null 2>&1 || die "no image $image; build it with tools/container/build-image.sh"
if [ -z "$port" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

cfg=$(mktemp)
cid=""
cleanup() {
  rm -f "$cfg"
  if [ -n "$cid" ]; then docker rm -f "$cid" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
cat >"$cfg" <<'EOF'
connection_config {
  sqlite {
    filename_uri: '/tmp/shared/metadata.sqlite.db'
    connection_mode: READWRITE_OPENCREATE
  }
}
EOF

t0=$(date +%s%N)
cid=$(docker create --network host \
  -e GRPC_PORT="$port" -e METADATA_STORE_SERVER_CONFIG_FILE=/tmp/shared/cfg.textproto \
  "$image")
# The config goes in before start (no bind mount needed): /tmp/shared is made
# by copying a directory.
stage=$(mktemp -d)
mkdir "$stage/shared" && cp "$cfg" "$stage/shared/cfg.textproto"
docker cp "$stage/shared" "$cid:/tmp/" >/dev/null
rm -rf "$stage"
t1=$(date +%s%N)
docker start "$cid" >/dev/null
ready=""
for _ in $(seq 600); do
  if docker logs "$cid" 2>&1 | grep -q 'Server listening on'; then ready=1; break; fi
  [ "$(docker inspect -f '{{.State.Running}}' "$cid")" = true ] || break
  sleep 0.1
done
t2=$(date +%s%N)
if [ -z "$ready" ]; then
  say "container log:"; docker logs "$cid" 2>&1 | tail -n 20 | sed 's/^/  | /' >&2
  die "no 'Server listening on' line (container $(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$cid"))"
fi
say "$(docker logs "$cid" 2>&1 | grep -m1 'Server listening on') (create+copy $(( (t1 - t0) / 1000000 )) ms, start to ready $(( (t2 - t1) / 1000000 )) ms)"

out=$(docker run --rm --network host --entrypoint /opt/mlmd-reference/venv/bin/python "$image" -c "
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
store = metadata_store.MetadataStore(
    metadata_store_pb2.MetadataStoreClientConfig(host='127.0.0.1', port=$port))
print('get_artifact_types', store.get_artifact_types())
" 2>&1) || die "client call failed: $out"
case "$out" in
  *"get_artifact_types []"*) say "OK: $image answers on 127.0.0.1:$port ($out)" ;;
  *) die "unexpected client output: $out" ;;
esac
