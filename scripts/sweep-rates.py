#!/usr/bin/env python3
"""sweep-rates.py FILE: the open-loop sweep's rates for this machine, as
fractions (5% to 150%) of the closed-loop peak that FILE records: a
`raftbench compare` compare.json (ours, the best median over its client
counts) or a `raftbench run` summary.json (its throughput). Prints them
comma-separated for `raftbench sweep --rates`.

Why fractions: a fixed ladder that tops out below a fast machine's peak
measures it as "not saturated" and puts half saturation at half the top
rate, and one made for a fast machine has few rates below a slow one's
saturation. Rates above the peak cost little: the sweep stops at the first
rate that explodes. The ladder is dense around half of the peak, where the
p99 goal is read (interpolated between measured rates)."""
import json
import sys

FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)


def peak(doc):
    """The closed-loop peak in a compare.json or summary.json; None if absent."""
    if "rows" in doc:
        ours = [r.get("ops_median") or 0 for r in doc["rows"] if r.get("system") == "raftbench"]
        return max(ours, default=None)
    return doc.get("throughput_ops")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sweep-rates.py compare.json|summary.json")
    try:
        with open(sys.argv[1]) as f:
            p = peak(json.load(f))
    except (OSError, ValueError, AttributeError) as e:
        sys.exit(f"sweep-rates.py: {sys.argv[1]}: {e}")
    if not p or p <= 0:
        sys.exit(f"sweep-rates.py: no closed-loop peak in {sys.argv[1]}")
    print(",".join(str(r) for r in sorted({max(1000, round(p * f / 1000) * 1000) for f in FRACTIONS})))


if __name__ == "__main__":
    main()
