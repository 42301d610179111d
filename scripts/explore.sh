#!/usr/bin/env bash
# The explorer's published runs, into results/explore/ (see results/explore.md):
# the goal configuration, each known bug's counterexample within its bounds, and
# the simulator's shrink table. Takes tens of minutes; wrap in nice on shared machines.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/explore
mkdir -p "$out/bugs"

# The simulator's trace shrinker on every bug's first failing seed (results/explore/shrink.md).
# `scripts/explore.sh shrink` runs only this (about 1 minute on a quiet 2-core machine).
shrink() {
  SIM_SHRINK_TABLE="$PWD/$out/shrink.md" go test -count=1 -tags raftbugs -run TestShrinkEveryBug -v -timeout 60m ./chaos/sim/ \
    | grep -v '^=== RUN'
}
if [ "${1:-}" = shrink ]; then
  shrink
  exit 0
fi

go build -o bin/raftbench ./cmd/raftbench
go build -tags raftbugs -o bin/raftbench-bugs ./cmd/raftbench

# Goal: 3 nodes, 2 proposals, 1 crash, depth 20. Depth-first to the bound (each of the
# breadth-first start's 2000 frontier states gets an equal share of the state limit), with
# and without node symmetry; and breadth-first with symmetry (the depth it exhausts).
# `scripts/explore.sh goal` runs only the first two (about 6 minutes on a quiet 2-core machine;
# EXPLORE_GOAL_STATES=N for a smaller trial).
goal() {
  name=$1; shift
  /usr/bin/time -f "user %U s sys %S wall %e s maxrss %M KB" bin/raftbench explore --quiet --depth 20 --crashes 1 \
    --proposals 2 --max-term 2 --drops 0 --in-flight 3 --max-states "${EXPLORE_GOAL_STATES:-1100000}" \
    --coverage "$out/$name-coverage.json" "$@" > "$out/$name.txt" 2>&1 || true
  cat "$out/$name.txt"
}
goal goal-dfs-symmetry --strategy dfs --symmetry
goal goal-dfs --strategy dfs
if [ "${1:-}" = goal ]; then
  exit 0
fi
goal goal-bfs-symmetry --symmetry
# Breadth-first with symmetry to exhaustion of depth 20 (about 13 minutes, 1.5 GB).
EXPLORE_GOAL_STATES=8000000 goal goal-bfs20-symmetry --symmetry

# Each known bug, with the budgets its scenario needs (BFS: shortest counterexample).
bug() {
  name=$1; shift
  bin/raftbench-bugs explore --quiet --bug "$name" --max-states 3000000 \
    --out "$out/bugs/$name.json" --mermaid "$out/bugs/$name.md" "$@" > "$out/bugs/$name.txt" 2>&1 || true
}
bug driver-apply-uncommitted --depth 12 --proposals 1 --crashes 0 --drops 0 --in-flight 4 --max-term 2
bug forget-vote --depth 14 --proposals 0 --crashes 1 --drops 0 --in-flight 4 --max-term 2
bug driver-vote-not-saved --depth 14 --proposals 0 --crashes 1 --drops 0 --in-flight 4 --max-term 2
bug ack-before-persist --depth 14 --proposals 0 --crashes 1 --drops 0 --in-flight 4 --max-term 2
bug driver-ack-before-sync --depth 14 --proposals 0 --crashes 1 --drops 0 --in-flight 4 --max-term 2
bug driver-read-before-applied --depth 16 --proposals 0 --crashes 0 --reads 1 --heartbeats --drops 0 --in-flight 4 --max-term 2
bug vote-ignores-log --auto-sync --depth 14 --proposals 0 --crashes 0 --drops 0 --in-flight 6 --max-term 3
bug truncate-matching-entries --auto-sync --depth 16 --proposals 1 --crashes 0 --drops 0 --dups 1 --in-flight 4 --max-term 2
bug read-index-without-quorum --auto-sync --depth 16 --proposals 0 --crashes 0 --reads 1 --heartbeats --drops 0 --in-flight 4 --max-term 3
bug driver-session-window-short --auto-sync --depth 18 --proposals 2 --crashes 0 --drops 0 --dups 1 --in-flight 4 --max-term 2
# Caught by leader-commits-own-term: a new leader whose no-op is not yet durable counts a
# follower's ack for an entry of the previous term.
bug commit-prior-term-by-count --depth 15 --proposals 0 --crashes 0 --drops 0 --dups 0 --in-flight 5 --max-term 2

shrink
# The floor of fault-level shrinking (every fault suppressed): the event mix up to each failure.
SIM_SHRINK_EVENTS="$PWD/$out/shrink-events.md" go test -count=1 -tags raftbugs -run TestShrinkEventMix -timeout 30m ./chaos/sim/
