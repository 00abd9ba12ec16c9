"""Rebuild results-desc.csv from the benchmark's own log lines.

The `pseudolabel+desc` run at 25caba6 (desc-bench.log) finished eight of its nine runs; the disk
filled during AG News seed 2, and rerunning the command started the table from scratch
(bench_accuracy.py overwrites results.csv), so its csv was lost. The eight figures are the
log's "accuracy ... macro-F1 ..." lines; seconds are between a run's start and result lines.
AG News seed 2 was run alone afterwards (desc-ag-seed2.csv, the same commit and command with
`--datasets ag_news --seeds 2`). Run: python from_log.py (in this folder)."""
import csv
import re
from datetime import datetime

start, rows = {}, []
for line in open("desc-bench.log"):
    m = re.match(r"(\d\d:\d\d:\d\d) (\w+) seed (\d): pseudolabel\+desc(?: accuracy ([\d.]+) macro-F1 ([\d.]+))?$", line.strip())
    if not m:
        continue
    t, ds, seed, acc, f1 = m.groups()
    t = datetime.strptime(t, "%H:%M:%S")
    if acc is None:
        start[ds, seed] = t
    else:
        rows.append([ds, "pseudolabel+desc", seed, acc, f1, (t - start[ds, seed]).seconds, ""])
with open("desc-ag-seed2.csv") as f:
    rows += [r for r in csv.reader(f)][1:]
with open("results-desc.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["dataset", "method", "seed", "accuracy", "macro_f1", "seconds", "labels"])
    w.writerows(rows)
print(len(rows), "rows")
