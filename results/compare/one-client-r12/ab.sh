#!/usr/bin/env bash
# ab.sh: alternating sequential pairs (A B, then B A, ...). A="binary [run flags]" B="..."
# A_ENV/B_ENV: one VAR=value for that side (e.g. GOMAXPROCS=5). PAIRS, FSYNC, DUR, WARM, BASE.
set -uo pipefail
PAIRS=${PAIRS:-4}; FSYNC=${FSYNC:-true}; DUR=${DUR:-3s}; WARM=${WARM:-1s}
BASE=${BASE:---mix write=1 --keys 1000000 --value-bytes 128}
run() { # label cmd...
  local label=$1; shift
  local bin=$1; shift
  local d; d=$(mktemp -d)
  mkdir -p $d/data
  local envv=${label}_ENV; envv=${!envv:-X=1}
  env $envv "$bin" run --target inproc --nodes 3 --clients 1 $BASE --fsync=$FSYNC --warmup $WARM --duration $DUR --quiet --data-dir $d/data --out $d/out "$@" >/dev/null 2>$d/err || { echo "$label FAILED: $(tail -2 $d/err)"; rm -rf $d; return; }
  python3 - "$d/out/summary.json" "$label" <<'PY'
import json,sys
s=json.load(open(sys.argv[1]));l=s['latency_ms']
w=s.get('latency_ms_by_op',{}).get('write',l)
print(f"{sys.argv[2]:3s} ops/s {s['throughput_ops']:8.0f} p50 {l['p50']*1000:5.0f} p99 {l['p99']*1000:6.0f} p999 {l['p999']*1000:6.0f} wp50 {w['p50']*1000:5.0f} cores {s['process_cpu_cores']:.2f} ops/cpu-s {s['ops_per_cpu_second']:8.0f} load {open('/proc/loadavg').read().split()[0]}")
PY
  rm -rf $d
}
for p in $(seq 1 $PAIRS); do
  if (( p % 2 == 1 )); then run A $A; run B $B; else run B $B; run A $A; fi
done
