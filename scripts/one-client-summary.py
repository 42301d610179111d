#!/usr/bin/env python3
"""Reads the compare runs scripts/one-client.sh wrote and prints, as markdown,
the 1-client goals per kind of operation: each system's p50 / p99 / p99.9 for
the whole mix and for each kind (write, read, cas), our p50 of each kind against
the disk floor's one write (every replica's log, 1 writer) measured before and
after the runs, and our tails against every peer's."""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "results/one-client"
OURS = "raftbench"
KINDS = ("write", "read", "cas")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def trio(l):
    return f"{l['p50'] * 1000:.0f} / {l['p99'] * 1000:.0f} / {l['p999'] * 1000:.0f}" if l else "–"


print(f"# One client, per kind of operation (read from {out})\n")
print("Latencies in µs, p50 / p99 / p99.9, one line per run (repeats interleaved across systems); "
      "the floor is bench.MeasureQuorumFloor with 1 writer and every replica's log writing, "
      "sampled before and after the runs.\n")
for wl in ("default", "write-only"):
    r = load(os.path.join(out, wl, "compare.json"))
    if r is None:
        print(f"**{wl}**: no compare.json\n")
        continue
    print(f"## {wl} ({r['keys']:,} keys, mix {r['mix']}), {r['date']}\n")
    kinds = [k for k in KINDS if any(k in (x.get("latency_ms_by_op") or {}) for x in r["runs"])]
    print("| run | system | ops/s | all | " + " | ".join(kinds) + " |")
    print("| ---: | --- | ---: | --- |" + " --- |" * len(kinds))
    for x in r["runs"]:
        by = x.get("latency_ms_by_op") or {}
        print(f"| {x['order']} | {x['system']} | {x['throughput_ops']:,.0f} | {trio(x['latency_ms'])} | "
              + " | ".join(trio(by.get(k)) for k in kinds) + " |")
    # The floor is measured two ways (logs appended with fsync; overwriting a
    # preallocated file with fdatasync); the yardstick is the way whose
    # samples average the lower p50: what the disk allows whichever way a
    # system writes.
    ways = {}
    for f in r.get("disk_floor") or []:
        if f["writers"] == 1 and f["files"] == f["nodes"]:
            ways.setdefault(bool(f.get("overwrite")), {})[f["when"]] = f
    floors = min(ways.values(), key=lambda fs: sum(f["p50_us"] for f in fs.values()) / len(fs), default={})
    way = "overwrite + fdatasync" if floors and next(iter(floors.values())).get("overwrite") else "append + fsync"
    rows = {x["system"]: x for x in r["rows"] if x["clients"] == 1}
    o = rows.get(OURS)
    if o is None:
        print()
        continue
    print("\nMedians over the repeats (µs):\n")
    print("| system | all p50 / p99 / p99.9 | " + " | ".join(f"{k} p50 / p99 / p99.9" for k in kinds) + " |")
    print("| --- | --- |" + " --- |" * len(kinds))
    for name, x in rows.items():
        by = x.get("by_op") or {}
        cells = [f"{by[k]['p50_ms'] * 1000:.0f} / {by[k]['p99_ms'] * 1000:.0f} / {by[k]['p999_ms'] * 1000:.0f}"
                 if k in by else "–" for k in kinds]
        print(f"| {name} | {x['p50_ms'] * 1000:.0f} / {x['p99_ms'] * 1000:.0f} / {x['p999_ms'] * 1000:.0f} | "
              + " | ".join(cells) + " |")
    if floors:
        p50s = [f["p50_us"] for f in floors.values()]
        floor = sum(p50s) / len(p50s)
        desc = ", ".join(f"{w} {f['p50_us']:.0f} (mean {f['mean_us']:.0f})" for w, f in floors.items())
        print(f"\nFloor's one write ({way}, the way with the lower p50), p50 µs: {desc}; their average {floor:.0f} µs is the yardstick "
              f"(the better of the two, {min(p50s):.0f} µs, is what compare's ceiling uses).\n")
        print("| our p50 of | µs | over the floor | goal |")
        print("| --- | ---: | ---: | --- |")
        print(f"| the whole mix | {o['p50_ms'] * 1000:.0f} | {o['p50_ms'] * 1000 / floor:.2f}x | "
              f"{'<= 1.2x' if len(kinds) == 1 else 'blends kinds: see below'} |")
        for k in kinds:
            if k in (o.get("by_op") or {}):
                v = o["by_op"][k]["p50_ms"] * 1000
                goal = "none: no disk on its path" if k == "read" else "<= 1.2x"
                print(f"| {k} | {v:.0f} | {v / floor:.2f}x | {goal} |")
    peers = [x for n, x in rows.items() if n != OURS]
    if peers:
        print("\nTails, ours against the lowest peer (ms):\n")
        print("| kind | ours p99 | lowest peer p99 | ours p99.9 | lowest peer p99.9 | lower than every peer |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for k in ("all",) + tuple(kinds):
            def get(x, p):
                if k == "all":
                    return x[p + "_ms"]
                return ((x.get("by_op") or {}).get(k) or {}).get(p + "_ms")
            ours99, ours999 = get(o, "p99"), get(o, "p999")
            p99 = [v for v in (get(x, "p99") for x in peers) if v is not None]
            p999 = [v for v in (get(x, "p999") for x in peers) if v is not None]
            if ours99 is None or not p99:
                continue
            ok = ours99 < min(p99) and ours999 < min(p999)
            print(f"| {k} | {ours99:.3f} | {min(p99):.3f} | {ours999:.3f} | {min(p999):.3f} | {'yes' if ok else 'no'} |")
    print()
cp = load(os.path.join(out, "critical-path.json"))
if cp:
    print("## What each kind waits for (one probed run, default mix, [critical-path.md](critical-path.md))\n")
    t = cp["total"]
    print(f"Writes and cas ({cp['writes']:,} recorded): mean {t['mean_us']:.0f} µs, p50 {t['p50_us']:.0f}, p99 {t['p99_us']:.0f}; "
          + "the largest hops on the critical path: " + ", ".join(
              f"{h['name']} {h['on_path_mean_us']:.0f} µs" for h in sorted(cp["hops"], key=lambda h: -h["on_path_mean_us"])[:4]) + ".")
    if cp.get("floor"):
        f = cp["floor"]
        print(f"Floor right after (1 writer, every replica's log): mean {f['mean_us']:.0f} µs, p50 {f['p50_us']:.0f} µs; "
              f"our mean write = {t['mean_us'] / f['mean_us']:.2f}x, p50 = {t['p50_us'] / f['p50_us']:.2f}x.")
    rd = cp.get("reads")
    if rd:
        print(f"\nReads ({rd['rounds']:,} ReadIndex rounds on node {rd['node']}), µs:\n")
        print("| hop | mean | p50 | p90 | p99 | what |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for h in rd["hops"] + [rd["total"]]:
            print(f"| {h['name']} | {h['mean_us']:.0f} | {h['p50_us']:.0f} | {h['p90_us']:.0f} | {h['p99_us']:.0f} | {h['what']} |")
    print()
load_txt = os.path.join(out, "load.txt")
if os.path.exists(load_txt):
    print("Machine: " + "; ".join(l.strip() for l in open(load_txt)) + ".")
