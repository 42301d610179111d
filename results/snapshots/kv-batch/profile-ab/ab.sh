#!/bin/bash
# Alternating A/B with CPU profiles, write-only, 256 clients, 128 B values,
# in-process 3 nodes: ab.sh OUTDIR TAG "KEYS" PASSES DURATION NAME=BIN...
# Runs OUTDIR/TAG-NAME-KEYS-PASS/ (summary.json) and .prof beside it;
# then per-op.py NAME=BIN... OUTDIR/TAG-* gives CPU per operation by
# component from the profiles.
set -euo pipefail
out=$1 tag=$2 keys=$3 passes=$4 dur=$5
shift 5
for p in $(seq 1 "$passes"); do
	order=$keys
	[ $((p % 2)) -eq 0 ] && order=$(echo $keys | tr ' ' '\n' | tac | tr '\n' ' ')
	for k in $order; do
		for nb in "$@"; do
			name=${nb%%=*} bin=${nb#*=} d=$out/$tag-$name-$k-$p
			nice -n 5 "$bin" run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys "$k" \
				--warmup 3s --duration "$dur" --quiet --out "$d" --cpuprofile "$d.prof" >/dev/null 2>&1
			jq -r --arg n "$name" --arg k "$k" --arg p "$p" \
				'"\($n) \($k) p\($p) \(.throughput_ops|floor) ops/s \(.ops_per_cpu_second|floor) ops/cpu-s p99.9 \(.latency_ms.p999) ms"' "$d/summary.json"
		done
	done
done
