#!/usr/bin/env bash
# Quiet-machine A/B of the KV apply work at a large key count: this tree
# against BASE_REV (default f815a33, the tree before group prefetching and
# the incremental index growth), write-only, 256 clients, 128-byte values,
# 3 in-process nodes, fsync on, 10k and 1M keys, PASSES alternating
# passes (scripts/state-size.sh with BASE), then the KV microbenchmarks
# (one command at a time, prefetched groups, ApplyBatch; slowest insert).
# Writes results/snapshots/kv-batch/quiet/ (ratios.md, every run's
# summary.json) and quiet/bench.txt. About 7 minutes on 2 quiet cores.
#
#   results/snapshots/kv-batch/ab.sh            (PASSES=4 DURATION=10s)
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE_REV=${BASE_REV:-f815a33}
OUT=${OUT:-results/snapshots/kv-batch/quiet}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
git archive "$BASE_REV" | tar -x -C "$tmp/src"
(cd "$tmp/src" && go build -o "$tmp/raftbench-base" ./cmd/raftbench)
cp engine/embed/kv/insert_bench_test.go "$tmp/src/engine/embed/kv/" # the same benchmark on the base
KEYS="10000 1000000" PASSES=${PASSES:-4} DURATION=${DURATION:-10s} BASE="$tmp/raftbench-base" OUT="$OUT" \
	scripts/state-size.sh
go test ./engine/embed/kv/ -run '^$' -bench 'BenchmarkApplyBatchKeySpace|BenchmarkInsertWorstWrite' \
	-benchtime 1x -count 1 >/dev/null # warm the build
go test ./engine/embed/kv/ -run '^$' -bench 'BenchmarkApplyBatchKeySpace' -benchtime 20000x -count 3 | tee "$OUT/bench.txt"
for i in 1 2; do
	(cd "$tmp/src" && go test ./engine/embed/kv/ -run '^$' -bench 'BenchmarkInsertWorstWrite' -benchtime 1x) | sed -n 's/^Benchmark/base Benchmark/p' | tee -a "$OUT/bench.txt"
	go test ./engine/embed/kv/ -run '^$' -bench 'BenchmarkInsertWorstWrite' -benchtime 1x | sed -n 's/^Benchmark/this Benchmark/p' | tee -a "$OUT/bench.txt"
done
