#!/bin/bash
# snapcpu.sh TAG BIN: one profiled 1M run; prints snapshot-goroutine CPU per snapshot MB and per op
tag=$1; bin=$2
nice -n 5 $bin run --target inproc --nodes 3 --mix write=1 --clients 256 --value-bytes 128 --keys 1000000 --warmup 3s --duration 15s --quiet --out /tmp/p15s/sc-$tag --cpuprofile /tmp/p15s/sc-$tag.pprof --target-opt log=/tmp/p15s/sc-$tag.log >/dev/null
python3 - $tag $bin <<'PY'
import sys,subprocess,re,json
tag,b=sys.argv[1],sys.argv[2]
out=subprocess.run(["go","tool","pprof","-top","-cum","-nodecount=100000",b,"/tmp/p15s/sc-%s.pprof"%tag],capture_output=True,text=True).stdout
def sec(rx):
    for l in out.splitlines():
        m=re.match(r'\s*\S+\s+\S+%\s+\S+%\s+([\d.]+)(ms|s)\s+\S+%\s+(.*)$',l)
        if m and re.search(rx,m.group(3)): return float(m.group(1))*(0.001 if m.group(2)=='ms' else 1)
    return 0
tot=float(re.search(r'Total samples = ([\d.]+)s',out).group(1))
snap=sec(r'node.\(\*Node\).streamSnapshot$'); sysw=sec(r'wal.\(\*SnapshotFile\).Write$')
mb=sum(int(m) for m in re.findall(r'snapshot saved.*bytes=(\d+)',open('/tmp/p15s/sc-%s.log'%tag).read()))/1e6
d=json.load(open('/tmp/p15s/sc-%s/summary.json'%tag)); ops=d['ops']*18/15
print('%s total %.2fs snapshot %.3fs (file write %.3fs) %.0f MB: %.2f ms/MB, %.2f us/op (%.1f%% of samples), ops/s %.0f, ops/cpu-s %.0f, load %s'%(tag,tot,snap,sysw,mb,snap/mb*1e3,snap/ops*1e6,100*snap/tot,d['throughput_ops'],d['ops_per_cpu_second'],open('/proc/loadavg').read().split()[0]))
PY
