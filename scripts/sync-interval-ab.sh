#!/usr/bin/env bash
# sync-interval-ab.sh: does spacing each log's group commits
# (wal.Options.MinSyncInterval, inproc wal-min-sync-interval) lower the open
# loop's tail on a disk that stalls above a flush budget? Default mix, fsync
# on, 3 in-process nodes, 1024 workers, open loop at each of RATES, one run
# per interval in INTERVALS, the order reversed every other pass (PASSES),
# DURATION each after 1 s warm-up. Writes $OUT/runs/ and $OUT/ab.md (p50,
# p99, p99.9, fsyncs per second, entries per fsync per run). About 3 minutes
# on a quiet 2-core machine with the defaults.
# Environment: B (bin/raftbench), OUT (results/sync-interval), RATES
# ("5000 70000"), INTERVALS ("0s 1ms 2ms"), PASSES (2), DURATION (4s).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${B:-bin/raftbench}
OUT=${OUT:-results/sync-interval}
RATES=${RATES:-"5000 70000"}
INTERVALS=${INTERVALS:-"0s 1ms 2ms"}
PASSES=${PASSES:-2}
DURATION=${DURATION:-4s}
[[ -x $bin ]] || { echo "sync-interval-ab.sh: $bin missing; run make build" >&2; exit 2; }
rm -rf "$OUT/runs"
mkdir -p "$OUT/runs"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for pass in $(seq 1 "$PASSES"); do
	order=$INTERVALS
	if [ $((pass % 2)) -eq 0 ]; then order=$(echo $INTERVALS | tr ' ' '\n' | tac | tr '\n' ' '); fi
	for rate in $RATES; do
		for iv in $order; do
			echo "== pass $pass, $rate ops/s, interval $iv" >&2
			"$bin" run --target inproc --nodes 3 --value-bytes 128 --workers 1024 --target-opt batches-in-flight=-1 \
				--target-opt "wal-min-sync-interval=$iv" --rate "$rate" --warmup 1s --duration "$DURATION" --quiet \
				--out "$OUT/runs/rate-$rate-interval-$iv-pass-$pass" >/dev/null
		done
	done
done
python3 - "$OUT" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY' | tee "$OUT/ab.md"
import json, os, re, sys
out, load0, load1 = sys.argv[1:4]
rows = []
for d in sorted(os.listdir(os.path.join(out, "runs"))):
    m = re.match(r"rate-(\d+)-interval-(.+)-pass-(\d+)$", d)
    s = json.load(open(os.path.join(out, "runs", d, "summary.json")))
    l = s["latency_ms"]
    rows.append((int(m[1]), m[2], int(m[3]), s["throughput_ops"], l["p50"], l["p99"], l["p999"], s["fsyncs_per_s"], s["entries_per_fsync"], s["load_avg"][0] if isinstance(s.get("load_avg"), list) else s.get("load_avg")))
print(f"Open loop, default mix, fsync on, 3 in-process nodes; load average before {load0}, after {load1}.\n")
print("| rate | interval | pass | achieved ops/s | p50 ms | p99 ms | p99.9 ms | fsyncs/s | entries per fsync |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in sorted(rows, key=lambda r: (r[0], r[2], r[1])):
    print(f"| {r[0]:,} | {r[1]} | {r[2]} | {r[3]:,.0f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:,.0f} | {r[8]:.1f} |")
PY
