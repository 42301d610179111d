#!/usr/bin/env bash
# tails.sh: our p99 and p99.9 against both peers' in the rows where the
# tail goal ("lower than every peer at every client count") was missed,
# for a quiet machine (about 6.5 minutes on 2 cores; nothing else running):
# the default mix (100,000 keys) at 1 and 16 clients and write-only
# (1,000,000 keys) at 16 and 64, each system REPEAT times interleaved
# (`raftbench compare`), with the disk floor at the same client counts
# before and after (every replica's log and a quorum's) and the disk's own
# stalls in it (fsyncs of StallFsync or longer: how many, how long, how far
# apart). Writes OUT/summary.md: per row and repeat each system's
# throughput, p99, p99.9 and fsyncs per second, the medians over repeats,
# and the floor's tails at that concurrency, so a tail that is the disk's
# own is visible as such. Last, the every-replica floor written two ways,
# alternating, two passes (BenchmarkDiskFloorWriteModes, about 26 s):
# appending and fsyncing, as our WAL does, against overwriting zero-filled
# files and fdatasyncing (FloorConfig.Overwrite, as preallocating logs do),
# at 1, 16 and 64 writers: whether the disk's stalls and tails depend on how
# a log writes (OUT/floor-modes.txt, tabled in the summary); then the same
# floor in an open loop at rising rates (BenchmarkDiskFloorStallsByRate,
# about 10 s): whether the stalls come from an I/O budget (only above some
# rate) or from a clock of the disk's own (at every rate). Before and
# after everything, BenchmarkMachinePauses (about 8 s): stretches in which
# threads spinning on the clock all stood still at once, which a virtual
# machine whose host throttles its CPU time shows at the throttle's period
# (OUT/machine-pauses.txt). And ours with and without preallocated WAL
# segments (the default; off: inproc option wal-preallocate=false,
# wal.Options.AppendSegments), write-only 1M keys at 16 clients, PAIRS alternating
# pairs (default 3, about 45 s; OUT/prealloc-ab/).
#
# Environment: BIN (bin/raftbench), OUT (results/tails), REPEAT (3),
# WARMUP (2s), DURATION (4s), SYSTEMS (raftbench,hashicorp,etcd), SMALL=1 (a
# short smoke run: checks the script, measures nothing worth publishing).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/raftbench}
OUT=${OUT:-results/tails}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-4s}
SYSTEMS=${SYSTEMS:-raftbench,hashicorp,etcd}
FLOOR=2s
if [[ ${SMALL:-0} == 1 ]]; then
	REPEAT=1 WARMUP=1s DURATION=1s FLOOR=500ms
fi
[[ -x $BIN ]] || { echo "tails.sh: $BIN missing; run make build" >&2; exit 2; }
mkdir -p "$OUT"
echo "tails: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
modes=$(mktemp)
trap 'rm -f "$modes"' EXIT
go test -c -o "$modes" ./bench/
pauses() { # when
	"$modes" -test.run '^$' -test.bench 'BenchmarkMachinePauses' -test.benchtime 1x |
		sed -n "s/^Benchmark/pass=$1 Benchmark/p" | tee -a "$OUT/machine-pauses.txt"
}
: >"$OUT/machine-pauses.txt"
pauses before
run() { # workload keys clients
	rm -rf "${OUT:?}/$1"
	"$BIN" compare --systems "$SYSTEMS" --workload "$1" --keys "$2" --clients "$3" --repeat "$REPEAT" \
		--warmup "$WARMUP" --duration "$DURATION" --disk-floor "$FLOOR" --out "$OUT/$1"
}
run default 100000 1,16
run write-only 1000000 16,64
: >"$OUT/floor-modes.txt"
passes=2
[[ ${SMALL:-0} == 1 ]] && passes=1
for pass in $(seq 1 "$passes"); do
	"$modes" -test.run '^$' -test.bench 'BenchmarkDiskFloorWriteModes' -test.benchtime 1x |
		sed -n "s/^Benchmark/pass=$pass Benchmark/p" | tee -a "$OUT/floor-modes.txt"
done
"$modes" -test.run '^$' -test.bench 'BenchmarkDiskFloorStallsByRate' -test.benchtime 1x |
	sed -n "s/^Benchmark/pass=1 Benchmark/p" | tee "$OUT/floor-rates.txt"
pairs=${PAIRS:-3}
[[ ${SMALL:-0} == 1 ]] && pairs=1
rm -rf "${OUT:?}/prealloc-ab"
mkdir -p "$OUT/prealloc-ab"
for pair in $(seq 1 "$pairs"); do
	order="off on"
	((pair % 2 == 0)) && order="on off"
	for side in $order; do
		"$BIN" run --target inproc --workload write-only --keys 1000000 --clients 16 --warmup "$WARMUP" \
			--duration "$DURATION" --quiet --target-opt "wal-preallocate=$([[ $side == on ]] && echo true || echo false)" \
			--out "$OUT/prealloc-ab/$side-$pair" >/dev/null
	done
done
pauses after
echo "tails: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 scripts/tails-summary.py "$OUT" | tee "$OUT/summary.md"
