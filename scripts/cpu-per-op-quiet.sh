#!/usr/bin/env bash
# The quiet-machine check of changes that cut CPU per operation on the
# request path: scripts/ab-cpu-per-op.sh with A = revision A_REV (the tree
# before the change) and B = revision B_REV (default: HEAD), alternating
# pairs, on the cells where the machine is CPU-bound:
#   256 clients, fsync on, default mix (100,000 keys) and write-only
#       (1,000,000 keys), PAIRS_256 pairs (default 3);
#   1 client, fsync off, write-only (1,000,000 keys), PAIRS_1 pairs (3).
# Writes OUT/256/ab.md and OUT/1/ab.md (per run and per pair: throughput,
# p50, p99, p99.9, ops per CPU-second; B over A).
#
#   A_REV=M^1 B_REV=M scripts/cpu-per-op-quiet.sh   (M: the merge of the change)
#
# About 4 minutes on a quiet 2-core machine (two builds, 18 runs).
set -euo pipefail
cd "$(dirname "$0")/.."
A_REV=${A_REV:?A_REV=the revision before the change}
B_REV=${B_REV:-HEAD}
OUT=${OUT:-results/cpu-per-op-quiet}
builds=$(mktemp -d)
trap 'rm -rf "$builds"' EXIT
for side in a b; do
	rev=$A_REV
	[[ $side == b ]] && rev=$B_REV
	mkdir -p "$builds/$side.src"
	git archive "$rev" | tar -x -C "$builds/$side.src"
	(cd "$builds/$side.src" && go build -o "$builds/$side" ./cmd/raftbench)
done
A=$builds/a B=$builds/b PAIRS=${PAIRS_256:-3} CLIENTS=256 FSYNC=true WORKLOADS="default write-only" \
	DURATION=${DURATION:-5s} OUT=$OUT/256 scripts/ab-cpu-per-op.sh
A=$builds/a B=$builds/b PAIRS=${PAIRS_1:-3} CLIENTS=1 FSYNC=false WORKLOADS=write-only \
	DURATION=${DURATION:-5s} OUT=$OUT/1 scripts/ab-cpu-per-op.sh
echo "A = $A_REV, B = $B_REV ($(git rev-parse --short "$B_REV"))" >"$OUT/revisions.txt"
