#!/bin/bash
# Alternating pairs of two raftbench binaries (A, B) at 1M keys, write-only,
# 256 clients, counting the process's page faults (perf stat): ops/s, p99.9
# ms, ops per CPU-second, peak RSS MiB, page faults. Env: A, B (binaries),
# PAIRS (5), DURATION (8s), OUT (scratch directory).
set -euo pipefail
A=${A:?binary A} B=${B:?binary B} PAIRS=${PAIRS:-5} DURATION=${DURATION:-8s} OUT=${OUT:-/tmp/offheap-ab}
mkdir -p "$OUT"
for i in $(seq 1 "$PAIRS"); do for side in A B; do
	bin=${!side}
	perf stat -e page-faults -o "$OUT/$side-$i.txt" "$bin" run --target inproc --nodes 3 --mix write=1 --clients 256 \
		--value-bytes 128 --keys 1000000 --warmup 3s --duration "$DURATION" --quiet --out "$OUT/$side-$i" >/dev/null 2>&1
	python3 -c "
import json,sys;s=json.load(open(sys.argv[1]));print(sys.argv[2], round(s['throughput_ops']), s['latency_ms']['p999'], round(s['ops_per_cpu_second']), s.get('peak_rss_bytes',0)>>20, end=' ')" "$OUT/$side-$i/summary.json" "$side $i"
	awk '/page-faults/{print $1}' "$OUT/$side-$i.txt"
done; done
