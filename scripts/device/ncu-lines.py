#!/usr/bin/env python3
"""Warp-stall samples per source line of one kernel, from `ncu -i REP --page source --csv
--print-source cuda,sass`: the lines of the files whose names start with PREFIX (default
sparq-attn: the op's kernel files and their shared header) with the most samples, and the stall
reasons that dominate each.  Usage: ncu-lines.py CSV [PREFIX] [TOP]"""
import csv
import os
import sys

path = sys.argv[1]
want = sys.argv[2] if len(sys.argv) > 2 else "sparq-attn"
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25

header, current_file, lines = None, "", {}
with open(path, newline="", errors="replace") as fh:
    for row in csv.reader(fh):
        if not row:
            continue
        if row[0] == "File Path":
            current_file = row[1] if len(row) > 1 else ""
            continue
        if row[0] == "Line No":
            header = row
            continue
        if header is None or not row[0].isdigit() or not os.path.basename(current_file).startswith(want):
            continue
        # the source text may hold unescaped quotes: the metrics are the row's last columns
        metrics = row[len(row) - (len(header) - 4):]
        named = dict(zip(header[4:], metrics))
        def num(key):
            try:
                return float(named.get(key, "0") or 0)
            except ValueError:
                return 0.0
        stalls = {k[6:]: num(k) for k in header[4:] if k.startswith("stall_") and "(Not Issued)" not in k}
        lines[(os.path.basename(current_file), int(row[0]))] = (num("Warp Stall Sampling (All Samples)"), num("Instructions Executed"), stalls, row[1].strip())

total = sum(v[0] for v in lines.values()) or 1
print(f"{want}: {int(total)} samples on {len(lines)} lines")
for (name, no), (samples, executed, stalls, src) in sorted(lines.items(), key=lambda kv: -kv[1][0])[:top]:
    reasons = sorted(stalls.items(), key=lambda kv: -kv[1])[:3]
    why = " ".join(f"{k} {100*v/max(samples, 1):.0f}%" for k, v in reasons if v > 0)
    print(f"{name}:{no:<5d} {100*samples/total:5.1f}% inst {int(executed):>9d}  {why:42s} {src[:70]}")
