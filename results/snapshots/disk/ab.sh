#!/usr/bin/env bash
# The disk A/B for snapshots beside the WAL: this tree against BASE (a
# raftbench binary built from an older commit), alternating, same load:
# write-only, 256 clients, 128-byte values, 3 in-process nodes, fsync on.
#
#  1. traces (TRACE_PAIRS pairs, 1,000,000 keys, 1 s warm-up + 5 s): the
#     log fsyncs' latency distribution, all of them and while a snapshot
#     file was being written (scripts/tracestalls), the unlinks of
#     compacted segments and who made them (the flusher, with commits
#     queued behind it, or the background remover), and the longest
#     syscalls, into trace-<bin>-<pair>.md;
#  2. scripts/state-size.sh with BASE (10,000 and 1,000,000 keys, PASSES
#     alternating passes of DURATION): throughput and p99.9 at 1M keys as
#     ratios to 10k keys, for both binaries, into state-size/ratios.md;
#  3. this tree at 1,000,000 keys with snapshot files unpaced and paced to
#     PACE bytes/s (inproc option snapshot-write-rate), PACE_PAIRS
#     alternating pairs of DURATION, into pace.md: does pacing help the
#     tail enough to be the default?
#
# About 7.5 minutes on a quiet 2-core machine with the defaults.
# Env: BASE (required), OUT (results/snapshots/disk/run), TRACE_PAIRS (2),
# PASSES (2), DURATION (10s), PACE (67108864; 0 skips part 3),
# PACE_PAIRS (2), SKIP_TRACE=1, SKIP_STATE=1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE=${BASE:?BASE=<raftbench binary to compare with>}
OUT=${OUT:-results/snapshots/disk/run}
TRACE_PAIRS=${TRACE_PAIRS:-2}
make build >/dev/null
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd scripts/tracestalls && go build -o "$tmp/tracestalls" .)
trace_one() { # label binary pair
	local name="trace-$1-$3"
	echo "== $name"
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	"$2" run --target inproc --clients 256 --workload write-only --keys 1000000 --warmup 1s --duration 5s \
		--quiet --trace "$tmp/$name.trace" --timeline 10ms --out "$tmp/$name" >"$tmp/$name.txt"
	{
		echo "# $1, pair $3: 256 clients, write-only, 1,000,000 keys (load average before: $load)"
		echo
		echo '```'
		grep -E 'throughput|latency ms|process CPU|entries per' "$tmp/$name.txt"
		echo '```'
		echo
		"$tmp/tracestalls" -timeline "$tmp/$name/timeline.csv" -worst 3 "$tmp/$name.trace"
	} >"$OUT/$name.md"
	cp "$tmp/$name/summary.json" "$OUT/$name.summary.json"
	rm -f "$tmp/$name.trace"
	grep -E 'throughput|latency ms' "$OUT/$name.md"
	grep -A5 '^| fsyncs' "$OUT/$name.md"
	grep 'unlinked' "$OUT/$name.md" || true
}
if [[ ${SKIP_TRACE:-0} != 1 ]]; then
	for pair in $(seq 1 "$TRACE_PAIRS"); do
		if ((pair % 2)); then
			trace_one base "$BASE" "$pair"
			trace_one this bin/raftbench "$pair"
		else
			trace_one this bin/raftbench "$pair"
			trace_one base "$BASE" "$pair"
		fi
	done
fi
if [[ ${SKIP_STATE:-0} != 1 ]]; then
	KEYS="10000 1000000" PASSES=${PASSES:-2} DURATION=${DURATION:-10s} BASE=$BASE OUT="$OUT/state-size" \
		scripts/state-size.sh
fi
PACE=${PACE:-67108864}
if [[ $PACE != 0 ]]; then
	{
		echo "# Snapshot files unpaced and paced to $PACE bytes/s: 1,000,000 keys, write-only, 256 clients, ${DURATION:-10s} each, alternating"
		echo
		echo "| pair | snapshot-write-rate | ops/s | p99 ms | p99.9 ms | max ms |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
	} >"$OUT/pace.md"
	for pair in $(seq 1 "${PACE_PAIRS:-2}"); do
		order="0 $PACE"
		((pair % 2)) || order="$PACE 0"
		for rate in $order; do
			echo "== pace $rate, pair $pair"
			d="$OUT/pace/rate-$rate-pair-$pair"
			bin/raftbench run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys 1000000 \
				--warmup 3s --duration "${DURATION:-10s}" --quiet --target-opt snapshot-write-rate="$rate" --out "$d" >/dev/null
			python3 - "$d/summary.json" "$pair" "$rate" >>"$OUT/pace.md" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_ms"]
print(f"| {sys.argv[2]} | {int(sys.argv[3]):,} | {s['throughput_ops']:,.0f} | {l['p99']:.1f} | {l['p999']:.1f} | {l['max']:.1f} |")
PY
		done
	done
	cat "$OUT/pace.md"
fi
