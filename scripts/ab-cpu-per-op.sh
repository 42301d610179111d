#!/usr/bin/env bash
# Alternating A/B of two raftbench binaries on the measures of CPU per
# operation and throughput: inproc target, default mix (100,000 keys) and
# write-only (1,000,000 keys), 64 and 256 clients, fsync off and on.
# Each pair runs A then B (then the next pair B then A), so drift in the
# machine's load falls on both sides. Writes OUT/ab.md (one row per run,
# and per configuration the B/A ratio of each pair) and every run's
# summary.json under OUT/runs/.
#
#   A=path/to/old/raftbench B=bin/raftbench scripts/ab-cpu-per-op.sh
#   A_REV=<git revision> scripts/ab-cpu-per-op.sh   (builds A from that revision)
#
# PAIRS (default 2), DURATION (4s), WARMUP (2s), CLIENTS (64,256),
# FSYNC ("false true"), WORKLOADS ("default write-only"), OUT
# (results/ab-cpu-per-op). About 2 min per pair on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${A:-} && -n ${A_REV:-} ]]; then
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	git archive "$A_REV" | tar -x -C "$src"
	(cd "$src" && go build -o raftbench ./cmd/raftbench)
	A=$src/raftbench
fi
A=${A:?A=old raftbench binary, or A_REV=git revision to build it from}
B=${B:-bin/raftbench}
PAIRS=${PAIRS:-2}
DURATION=${DURATION:-4s}
WARMUP=${WARMUP:-2s}
CLIENTS=${CLIENTS:-64,256}
FSYNC=${FSYNC:-false true}
WORKLOADS=${WORKLOADS:-default write-only}
OUT=${OUT:-results/ab-cpu-per-op}
for bin in "$A" "$B"; do
	[[ -x $bin ]] || { echo "ab-cpu-per-op.sh: $bin is not an executable" >&2; exit 2; }
done
rm -rf "${OUT:?}/runs"
mkdir -p "$OUT/runs"
rows=$OUT/runs/rows.tsv
: >"$rows"
echo "ab-cpu-per-op: A=$A B=$B, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for pair in $(seq 1 "$PAIRS"); do
	order="A B"
	((pair % 2 == 0)) && order="B A"
	for wl in $WORKLOADS; do
		keys=100000
		[[ $wl == write-only ]] && keys=1000000
		for fsync in $FSYNC; do
			for c in ${CLIENTS//,/ }; do
				for side in $order; do
					bin=$A
					[[ $side == B ]] && bin=$B
					d=$OUT/runs/$wl-fsync-$fsync-$c-pair-$pair-$side
					"$bin" run --target inproc --workload "$wl" --keys "$keys" --clients "$c" --fsync="$fsync" \
						--warmup "$WARMUP" --duration "$DURATION" --quiet --out "$d" >/dev/null
					python3 - "$d/summary.json" "$wl" "$fsync" "$c" "$pair" "$side" "$(cut -d' ' -f1 /proc/loadavg)" >>"$rows" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_ms"]
print("\t".join(sys.argv[2:7] + [f"{s['throughput_ops']:.0f}", f"{l['p99']:.3g}", f"{l['p999']:.3g}",
      f"{s.get('process_cpu_cores') or 0:.2f}", f"{s.get('ops_per_cpu_second') or 0:.0f}", sys.argv[7]]))
EOF
					tail -1 "$rows"
				done
			done
		done
	done
done

python3 - "$rows" "$A" "$B" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/ab.md" <<'EOF'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"A = `{sys.argv[2]}`, B = `{sys.argv[3]}`; load average at the end: {sys.argv[4]}.\n")
print("| workload | fsync | clients | pair | side | ops/s | p99 ms | p99.9 ms | cores | ops per CPU-second | load |")
print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {int(r[5]):,} | {r[6]} | {r[7]} | {r[8]} | {int(r[9]):,} | {r[10]} |")
by = collections.defaultdict(dict)
for r in rows:
    by[(r[0], r[1], r[2])][(r[3], r[4])] = r
print("\nB over A, per pair (throughput; ops per CPU-second):\n")
print("| workload | fsync | clients | throughput B/A | ops per CPU-second B/A |")
print("| --- | --- | ---: | --- | --- |")
for k, v in by.items():
    pairs = sorted({p for p, _ in v})
    t = [f"{int(v[(p,'B')][5]) / max(1, int(v[(p,'A')][5])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    c = [f"{int(v[(p,'B')][9]) / max(1, int(v[(p,'A')][9])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {' / '.join(t)} | {' / '.join(c)} |")
EOF
cat "$OUT/ab.md"
