#!/usr/bin/env python3
"""Reads the compare runs scripts/tails.sh wrote and prints, as markdown, our
p99 and p99.9 against every peer's per workload and client count (each
repeat, and the medians over repeats), each system's fsyncs per second, and
the disk floor's tails and stalls at the same concurrency."""
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "results/tails"
OURS = "raftbench"
ROWS = (("default", (1, 16)), ("write-only", (16, 64)))


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def med(xs):
    return statistics.median(xs) if xs else float("nan")


print(f"# Tails against the peers (read from {out})\n")
print("Each row: one `raftbench compare` run (repeats interleaved across systems). "
      "\"lower\" means our median is below every peer's median. The floor is "
      "bench.MeasureQuorumFloor at the same number of writers (no Raft, no CPU work: "
      "records appended and fsynced, a write durable on 2 of 3 logs), before and after the runs; "
      "its stalls are stretches of fsyncs of 5 ms or longer (bench.StallFsync): count, median "
      "length and median spacing of their starts. A tail of ours at or below the floor's own at the same concurrency is the disk's.\n")
if os.path.exists(os.path.join(out, "load.txt")):
    with open(os.path.join(out, "load.txt")) as f:
        print("Load: " + "; ".join(l.strip() for l in f if l.strip()) + "\n")
for wl, counts in ROWS:
    r = load(os.path.join(out, wl, "compare.json"))
    if r is None:
        print(f"**{wl}**: no compare.json\n")
        continue
    print(f"## {wl} ({r['keys']:,} keys), {r['date']}\n")
    for c in counts:
        runs = [x for x in r["runs"] if x["clients"] == c and x.get("fsync")]
        if not runs:
            continue
        systems = []
        for x in runs:
            if x["system"] not in systems:
                systems.append(x["system"])
        print(f"### {c} client{'s' if c > 1 else ''}\n")
        print("| system | repeat | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | fsyncs/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for x in sorted(runs, key=lambda x: (systems.index(x["system"]), x["repeat"])):
            l = x["latency_ms"]
            print(f"| {x['system']} | {x['repeat']} | {x['throughput_ops']:,.0f} | {l['p50']:.3f} | "
                  f"{l['p99']:.3f} | {l['p999']:.2f} | {l['max']:.2f} | {x.get('fsyncs_per_s') or 0:,.0f} |")
        medians = {}
        for s in systems:
            xs = [x for x in runs if x["system"] == s]
            medians[s] = (med([x["latency_ms"]["p99"] for x in xs]), med([x["latency_ms"]["p999"] for x in xs]),
                          med([x["throughput_ops"] for x in xs]))
        print()
        for s in systems:
            p99, p999, ops = medians[s]
            print(f"- {s}: median ops/s {ops:,.0f}, p99 {p99:.3f} ms, p99.9 {p999:.2f} ms")
        if OURS in medians and len(medians) > 1:
            o99, o999, _ = medians[OURS]
            peers = [v for k, v in medians.items() if k != OURS]
            b99, b999 = min(p[0] for p in peers), min(p[1] for p in peers)
            print(f"- ours against the peers' lowest medians: p99 {o99:.3f} vs {b99:.3f} ms "
                  f"({'lower' if o99 < b99 else 'NOT lower'}), p99.9 {o999:.2f} vs {b999:.2f} ms "
                  f"({'lower' if o999 < b999 else 'NOT lower'})")
        every = [fl for fl in (r.get("disk_floor") or []) if fl.get("writers") == c and fl.get("files") == fl.get("nodes")]
        if OURS in medians and every:
            lo = min(fl["p999_us"] for fl in every) / 1000
            hi = max(fl["p999_us"] for fl in every) / 1000
            o999 = medians[OURS][1]
            if o999 <= lo:
                verdict = "at or below every floor sample's: the disk's own tail"
            elif o999 <= hi:
                verdict = "within the floor samples' range: the disk's own tail, as far as two samples tell"
            else:
                verdict = "above every floor sample's: part of it is ours"
            print(f"- our median p99.9 {o999:.2f} ms against the floor's (every replica's log) "
                  f"{lo:.2f}-{hi:.2f} ms: {verdict}")
        for fl in r.get("disk_floor") or []:
            if fl.get("writers") != c:
                continue
            print(f"- floor {fl['when']}, {fl['files']} logs writing: p50 {fl['p50_us'] / 1000:.2f}, "
                  f"p99 {fl['p99_us'] / 1000:.2f}, p99.9 {fl['p999_us'] / 1000:.2f}, max {fl['max_us'] / 1000:.2f} ms, "
                  f"{fl['writes_per_s']:,.0f} writes/s; stalls: {fl.get('stalls', 0)} in {fl['duration_s']:.1f} s, "
                  f"median {fl.get('stall_p50_ms', 0):.1f} ms, every {fl.get('stall_spacing_ms', 0):.0f} ms")
        print()

def bench_lines(path):
    """(pass, sub-benchmark name parts, {unit: value}) of each go test -bench line."""
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 4:
                continue
            name = fields[1].split("/")
            yield fields[0].split("=")[1], name, {fields[i + 1]: fields[i] for i in range(3, len(fields) - 1, 2)}


modes = os.path.join(out, "floor-modes.txt")
if os.path.exists(modes):
    print("## The floor written two ways (BenchmarkDiskFloorWriteModes, passes alternating)\n")
    print("Every replica's log (3), a write durable on 2, 2 s each: appending and fsyncing (our WAL's way) "
          "against overwriting zero-filled files and fdatasyncing (no journal commit per write on ext4).\n")
    print("| pass | writers | mode | writes/s | p99 ms | p99.9 ms | stalls/s | stall spacing ms |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for pass_, name, m in bench_lines(modes):
        writers, mode = name[1].split("=")[1], name[2].rsplit("-", 1)[0]
        print(f"| {pass_} | {writers} | {mode} | {float(m.get('writes/s', 0)):,.0f} | {m.get('p99-ms', '–')} | "
              f"{m.get('p99.9-ms', '–')} | {m.get('stalls/s', '–')} | {m.get('stall-spacing-ms', '–')} |")
    print()
rates = os.path.join(out, "floor-rates.txt")
if os.path.exists(rates):
    print("## The disk's stalls by rate (BenchmarkDiskFloorStallsByRate)\n")
    print("Every replica's log, append and fsync, open loop at each rate for 2 s. Stalls at every rate: "
          "the disk's own clock; only above some fsyncs/s: an I/O budget (set it beside each system's fsyncs/s above).\n")
    print("| writes/s offered | fsyncs/s | p99.9 ms | stalls/s | stall spacing ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for _, name, m in bench_lines(rates):
        rate = name[1].split("=")[1].rsplit("-", 1)[0]
        print(f"| {rate} | {float(m.get('fsyncs/s', 0)):,.0f} | {m.get('p99.9-ms', '–')} | "
              f"{m.get('stalls/s', '–')} | {m.get('stall-spacing-ms', '–')} |")
    print()
pauses = os.path.join(out, "machine-pauses.txt")
if os.path.exists(pauses):
    print("## The machine's own pauses (BenchmarkMachinePauses)\n")
    print("Threads spinning on the clock for 2 s; a pause is a stretch of 3 ms or more in which every spinner "
          "stood still at once (with 1 thread: any such stretch, the guest's own scheduler included). Pauses "
          "at a fixed spacing with nothing else running are the host throttling the machine: everything in it, "
          "disk waits included, stops for their length.\n")
    print("| when | spinning threads | pauses/s | median length ms | median spacing ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for when, name, m in bench_lines(pauses):
        threads = name[1].split("=")[1].rsplit("-", 1)[0]
        print(f"| {when} | {threads} | {m.get('pauses/s', '–')} | {m.get('pause-ms', '–')} | {m.get('pause-spacing-ms', '–')} |")
    print()
ab = os.path.join(out, "prealloc-ab")
if os.path.isdir(ab):
    print("## Preallocated WAL segments (wal-preallocate), write-only 1M keys, 16 clients, alternating\n")
    print("| pair | side | ops/s | p50 ms | p99 ms | p99.9 ms | max ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    by = {}
    for name in sorted(os.listdir(ab), key=lambda n: (int(n.split("-")[1]), n)):
        sm = load(os.path.join(ab, name, "summary.json"))
        if sm is None:
            continue
        side, pair = name.split("-")
        l = sm["latency_ms"]
        by.setdefault(pair, {})[side] = sm
        print(f"| {pair} | {side} | {sm['throughput_ops']:,.0f} | {l['p50']:.3f} | {l['p99']:.3f} | {l['p999']:.2f} | {l['max']:.2f} |")
    print()
    for pair, sides in sorted(by.items()):
        if "on" in sides and "off" in sides:
            a, b = sides["off"], sides["on"]
            r = lambda k: b["latency_ms"][k] / a["latency_ms"][k]
            print(f"- pair {pair}, on / off: throughput {b['throughput_ops'] / a['throughput_ops']:.2f}x, "
                  f"p50 {r('p50'):.2f}x, p99 {r('p99'):.2f}x, p99.9 {r('p999'):.2f}x")
    print()
