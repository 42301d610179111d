#!/usr/bin/env bash
# prealloc-ab.sh: preallocated WAL segments (the default) against appended
# ones (inproc wal-preallocate=false, wal.Options.AppendSegments: each
# commit fsynced) on a quiet machine. One binary; alternating pairs
# (scripts/ab-cpu-per-op.sh), fsync on, default mix (100,000 keys) and
# write-only (1,000,000 keys): 16 and 64 clients (3 pairs, 5 s) and 1 client
# (2 pairs, 4 s). About 5 minutes on a quiet 2-core machine. Writes
# $OUT/16-64/ab.md and $OUT/1/ab.md.
# Environment: B (bin/raftbench), OUT (results/wal-prealloc/quiet).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${B:-bin/raftbench}
OUT=${OUT:-results/wal-prealloc/quiet}
[[ -x $bin ]] || { echo "prealloc-ab.sh: $bin missing; run make build" >&2; exit 2; }
A=$bin B=$bin A_OPTS="wal-preallocate=false" B_OPTS="" PAIRS=${PAIRS:-3} CLIENTS=16,64 FSYNC=true DURATION=5s \
	OUT=$OUT/16-64 scripts/ab-cpu-per-op.sh
A=$bin B=$bin A_OPTS="wal-preallocate=false" B_OPTS="" PAIRS=2 CLIENTS=1 FSYNC=true DURATION=4s \
	OUT=$OUT/1 scripts/ab-cpu-per-op.sh
