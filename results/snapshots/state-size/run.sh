#!/bin/bash
cd /tmp/m15b
for pass in 1 2; do
for spec in base:10000 new:10000 base:1000000 new:1000000 new:100000 base:100000; do
  bin=${spec%%:*}; keys=${spec##*:}
  out=/tmp/m15b/p$pass-$bin-$keys; rm -rf $out; mkdir -p $out
  prof=""; [ $keys = 1000000 ] && [ $pass = 1 ] && prof="--cpuprofile $out/cpu.pprof"
  nice -n 5 /tmp/rb-$bin run --target inproc --mix write=1 --clients 256 --value-bytes 128 --keys $keys \
    --warmup 3s --duration 20s --out $out $prof > $out/stdout.txt 2>&1
done
done
echo done > /tmp/m15b/DONE
