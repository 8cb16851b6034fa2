#!/usr/bin/env python3
"""Where a decode step's GPU time goes, from a kernel-trace.cpp timeline (start ns, end ns, name).

Kernels closer than GAP_US to the previous ones form one step (one graph of llama.cpp); a step
of matrix-vector products (a decode) that runs SparQ kernels (sq_*) is a SparQ step, one without
them a dense step. Of each kind, the steps with its most common kernel count (steady
decode, not the rewinds) are summarised by medians: span (first start to last end), busy time
(union of the kernels), idle time to the next step, and per kernel family (name up to its
template or argument list) the count and summed duration, dense and SparQ side by side. CUDA
runtime calls ("[api] ..." lines) are not kernels: they show what the host spends in CUDA in the
idle time before each step.
Usage: kernel-steps.py TRACE [GAP_US=40]"""
import bisect
import collections
import re
import statistics
import sys

path = sys.argv[1]
gap_ns = float(sys.argv[2] if len(sys.argv) > 2 else 40) * 1000


def family(name):
    name = name.removeprefix("void ")
    for cut in "(<":
        name = name.split(cut, 1)[0]
    return name.strip()


rows, calls = [], []
with open(path, errors="replace") as fh:
    for line in fh:
        parts = line.rstrip("\n").split("\t", 2)
        if len(parts) != 3:
            continue
        if parts[2].startswith("[api] "):
            calls.append((int(parts[0]), int(parts[1]), re.sub(r"_v\d+$", "", parts[2][6:])))
        else:
            rows.append((int(parts[0]), int(parts[1]), family(parts[2])))
rows.sort()
calls.sort()
call_starts = [start for start, _, _ in calls]
longest_call = max((stop - start for start, stop, _ in calls), default=0)


def calls_within(t0, t1):
    """Time per runtime call name inside (t0, t1), each call clipped to it, and the call counts."""
    spent, counts = collections.Counter(), collections.Counter()
    for start, stop, name in calls[bisect.bisect_left(call_starts, t0 - longest_call):bisect.bisect_right(call_starts, t1)]:
        overlap = min(stop, t1) - max(start, t0)
        if overlap > 0:
            spent[name] += overlap
            counts[name] += 1
    return spent, counts


steps, current, end = [], [], -1
for start, stop, name in rows:
    if current and start > end + gap_ns:
        steps.append(current)
        current = []
    current.append((start, stop, name))
    end = max(end, stop) if len(current) > 1 else stop
if current:
    steps.append(current)


def kind(step):
    names = {name for _, _, name in step}
    if not any(name.startswith("mul_mat_vec") for name in names):
        return None  # not a decode step: prefill runs matrix-matrix kernels
    return "sparq" if any(name.startswith("sq_") for name in names) else "dense"


def busy(step):
    total, covered = 0, -1
    for start, stop, _ in sorted(step):
        if stop > covered:
            total += stop - max(start, covered)
            covered = stop
    return total


summary = {}
for i, step in enumerate(steps):
    k = kind(step)
    if k is not None:
        idle = steps[i + 1][0][0] - max(stop for _, stop, _ in step) if i + 1 < len(steps) else None
        # the host's time between the previous step's last kernel and this step's first
        before = (max(stop for _, stop, _ in steps[i - 1]), step[0][0]) if i > 0 else None
        summary.setdefault(k, []).append((step, idle, before))

families = {}
print(f"{len(rows)} kernels and memsets in {len(steps)} steps (gap > {gap_ns / 1000:.0f} us between steps)")
for k, found in summary.items():
    modal = collections.Counter(len(step) for step, _, _ in found).most_common(1)[0][0]
    kept = [(step, idle) for step, idle, _ in found if len(step) == modal]
    windows = [before for step, _, before in found if len(step) == modal and before is not None]
    span = statistics.median(max(e for _, e, _ in s) - min(b for b, _, _ in s) for s, _ in kept) / 1000
    idles = [idle for _, idle in kept if idle is not None]
    print(f"\n{k}: {len(kept)} of {len(found)} steps with {modal} kernels: span {span:.1f} us, "
          f"busy {statistics.median(busy(s) for s, _ in kept) / 1000:.1f} us, "
          f"idle before the next step {statistics.median(idles) / 1000 if idles else float('nan'):.1f} us (medians)")
    per = collections.defaultdict(list)
    for step, _ in kept:
        sums = collections.defaultdict(lambda: [0, 0])
        for start, stop, name in step:
            sums[name][0] += 1
            sums[name][1] += stop - start
        for name, (count, ns) in sums.items():
            per[name].append((count, ns))
    families[k] = {name: (v[0][0], statistics.median(ns for _, ns in v) / 1000) for name, v in per.items()}
    if calls and windows:
        gaps = [(t1 - t0) / 1000 for t0, t1 in windows]
        spent = [calls_within(t0, t1) for t0, t1 in windows]
        in_calls = [sum(s.values()) / 1000 for s, _ in spent]
        print(f"  host time before a step {statistics.median(gaps):.1f} us, of which in CUDA runtime calls "
              f"{statistics.median(in_calls):.1f} us (medians); per call, median us (count):")
        for name in sorted({n for s, _ in spent for n in s}, key=lambda n: -sum(s[n] for s, _ in spent))[:8]:
            print(f"    {name:<40}{statistics.median(s[name] for s, _ in spent) / 1000:10.1f} "
                  f"({statistics.median(c[name] for _, c in spent):g})")

if families:
    kinds = [k for k in ("dense", "sparq") if k in families]
    names = sorted({n for f in families.values() for n in f},
                   key=lambda n: -max(families[k].get(n, (0, 0))[1] for k in kinds))
    print("\nper step, median us (count):")
    print(f"{'kernel family':<44}" + "".join(f"{k:>20}" for k in kinds) + ("   sparq - dense" if len(kinds) == 2 else ""))
    for n in names:
        cells = [families[k].get(n, (0, 0.0)) for k in kinds]
        line = f"{n[:44]:<44}" + "".join(f"{us:>12.1f} ({count:>4})" for count, us in cells)
        if len(kinds) == 2:
            line += f"   {cells[1][1] - cells[0][1]:+10.1f}"
        print(line)
