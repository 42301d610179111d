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
#   A_REV=<git revision> [B_REV=<git revision>] scripts/ab-cpu-per-op.sh
#       (builds A, and B, from those revisions)
#
#   B=bin/raftbench A=bin/raftbench B_OPTS="wal-commit-delay=-1ns" scripts/ab-cpu-per-op.sh
#       (one binary, inproc target options per side: A_OPTS, B_OPTS, each
#       space-separated key=value)
#
# PAIRS (default 2), DURATION (4s), WARMUP (2s), CLIENTS (64,256),
# FSYNC ("false true"), WORKLOADS ("default write-only"), OUT
# (results/ab-cpu-per-op). About 2 min per pair on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

builds=$(mktemp -d)
trap 'rm -rf "$builds"' EXIT
# build_rev REV NAME: builds cmd/raftbench at git revision REV into $builds/NAME.
build_rev() {
	mkdir -p "$builds/$2.src"
	git archive "$1" | tar -x -C "$builds/$2.src"
	(cd "$builds/$2.src" && go build -o "$builds/$2" ./cmd/raftbench)
}
if [[ -z ${A:-} && -n ${A_REV:-} ]]; then
	build_rev "$A_REV" a
	A=$builds/a
fi
if [[ -z ${B:-} && -n ${B_REV:-} ]]; then
	build_rev "$B_REV" b
	B=$builds/b
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
					bin=$A side_opts=${A_OPTS:-}
					[[ $side == B ]] && bin=$B side_opts=${B_OPTS:-}
					opts=()
					for o in $side_opts; do opts+=(--target-opt "$o"); done
					d=$OUT/runs/$wl-fsync-$fsync-$c-pair-$pair-$side
					"$bin" run --target inproc --workload "$wl" --keys "$keys" --clients "$c" --fsync="$fsync" \
						--warmup "$WARMUP" --duration "$DURATION" --quiet --out "$d" "${opts[@]}" >/dev/null
					python3 - "$d/summary.json" "$wl" "$fsync" "$c" "$pair" "$side" "$(cut -d' ' -f1 /proc/loadavg)" >>"$rows" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_ms"]
print("\t".join(sys.argv[2:7] + [f"{s['throughput_ops']:.0f}", f"{l['p99']:.3g}", f"{l['p999']:.3g}",
      f"{s.get('process_cpu_cores') or 0:.2f}", f"{s.get('ops_per_cpu_second') or 0:.0f}", sys.argv[7], f"{l['p50']:.3g}"]))
EOF
					tail -1 "$rows"
				done
			done
		done
	done
done

a_label="$A ${A_OPTS:-}" b_label="$B ${B_OPTS:-}"
[[ -n ${A_REV:-} ]] && a_label="revision $A_REV"
[[ -n ${B_REV:-} ]] && b_label="revision $B_REV"
python3 - "$rows" "$a_label" "$b_label" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/ab.md" <<'EOF'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"A = `{sys.argv[2]}`, B = `{sys.argv[3]}`; load average at the end: {sys.argv[4]}.\n")
print("| workload | fsync | clients | pair | side | ops/s | p50 ms | p99 ms | p99.9 ms | cores | ops per CPU-second | load |")
print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {int(r[5]):,} | {r[11]} | {r[6]} | {r[7]} | {r[8]} | {int(r[9]):,} | {r[10]} |")
by = collections.defaultdict(dict)
for r in rows:
    by[(r[0], r[1], r[2])][(r[3], r[4])] = r
print("\nB over A, per pair (throughput; p50, p99 and p99.9 latency; ops per CPU-second):\n")
print("| workload | fsync | clients | throughput B/A | p50 B/A | p99 B/A | p99.9 B/A | ops per CPU-second B/A |")
print("| --- | --- | ---: | --- | --- | --- | --- | --- |")
for k, v in by.items():
    pairs = sorted({p for p, _ in v})
    t = [f"{int(v[(p,'B')][5]) / max(1, int(v[(p,'A')][5])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    c = [f"{int(v[(p,'B')][9]) / max(1, int(v[(p,'A')][9])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    p50 = [f"{float(v[(p,'B')][11]) / max(1e-9, float(v[(p,'A')][11])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    p99 = [f"{float(v[(p,'B')][6]) / max(1e-9, float(v[(p,'A')][6])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    p999 = [f"{float(v[(p,'B')][7]) / max(1e-9, float(v[(p,'A')][7])):.2f}x" for p in pairs if (p,'A') in v and (p,'B') in v]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {' / '.join(t)} | {' / '.join(p50)} | {' / '.join(p99)} | {' / '.join(p999)} | {' / '.join(c)} |")
EOF
cat "$OUT/ab.md"
