#!/bin/bash
# 1 GiB catch-up by streamed snapshot over TCP: 3 raftbench serve processes.
set -u
BIN=${BIN:-bin/raftbench}   # run from the repository root after make build
W=${TMPDIR:-/tmp}/catchup-tcp; D=$W/data; rm -rf $D; mkdir -p $D
PEERS=n1=127.0.0.1:17101,n2=127.0.0.1:17102,n3=127.0.0.1:17103
declare -A HTTP=([n1]=127.0.0.1:18101 [n2]=127.0.0.1:18102 [n3]=127.0.0.1:18103)
declare -A PID
start() { nice -n 5 $BIN serve --id $1 --peers $PEERS --data $D/$1 --http ${HTTP[$1]} --snapshot-every 1000 --tick 50ms --log-level info >> $D/$1.log 2>&1 & PID[$1]=$!; }
status() { curl -s http://${HTTP[$1]}/status; }
hwm() { grep VmHWM /proc/${PID[$1]}/status | awk '{print $2*1024}'; }
for n in n1 n2 n3; do start $n; done
sleep 3
head -c 65536 /dev/urandom | base64 -w0 | head -c 65536 > $W/val
put() { curl -s -o /dev/null -w '%{http_code}\n' -X PUT --data-binary @$W/val http://${HTTP[$1]}/kv/$2; }
export -f put; export HTTP_N1=${HTTP[n1]}
leader() { for n in n1 n2 n3; do if status $n | grep -q '"role":"leader"'; then echo $n; return; fi; done; }
L=$(leader); echo "leader $L"
F=n3; [ "$L" = n3 ] && F=n2
seq 0 99 | xargs -P 8 -I{} curl -s -o /dev/null -X PUT --data-binary @$W/val http://${HTTP[$L]}/kv/k{}
kill -9 ${PID[$F]}; echo "stopped $F"
T0=$(date +%s.%N)
seq 100 4195 | xargs -P 16 -I{} curl -s -o /dev/null -X PUT --data-binary @$W/val http://${HTTP[$L]}/kv/k{}
T1=$(date +%s.%N); echo "loaded 4096 x 64 KiB in $(echo "$T1-$T0" | bc) s"
status $L; echo
grep -c 'snapshot saved' $D/$L.log
du -sh $D/*
# keep writing while the follower catches up
( seq 20000 29999 | xargs -P 4 -I{} curl -s -o /dev/null -X PUT --data 'small' http://${HTTP[$L]}/kv/w{} ) &
WP=$!
start $F
T2=$(date +%s.%N)
while true; do
  S=$(status $F); LA=$(status $(leader) | sed 's/.*"applied":\([0-9]*\).*/\1/')
  FA=$(echo "$S" | sed 's/.*"applied":\([0-9]*\).*/\1/')
  if echo "$S" | grep -q '"recvs_completed":[1-9]' && [ -n "$FA" ] && [ "$FA" -ge "$((LA-200))" ] 2>/dev/null; then break; fi
  sleep 0.5
done
T3=$(date +%s.%N)
echo "caught up in $(echo "$T3-$T2" | bc) s"
echo "follower: $(status $F)"
echo "leader: $(status $L)"
kill $WP 2>/dev/null
for n in n1 n2 n3; do echo "$n peak_rss_bytes $(hwm $n)"; done
grep -h 'snapshot installed\|snapshot saved' $D/$F.log | tail -3
for n in n1 n2 n3; do kill ${PID[$n]}; done
uptime
