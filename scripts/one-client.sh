#!/usr/bin/env bash
# one-client.sh: the 1-client goals in one command, for a quiet machine
# (about 3 minutes on 2 cores; nothing else running). For the default mix
# (100,000 keys) and write-only (1,000,000 keys) it runs `raftbench compare`
# at 1 client over ours and both peers, REPEAT times interleaved, with the
# disk floor (bench.MeasureQuorumFloor, 1 writer) before and after, and writes
# OUT/summary.md: each system's latency per kind of operation (write, read,
# cas), our p50 per kind against the floor's one write, and our tails
# against every peer's, overall and per kind; then one probed run of the
# default mix (critical-path.md: a write's and a read's hops).
#
# Why per kind: at 1 client a read waits for a ReadIndex round (no disk), a
# write or cas for a quorum's fsyncs; the mix's p50 blends them (with 40%
# reads it is about the writes' 17th percentile), so a mix's p50 against the
# one-write floor compares unlike things, and only the per-kind figures say
# which kind is slow.
#
# Environment: BIN (bin/raftbench), OUT (results/one-client), REPEAT (3),
# WARMUP (2s), DURATION (4s), SYSTEMS (raftbench,hashicorp,etcd), SMALL=1 (a
# short smoke run: checks the script, measures nothing worth publishing).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/raftbench}
OUT=${OUT:-results/one-client}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-4s}
SYSTEMS=${SYSTEMS:-raftbench,hashicorp,etcd}
FLOOR=2s
if [[ ${SMALL:-0} == 1 ]]; then
	REPEAT=1 WARMUP=1s DURATION=1s FLOOR=500ms
fi
[[ -x $BIN ]] || { echo "one-client.sh: $BIN missing; run make build" >&2; exit 2; }
mkdir -p "$OUT"
echo "one-client: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for wl in default write-only; do
	keys=100000
	[[ $wl == write-only ]] && keys=1000000
	rm -rf "${OUT:?}/$wl"
	"$BIN" compare --systems "$SYSTEMS" --workload "$wl" --keys "$keys" --clients 1 --repeat "$REPEAT" \
		--warmup "$WARMUP" --duration "$DURATION" --disk-floor "$FLOOR" --out "$OUT/$wl"
done
# What a read and a write wait for, hop by hop (node.Probe and node.ReadProbe;
# the probe's own cost is a few clock reads per hop), with the floor right after.
"$BIN" run --target inproc --clients 1 --workload default --keys 100000 --warmup "$WARMUP" --duration "$DURATION" \
	--quiet --out "$OUT/critical-path-run" --target-opt "critical-path=$OUT/critical-path" \
	--target-opt critical-path-floor=1 >/dev/null
echo "one-client: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 scripts/one-client-summary.py "$OUT" | tee "$OUT/summary.md"
