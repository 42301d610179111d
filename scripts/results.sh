#!/usr/bin/env bash
# make results: regenerates everything published in results/ and the tables
# of results/README.md (between its <!-- BEGIN x --> / <!-- END x --> markers).
# About an hour on 2 cores (the workloads part about 10 minutes, failover 2; not
# yet timed end to end). Needs only Go, make and a POSIX shell.
#
# Environment: ONLY="bench closed sweep compare workloads failover wal sim chaos"
# picks parts; COMPARE_REPEAT (3), COMPARE_DURATION (10s), WORKLOAD_DURATION
# (5s), SIM_SEEDS (10000).
set -euo pipefail
cd "$(dirname "$0")/.."

B=bin/raftbench
ONLY=${ONLY:-"bench closed sweep compare workloads failover wal sim chaos"}
COMPARE_REPEAT=${COMPARE_REPEAT:-3}
COMPARE_DURATION=${COMPARE_DURATION:-10s}
WORKLOAD_DURATION=${WORKLOAD_DURATION:-5s}
SIM_SEEDS=${SIM_SEEDS:-10000}
[[ -x $B ]] || { echo "results.sh: $B missing; run make build" >&2; exit 2; }

want() { [[ " $ONLY " == *" $1 "* ]]; }

# replace_section NAME FILE: put FILE's content between the NAME markers of
# results/README.md.
replace_section() {
	local name=$1 file=$2 readme=results/README.md
	grep -q "<!-- BEGIN $name -->" "$readme" || { echo "results.sh: no marker $name in $readme" >&2; exit 1; }
	awk -v name="$name" -v file="$file" '
		$0 == "<!-- BEGIN " name " -->" { print; while ((getline line < file) > 0) print line; skip = 1; next }
		$0 == "<!-- END " name " -->" { skip = 0 }
		!skip { print }' "$readme" >"$readme.tmp"
	mv "$readme.tmp" "$readme"
}

machine() {
	echo "$(nproc) cores ($(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)), $(uname -sm), $(go version | cut -d' ' -f3)"
}

stamp() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
	echo "commit \`$commit\`, $(machine), $(date -u +%Y-%m-%d)"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if want bench; then
	echo "== make bench (results/latest)"
	rm -rf results/latest
	$B run --target inproc --nodes 3 --clients 64 --value-bytes 128 --warmup 3s --duration 30s --out results/latest
	$B plot results/latest --markdown --link-base results >"$tmp/latest"
	replace_section latest "$tmp/latest"
fi

if want closed; then
	echo "== closed-loop series (results/closed-loop)"
	rm -rf results/closed-loop
	for c in 1 16 64 256; do
		$B run --target inproc --nodes 3 --clients "$c" --value-bytes 128 --warmup 3s --duration 20s \
			--out "results/closed-loop/clients-$c"
	done
	$B plot results/closed-loop/clients-{1,16,64,256} --out results/closed-loop --markdown --link-base results >"$tmp/closed"
	replace_section closed-loop "$tmp/closed"
fi

if want sweep; then
	echo "== open-loop sweep (results/open-loop-sweep)"
	rm -rf results/open-loop-sweep
	$B sweep --target inproc --nodes 3 --value-bytes 128 --workers 1024 \
		--rates 2k,5k,10k,15k,20k,25k,30k,35k,40k,50k,60k,70k,80k --warmup 2s --duration 10s --out results/open-loop-sweep
	$B plot results/open-loop-sweep --markdown >"$tmp/sweep"
	replace_section sweep "$tmp/sweep"
fi

if want compare; then
	echo "== compare (results/compare)"
	rm -rf results/compare/runs results/compare/compare.* results/compare/*_vs_clients.*
	$B compare --systems raftbench,hashicorp,hashicorp-tuned,etcd,hashicorp:nofsync,etcd:nofsync \
		--clients 1,16,64,256 --duration "$COMPARE_DURATION" --repeat "$COMPARE_REPEAT" --out results/compare
	# the table and the disk floor under it, up to the plots line
	awk '/^\| system/ { p = 1 } /^Plots:/ { p = 0 } p' results/compare/compare.md >"$tmp/compare"
	replace_section compare "$tmp/compare"
fi

if want workloads; then
	echo "== standard workloads, correctness-gated (results/workloads)"
	rm -rf results/workloads
	$B compare --systems raftbench,hashicorp,etcd --workload a,b,c,write-only --clients 1,64,256 \
		--repeat 1 --warmup 2s --duration "$WORKLOAD_DURATION" --disk-floor 0 --out results/workloads
	: >"$tmp/workloads"
	for w in a b c write-only; do
		{
			echo "**$w** ([compare.md](workloads/$w/compare.md)): $(grep '^Workload ' "results/workloads/$w/compare.md")"
			echo
			awk '/^\| system/ { p = 1 } /^$/ { if (p) exit } p' "results/workloads/$w/compare.md"
			echo
		} >>"$tmp/workloads"
	done
	replace_section workloads "$tmp/workloads"
fi

if want failover; then
	echo "== failover (results/failover)"
	rm -rf results/failover
	# The same base election timeout for every system (hashicorp's own
	# setting here), so the times compare code, not configurations.
	for fault in kill partition; do
		$B failover --target inproc,hashicorp,etcd --fault $fault --election-timeout 500ms --clients 64 \
			--warmup 3s --duration 20s --at 5s --for 5s --quiet --out results/failover/$fault
	done
	{
		for fault in kill partition; do
			echo "Leader **$fault**, every system with a 500 ms base election timeout:"
			echo
			awk '/^\| /' results/failover/$fault/failover.md | sed "s#](\([a-z-]*\)/failover.md)#](failover/$fault/\1/failover.md)#"
			echo
		done
	} >"$tmp/failover"
	replace_section failover "$tmp/failover"
fi

if want wal; then
	echo "== WAL group-commit benchmark (results/wal-bench.txt)"
	{
		echo "# go test ./wal/ -run '^\$' -bench 'GroupCommit|Baseline' -benchtime 2s -count 5"
		echo "# $(stamp)"
		go test ./wal/ -run '^$' -bench 'GroupCommit|Baseline' -benchtime 2s -count 5
	} | tee results/wal-bench.txt
fi

if want sim; then
	echo "== simulator, $SIM_SEEDS seeds (results/sim-run.txt)"
	{
		echo "# $B sim --seeds $SIM_SEEDS"
		echo "# $(stamp)"
		$B sim --seeds "$SIM_SEEDS" --quiet 2>&1
	} | tee results/sim-run.txt
fi

if want chaos; then
	echo "== chaos (results/chaos)"
	./scripts/chaos.sh
fi

echo "stamp: $(stamp)" >"$tmp/stamp"
replace_section stamp "$tmp/stamp"
echo "results regenerated; see results/README.md"
