#!/usr/bin/env bash
# perf-goals.sh: the measurements the performance goals are judged by, in one
# command, for a quiet machine (about 35 minutes on 2 cores; nothing else
# running). Writes results/perf-goals/ (or $OUT):
#
#   default/       compare, default mix (50/40/10), 100,000 keys, 1/16/64/256
#                  clients: ours and both peers with fsync on and with fsync off,
#                  and the floor target (a majority of group-committed logs and
#                  one store under the same load generator, no consensus: what
#                  the harness, the CPUs and the disk leave any design), also
#                  as floor:stores=3 (a copy of the state per node, each
#                  applying every write: what they leave any 3-node cluster
#                  in one process, which keeps three), each both ways it can
#                  fsync (a large commit's fsync through an io_uring, the
#                  default, and every fsync blocking: which does more
#                  depends on the load, so the summary takes the better),
#                  REPEAT interleaved runs of each (every figure the median over
#                  them, as compare reports by default), the disk floor before
#                  and after (compare.md: "of ceiling") and every
#                  replica's floor again right before each pass's runs at
#                  each client count ("of pass ceiling": the same minute).
#   write-only/    the same with the write-only workload over 1,000,000 keys.
#   sweep/         the open-loop sweep (saturation, p99 at half saturation, and
#                  the disk alone on the same schedule at that rate); its rates
#                  are fractions of this run's closed-loop peak (ours, default
#                  mix, fsync on), 5% to 150% (scripts/sweep-rates.py), so the
#                  ladder reaches saturation and has points around its half on
#                  a fast machine as on a slow one (the sweep stops at the
#                  first rate that explodes).
#   sweep-hold/    the same sweep with proposal holding on (batches-in-flight=2,
#                  off by default): its A/B.
#   tail-256/      write-only over 1,000,000 keys at 256 clients with
#                  timeline.csv (latency per 10 ms, GC cycles, snapshots): what
#                  makes the tail.
#   segments.md    the WAL segment size A/B (4 MiB default vs 16 MiB before),
#                  alternating runs at 256 clients, fsync on and off.
#   summary.md     the headline ratios read out of the files above.
#
# Environment: OUT (results/perf-goals), DURATION (5s per compare run),
# REPEAT (3: compare's own default; one 5 s run per cell moves with the
# disk's stalls, so a single run can pass or fail a goal on the hour alone),
# CLIENTS (1,16,64,256), SWEEP_RATES (fixed rates instead of the peak's
# fractions, e.g. 5k,10k,20k), AB_PAIRS (2), SMALL=1 (a two-minute
# smoke run of every part with short durations: checks the script, measures
# nothing worth publishing).
set -euo pipefail
cd "$(dirname "$0")/.."

B=bin/raftbench
OUT=${OUT:-results/perf-goals}
DURATION=${DURATION:-5s}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2s}
CLIENTS=${CLIENTS:-1,16,64,256}
SWEEP_RATES=${SWEEP_RATES:-}
SWEEP_DURATION=${SWEEP_DURATION:-4s}
AB_PAIRS=${AB_PAIRS:-2}
AB_DURATION=${AB_DURATION:-4s}
SYSTEMS=raftbench,hashicorp,etcd,floor,floor:fsync-offload=blocking,floor:stores=3,floor:stores=3:fsync-offload=blocking,raftbench:nofsync,hashicorp:nofsync,etcd:nofsync
if [[ ${SMALL:-0} == 1 ]]; then
	DURATION=1s WARMUP=1s REPEAT=1 CLIENTS=1,64 SWEEP_RATES=5k,20k SWEEP_DURATION=1s AB_PAIRS=1 AB_DURATION=1s
fi
[[ -x $B ]] || { echo "perf-goals.sh: $B missing; run make build" >&2; exit 2; }
mkdir -p "$OUT"
echo "perf-goals: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"

for wl in default write-only; do
	keys=100000
	[[ $wl == write-only ]] && keys=1000000
	echo "== compare, workload $wl, $keys keys ($OUT/$wl)"
	rm -rf "${OUT:?}/$wl"
	$B compare --systems "$SYSTEMS" --workload "$wl" --keys "$keys" --clients "$CLIENTS" \
		--repeat "$REPEAT" --warmup "$WARMUP" --duration "$DURATION" --out "$OUT/$wl"
done

# The open loop's rates: fractions of the closed-loop peak this run just
# measured, unless SWEEP_RATES names them. A fixed ladder measured a machine
# whose peak was above its top as "not saturated" and put its half
# saturation at the wrong rate.
if [[ -z $SWEEP_RATES ]]; then
	SWEEP_RATES=$(scripts/sweep-rates.py "$OUT/default/compare.json")
	echo "perf-goals: open-loop rates from the closed-loop peak: $SWEEP_RATES"
fi

# --workers 1024: the open loop may have that many requests outstanding, so a
# stall shows up as latency (from each request's intended time), not as a
# generator that stops sending.
for v in sweep:-1 sweep-hold:2; do
	dir=${v%%:*} hold=${v#*:}
	echo "== open-loop sweep, batches-in-flight=$hold ($OUT/$dir)"
	rm -rf "${OUT:?}/$dir"
	$B sweep --target inproc --nodes 3 --value-bytes 128 --workers 1024 --target-opt "batches-in-flight=$hold" \
		--rates "$SWEEP_RATES" --warmup 1s --duration "$SWEEP_DURATION" --out "$OUT/$dir" --quiet --disk-floor 2s
done

echo "== tail at 256 clients, write-only, 1M keys, with a timeline ($OUT/tail-256)"
rm -rf "${OUT:?}/tail-256"
$B run --target inproc --clients 256 --workload write-only --keys 1000000 --warmup 2s --duration "$((${DURATION%s} * 2))s" \
	--timeline 10ms --quiet --out "$OUT/tail-256" >/dev/null

echo "== WAL segment size A/B ($OUT/segments.md)"
ab=$OUT/segments
rm -rf "$ab"
mkdir -p "$ab"
{
	echo "Alternating runs, 256 clients, default mix, $AB_DURATION each after 2 s warm-up, inproc target,"
	echo "\`--target-opt wal-segment-bytes=N\`; load average at the start: $(cut -d' ' -f1 /proc/loadavg)."
	echo
	echo "| fsync | pair | segment | ops/s | p50 ms | p99 ms | p99.9 ms | cores | ops per CPU-second |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$OUT/segments.md"
for fsync in true false; do
	for pair in $(seq 1 "$AB_PAIRS"); do
		for seg in 4194304 16777216; do
			d=$ab/fsync-$fsync-pair-$pair-$((seg >> 20))MiB
			$B run --target inproc --clients 256 --fsync="$fsync" --target-opt "wal-segment-bytes=$seg" \
				--warmup 2s --duration "$AB_DURATION" --quiet --out "$d" >/dev/null
			python3 - "$d/summary.json" "$fsync" "$pair" "$((seg >> 20)) MiB" >>"$OUT/segments.md" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_ms"]
cores = s.get("process_cpu_cores") or 0
opc = s.get("ops_per_cpu_second") or 0
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {s['throughput_ops']:,.0f} | {l['p50']:.3g} | {l['p99']:.3g} | {l['p999']:.3g} | {cores:.2f} | {opc:,.0f} |")
EOF
		done
	done
done

scripts/perf-goals-summary.py "$OUT" | tee "$OUT/summary.md"
echo "perf-goals: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
