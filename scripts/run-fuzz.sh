#!/bin/sh
# Run every libFuzzer target in BUILD for SECONDS each, from its seed corpus.
set -eu
build=$1
secs=$2
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for t in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  seeds="$src/tests/fuzz/corpus/${name#fuzz_}"
  work="$build/fuzz-corpus/${name#fuzz_}"
  mkdir -p "$work"
  echo "fuzz: $name for ${secs}s"
  if ! "$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 \
       -artifact_prefix="$build/" -print_final_stats=0 "$work" "$seeds" \
       >"$build/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; see $build/$name.log"; tail -30 "$build/$name.log"
    status=1
  else
    grep -E '^(#[0-9]+ *DONE|Done [0-9]+ runs)' "$build/$name.log" | tail -1 || true
  fi
done
exit $status
