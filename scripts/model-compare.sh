#!/usr/bin/env bash
# model-compare.sh: every system on a modelled disk, for a quiet machine
# (about 15 minutes on 2 cores; nothing else running). The same comparison
# as `make perf-goals`'s two compares (ours, hashicorp/raft, etcd-io/raft
# and the floor target; default mix over 100,000 keys and write-only over
# 1,000,000; 1, 16, 64 and 256 clients; REPEAT interleaved runs), but with
# `compare --model-fsync`: every fsync of every system is a wait of
# MODEL_FSYNC (and the timer's wake-up) that never stalls (nothing durable;
# the data on a tmpfs), so the ranking and the tails do not depend on what
# this disk did in that hour. Writes $OUT (results/model-compare):
#
#   default/, write-only/   compare's outputs (compare.md, compare.json,
#                           plots, every run)
#   summary.md              per client count: ours against the better peer
#                           (median and per repeat), our p99 / p99.9
#                           against every peer's, ours against the floor
#                           target (scripts/model-compare-summary.py)
#
# Environment: OUT, MODEL_FSYNC (300us: about this disk's median group-commit
# fsync), REPEAT (3), WARMUP (2s), DURATION (5s), CLIENTS (1,16,64,256),
# DATA (a directory on a tmpfs; /dev/shm/raftbench-model-compare, removed
# afterwards), SMALL=1 (a short smoke run: checks the script, measures
# nothing worth publishing). Needs bin/raftbench (make build).
set -euo pipefail
cd "$(dirname "$0")/.."

B=bin/raftbench
OUT=${OUT:-results/model-compare}
MODEL_FSYNC=${MODEL_FSYNC:-300us}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-1,16,64,256}
DATA=${DATA:-/dev/shm/raftbench-model-compare}
if [[ ${SMALL:-0} == 1 ]]; then
	REPEAT=1 WARMUP=200ms DURATION=500ms CLIENTS=1,16
fi
[[ -x $B ]] || { echo "model-compare.sh: $B missing; run make build" >&2; exit 2; }
mkdir -p "$OUT" "$DATA"
trap 'rm -rf "$DATA"' EXIT
echo "model-compare: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for wl in default write-only; do
	keys=100000
	[[ $wl == write-only ]] && keys=1000000
	echo "== compare on a modelled disk (fsync = $MODEL_FSYNC), workload $wl, $keys keys ($OUT/$wl)"
	rm -rf "${OUT:?}/$wl"
	$B compare --systems raftbench,hashicorp,etcd,floor --model-fsync "$MODEL_FSYNC" --workload "$wl" --keys "$keys" \
		--clients "$CLIENTS" --repeat "$REPEAT" --warmup "$WARMUP" --duration "$DURATION" \
		--data-dir "$DATA" --out "$OUT/$wl" >/dev/null
done
python3 scripts/model-compare-summary.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
