#!/usr/bin/env bash
# make demo: start a local registry and a runner on loopback, build examples/hello,
# push it, show where it is, and stop everything that was started.
set -euo pipefail
r2k=$(realpath "${1:-build/r2k}")
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/r2k-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  buildah --storage-driver vfs rmi -f "$base_local" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "Starting a registry on loopback"
port=$(free_port)
reg="127.0.0.1:$port"
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: $reg}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
echo "registry: http://$reg/"

say "Making a base image from busybox-static and pushing it"
base_local="localhost/r2k-demo/busybox:latest"
c=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs copy "$c" /bin/busybox /bin/busybox >/dev/null
buildah --storage-driver vfs run --isolation chroot "$c" -- /bin/busybox --install -s /bin
buildah --storage-driver vfs commit -q "$c" "$base_local" >/dev/null
buildah --storage-driver vfs rm "$c" >/dev/null
buildah --storage-driver vfs push -q --tls-verify=false "$base_local" "docker://$reg/r2k-demo/busybox:latest"
echo "base: $reg/r2k-demo/busybox:latest"

backend=buildah
[ -x /kaniko/executor ] && backend=kaniko
say "Starting r2k runner (backend $backend) on a unix socket"
sock="$work/runner.sock"
"$r2k" runner --listen "unix://$sock" --backend "$backend" --workspace "$work/ws" \
  2>"$work/runner.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

say "Building examples/hello with r2k client"
dest="$reg/r2k-demo/hello:latest"
set +e
"$r2k" client --runner "unix://$sock" --context "$src/examples/hello" \
  --build-arg "BASE=$reg/r2k-demo/busybox:latest" \
  --destination "$dest" --insecure-registry "$reg"
status=$?
set -e
if [ $status -ne 0 ]; then
  echo "r2k client exited with status $status; runner log:"; cat "$work/runner.log"
  exit $status
fi

say "Done: the image is in the registry"
echo "image:    $dest"
digest=$(curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$reg/v2/r2k-demo/hello/manifests/latest" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "digest:   $digest"
/usr/bin/python3 - "$reg" <<'PY'
import json, sys, urllib.request
reg = sys.argv[1]
def get(path, accept):
    req = urllib.request.Request(f"http://{reg}{path}", headers={"Accept": accept})
    return json.load(urllib.request.urlopen(req))
m = get("/v2/r2k-demo/hello/manifests/latest",
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
cfg = get(f"/v2/r2k-demo/hello/blobs/{m['config']['digest']}", "*/*")
print(f"layers:   {len(m['layers'])} ({sum(l['size'] for l in m['layers'])} bytes)")
for k, v in sorted((cfg.get("config", {}).get("Labels") or {}).items()):
    print(f"label:    {k}={v}")
PY
echo "inspect:  curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://$reg/v2/r2k-demo/hello/manifests/latest"
echo "          buildah --storage-driver vfs pull --tls-verify=false docker://$dest"
if [ -n "${DEMO_KEEP:-}" ] && [ -t 0 ]; then
  read -r -p "The registry stays up for inspection; press Enter to stop it. " _
else
  echo "(the registry and runner stop now; run 'DEMO_KEEP=1 make demo' to keep the registry up)"
fi
