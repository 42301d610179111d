#!/usr/bin/env bash
# ab.sh: the quiet-machine A/B for the block-structured in-memory log.
# Builds a base raftbench in a temporary worktree: by default this tree
# (HEAD) with the block log's engine commits reverted, so only the log
# differs; or BASE_COMMIT (e.g. f815a33, the tree before this round's
# changes). Then runs, alternating with this tree:
#   1. scripts/state-size.sh, 10k and 1M keys, PASSES (4) passes of
#      DURATION (10s): write-only, 256 clients, 128 B values, 3 in-process
#      nodes, fsync on -> $OUT/state-size-ab/ratios.md (1M/10k ratios of
#      throughput and p99.9 for both binaries);
#   2. trace-ab.sh, 1M keys, TRACE_PAIRS (2) pairs with execution traces
#      -> $OUT/trace/trace-{this,base}-N.md (the longest uninterrupted
#      runs: base shows follower node loops stopped in the core's append
#      path; this tree should not).
# About 6-7 minutes on a quiet 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE_COMMIT=${BASE_COMMIT:-}
# The engine commits of the block log, newest first (reverted for the base).
LOG_COMMITS="3a759f0 ad1b9b6 85a61d7 0954785 dff80bd"
OUT=${OUT:-results/snapshots/core-log/quiet}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
if [ -n "$BASE_COMMIT" ]; then
	git worktree add -q --detach "$tmp/src" "$BASE_COMMIT"
else
	git worktree add -q --detach "$tmp/src" HEAD
	(cd "$tmp/src" && git revert --no-commit $LOG_COMMITS)
fi
(cd "$tmp/src" && go build -o "$tmp/raftbench-base" ./cmd/raftbench)
KEYS="10000 1000000" PASSES=${PASSES:-4} DURATION=${DURATION:-10s} BASE="$tmp/raftbench-base" \
	OUT="$OUT/state-size-ab" scripts/state-size.sh
BASE="$tmp/raftbench-base" PAIRS=${TRACE_PAIRS:-2} OUT="$OUT/trace" results/snapshots/core-log/trace-ab.sh
echo "ab.sh: $OUT/state-size-ab/ratios.md, $OUT/trace/"
