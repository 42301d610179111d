#!/usr/bin/env bash
# The state-size series: write-only load (--mix write=1), 256 clients,
# 128-byte values, 3 in-process nodes with fsync on, for key spaces of
# 10k, 100k, 1M and 10M keys; PASSES passes in alternating order so a
# drifting machine shows up as disagreement between passes. Results in
# results/snapshots/state-size/keys-<N>-pass-<P>/ (summary.json records
# peak RSS); then `raftbench plot --x keys` draws throughput and p99.9
# against keys, and ratios.md gives every key count's throughput, p99.9
# and ops per CPU-second as ratios to the smallest key count's (means
# over the passes). About 4 minutes per pass on 2 cores.
#
# The max column lists each pass's slowest operation (in pass order), and
# "ratio per pass" each pass's throughput over the same pass at the
# smallest key count (the runs closest in time).
# Env: KEYS (key counts, smallest first), PASSES (2), DURATION (20s), OUT,
# TIMELINE (see below), WARMUP (3s; with PRELOAD, 60s measures the steady
# state: a fresh log's segments are written as zeros before their first
# use until the first snapshot's compaction frees segments to recycle,
# which at 1M keys and the default snapshot-log-ratio 4 takes ~600 MiB
# of log per node, 30-40 s here, against well under a second at 10k),
# PRELOAD=1: write every key once before the warm-up (--preload), so the
# run measures a full key space rather than one filling during the run
# (adds about 20 s per million keys per run; BASE must know --preload too),
# BASE: another raftbench binary (e.g. one built from an older commit)
# to run beside this one, same key count and pass, in alternating order
# (results under state-size/base/, its own rows in ratios.md): an A/B in
# one run. OPTS and BASE_OPTS: inproc target options (space-separated
# key=value) for this binary's runs and the base's; BASE_OPTS alone makes
# the base this same binary with those options (an A/B of one setting).
# BASE_TARGET (inproc): the base's target; BASE_TARGET=floor
# BASE_OPTS="stores=3" runs the floor target with three copies of the
# state beside this binary's cluster (no consensus, no snapshots: what
# three copies of the state cost on this machine whatever runs above them).
# Each run also measures the memory floor at its state's size (`run
# --memory-floor`: a random read that misses the caches, a page's first
# write), shown beside the ratios: how much of a large state's cost is
# the machine's memory (a binary that lacks the flag runs without it).
# TIMELINE=10ms: also record each run's timeline (`run --timeline`) and
# show, per key count, the share of the measured time some node was
# writing a snapshot and the throughput inside those windows and outside
# them (off by default: the timeline observes every operation).
set -euo pipefail
cd "$(dirname "$0")/.."
B=bin/raftbench
OUT=${OUT:-results/snapshots/state-size}
PASSES=${PASSES:-2}
KEYS=${KEYS:-"10000 100000 1000000 10000000"}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
PRELOAD_FLAG=()
if [ -n "${PRELOAD:-}" ] && [ "${PRELOAD}" != 0 ]; then PRELOAD_FLAG=(--preload); fi
TIMELINE_FLAG=()
if [ -n "${TIMELINE:-}" ]; then TIMELINE_FLAG=(--timeline "$TIMELINE"); fi
BASE=${BASE:-}
OPTS=${OPTS:-}
BASE_OPTS=${BASE_OPTS:-}
BASE_TARGET=${BASE_TARGET:-inproc}
if [ -z "$BASE" ] && { [ -n "$BASE_OPTS" ] || [ "$BASE_TARGET" != inproc ]; }; then BASE=$B; fi
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then
	echo "BASE=$BASE is not an executable" >&2
	exit 2
fi
make build >/dev/null
rm -rf "$OUT"/keys-* "$OUT"/base
# Which binaries measure the memory floor (asked once each, not per run).
has_floor() { "$1" run --help 2>&1 | grep -q -- --memory-floor && echo 1 || echo 0; }
FLOOR_B=$(has_floor "$B")
FLOOR_BASE=0
if [ -n "$BASE" ]; then FLOOR_BASE=$(has_floor "$BASE"); fi
run() { # binary outdir keys options [target]
	local opt=()
	for o in $4; do opt+=(--target-opt "$o"); done
	local floor=$FLOOR_B
	if [ "$1" != "$B" ]; then floor=$FLOOR_BASE; fi
	if [ "$floor" = 1 ]; then opt+=(--memory-floor); fi
	"$1" run --target "${5:-inproc}" --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys "$3" \
		--warmup "$WARMUP" --duration "$DURATION" ${PRELOAD_FLAG[@]+"${PRELOAD_FLAG[@]}"} \
		${TIMELINE_FLAG[@]+"${TIMELINE_FLAG[@]}"} ${opt[@]+"${opt[@]}"} --quiet --out "$2" >/dev/null
}
for pass in $(seq 1 "$PASSES"); do
	order=$KEYS
	if [ $((pass % 2)) -eq 0 ]; then order=$(echo $KEYS | tr ' ' '\n' | tac | tr '\n' ' '); fi
	for k in $order; do
		if [ -n "$BASE" ] && [ $((pass % 2)) -eq 0 ]; then
			echo "== $k keys, pass $pass, base"
			run "$BASE" "$OUT/base/keys-$k-pass-$pass" "$k" "$BASE_OPTS" "$BASE_TARGET"
		fi
		echo "== $k keys, pass $pass"
		run "$B" "$OUT/keys-$k-pass-$pass" "$k" "$OPTS"
		if [ -n "$BASE" ] && [ $((pass % 2)) -eq 1 ]; then
			echo "== $k keys, pass $pass, base"
			run "$BASE" "$OUT/base/keys-$k-pass-$pass" "$k" "$BASE_OPTS" "$BASE_TARGET"
		fi
	done
done
$B plot "$OUT"/keys-* --x keys --out "$OUT" --markdown --link-base results
python3 - "$OUT" "$BASE_TARGET" "$BASE_OPTS" <<'EOF' | tee "$OUT/ratios.md"
import json, os, re, sys
out = sys.argv[1]
# The base's row label names its target when it is not our cluster.
base_label = "base" if sys.argv[2] == "inproc" else f"base: {sys.argv[2]} {sys.argv[3]}".strip()
print("| binary | keys | passes | ops/s (mean) | ratio | ratio per pass | p99.9 ms | ratio | ops per CPU-s | ratio | peak RSS MiB | state MiB | random read ns | first write µs/page | max ms per pass | snapshot windows: time, ops/s inside / outside, slowest inside |")
print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for label, d in (("this", out), (base_label, os.path.join(out, "base"))):
    if not os.path.isdir(d):
        continue
    runs = {}  # keys -> {pass: summary}
    for name in os.listdir(d):
        m = re.fullmatch(r"keys-(\d+)-pass-(\d+)", name)
        if m:
            runs.setdefault(int(m.group(1)), {})[int(m.group(2))] = json.load(open(os.path.join(d, name, "summary.json")))
    mean = lambda xs: sum(xs) / len(xs)
    ref = ref_passes = None
    for k in sorted(runs):
        passes = runs[k]
        rs = [passes[p] for p in sorted(passes)]
        row = (mean([r["throughput_ops"] for r in rs]), mean([r["latency_ms"]["p999"] for r in rs]),
               mean([r["ops_per_cpu_second"] for r in rs]))
        ref = ref or row
        ref_passes = ref_passes or passes
        # Each pass against the same pass of the smallest key count: the
        # runs closest in time, so the spread shows the machine's drift.
        per_pass = " / ".join(f"{passes[p]['throughput_ops'] / ref_passes[p]['throughput_ops']:.2f}"
                              for p in sorted(passes) if p in ref_passes)
        rss = max(r.get("peak_rss_bytes", 0) for r in rs) / 2**20
        maxes = " / ".join(f"{r['latency_ms']['max']:.0f}" for r in rs)
        # The state's size and the memory floor at it (means over the
        # passes that have them; "–" for a binary without them).
        state = [r["state_bytes"] / 2**20 for r in rs if r.get("state_bytes")]
        floors = [r["memory_floor"] for r in rs if r.get("memory_floor")]
        state = f"{mean(state):,.0f}" if state else "–"
        read = f"{mean([f['random_read_ns'] for f in floors]):.0f}" if floors else "–"
        fault = f"{mean([f['first_write_us_per_page'] for f in floors]):.1f}" if floors else "–"
        # With TIMELINE: the snapshot windows (means over the passes).
        sws = [r["snapshot_windows"] for r in rs if r.get("snapshot_windows")]
        windows = "–"
        if sws:
            windows = (f"{100 * mean([w['share'] for w in sws]):.0f}%, {mean([w['ops_per_s_inside'] for w in sws]):,.0f} / "
                       f"{mean([w['ops_per_s_outside'] for w in sws]):,.0f}, {sum(w['worst_inside'] for w in sws)} of {sum(w['worst'] for w in sws)}")
        print(f"| {label} | {k:,} | {len(rs)} | {row[0]:,.0f} | {row[0]/ref[0]:.2f}x | {per_pass} | {row[1]:.1f} | {row[1]/ref[1]:.2f}x "
              f"| {row[2]:,.0f} | {row[2]/ref[2]:.2f}x | {rss:,.0f} | {state} | {read} | {fault} | {maxes} | {windows} |")
EOF
