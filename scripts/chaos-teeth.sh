#!/usr/bin/env bash
# make chaos-teeth: the chaos harness's detection table. Runs the full
# form of chaos/harness's TestTeeth: deliberately broken lin-kv designs
# (chaos/internal/kvnodes) under every nemesis, and correct nodes
# (kvnodes single and primary, the toy node, raft-maelstrom) under every
# fault alone and all at once, and writes results/chaos/teeth.md.
# About 45 minutes on 2 cores. Tunable: PARALLEL (runs at a time, default
# 4); ONLY=broken or ONLY=correct runs one half of the matrix.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-results/chaos}
FILE=${FILE:-teeth.md}
mkdir -p "$OUT"
table=$(mktemp)
trap 'rm -f "$table"' EXIT
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD 2>/dev/null; then commit="$commit (dirty)"; fi
cores=$(nproc 2>/dev/null || echo "?")
cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

status=0
RAFTBENCH_TEETH=full RAFTBENCH_TEETH_OUT="$table" RAFTBENCH_TEETH_PARALLEL="${PARALLEL:-4}" \
  RAFTBENCH_TEETH_ONLY="${ONLY:-}" \
  go test -count=1 -timeout 120m -run '^TestTeeth$' ./chaos/harness/ || status=$?

{
  echo "# Chaos harness: detection table"
  echo
  echo "Does \`raftbench chaos\` catch broken lin-kv nodes, and does it pass correct ones?"
  echo "The broken and correct designs are in \`chaos/internal/kvnodes\` (standard library only,"
  echo "written to Maelstrom's protocol as an outsider would); the toy node is"
  echo "\`chaos/internal/toynode\`; raft-maelstrom is this project's node. Rows marked with a bar"
  echo "are held to it; \"measured\" rows show what each nemesis catches at the defaults."
  echo
  echo "- commit: $commit"
  echo "- machine: $(uname -sm), $cores cores, $cpu"
  echo "- date: $date"
  echo "- made by: \`make chaos-teeth\` (scripts/chaos-teeth.sh: \`RAFTBENCH_TEETH=full go test -run TestTeeth ./chaos/harness/\`)"
  echo
  cat "$table"
} > "$OUT/$FILE"
cat "$OUT/$FILE"
exit $status
