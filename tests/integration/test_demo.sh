#!/usr/bin/env bash
# make demo's script, as a new user runs it: registry, base image, runner, build, push.
# The image must then be in the registry, with the digest the script printed.
set -euo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! bash "$R2K_SOURCE_DIR/scripts/demo.sh" "$R2K_BIN" </dev/null >"$out" 2>&1; then
  cat "$out"
  echo "test_demo: scripts/demo.sh failed"
  exit 1
fi
for want in '^image: +127\.0\.0\.1:[0-9]+/r2k-demo/hello:latest$' \
            '^digest: +sha256:[0-9a-f]{64}$' '^layers: +[1-9][0-9]* \(' \
            '^label: +org\.opencontainers\.image\.title=r2k demo$'; do
  if ! grep -Eq "$want" "$out"; then
    cat "$out"
    echo "test_demo: no line matching '$want' in the demo's output"
    exit 1
  fi
done
echo "test_demo: ok"
