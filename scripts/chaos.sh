#!/usr/bin/env bash
# make chaos: our Maelstrom node (bin/raft-maelstrom) under the chaos
# harness, several seeds, every run must be linearizable. Results go to
# results/chaos/<seed>/ and a table to results/chaos/README.md.
#
# Tunables (environment): SEEDS="1 ... 10" TIME=60s NODES=5 RATE=100
# CONCURRENCY=2n NEMESIS=partition,kill,pause NEMESIS_INTERVAL=5s LATENCY=5ms
# BIN=bin/raft-maelstrom
# OUT=results/chaos. CI uses e.g. SEEDS="1 2 3" TIME=20s.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
TIME=${TIME:-60s}
NODES=${NODES:-5}
RATE=${RATE:-100}
CONCURRENCY=${CONCURRENCY:-2n}
NEMESIS=${NEMESIS:-partition,kill,pause}
NEMESIS_INTERVAL=${NEMESIS_INTERVAL:-5s}
LATENCY=${LATENCY:-5ms}
BIN=${BIN:-bin/raft-maelstrom}
OUT=${OUT:-results/chaos}
RAFTBENCH=${RAFTBENCH:-bin/raftbench}

for f in "$RAFTBENCH" "$BIN"; do
  [[ -x $f ]] || { echo "chaos.sh: $f missing; run make build" >&2; exit 2; }
done

mkdir -p "$OUT"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD 2>/dev/null; then commit="$commit (dirty)"; fi
cores=$(nproc 2>/dev/null || echo "?")
cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
machine="$(uname -sm), $cores cores, $cpu"
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

dirs=()
failed=0
for seed in $SEEDS; do
  dir="$OUT/$seed"
  rm -rf "$dir"
  cmd=("$RAFTBENCH" chaos --bin "$BIN" --nodes "$NODES" --time "$TIME" --rate "$RATE"
       --concurrency "$CONCURRENCY" --nemesis "$NEMESIS" --nemesis-interval "$NEMESIS_INTERVAL" --latency "$LATENCY"
       --seed "$seed" --out "$dir")
  echo "== seed $seed: ${cmd[*]}"
  status=0
  "${cmd[@]}" || status=$?
  if [[ $status -ne 0 ]]; then failed=1; fi
  if [[ $status -ne 0 && $status -ne 1 && $status -ne 3 ]]; then
    echo "chaos.sh: seed $seed: run failed (exit $status)" >&2
  fi
  dirs+=("$dir")
  # Node WALs are not results: the harness keeps them in a temp dir, but
  # drop any large node log so results/ stays small.
  find "$dir/logs" -type f -size +5M -exec truncate -s 5M {} + 2>/dev/null || true
done

{
  echo "# Chaos: raft-maelstrom under faults"
  echo
  echo "Each run: ${NODES} nodes, ${TIME} of faults ($NEMESIS, Jepsen's combined-nemesis schedule:"
  echo "each family staggered uniform(0, 2 × $NEMESIS_INTERVAL), overlapping; kills restart on the"
  echo "node's data directory) then a 5 s quiet period; Maelstrom's lin-kv workload at $RATE ops/s"
  echo "from $CONCURRENCY client threads (2 × nodes per key, half readers); ${LATENCY} mean latency (exponential)."
  echo "Availability = ok / attempted operations; latency of ok operations in ms. Kills and pauses draw"
  echo "their nodes from Jepsen's targets (some, one, minority-third, minority, majority, all), so some"
  echo "faults take down a majority or every node: the cluster is then unavailable until they return."
  echo
  echo "Does the harness catch broken nodes and pass correct ones? See [teeth.md](teeth.md)."
  echo
  echo "- commit: $commit"
  echo "- machine: $machine"
  echo "- date: $date"
  echo "- made by: \`make chaos\` (scripts/chaos.sh); each run's exact command is in <seed>/summary.json"
  echo
  "$RAFTBENCH" chaos report "${dirs[@]}" || true
  echo
  echo "Commands:"
  echo
  for seed in $SEEDS; do
    echo "    $RAFTBENCH chaos --bin $BIN --nodes $NODES --time $TIME --rate $RATE --concurrency $CONCURRENCY --nemesis $NEMESIS --nemesis-interval $NEMESIS_INTERVAL --latency $LATENCY --seed $seed --out $OUT/$seed"
  done
} > "$OUT/README.md"

cat "$OUT/README.md"
if [[ $failed -ne 0 ]]; then
  echo "chaos.sh: at least one run was not valid (see $OUT/README.md)" >&2
  exit 1
fi
