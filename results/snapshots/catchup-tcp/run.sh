#!/usr/bin/env bash
# Catch-up by streamed snapshot over TCP, at a chosen state size.
#
#   results/snapshots/catchup-tcp/run.sh [SIZE_MIB]      (default 1024)
#
# Three `raftbench serve` processes (fsync on) on loopback. A follower is
# killed; the load generator (raftbench run --target tcp, YCSB load phase)
# then writes SIZE_MIB of state in VALUE_BYTES values (default 65536), so
# the leader snapshots and compacts its log past the follower. The
# follower restarts while a write-only load keeps running (64 clients,
# 128-byte values) and catches up by a streamed snapshot. The script
# reports the load rate, the transfer (bytes, time from the first chunk
# to the install, rate), the time to catch up, and every node's peak RSS
# (VmHWM: the follower's is since its restart), into OUT/summary.txt.
#
# Environment: VALUE_BYTES, CHUNK_BYTES (snapshot chunk, default 1 MiB),
# OUT (default results/snapshots/catchup-tcp/<SIZE>mib), DATA (default
# $TMPDIR/catchup-tcp, removed first; put it on the disk to measure),
# BIN (default bin/raftbench, built by `make build` if missing).
set -uo pipefail
cd "$(dirname "$0")/../../.."
SIZE_MIB=${1:-1024}
VALUE_BYTES=${VALUE_BYTES:-65536}
CHUNK_BYTES=${CHUNK_BYTES:-1048576}
BIN=${BIN:-bin/raftbench}
OUT=${OUT:-results/snapshots/catchup-tcp/${SIZE_MIB}mib}
DATA=${DATA:-${TMPDIR:-/tmp}/catchup-tcp}
[ -x "$BIN" ] || make build >/dev/null
KEYS=$(( (SIZE_MIB * 1048576 + VALUE_BYTES - 1) / VALUE_BYTES ))
# Snapshots come every EVERY entries once the new log is as large as the
# last snapshot (--snapshot-log-ratio 1, not the default 4): at EVERY, 2,
# 4, 8 and 16 x EVERY, so the last one of the load covers every key. The
# whole log since it stays in memory (--resident-log-ratio 0), so the
# leader's first log index says when a snapshot covers every key.
EVERY=$(( (KEYS + 15) / 16 ))
rm -rf "$DATA" "$OUT"; mkdir -p "$DATA" "$OUT"
exec > >(tee "$OUT/console.txt") 2>&1

PEERS=n1=127.0.0.1:17101,n2=127.0.0.1:17102,n3=127.0.0.1:17103
declare -A HTTP=([n1]=127.0.0.1:18101 [n2]=127.0.0.1:18102 [n3]=127.0.0.1:18103)
declare -A PID
start() {
	"$BIN" serve --id "$1" --peers $PEERS --data "$DATA/$1" --http "${HTTP[$1]}" --no-ui \
		--snapshot-every "$EVERY" --snapshot-log-ratio 1 --resident-log-ratio 0 --snapshot-chunk-bytes "$CHUNK_BYTES" --tick 50ms --log-level info >>"$OUT/$1.log" 2>&1 &
	PID[$1]=$!
}
status() { curl -s --max-time 2 "http://${HTTP[$1]}/status" || true; }
field() { jq -r "$2" <<<"$(status "$1")" 2>/dev/null || echo 0; }
# kB from /proc as bytes, in shell arithmetic (awk prints big products
# in exponent form or caps them).
hwm() { echo $(( $(awk '/VmHWM/ {print $2}' "/proc/${PID[$1]}/status") * 1024 )); }
rss() { echo $(( $(awk '/VmRSS/ {print $2}' "/proc/${PID[$1]}/status") * 1024 )); }
mib() { echo $(( $1 / 1048576 )); }
now() { date +%s.%N; }
leader() { for n in n1 n2 n3; do [ "$(field $n .role)" = leader ] && { echo $n; return 0; }; done; return 0; }
cleanup() { for n in n1 n2 n3; do [ -n "${PID[$n]:-}" ] && kill "${PID[$n]}" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "state $SIZE_MIB MiB: $KEYS keys x $VALUE_BYTES B; chunks $CHUNK_BYTES B; load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in n1 n2 n3; do start $n; done
L=
for _ in $(seq 100); do L=$(leader); [ -n "$L" ] && break; sleep 0.2; done
[ -n "$L" ] || { echo "no leader elected"; exit 1; }
F=n3; [ "$L" = n3 ] && F=n2
OTHER=$(for n in n1 n2 n3; do [ $n != "$L" ] && [ $n != "$F" ] && echo $n; done)
echo "leader $L, follower to stop $F"
kill -9 "${PID[$F]}"; wait "${PID[$F]}" 2>/dev/null || true
echo "stopped $F"

T0=$(now)
"$BIN" run --target tcp --endpoints "http://${HTTP[$L]},http://${HTTP[$OTHER]}" --workload c \
	--keys "$KEYS" --value-bytes "$VALUE_BYTES" --warmup 0s --duration 1s --quiet >"$OUT/load.txt" 2>&1
T1=$(now)
LOAD_S=$(echo "$T1 - $T0" | bc)
echo "loaded $SIZE_MIB MiB in $LOAD_S s ($(echo "$SIZE_MIB / $LOAD_S" | bc -l | xargs printf '%.1f') MiB/s)"
L=$(leader)
# Overwrite values (the state stays SIZE_MIB) until a snapshot covers
# every key and the leader's log is compacted past them.
for _ in $(seq 30); do
	[ "$(field "$L" .first_index)" -gt $(( KEYS + 1 )) ] 2>/dev/null && break
	"$BIN" run --target tcp --endpoints "http://${HTTP[$L]},http://${HTTP[$OTHER]}" --workload write-only \
		--keys "$KEYS" --value-bytes "$VALUE_BYTES" --clients 16 --warmup 0s --duration 2s --quiet >>"$OUT/load.txt" 2>&1
	sleep 1
done
echo "leader $L: applied $(field "$L" .applied), first log index $(field "$L" .first_index); snapshots saved: $(grep -c 'snapshot saved' "$OUT/$L.log" || true)"
grep -h 'snapshot saved' "$OUT/$L.log" | tail -2
du -sh "$DATA"/* | tr '\n' ' '; echo

# Writes continue while the follower catches up.
"$BIN" run --target tcp --endpoints "http://${HTTP[$L]},http://${HTTP[$OTHER]}" --workload write-only \
	--keys 10000 --value-bytes 128 --clients 64 --warmup 0s --duration 30m --quiet >"$OUT/during.txt" 2>&1 &
WP=$!
sleep 2
A2=$(field "$L" .applied)
start "$F"
T2=$(now)
TFIRST= TINST= LA= RSS0=0 LRSS0=0
while true; do
	S=$(status "$F")
	RB=$(jq -r '.snapshot_transfer.recv_bytes + .snapshot_transfer.bytes_received' <<<"$S" 2>/dev/null || echo 0)
	[ -z "$TFIRST" ] && [ "${RB:-0}" -gt 0 ] 2>/dev/null && { TFIRST=$(now); RSS0=$(rss "$F"); LRSS0=$(rss "$L"); }
	DONE=$(jq -r '.snapshot_transfer.recvs_completed' <<<"$S" 2>/dev/null || echo 0)
	[ -z "$TINST" ] && [ "${DONE:-0}" -ge 1 ] 2>/dev/null && TINST=$(now)
	FA=$(jq -r .applied <<<"$S" 2>/dev/null || echo 0)
	# Caught up: the follower applied what the leader had applied at the
	# previous look (0.2 s earlier), writes going on.
	if [ -n "$TINST" ] && [ -n "${LA:-}" ] && [ "${FA:-0}" -ge "$LA" ] 2>/dev/null; then break; fi
	LA=$(field "$L" .applied)
	if [ "$(echo "$(now) - $T2 > 1800" | bc)" = 1 ]; then echo "no catch-up after 30 minutes"; exit 1; fi
	sleep 0.2
done
T3=$(now)
FS=$(status "$F"); LS=$(status "$L"); A3=$(jq -r .applied <<<"$LS")
kill -INT $WP 2>/dev/null || true; wait $WP 2>/dev/null || true
BYTES=$(jq -r .snapshot_transfer.bytes_received <<<"$FS")
XFER_S=$(echo "$TINST - $TFIRST" | bc)
{
	echo "state_mib $SIZE_MIB"
	echo "keys $KEYS"
	echo "value_bytes $VALUE_BYTES"
	echo "chunk_bytes $CHUNK_BYTES"
	echo "load_seconds $LOAD_S"
	echo "snapshot_bytes_received $BYTES ($(mib "$BYTES") MiB)"
	echo "restart_to_first_chunk_seconds $(echo "$TFIRST - $T2" | bc)"
	echo "transfer_seconds $XFER_S (first chunk to install)"
	echo "transfer_mib_per_second $(echo "$BYTES / 1048576 / $XFER_S" | bc -l | xargs printf '%.1f')"
	echo "restart_to_caught_up_seconds $(echo "$T3 - $T2" | bc)"
	echo "chunks_rejected $(jq -r .snapshot_transfer.chunks_rejected <<<"$FS")"
	echo "leader_sends_completed $(jq -r .snapshot_transfer.sends_completed <<<"$LS") resends $(jq -r .snapshot_transfer.resends <<<"$LS")"
	echo "rss_at_first_chunk follower $(mib "$RSS0") MiB, leader $(mib "$LRSS0") MiB"
	for n in n1 n2 n3; do
		echo "$n peak_rss_bytes $(hwm $n) ($(mib "$(hwm $n)") MiB) rss_now $(mib "$(rss $n)") MiB$([ $n = "$F" ] && echo ' (follower: since its restart)')"
	done
	echo "leader_entries_applied_during_catchup $((A3 - A2)) ($(echo "($A3 - $A2) / ($T3 - $T2)" | bc -l | xargs printf '%.0f')/s: writes kept being served)"
	echo "load_average_end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/summary.txt"
grep -h 'snapshot installed\|snapshot saved' "$OUT/$F.log" | tail -3
