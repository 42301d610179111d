#!/usr/bin/env bash
# The process-level fault runs of results/security.md: the same 60 s chaos
# run (partitions, kills, disk faults, clock faults) on a plain and a secure
# 3-process `raftbench serve` cluster and on raft-maelstrom; lease reads
# under clock faults kept within their bound (60 s); and the lease-break
# schedule, which must be caught with lease reads and its bound broken and
# must pass without lease reads or with the bound kept.
#
# About 6 minutes on a quiet 2-core machine. Every run's directory (history,
# summary, node logs) goes to $OUT/<name>/, its console output to
# $OUT/<name>.txt, and one line per run to $OUT/chaos-runs.txt.
# Tunables: SEED=1 TIME=60s OUT=results/security RAFTBENCH=bin/raftbench
# MAELSTROM=bin/raft-maelstrom. Exit status 1 if any run's verdict is not the
# expected one.
set -uo pipefail
cd "$(dirname "$0")/.."

SEED=${SEED:-1}
TIME=${TIME:-60s}
OUT=${OUT:-results/security}
RAFTBENCH=${RAFTBENCH:-bin/raftbench}
MAELSTROM=${MAELSTROM:-bin/raft-maelstrom}
for f in "$RAFTBENCH" "$MAELSTROM"; do
  [[ -x $f ]] || { echo "chaos-security.sh: $f missing; run make build" >&2; exit 2; }
done
mkdir -p "$OUT"
lines="$OUT/chaos-runs.txt"
: >"$lines"
bad=0

# run NAME EXPECT ARGS...: EXPECT is the exit status the run must have
# (0 linearizable and valid, 1 not linearizable).
run() {
  local name=$1 expect=$2
  shift 2
  local dir="$OUT/$name"
  "$RAFTBENCH" chaos --out "$dir" "$@" >"$dir.txt" 2>&1
  local rc=$?
  local verdict
  verdict=$(python3 - "$dir/summary.json" <<'PY' 2>/dev/null || echo "no summary"
import json, sys
s = json.load(open(sys.argv[1]))
faults = ", ".join(f"{k} {v}" for k, v in sorted(s.get("fault_counts", {}).items()))
extra = ""
if s.get("serve"):
    extra = f"; {s['serve']['security']}; raft link cuts {s['serve']['raft_link_cuts']}"
    if s["serve"].get("lease_breaks"):
        extra += f"; leaders isolated {len(s['serve']['lease_breaks'])}"
print(f"{s['verdict']} valid={s['valid']} ok {s['ops']['ok']}/{s['ops']['attempted']} "
      f"faults: {faults}; failed-disk nodes stopped {s.get('disk_failed_nodes_stopped', 0)}, "
      f"running at repair {s.get('disk_failed_nodes_running', 0)}; unexpected exits {s['unexpected_exits']}{extra}")
PY
)
  local mark="as expected"
  if [[ $rc != "$expect" ]]; then mark="UNEXPECTED (exit $rc, want $expect)"; bad=1; fi
  echo "$name: $verdict [$mark]" | tee -a "$lines"
}

common=(--nodes 3 --time "$TIME" --quiet 10s --rate 100 --nemesis-interval 4s --latency 5ms --seed "$SEED")
faults=(--nemesis partition,kill,disk,clock)
run chaos-serve-plain 0 --serve plain "${common[@]}" "${faults[@]}"
run chaos-serve-secure 0 --serve secure "${common[@]}" "${faults[@]}"
run chaos-maelstrom 0 --bin "$MAELSTROM" "${common[@]}" "${faults[@]}"
# Lease reads, every clock fault within the lease's bound (drift within
# 1/1.1..1.1, forward jumps), with partitions, kills and disk faults.
run chaos-serve-lease-bounded 0 --serve plain --node-arg=--lease-reads --clock-bound 0.1 "${common[@]}" "${faults[@]}"
# The targeted schedule: isolate the leader with its clock at x0.02.
lb=(--serve plain --nodes 3 --time 7s --quiet 1s --rate 200 --concurrency 12 --latency 0
  --nemesis lease-break --nemesis-interval 1500ms --seed 3)
run lease-break-broken 1 "${lb[@]}" --node-arg=--lease-reads
run lease-break-within-bound 0 "${lb[@]}" --node-arg=--lease-reads --lease-break-rate 0.95
run lease-break-readindex 0 "${lb[@]}"
exit $bad
