#!/usr/bin/env python3
"""model-compare-summary.py OUT: the headline of scripts/model-compare.sh's
comparisons (OUT/<workload>/compare.json, every system on a modelled disk),
written to stdout as markdown: per workload and client count, our ops/s
against the better peer's, per repeat as well as the median; our p99 and
p99.9 against every peer's; ours against the floor target (no consensus:
what the harness and the CPUs leave any design on that disk)."""

import json
import os
import statistics
import sys

OURS = "raftbench"
PEERS = ("hashicorp", "etcd")


def runs_by(r):
    """(system, clients, repeat) -> the run's record."""
    return {(x["system"], x["clients"], x["repeat"]): x for x in r["runs"]}


def fmt(x):
    return f"{x:,.0f}"


def main(out):
    print("# Every system on a modelled disk (read from " + out + ")\n")
    for wl in ("default", "write-only"):
        path = os.path.join(out, wl, "compare.json")
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        runs = runs_by(r)
        print(f"## {wl} ({r['keys']:,} keys, mix {r['mix']}), {r['date']}\n")
        print(f"Every fsync of every system a wait of {r['model_fsync']} that never stalls; "
              f"{r['repeat']} interleaved runs of {r['duration_s']:g} s per system and client count; "
              f"figures are medians over them, ratios are per repeat (the same minute).\n")
        print("| clients | ours ops/s | better peer ops/s | ratio (per repeat) | ours p99 / p99.9 ms | peers' lowest p99 / p99.9 ms | tails below every peer (repeats) | floor target ops/s | ours over it |")
        print("| ---: | ---: | --- | --- | --- | --- | --- | ---: | ---: |")
        for c in r["clients"]:
            ratios, lower, ours, best, fl, lp99s, lp999s = [], 0, [], [], [], [], []
            for k in range(1, r["repeat"] + 1):
                o = runs.get((OURS, c, k))
                ps = [runs[(p, c, k)] for p in PEERS if (p, c, k) in runs]
                if not o or not ps:
                    continue
                b = max(ps, key=lambda x: x["throughput_ops"])
                ratios.append(o["throughput_ops"] / b["throughput_ops"])
                ours.append(o)
                best.append(b)
                lp99s.append(min(p["latency_ms"]["p99"] for p in ps))
                lp999s.append(min(p["latency_ms"]["p999"] for p in ps))
                if o["latency_ms"]["p99"] < lp99s[-1] and o["latency_ms"]["p999"] < lp999s[-1]:
                    lower += 1
                if (f := runs.get(("floor", c, k))):
                    fl.append(f["throughput_ops"])
            if not ours:
                continue
            med = statistics.median
            o_ops = med([x["throughput_ops"] for x in ours])
            # The better peer of each repeat; named by the one that was
            # better most often.
            names = [b["system"] for b in best]
            bname = max(set(names), key=names.count)
            b_ops = med([x["throughput_ops"] for x in best])
            peers_p99, peers_p999 = med(lp99s), med(lp999s)
            f_ops = med(fl) if fl else None
            print(f"| {c} | {fmt(o_ops)} | {bname} {fmt(b_ops)} | **{med(ratios):.2f}x** ({' / '.join(f'{x:.2f}' for x in ratios)}) "
                  f"| {med([x['latency_ms']['p99'] for x in ours]):.2f} / {med([x['latency_ms']['p999'] for x in ours]):.2f} "
                  f"| {peers_p99:.2f} / {peers_p999:.2f} | {lower} of {len(ours)} "
                  f"| {fmt(f_ops) if f_ops else '–'} | {f'{o_ops / f_ops:.2f}x' if f_ops else '–'} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/model-compare")
