#!/usr/bin/env bash
# recycle-ab.sh: recycled WAL segments (the default: the segment files a
# snapshot frees become later segments) against spares of zeros only
# (inproc wal-recycle-segments=0, wal.Options.RecycleSegments < 0) on a
# quiet machine. One binary; alternating pairs (scripts/ab-cpu-per-op.sh),
# fsync on, default mix (100,000 keys) and write-only (1,000,000 keys),
# 16, 64 and 256 clients, 3 pairs of 6 s after a 3 s warm-up (snapshots
# free segments within the warm-up at these sizes). About 10 minutes on
# a quiet 2-core machine. Writes $OUT/ab.md.
# Environment: B (bin/raftbench), OUT (results/wal-prealloc/recycle),
# PAIRS (3).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${B:-bin/raftbench}
OUT=${OUT:-results/wal-prealloc/recycle}
[[ -x $bin ]] || { echo "recycle-ab.sh: $bin missing; run make build" >&2; exit 2; }
A=$bin B=$bin A_OPTS="wal-recycle-segments=0" B_OPTS="" PAIRS=${PAIRS:-3} CLIENTS=16,64,256 FSYNC=true \
	WARMUP=3s DURATION=6s OUT=$OUT scripts/ab-cpu-per-op.sh
