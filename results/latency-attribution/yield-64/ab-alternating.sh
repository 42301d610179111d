#!/usr/bin/env bash
# Throwaway alternating A/B used for round 10 (64 clients): ./ab-alternating.sh ROUNDS BINARY "name=run flags" ...
# (CLIENTS, FSYNC, D env); prints one line per run. Not a maintained tool: scripts/ab-cpu-per-op.sh is.
# usage: abc.sh ROUNDS BIN "name=ENV ..." ; workloads default,write-only at 64 clients
set -u
ROUNDS=$1; BIN=$2; shift 2
D=${D:-4s}
for r in $(seq 1 $ROUNDS); do
 for wl in default write-only; do
  keys=100000; [[ $wl == write-only ]] && keys=1000000
  vs=("$@"); if (( r % 2 == 0 )); then vs=($(printf '%s\n' "$@" | tac)); fi
  for v in "${vs[@]}"; do
   name=${v%%=*}; vopts=${v#*=}
   rm -rf /tmp/p21/abd; mkdir -p /tmp/p21/abd
   nice -n 5 $BIN run $vopts --target inproc --workload $wl --keys $keys --clients ${CLIENTS:-64} --warmup 2s --duration $D --quiet --fsync=${FSYNC:-true} --data-dir /tmp/p21/abd --out /tmp/p21/abd/run ${OPTS:-} >/dev/null 2>&1
   python3 - "$r" "$wl" "$name" /tmp/p21/abd/run/summary.json <<'PY'
import json,sys,os
s=json.load(open(sys.argv[4])); w=s['latency_ms_by_op']['write']
print(f"r{sys.argv[1]} {sys.argv[2]:10} {sys.argv[3]:8} {s['throughput_ops']:8.0f} ops/s  write p50 {w['p50']:.3f} mean {w['mean']:.3f} p99 {w['p99']:.2f}  cores {s['process_cpu_cores']:.2f}  ent/fsync {s.get('entries_per_fsync',0):.1f} ent/append {s.get('entries_per_append',0):.2f} ops/cpu-s {s['ops_per_cpu_second']:.0f} fsyncs/s {s.get('fsyncs_per_s',0):.0f} load {os.getloadavg()[0]:.1f}", flush=True)
PY
  done
 done
done
