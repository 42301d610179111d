#!/bin/bash
# Alternating pairs at 1 client, ReadIndex (the default) against lease reads, default mix; one line per run with each kind's p50/p99/p99.9/mean in µs.
B=${B:-bin/raftbench}; OUT=${OUT:-/tmp/lease-vs-readindex}; PAIRS=${PAIRS:-3}
for p in $(seq 1 $PAIRS); do
  order="readindex lease"; ((p % 2 == 0)) && order="lease readindex"
  for side in $order; do
    opt=(); [[ $side == lease ]] && opt=(--target-opt lease-reads=true)
    d=$OUT/$side-$p
    nice -n 5 $B run --clients 1 --workload default --keys 100000 --warmup 1s --duration 4s --quiet --out $d "${opt[@]}" >/dev/null 2>&1
    python3 - $d/summary.json $side $p "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json,sys
s=json.load(open(sys.argv[1])); by=s.get("latency_ms_by_op",{})
f=lambda l: f"{l['p50']*1000:.0f}/{l['p99']*1000:.0f}/{l['p999']*1000:.0f}/mean {l['mean']*1000:.0f}"
print(sys.argv[2], sys.argv[3], f"{s['throughput_ops']:.0f} ops/s", "all", f(s['latency_ms']), *(k+" "+f(v) for k,v in sorted(by.items())), "load", sys.argv[4])
PY
  done
done
