#!/usr/bin/env bash
# latency-attribution.sh: where a request's latency goes that no CPU profile
# shows, from execution traces of three runs and two A/Bs (about 2 minutes on
# a quiet 2-core machine; nothing else running). Writes $OUT
# (results/latency-attribution):
#
#   one-client.md  1 client, write-only, 1,000,000 keys: how long the node
#                  loops and WAL flushers wait for a P after each wake-up, and
#                  how much of the time two or more goroutines sit in syscalls
#                  (a blocking fsync keeps its P).
#   open-loop.md   open loop at 40,000 ops/s (half the saturation point of the
#                  last quiet sweep), default mix: the same, plus what ran
#                  around each of the worst 10 ms latency buckets.
#   closed-256.md  256 clients, write-only, 1,000,000 keys: the same.
#   gc-ab.md       is it the garbage collector? The open loop at $RATE again,
#                  alternating GOGC=100 (the default) and GOGC=400 (a quarter
#                  of the collections), two pairs, no trace: if the tail
#                  falls with fewer collections, the GC's mark phases (one of
#                  two Ps for tens of ms) and assists make it.
#   procs-ab.md    is it the Ps? 1 client write-only with GOMAXPROCS=2 and 4
#                  (still 2 CPUs), two pairs: with 4, a blocking fsync no
#                  longer leaves the loops without a P (the disk floor is
#                  measured with GOMAXPROCS raised too); if the p50 falls to
#                  the floor's (measured right after, at the end of the
#                  file), the waits for a P are the 1-client gap.
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
		grep -E 'throughput|latency ms|service time|send lag|process CPU|entries per' "$tmp/$name.txt"
		echo '```'
		echo
		"$tmp/tracestalls" -timeline "$tmp/$name/timeline.csv" -worst 5 "$tmp/$name.trace"
	} >"$OUT/$name.md"
	head -8 "$OUT/$name.md" | tail -4
}

one one-client "1 client, write-only, 1,000,000 keys" --clients 1 --workload write-only --keys 1000000
one open-loop "open loop, $RATE ops/s, default mix" --rate "$RATE" --workers 1024
one closed-256 "256 clients, write-only, 1,000,000 keys" --clients 256 --workload write-only --keys 1000000
# ab NAME TITLE VAR A B run-args...: two alternating pairs (A B, B A) with the
# environment variable VAR set to A or B, no trace, one table row per run.
ab() {
	local name=$1 title=$2 var=$3 a=$4 b=$5
	shift 5
	echo "== $name: $title"
	{
		echo "# $title"
		echo
		echo "\`raftbench run $*\`, $DURATION each after 1 s warm-up, no trace; load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
		echo
		echo "| pair | $var | ops/s | p50 ms | p99 ms | p99.9 ms | cores |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		for pair in 1 2; do
			local order="$a $b"
			[[ $pair == 2 ]] && order="$b $a"
			for v in $order; do
				env "$var=$v" $B run --target inproc --warmup 1s --duration "$DURATION" --quiet \
					--out "$tmp/$name-$pair-$v" "$@" >/dev/null
				python3 - "$pair" "$v" "$tmp/$name-$pair-$v/summary.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[3]))
l = d["latency_ms"]
f = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
print(f"| {sys.argv[1]} | {sys.argv[2]} | {d['throughput_ops']:,.0f} | {f(l['p50'])} | {f(l['p99'])} | {f(l['p999'])} | {d['process_cpu_cores']:.2f} |")
PY
			done
		done
	} >"$OUT/$name.md"
	tail -4 "$OUT/$name.md"
}

ab gc-ab "Open loop at $RATE ops/s, default mix: GOGC=100 (the default) vs 400, alternating" \
	GOGC 100 400 --rate "$RATE" --workers 1024
ab procs-ab "1 client, write-only, 1,000,000 keys: GOMAXPROCS=2 (one P per core) vs 4, alternating" \
	GOMAXPROCS 2 4 --clients 1 --workload write-only --keys 1000000
# The disk floor's one write in the same minutes (every replica's log), for
# the p50s above.
$B compare --systems raftbench --workload write-only --keys 1000000 --clients 1 --repeat 1 \
	--warmup 1s --duration "$DURATION" --out "$tmp/floor" >/dev/null 2>"$tmp/floor.err" || { cat "$tmp/floor.err" >&2; exit 1; }
python3 - "$tmp/floor/compare.json" >>"$OUT/procs-ab.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
fl = [f for f in r.get("disk_floor") or [] if f["writers"] == 1 and f["files"] == f["nodes"]]
row = next((x for x in r["rows"] if x["system"] == "raftbench"), None)
if fl:
    best = min(fl, key=lambda f: f["mean_us"])
    print(f"\nThe disk floor's one write (every replica's log, `raftbench compare` right after): p50 {best['p50_us']:.0f} µs, "
          f"mean {best['mean_us']:.0f} µs; that compare's own 1-client p50 {row['p50_ms'] * 1000:.0f} µs "
          f"({row['p50_ms'] * 1000 / best['p50_us']:.2f}x; goal <= 1.2x)." if row else "")
PY
tail -1 "$OUT/procs-ab.md"
echo "latency-attribution: $OUT/{one-client,open-loop,closed-256,gc-ab,procs-ab}.md"
