#!/usr/bin/env bash
# race.sh: A and B (each "binary [run flags]") run at the same time, ROUNDS times,
# the launch order alternating; 1 client, 3 nodes, inproc, write-only 1M keys unless BASE says otherwise.
set -uo pipefail
ROUNDS=${ROUNDS:-4}; FSYNC=${FSYNC:-true}; DUR=${DUR:-4s}; WARM=${WARM:-1s}
BASE=${BASE:---mix write=1 --keys 1000000 --value-bytes 128}
one() { local label=$1 d=$2; shift 2; local bin=$1; shift
  local envv=${label}_ENV; envv=${!envv:-X=1}
  env $envv "$bin" run --target inproc --nodes 3 --clients 1 $BASE --fsync=$FSYNC --warmup $WARM --duration $DUR --quiet --data-dir $d/data --out $d/out "$@" >/dev/null 2>$d/err; }
rep() { python3 - "$1/out/summary.json" "$2" <<'PY'
import json,sys
s=json.load(open(sys.argv[1]));l=s['latency_ms']
print(f"{sys.argv[2]:3s} ops/s {s['throughput_ops']:8.0f} p50 {l['p50']*1000:5.0f} p99 {l['p99']*1000:6.0f} p999 {l['p999']*1000:6.0f} cores {s['process_cpu_cores']:.2f} ops/cpu-s {s['ops_per_cpu_second']:8.0f}")
PY
}
for r in $(seq 1 $ROUNDS); do
  da=$(mktemp -d); db=$(mktemp -d); mkdir -p $da/data $db/data
  if (( r % 2 )); then one A $da $A & sleep 0.05; one B $db $B & else one B $db $B & sleep 0.05; one A $da $A & fi
  wait
  echo "round $r load $(cut -d' ' -f1 /proc/loadavg)"; rep $da A; rep $db B
  rm -rf $da $db
done
