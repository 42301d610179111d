# CPU per operation (microseconds) by component, from the CPU profiles
# of ab.sh runs: per-op.py NAME=BIN... RUN_DIR... (RUN_DIR named
# TAG-NAME-KEYS-PASS, its profile RUN_DIR.prof, ops from summary.json).
import subprocess,sys,re,json,glob,os
cats={'snapshot goroutine':'node.\(\*Node\).streamSnapshot$','kv Capture (apply path)':'kv.\(\*Store\).Capture$','kv find':'kv.\(\*table\).find$','kv put':'kv.\(\*table\).put$','kv Store.Apply':'kv.\(\*Store\).Apply$','wal appendBinaryEntry':'wal.appendBinaryEntry$','GC bg mark':'runtime.gcBgMarkWorker$','bench client side':'bench.\(\*runner\).worker$','applier.run':'node.\(\*applier\).run$','kv Prefetch':'kv.\(\*Store\).Prefetch$','driver Applier.Apply':'driver.\(\*Applier\).Apply$'}
def cum(binary,prof):
    out=subprocess.run(["go","tool","pprof","-top","-cum","-nodecount=100000","-nodefraction=0","-edgefraction=0",binary,prof],capture_output=True,text=True).stdout
    tot=float(re.search(r'Total samples = ([\d.]+)(ms|s)',out).group(1))
    if re.search(r'Total samples = [\d.]+ms',out): tot/=1000
    d={}
    for line in out.splitlines():
        m=re.match(r'\s*[\d.]+(?:ms|s)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(ms|s)\s+[\d.]+%\s+(.*)',line)
        if m: k=re.sub(r" \((partial-)?inline\)$","",m.group(3).strip()); d[k]=d.get(k,0)+float(m.group(1))*(0.001 if m.group(2)=='ms' else 1)
    return tot,d
bins=dict(a.split('=',1) for a in sys.argv[1:] if '=' in a)
for d in [a for a in sys.argv[1:] if '=' not in a]:
    b=os.path.basename(d).split('-')[1]
    ops=json.load(open(d+'/summary.json'))['ops']
    tot,c=cum(bins[b],d+'.prof')
    row=['%-22s tot %5.1fus/op'%(d.split('/')[-1],tot/ops*1e6)]
    for name,rx in cats.items():
        v=sum(x for k,x in c.items() if re.search(rx,k))
        row.append('%s %.2f'%(name.split()[0]+('-'+name.split()[1] if len(name.split())>1 else ''),v/ops*1e6))
    print('  '.join(row))
