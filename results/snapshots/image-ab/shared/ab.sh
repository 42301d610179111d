#!/usr/bin/env bash
# usage: ab.sh OUT PAIRS DURATION KEYS "nameA|bin|opts" "nameB|bin|opts" ...
set -euo pipefail
OUT=$1; PAIRS=$2; DUR=$3; KEYS=$4; shift 4
mkdir -p "$OUT"
specs=("$@")
for p in $(seq 1 $PAIRS); do
  if (( p % 2 == 1 )); then order=("${specs[@]}"); else order=(); for ((i=${#specs[@]}-1;i>=0;i--)); do order+=("${specs[$i]}"); done; fi
  for k in $KEYS; do
  for s in "${order[@]}"; do
    IFS='|' read -r name bin opts <<<"$s"
    o=(); for x in $opts; do o+=(--target-opt "$x"); done
    d="$OUT/$name-k$k-p$p"; rm -rf "$d"
    nice -n 5 "$bin" run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys $k --warmup 3s --duration $DUR --quiet --out "$d" "${o[@]}" >/dev/null
    python3 -c "
import json;d=json.load(open('$d/summary.json'));print('$name k=$k p=$p', round(d['throughput_ops']), round(d['latency_ms']['p999'],1), round(d['ops_per_cpu_second']), round(d['process_cpu_cores'],2), '$(cut -d' ' -f1 /proc/loadavg)')"
  done; done
done | tee -a "$OUT/log.txt"
python3 - "$OUT" <<'PY'
import json,os,re,sys,collections
out=sys.argv[1]; agg=collections.defaultdict(list)
for n in os.listdir(out):
    m=re.fullmatch(r'(.+)-k(\d+)-p(\d+)',n)
    if not m: continue
    d=json.load(open(os.path.join(out,n,'summary.json')))
    agg[(m.group(1),int(m.group(2)))].append((d['throughput_ops'],d['latency_ms']['p999'],d['ops_per_cpu_second']))
for k in sorted(agg):
    v=agg[k]; m=lambda i: sum(x[i] for x in v)/len(v)
    print(k, len(v), 'ops/s %.0f p999 %.1f ops/cpu-s %.0f'%(m(0),m(1),m(2)))
PY
