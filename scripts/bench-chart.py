#!/usr/bin/env python3
"""Draws the headline ratios of a `spool bench --json` file as an SVG bar chart (no
dependencies): one bar per workload, Spool's advantage over its baseline on a log scale,
the 1× line marked, skipped workloads listed as such.

Usage: python3 scripts/bench-chart.py docs/benchmarks/spool-bench.json docs/benchmarks/spool-bench.svg"""
import json, math, sys
from xml.sax.saxutils import escape

source, target = sys.argv[1], sys.argv[2]
data = json.load(open(source))
rows = data["workloads"]
m = data["machine"]

width, left, right, bar, gap, top = 760, 250, 90, 22, 10, 70
height = top + len(rows) * (bar + gap) + 50
lo, hi = 0.25, 4.0  # the axis: 0.25× … 4× (values beyond are clipped, their label says so)
span = width - left - right

def x(ratio):
    r = min(max(ratio, lo), hi)
    return left + span * (math.log(r) - math.log(lo)) / (math.log(hi) - math.log(lo))

out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="{left}" y="22" font-size="15" font-weight="bold">spool bench: Spool ÷ baseline (&gt; 1: Spool is better)</text>',
       f'<text x="{left}" y="42" fill="#555">{escape("Linux " + m["kernel"] + ", " + str(m["cores"]) + " cores, " + m["backend"] + ", " + str(data["seconds_per_side"]) + " s per side")}</text>']
for tick in (0.25, 0.5, 1, 2, 4):
    tx = x(tick)
    out.append(f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{height - 40}" stroke="{"#333" if tick == 1 else "#ddd"}" stroke-width="{2 if tick == 1 else 1}"/>')
    out.append(f'<text x="{tx:.1f}" y="{height - 24}" text-anchor="middle" fill="#555">{tick:g}×</text>')
for i, w in enumerate(rows):
    y = top + i * (bar + gap)
    out.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end">{escape(w["name"])}</text>')
    if "skipped" in w:
        out.append(f'<text x="{left + 6}" y="{y + bar * 0.7:.1f}" fill="#888">skipped: {escape(w["skipped"][:70])}</text>')
        continue
    ratio = w["ratio"]
    x0, x1 = sorted((x(1), x(ratio)))
    color = "#2b7a3d" if ratio >= 1 else "#b5523b"
    out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar}" fill="{color}"/>')
    label = f'{ratio:.2f}×' + ("" if lo <= ratio <= hi else " (clipped)")
    out.append(f'<text x="{max(x1, x(1)) + 6:.1f}" y="{y + bar * 0.7:.1f}">{label}</text>')
out.append("</svg>")
open(target, "w").write("\n".join(out) + "\n")
print(f"wrote {target} ({len(rows)} workloads)")
