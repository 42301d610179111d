#!/usr/bin/env bash
# latency-attribution.sh: where a request's latency goes that no CPU profile
# shows, from execution traces of three runs (about 1 minute on a quiet 2-core
# machine; nothing else running). Writes $OUT (results/latency-attribution):
#
#   one-client.md  1 client, write-only, 1,000,000 keys: how long the node
#                  loops and WAL flushers wait for a P after each wake-up, and
#                  how much of the time two or more goroutines sit in syscalls
#                  (a blocking fsync keeps its P).
#   open-40k.md    open loop at 40,000 ops/s (half the saturation point of the
#                  last quiet sweep), default mix: the same, plus what ran
#                  around each of the worst 10 ms latency buckets.
#   closed-256.md  256 clients, write-only, 1,000,000 keys: the same.
#
# Each file starts with the run's summary line. Traces are written to a
# temporary directory and removed (KEEP=1 keeps them, for go tool trace).
# Environment: OUT, DURATION (5s), RATE (40000).
set -euo pipefail
cd "$(dirname "$0")/.."

B=bin/raftbench
OUT=${OUT:-results/latency-attribution}
DURATION=${DURATION:-5s}
RATE=${RATE:-40000}
[[ -x $B ]] || { echo "latency-attribution.sh: $B missing; run make build" >&2; exit 2; }
mkdir -p "$OUT"
tmp=$(mktemp -d)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$tmp"' EXIT
(cd scripts/tracestalls && go build -o "$tmp/tracestalls" .)

one() { # name title run-args...
	local name=$1 title=$2
	shift 2
	echo "== $name: $title"
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	$B run --target inproc --warmup 1s --duration "$DURATION" --quiet --trace "$tmp/$name.trace" \
		--timeline 10ms --out "$tmp/$name" "$@" >"$tmp/$name.txt"
	{
		echo "# $title"
		echo
		echo "\`raftbench run $*\` (warm-up 1 s, $DURATION measured, execution trace of both), load average before: $load."
		echo
		echo '```'
		grep -E 'throughput|latency ms|process CPU|entries per' "$tmp/$name.txt"
		echo '```'
		echo
		"$tmp/tracestalls" -timeline "$tmp/$name/timeline.csv" -worst 5 "$tmp/$name.trace"
	} >"$OUT/$name.md"
	head -8 "$OUT/$name.md" | tail -4
}

one one-client "1 client, write-only, 1,000,000 keys" --clients 1 --workload write-only --keys 1000000
one open-40k "open loop, $RATE ops/s, default mix" --rate "$RATE" --workers 1024
one closed-256 "256 clients, write-only, 1,000,000 keys" --clients 256 --workload write-only --keys 1000000
echo "latency-attribution: $OUT/{one-client,open-40k,closed-256}.md"
