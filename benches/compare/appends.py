"""Many small commits against one import: parts, files, bytes, warm and cold query times.

    benches/compare/run appends [--visitors N] [--stream-visitors N] [--cold-runs N]

Runs `examples/appends.rs` (release), which writes the databases under target/appends
and measures appends, layout and warm queries in process, then times each segment as a
whole `sightline query` process (cold start: process start, open, map, compile, answer)
on every database, the databases taking turns. Prints one JSON document and a Markdown
table of the ratios to the single import (docs/BENCHMARKS.md, "Appends").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIGHTLINE = os.path.join(ROOT, "target", "release", "sightline")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "appends")
OUT = os.path.join(ROOT, "target", "appends")
DATABASES = ["single", "batches", "singles", "singlesReference"]
SEGMENTS = ["", "countryCode==de", "pageUrl=@/checkout", "visitCount>=3;visitDuration>600"]


def cold_ms(db, segment, runs):
    """Median wall time of `runs` whole `sightline query` processes, in ms."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([SIGHTLINE, "query", "--db", db, "--json", segment],
                       check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visitors", type=int, default=5000)
    ap.add_argument("--stream-visitors", type=int, default=50000)
    ap.add_argument("--cold-runs", type=int, default=21)
    a = ap.parse_args()
    out = subprocess.run(
        [EXAMPLE, "--visitors", str(a.visitors), "--stream-visitors", str(a.stream_visitors),
         "--out", OUT],
        check=True, stdout=subprocess.PIPE, text=True).stdout
    doc = json.loads(out)
    cold = {name: {} for name in DATABASES}
    for _ in range(3):  # rounds: the databases take turns, query by query
        for seg in SEGMENTS:
            for name in DATABASES:
                ms = cold_ms(os.path.join(OUT, name), seg, max(1, a.cold_runs // 3))
                cold[name].setdefault(seg, []).append(ms)
    for name in DATABASES:
        doc[name]["coldQueriesMs"] = {s: statistics.median(v) for s, v in cold[name].items()}
    print(json.dumps(doc, indent=2))
    table(doc)


def table(doc):
    def ratio(name, ref, key):
        return doc[name][key] / max(doc[ref][key], 1)

    print()
    print("| database | commits | parts (last commit → settled) | files | bytes (× one import) |"
          " warm queries (× one import, median of segments) | cold processes (×) |")
    print("|---|---|---|---|---|---|---|")
    for name, ref in [("batches", "single"), ("singles", "singlesReference")]:
        d = doc[name]
        warm = statistics.median(
            d["queries"][s]["warmMs"] / max(doc[ref]["queries"][s]["warmMs"], 1e-9) for s in d["queries"])
        colds = statistics.median(
            d["coldQueriesMs"][s] / doc[ref]["coldQueriesMs"][s] for s in SEGMENTS)
        print(f"| {name} | {d['commits']} | {d['partsAtLastCommit']} → {d['parts']} | "
              f"{d['files']} | {d['bytes']} ({ratio(name, ref, 'bytes'):.2f}×) | "
              f"{warm:.2f}× | {colds:.2f}× |")
    for name in DATABASES:
        c = doc[name]["coldQueriesMs"]
        print(f"cold ms {name}: " + ", ".join(f"{s or chr(39) * 2}: {c[s]:.2f}" for s in SEGMENTS),
              file=sys.stderr)


if __name__ == "__main__":
    main()
