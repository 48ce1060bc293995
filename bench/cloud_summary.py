#!/usr/bin/env python3
"""Summarises bench/cloud.sh's results.csv as Markdown: medians, rates, paired ratios, targets.

    bench/cloud_summary.py results.csv versions.txt [requests-summary.txt]
"""
import csv
import statistics
import os
import sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
versions = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""

# (part, workload) -> variant -> rep -> wall (successful runs only)
walls = defaultdict(lambda: defaultdict(dict))
meta = {}
cpus = defaultdict(lambda: defaultdict(list))
failed = []
for r in rows:
    key = (r["part"], r["workload"])
    meta[key] = (int(r["nfiles"]), int(r["bytes"]))
    if r["rc"] != "0" or (r["present"] and int(r["present"]) != int(r["nfiles"])):
        failed.append(r)
        continue
    walls[key][r["variant"]][int(r["rep"])] = float(r["wall_s"])
    cpus[key][r["variant"]].append(float(r["cpu_s"] or "nan"))


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def rate(part, wall):
    nfiles, nbytes = meta[part]
    if nfiles > 1:
        return f"{nfiles / wall:.0f} files/s"
    return f"{nbytes / 1e6 / wall:.0f} MB/s"


def paired(a, b):
    """Median over reps of a[rep] / b[rep], for reps both have."""
    return med([a[k] / b[k] for k in a if k in b])


print("# ferry vs rclone gitannex on the local S3 / WebDAV servers (bench/cloud.sh)\n")
print("```")
print(versions)
print("```\n")
print("Wall seconds, median over repetitions (each run in its own `git annex` command; ferry and")
print("rclone interleaved). Ratio = median over repetitions of ferry's time / rclone's time in the")
print("same repetition (below 1: ferry faster). MB = 10^6 bytes. CPU = user+sys of git-annex and the")
print("processes it waited for (the remote's included, the servers' not), median.\n")
print("| part | workload | runs ok (ferry/rclone) | ferry s | rclone s | ferry rate | rclone rate | ferry/rclone time (paired) | CPU s ferry / rclone |")
print("|---|---|---|---|---|---|---|---|---|")
for key in walls:
    f, rc = walls[key].get("ferry", {}), walls[key].get("rclone", {})
    fm, rm = med(list(f.values())), med(list(rc.values()))
    print(
        f"| {key[0]} | {key[1]} | {len(f)}/{len(rc)} | {fm:.2f} | {rm:.2f} | {rate(key, fm)} | {rate(key, rm)} | {paired(f, rc):.2f}x | {med(cpus[key]['ferry']):.2f} / {med(cpus[key]['rclone']):.2f} |"
    )

lat1, lat8 = walls.get(("latency", "copy-J1")), walls.get(("latency", "copy-J8"))
for suffix, title in (("", "with the added latency"), ("-nodelay", "without it (S3 server direct)")):
    a1, a8 = walls.get(("latency", "copy-J1" + suffix)), walls.get(("latency", "copy-J8" + suffix))
    if not (a1 and a8):
        continue
    print(f"\n### -J8 vs -J1, {title} (files/s ratio)\n")
    print("| variant | files/s -J1 | files/s -J8 | ratio of medians | median of paired ratios |")
    print("|---|---|---|---|---|")
    n = meta[("latency", "copy-J1" + suffix)][0]
    for v in ("ferry", "rclone"):
        a, b = a1.get(v, {}), a8.get(v, {})
        if not a or not b:
            continue
        ma, mb = med(list(a.values())), med(list(b.values()))
        print(f"| {v} | {n / ma:.1f} | {n / mb:.1f} | {ma / mb:.2f}x | {paired(a, b):.2f}x |")

# Only the latency part writes the request counts.
if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
    print("\n### HTTP requests through the delay proxy (latency part)\n")
    print("```")
    print(open(sys.argv[3]).read().strip())
    print("```")

print("\n### Targets (issue 6)\n")
small = walls.get(("small", "copy-J1"))
if small and small.get("ferry") and small.get("rclone"):
    r = paired(small["ferry"], small["rclone"])
    print(f"- small copy -J1: ferry/rclone time {r:.2f}x (target <= 0.70x): {'met' if r <= 0.7 else 'NOT met'}")
if lat1 and lat8 and lat1.get("ferry") and lat8.get("ferry"):
    r = paired(lat1["ferry"], lat8["ferry"])
    print(f"- latency: ferry -J8 files/s = {r:.2f}x of -J1 (target >= 6x): {'met' if r >= 6 else 'NOT met'}")

if failed:
    print("\n### Failed runs\n")
    for r in failed:
        print(f"- {r['part']} {r['variant']} {r['workload']} rep {r['rep']}: rc {r['rc']} after {r['wall_s']} s, {r['present'] or '?'} of {r['nfiles']} files on the remote afterwards")
