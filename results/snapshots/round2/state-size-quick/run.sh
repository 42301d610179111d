#!/usr/bin/env bash
# The quick comparison recorded here: main before this round (BASE) vs this branch (NEW),
# 10,000 vs 1,000,000 keys, write-only, 256 clients, 128 B values, in-process 3 nodes with
# fsync on, 3 s warm-up + 15 s, alternating, two passes, with CPU profiles.
#   BASE=/abs/path/raftbench-base NEW=$PWD/bin/raftbench results/snapshots/round2/state-size-quick/run.sh
set -u
cd "$(dirname "$0")"
for pass in 1 2; do
	for cfg in "base $BASE 10000" "new $NEW 10000" "base $BASE 1000000" "new $NEW 1000000"; do
		set -- $cfg
		d=$1-keys-$3-pass-$pass
		echo "== $d $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
		nice -n 5 "$2" run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys "$3" \
			--warmup 3s --duration 15s --quiet --out "$d" --cpuprofile "$d.cpu.pprof" >"$d.txt" 2>&1
	done
done
