#!/bin/bash
# The KV's insert cost at two revisions, alternating: BenchmarkPrefetchFill
# (1M new keys in random order, Prefetch per group of 32, as the applier
# does while a key space fills), BenchmarkApplyBatchKeySpace's prefetch
# mode at 1M keys (overwrites of a full key space, as the applier does
# them) and BenchmarkFreshPages (CPU per 4 KiB page of fresh memory:
# faulted, populated, huge-page mapped). The fill
# benchmark is defined in this file's revision's test and copied into the
# base's tree, so the base needs only the exported API.
# Env: BASE (revision, default 1a9f730: before huge-page slabs), PAIRS (3),
# OUT (results/snapshots/kv-memory/hugepage-ab). About 1 minute per pair.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE=${BASE:-1a9f730} PAIRS=${PAIRS:-3} OUT=${OUT:-results/snapshots/kv-memory/hugepage-ab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT" "$tmp/base"
git archive "$BASE" | tar -x -C "$tmp/base"
# The fill benchmark into the base's tree (its own file, exported API
# only, with its CPU-time helper) unless the base has it.
if ! grep -q "func BenchmarkPrefetchFill" "$tmp"/base/engine/embed/kv/*_test.go; then
	python3 - engine/embed/kv/prefault_linux_test.go "$tmp/base/engine/embed/kv/fill_ab_linux_test.go" <<'PY'
import sys
src = open(sys.argv[1]).read()
def take(marker):
    i = src.index(marker)
    return src[i:src.index("\n}\n", i) + 3]
out = ('package kv\n\nimport (\n\t"bytes"\n\t"testing"\n\t"time"\n\n\t"golang.org/x/sys/unix"\n)\n\n'
       + take("// cpuTime is") + "\n" + take("// BenchmarkPrefetchFill"))
if "func cpuTime" in open(sys.argv[2].replace("fill_ab_linux_test.go", "prefault_linux_test.go")).read():
    out = out.replace(take("// cpuTime is") + "\n", "")
open(sys.argv[2], "w").write(out)
PY
fi
(cd "$tmp/base" && go test -c -o "$tmp/kv-base.test" ./engine/embed/kv)
go test -c -o "$tmp/kv-head.test" ./engine/embed/kv
head=$(git rev-parse --short HEAD)
{
	echo "# KV insert cost: $head against $BASE, alternating ($(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "| pair | revision | fill CPU ns per insert | fill ns per insert | overwrite ns (1M keys, prefetch) | fresh page: touch cpu-ns | populate cpu-ns | huge-pages cpu-ns |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	for i in $(seq 1 "$PAIRS"); do
		for side in base head; do
			rev=$BASE; [ $side = head ] && rev=$head
			fills=$("$tmp/kv-$side.test" -test.run XXX -test.bench 'PrefetchFill$' -test.benchtime 3x | awk '/ns\/write/{for(k=1;k<=NF;k++) if($k=="cpu-ns/write"||$k=="ns/write") printf "%s ", $(k-1)}')
			read -r fillcpu fill <<<"$fills"
			over=$("$tmp/kv-$side.test" -test.run XXX -test.bench 'ApplyBatchKeySpace/keys=1000000/prefetch' -test.benchtime 20000x | awk '/ns\/write/{for(k=1;k<=NF;k++) if($k=="ns/write") print $(k-1)}')
			pages=$("$tmp/kv-$side.test" -test.run XXX -test.bench 'FreshPages' -test.benchtime 3x | awk '/cpu-ns\/page/{for(k=1;k<=NF;k++) if($k=="cpu-ns/page") printf "%s ", $(k-1)}')
			set -- $pages
			echo "| $i | $rev | $fillcpu | $fill | $over | ${1:-} | ${2:-} | ${3:-–} |"
		done
	done
} | tee "$OUT/README.md"
