#!/bin/sh
# bench/run.sh BUILD [OPTIONS] [SCENARIO...]: run r2k's benchmarks (see bench/README.md).
# Debian's python3 on purpose: the harness uses the standard library only.
set -e
if [ $# -lt 1 ]; then
	echo "usage: bench/run.sh BUILD [--runs N] [--output FILE] [--keep] [SCENARIO...]" >&2
	exit 2
fi
build=$1
shift
exec /usr/bin/python3 "$(dirname "$0")/bench.py" --build "$build" "$@"
