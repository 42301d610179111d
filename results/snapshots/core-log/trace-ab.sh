#!/usr/bin/env bash
# trace-ab.sh: the 1M-key closed-loop run (256 clients, write-only, 128 B
# values, 3 in-process nodes, fsync on) with an execution trace, for this
# tree and a BASE binary, alternating (this, base, base, this with
# PAIRS=2), each analysed by scripts/tracestalls: the longest uninterrupted
# runs of the node loops, waits for a P, and the summary line. Writes
# $OUT/trace-<this|base>-<pair>.md. About 25 s per run.
#
# Env: BASE (required, a raftbench binary), OUT (results/snapshots/core-log),
# PAIRS (2), DURATION (5s).
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=bin/raftbench
BASE=${BASE:?BASE=<raftbench binary to compare against>}
OUT=${OUT:-results/snapshots/core-log}
PAIRS=${PAIRS:-2}
DURATION=${DURATION:-5s}
make build >/dev/null
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd scripts/tracestalls && go build -o "$tmp/tracestalls" .)
one() { # label binary pair
	local name="trace-$1-$3"
	echo "== $name"
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	"$2" run --target inproc --warmup 1s --duration "$DURATION" --quiet --trace "$tmp/$name.trace" \
		--timeline 10ms --out "$tmp/$name" --clients 256 --workload write-only --keys 1000000 >"$tmp/$name.txt"
	{
		echo "# $1, pair $3: 256 clients, write-only, 1,000,000 keys"
		echo
		echo "Warm-up 1 s, $DURATION measured, execution trace; load average before: $load."
		echo
		echo '```'
		grep -E 'throughput|latency ms|process CPU|entries per' "$tmp/$name.txt"
		echo '```'
		echo
		"$tmp/tracestalls" -timeline "$tmp/$name/timeline.csv" -worst 5 "$tmp/$name.trace"
	} >"$OUT/$name.md"
	grep -E 'throughput|latency ms' "$tmp/$name.txt"
	rm -f "$tmp/$name.trace"
}
for p in $(seq 1 "$PAIRS"); do
	if [ $((p % 2)) -eq 1 ]; then
		one this "$B" "$p"
		one base "$BASE" "$p"
	else
		one base "$BASE" "$p"
		one this "$B" "$p"
	fi
done
