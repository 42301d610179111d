#!/usr/bin/env bash
# Quiet-machine A/B of the slab-image snapshot encoding: this tree
# against BASE_REV (default 48a335e, main before the slab image was
# merged; pass the main commit just before that merge), write-only, 256
# clients, 128-byte values, 3 in-process nodes, fsync on, 10k and 1M
# keys, PASSES alternating passes (scripts/state-size.sh with BASE), then
# BenchmarkSnapshotFormats (one 1M-key view streamed as RBKV1 pairs and
# as the slab image, with and without garbage between live records, CPU
# per snapshot). Writes OUT (default results/snapshots/image-ab/quiet):
# ratios.md, every run's summary.json, bench.txt. About 5.5 minutes on 2
# quiet cores.
#
#   results/snapshots/image-ab/ab.sh      (PASSES=4 DURATION=10s)
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE_REV=${BASE_REV:-48a335e}
OUT=${OUT:-results/snapshots/image-ab/quiet}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$OUT"
git archive "$BASE_REV" | tar -x -C "$tmp/src"
(cd "$tmp/src" && go build -o "$tmp/raftbench-base" ./cmd/raftbench)
KEYS=${KEYS:-"10000 1000000"} PASSES=${PASSES:-4} DURATION=${DURATION:-10s} BASE="$tmp/raftbench-base" OUT="$OUT" \
	scripts/state-size.sh
KV_KEYS=${BENCH_KEYS:-1000000} go test ./engine/embed/kv/ -run '^$' -bench 'BenchmarkSnapshotFormats' \
	-benchtime 5x -count 2 | tee "$OUT/bench.txt"
