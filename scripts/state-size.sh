#!/usr/bin/env bash
# The state-size series: write-only load (--mix write=1), 256 clients,
# 128-byte values, 3 in-process nodes with fsync on, for key spaces of
# 10k, 100k, 1M and 10M keys; PASSES passes in alternating order so a
# drifting machine shows up as disagreement between passes. Results in
# results/snapshots/state-size/keys-<N>-pass-<P>/ (summary.json records
# peak RSS); then `raftbench plot --x keys` draws throughput and p99.9
# against keys. About 4 minutes per pass on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
B=bin/raftbench
OUT=results/snapshots/state-size
PASSES=${PASSES:-2}
KEYS=${KEYS:-"10000 100000 1000000 10000000"}
make build >/dev/null
rm -rf "$OUT"/keys-*
for pass in $(seq 1 "$PASSES"); do
	order=$KEYS
	if [ $((pass % 2)) -eq 0 ]; then order=$(echo $KEYS | tr ' ' '\n' | tac | tr '\n' ' '); fi
	for k in $order; do
		d=$OUT/keys-$k-pass-$pass
		echo "== $k keys, pass $pass"
		$B run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys "$k" \
			--warmup 3s --duration 20s --quiet --out "$d" >/dev/null
	done
done
$B plot "$OUT"/keys-* --x keys --out "$OUT" --markdown --link-base results
