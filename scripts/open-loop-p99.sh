#!/usr/bin/env bash
# open-loop-p99.sh: the open loop's p99 at half of saturation, and where it
# comes from (about 5 minutes on a quiet 2-core machine; run nothing else).
# Writes $OUT (results/open-loop):
#
#   sweep/      the open-loop sweep of `make perf-goals` (default mix, fsync
#               on, 3 in-process nodes, 1024 workers, 4 s each after 1 s
#               warm-up) at fractions (5% to 150%) of the closed-loop peak a
#               256-client run measures first (scripts/sweep-rates.py), then
#               the disk floor at the half-saturation rate: every replica's
#               log written and fsynced on the same schedule with nothing else
#               running (sweep --disk-floor).
#   README.md   the p99 at half saturation H, and at H:
#               - its parts: schedule lag (how late the generator sent: the
#                 whole process, generator included, stopped or behind) and
#                 service time (send to answer); latency counts from the due
#                 time, so a late send is latency, not an omission;
#               - the disk floor's p50/p99/p99.9 at H (what no system on this
#                 disk with every replica writing goes below);
#               - one traced run: stretches in which work waited while no
#                 goroutine ran (the process stopped) and which syscalls held
#                 the Ps then, log fsync times, the worst 10 ms buckets;
#               - one run with the critical-path probe (per-hop attribution);
#               - alternating runs (A..F, then F..A) of the default against:
#                 the WAL's lone-fsync exception off (wal-offload-lone=true),
#                 GOMAXPROCS=3 (a P stays free while two fsyncs block), both,
#                 snapshots deferred (snapshot-log-ratio=50: their share of
#                 the tail), and snapshot files paced to 32 MiB/s
#                 (snapshot-write-rate=33554432);
#               - the same rate on a modelled disk (model-fsync: every fsync
#                 a wait of MODEL_FSYNC, 300us by default, about this disk's
#                 median group-commit fsync, that never stalls; data on
#                 /dev/shm), ours against the floor target with three copies
#                 of the state, alternating: the tail that is the system's
#                 own once the disk's stalls are taken out;
#               - what the candidate settings cost the closed loop: 1 and 64
#                 clients, default against GOMAXPROCS=3 + wal-offload-lone,
#                 alternating, 3 s each (the lone-fsync exception exists for
#                 the 1-client p50).
#
# Environment: OUT, RATES (the sweep's, instead of the peak's fractions),
# DURATION (4s), PAIRS (2),
# MODEL_FSYNC (300us), KEEP=1 keeps the trace. Needs bin/raftbench (make build).
set -euo pipefail
cd "$(dirname "$0")/.."

B=bin/raftbench
OUT=${OUT:-results/open-loop}
RATES=${RATES:-}
DURATION=${DURATION:-4s}
PAIRS=${PAIRS:-2}
MODEL_FSYNC=${MODEL_FSYNC:-300us}
[[ -x $B ]] || { echo "open-loop-p99.sh: $B missing; run make build" >&2; exit 2; }
mkdir -p "$OUT"
tmp=$(mktemp -d)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$tmp"' EXIT
(cd scripts/tracestalls && go build -o "$tmp/tracestalls" .)
common=(--target inproc --nodes 3 --value-bytes 128 --workers 1024 --target-opt batches-in-flight=-1 --warmup 1s --duration "$DURATION" --quiet)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)

if [[ -z $RATES ]]; then
	echo "== the closed-loop peak (256 clients, default mix), for the sweep's rates" >&2
	$B run --target inproc --nodes 3 --value-bytes 128 --clients 256 --warmup 1s --duration 3s --quiet --out "$tmp/peak" >/dev/null
	RATES=$(scripts/sweep-rates.py "$tmp/peak/summary.json")
fi
echo "== open-loop sweep ($RATES), then the disk floor at half saturation" >&2
rm -rf "$OUT/sweep"
$B sweep "${common[@]}" --rates "$RATES" --disk-floor 3s --out "$OUT/sweep" >"$tmp/sweep.txt"
cat "$tmp/sweep.txt" >&2
half=$(python3 -c "import json,sys; h = json.load(open(sys.argv[1])).get('half_saturation_ops', 0); print(max(500, round(h / 500) * 500) if h else 0)" "$OUT/sweep/sweep.json")
[[ $half -gt 0 ]] || { echo "open-loop-p99.sh: the sweep found no half-saturation rate" >&2; exit 1; }

echo "== traced run at $half ops/s" >&2
$B run "${common[@]}" --rate "$half" --trace "$tmp/half.trace" --timeline 10ms --out "$tmp/traced" >"$tmp/traced.txt"
"$tmp/tracestalls" -timeline "$tmp/traced/timeline.csv" -worst 3 "$tmp/half.trace" >"$tmp/stalls.md"

echo "== critical path at $half ops/s" >&2
$B run "${common[@]}" --rate "$half" --target-opt "critical-path=$tmp/critpath" --target-opt critical-path-after=1500ms \
	--out "$tmp/critrun" >/dev/null

variants=(default lone-offload procs3 procs3+lone-offload snapshots-deferred snapshots-paced)
# one VARIANT N: a run at $half with VARIANT's setting; summary in $tmp/ab/VARIANT-N.
one() {
	local v=$1 n=$2 env=() opts=()
	case $v in
	lone-offload) opts=(--target-opt wal-offload-lone=true) ;;
	procs3) env=(GOMAXPROCS=3) ;;
	procs3+lone-offload) env=(GOMAXPROCS=3) opts=(--target-opt wal-offload-lone=true) ;;
	snapshots-deferred) opts=(--target-opt snapshot-log-ratio=50) ;;
	snapshots-paced) opts=(--target-opt snapshot-write-rate=33554432) ;;
	esac
	echo "== $v ($n) at $half ops/s" >&2
	env "${env[@]}" $B run "${common[@]}" --rate "$half" "${opts[@]}" --out "$tmp/ab/$v-$n" >/dev/null
}
mkdir -p "$tmp/ab"
for n in $(seq "$PAIRS"); do
	if ((n % 2)); then order=("${variants[@]}"); else order=(); for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done; fi
	for v in "${order[@]}"; do one "$v" "$n"; done
done

# The modelled disk: ours and the floor target with three copies of the
# state, alternating; data on a tmpfs when there is one.
modeldir=$tmp/model
[[ -d /dev/shm && -w /dev/shm ]] && modeldir=$(mktemp -d /dev/shm/open-loop-p99.XXXXXX)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$tmp" "$modeldir"' EXIT
mkdir -p "$modeldir" "$tmp/model-runs"
model() {
	local side=$1 n=$2 opts=(--target-opt model-fsync="$MODEL_FSYNC" --data-dir "$modeldir")
	echo "== modelled disk ($MODEL_FSYNC), $side ($n) at $half ops/s" >&2
	# common names the inproc target and an option only it takes; the
	# floor target's run spells out the same load.
	if [[ $side == floor3 ]]; then
		$B run --target floor --target-opt stores=3 --nodes 3 --value-bytes 128 --workers 1024 --warmup 1s --duration "$DURATION" --quiet \
			--rate "$half" "${opts[@]}" --out "$tmp/model-runs/$side-$n" >/dev/null
	else
		$B run "${common[@]}" --rate "$half" "${opts[@]}" --out "$tmp/model-runs/$side-$n" >/dev/null
	fi
}
for n in $(seq "$PAIRS"); do
	if ((n % 2)); then model ours "$n"; model floor3 "$n"; else model floor3 "$n"; model ours "$n"; fi
done

# The closed loop with the candidate: cl N CLIENTS SIDE
cl() {
	local n=$1 c=$2 side=$3 env=() opts=()
	if [[ $side == candidate ]]; then env=(GOMAXPROCS=3) opts=(--target-opt wal-offload-lone=true); fi
	echo "== closed loop, $c clients, $side ($n)" >&2
	env "${env[@]}" $B run --target inproc --nodes 3 --value-bytes 128 --clients "$c" --warmup 1s --duration 3s --quiet \
		"${opts[@]}" --out "$tmp/closed/$c-$side-$n" >/dev/null
}
mkdir -p "$tmp/closed"
for n in $(seq "$PAIRS"); do
	for c in 1 64; do
		if ((n % 2)); then cl "$n" "$c" default; cl "$n" "$c" candidate; else cl "$n" "$c" candidate; cl "$n" "$c" default; fi
	done
done

python3 - "$OUT" "$tmp" "$half" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(($(date +%s) - t0))" "$PAIRS" "$MODEL_FSYNC" "${variants[@]}" >"$OUT/README.md" <<'PY'
import json, os, sys
out, tmp, half, load0, load1, secs, pairs, model_fsync = sys.argv[1:9]
variants = sys.argv[9:]
half, pairs = int(half), int(pairs)
sw = json.load(open(os.path.join(out, "sweep", "sweep.json")))
def summ(d):
    return json.load(open(os.path.join(d, "summary.json")))
def f(x, d=2):
    return "–" if x is None else f"{x:,.{d}f}"
print("# Open loop: the p99 at half of saturation and where it comes from\n")
print(f"`scripts/open-loop-p99.sh` at {sw.get('git_commit', '?')}, {sw.get('date', '?')}, {secs} s in all; "
      f"load average before {load0}, after {load1}. Default mix, fsync on, 3 in-process nodes, 1024 workers, "
      "1 s warm-up, then measured; latency counts from each request's due time.\n")
print("## The sweep\n")
print("| offered ops/s | achieved | p50 ms | p99 ms | p99.9 ms | service p99 ms | exploded |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for p in sw["points"]:
    l, s = p["latency_ms"], p.get("service_latency_ms") or {}
    print(f"| {p['rate']:,.0f} | {p['throughput_ops']:,.0f} | {f(l['p50'])} | {f(l['p99'])} | {f(l['p999'])} | {f(s.get('p99'))} | {p.get('exploded', '')} |")
sat = (sw.get("saturation") or {}).get("throughput_ops")
how = "saturation" if sw.get("saturated") else "not saturated; the highest rate held"
print(f"\n**{how}: {f(sat, 0)} ops/s; p99 at half of it ({f(sw.get('half_saturation_ops'), 0)} ops/s): "
      f"{f(sw.get('p99_at_half_saturation_ms'))} ms** ({sw.get('half_saturation_note', '')}; goal < 5 ms).")
for key in ("half_saturation_floor", "half_saturation_floor_other"):
    fl = sw.get(key)
    if fl:
        way = "overwrite + fdatasync" if fl.get("overwrite") else "append + fsync"
        print(f"\nThe disk alone at {fl['rate']:,.0f} writes/s (open loop, {fl['files']} logs, a write durable on {fl['quorum']}, "
              f"{fl['record_bytes']} B records, logs written {way}, {fl['duration_s']:.1f} s): p50 {fl['p50_us'] / 1000:.3f} ms, "
              f"**p99 {fl['p99_us'] / 1000:.3f} ms**, p99.9 {fl['p999_us'] / 1000:.3f} ms, max {fl['max_us'] / 1000:.3f} ms.")
tr = summ(os.path.join(tmp, "traced"))
l, s, g = tr["latency_ms"], tr.get("service_latency_ms") or {}, tr.get("schedule_lag_ms") or {}
print(f"\n## At {half:,} ops/s: the parts of the latency (traced run)\n")
print("| | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, d in (("latency (from the due time)", l), ("service time (from the send)", s), ("schedule lag (send after due)", g)):
    print(f"| {name} | {f(d.get('p50'))} | {f(d.get('p90'))} | {f(d.get('p99'))} | {f(d.get('p999'))} | {f(d.get('max'))} |")
print(f"\nProcess CPU {f(tr.get('process_cpu_cores'))} cores; entries per fsync {f(tr.get('entries_per_fsync'), 1)}. "
      "The schedule lag is the generator's pacer and workers running late; in one process with the "
      "cluster they stop when it stops (with an outside client those requests would queue in the "
      "server instead, and count the same).\n")
print("### Trace\n")
print(open(os.path.join(tmp, "stalls.md")).read())
print("\n## Critical path at this rate (node.Config.Probe)\n")
print(open(os.path.join(tmp, "critpath.md")).read())
print(f"\n## Settings at {half:,} ops/s, alternating ({pairs} rounds, order reversed every other round)\n")
print("| setting | round | p50 ms | p99 ms | p99.9 ms | service p99 ms | lag p99 ms | cores |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def rounds(sub, name):
    # Each round's summary of run sub/name-N that exists, with its latency, service time and lag.
    for n in range(1, pairs + 1):
        d = os.path.join(tmp, sub, f"{name}-{n}")
        if os.path.exists(os.path.join(d, "summary.json")):
            r = summ(d)
            yield n, r, r["latency_ms"], r.get("service_latency_ms") or {}, r.get("schedule_lag_ms") or {}
p99 = {}
for v in variants:
    for n, r, l, s, g in rounds("ab", v):
        p99.setdefault(v, []).append(l["p99"])
        print(f"| {v} | {n} | {f(l['p50'])} | {f(l['p99'])} | {f(l['p999'])} | {f(s.get('p99'))} | {f(g.get('p99'))} | {f(r.get('process_cpu_cores'))} |")
base = p99.get("default") or []
if base:
    print("\np99 of each setting over the default's, round by round: " + "; ".join(
        f"{v} " + " / ".join(f"{x / b:.2f}x" for x, b in zip(p99[v], base)) for v in variants[1:] if v in p99) + ".")
print(f"\n## At {half:,} ops/s on a modelled disk: every fsync a wait of {model_fsync} that never stalls\n")
print("Option model-fsync of both targets (nothing durable; data on a tmpfs): what remains is each system's "
      "own tail. Ours against the floor target with three copies of the state (no consensus), alternating.\n")
print("| system | round | p50 ms | p99 ms | p99.9 ms | service p99 ms | lag p99 ms | cores | CPU µs per op |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for side, name in (("ours", "ours"), ("floor3", "floor target, stores=3")):
    for n, r, l, s, g in rounds("model-runs", side):
        c = r.get("cpu_us_per_op") or {}
        cpu = f(c["user"] + c["kernel"], 1) if c else "–"
        print(f"| {name} | {n} | {f(l['p50'])} | {f(l['p99'])} | {f(l['p999'])} | {f(s.get('p99'))} | {f(g.get('p99'))} | {f(r.get('process_cpu_cores'))} | {cpu} |")
print("\n## The closed loop with GOMAXPROCS=3 + wal-offload-lone (the candidate) against the default, alternating\n")
print("| clients | round | setting | ops/s | p50 ms | p99 ms | p99.9 ms | cores |")
print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
for c in (1, 64):
    for n in range(1, pairs + 1):
        for side in ("default", "candidate"):
            d = os.path.join(tmp, "closed", f"{c}-{side}-{n}")
            if not os.path.exists(os.path.join(d, "summary.json")):
                continue
            r = summ(d)
            l = r["latency_ms"]
            print(f"| {c} | {n} | {side} | {r['throughput_ops']:,.0f} | {f(l['p50'], 3)} | {f(l['p99'])} | {f(l['p999'])} | {f(r.get('process_cpu_cores'))} |")
PY
echo "open-loop-p99.sh: wrote $OUT/README.md ($(($(date +%s) - t0)) s)" >&2
