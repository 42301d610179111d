#!/usr/bin/env bash
# yield-ab.sh: the leader's yield to clients on a quiet machine. One
# binary, A = inproc yield-to-clients=false (every proposal takes the
# first loop turn it can), B = the default (a leader woken by client
# requests alone yields once, so a burst of answered clients shares one
# proposal batch). Alternating pairs (scripts/ab-cpu-per-op.sh), fsync on:
# 64 clients (3 pairs, 5 s) and 1 client (2 pairs, 4 s), default mix
# (100,000 keys) and write-only (1,000,000 keys). About 4 minutes on a
# quiet 2-core machine. Writes $OUT/64/ab.md and $OUT/1/ab.md.
# Environment: B (bin/raftbench), OUT (results/latency-attribution/yield-64/quiet).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${B:-bin/raftbench}
OUT=${OUT:-results/latency-attribution/yield-64/quiet}
[[ -x $bin ]] || { echo "yield-ab.sh: $bin missing; run make build" >&2; exit 2; }
A=$bin B=$bin A_OPTS="yield-to-clients=false" B_OPTS="" PAIRS=3 CLIENTS=64 FSYNC=true DURATION=5s \
	OUT=$OUT/64 scripts/ab-cpu-per-op.sh
A=$bin B=$bin A_OPTS="yield-to-clients=false" B_OPTS="" PAIRS=2 CLIENTS=1 FSYNC=true DURATION=4s \
	OUT=$OUT/1 scripts/ab-cpu-per-op.sh
