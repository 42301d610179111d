#!/usr/bin/env bash
# race.sh A B N WL KEYS CLIENTS FSYNC: A and B run at the same time, N rounds.
A=$1 B=$2 N=$3 WL=$4 KEYS=$5 C=$6 F=$7 OUT=${OUT:-/tmp/p21c/race}
mkdir -p $OUT
for i in $(seq 1 $N); do
  order="A B"; (( i % 2 == 0 )) && order="B A"
  for side in $order; do
    bin=$A; [[ $side == B ]] && bin=$B
    $bin run --target inproc --workload $WL --keys $KEYS --clients $C --fsync=$F --warmup 2s --duration ${DUR:-5s} --quiet --out $OUT/$WL-$C-$F-$i-$side >/dev/null 2>&1 &
  done
  wait
  python3 - $OUT/$WL-$C-$F-$i-A/summary.json $OUT/$WL-$C-$F-$i-B/summary.json $WL $C $F $i <<'PY'
import json,sys
a=json.load(open(sys.argv[1]));b=json.load(open(sys.argv[2]))
def f(s): return s['throughput_ops'], s['ops_per_cpu_second'], s['latency_ms']['p99'], s['latency_ms']['p999']
ta,ca,pa,qa=f(a);tb,cb,pb,qb=f(b)
print(f"{sys.argv[3]} c={sys.argv[4]} fsync={sys.argv[5]} round {sys.argv[6]}: A {ta:.0f} ops/s {ca:.0f}/cpu-s p99 {pa:.3g} p99.9 {qa:.3g} | B {tb:.0f} {cb:.0f} p99 {pb:.3g} p99.9 {qb:.3g} | B/A thr {tb/ta:.2f} cpu {cb/ca:.2f} p99 {pb/pa:.2f} p99.9 {qb/qa:.2f}")
PY
done
