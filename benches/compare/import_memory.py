"""Import memory and throughput by input size: one `sightline import` per size.

    benches/compare/run import-memory [--visitors 200000,1000000,2000000] [--memory-limit X]

For each size, `sightline gen --visitors N --seed 1` writes a JSON Lines file (about 10
events a visitor: 200,000 visitors ≈ 2M events, 1,000,000 ≈ 10M, 2,000,000 ≈ 20M)
under target/compare/import/, and one `sightline import` of it into a new database is
timed; its peak resident set comes from `wait4` (the driver is a small Python process
that never loads the data, so what a child inherits from it is a few MiB). The input
file is deleted after its import unless `--keep` (20M events are 4.5 GB).

Prints a Markdown table: events, input bytes, wall time, events/s, peak RSS, database
bytes; and writes target/compare/import/import-memory.json.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from compare import dir_bytes, log, run_with_rusage  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visitors", default="200000,1000000,2000000")
    ap.add_argument("--memory-limit", default=None, help="passed to sightline import")
    ap.add_argument("--keep", action="store_true", help="keep the generated inputs")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "sightline"))
    args = ap.parse_args()
    binary = Path(args.binary)
    work = ROOT / "target" / "compare" / "import"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(x) for x in args.visitors.split(",")]:
        data = work / f"gen-{n}.jsonl"
        if not data.exists():
            log(f"generating {n} visitors …")
            run_with_rusage([str(binary), "gen", "--visitors", str(n), "--seed", "1", "-o", str(data)])
        db = work / f"db-{n}"
        if db.exists():
            for p in sorted(db.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            db.rmdir()
        cmd = [str(binary), "import", "--db", str(db), "--json", str(data)]
        if args.memory_limit:
            cmd[2:2] = ["--memory-limit", args.memory_limit]
        log(f"importing {data.name} …")
        out, wall, rss = run_with_rusage(cmd)
        events = json.loads(out)["events"]
        row = {
            "visitors": n,
            "events": events,
            "inputBytes": data.stat().st_size,
            "seconds": wall,
            "eventsPerSecond": events / wall,
            "peakRssBytes": rss,
            "databaseBytes": dir_bytes(db),
        }
        rows.append(row)
        log(f"  {events:,} events in {wall:.2f} s, peak RSS {rss / 2**20:,.0f} MiB")
        if not args.keep:
            data.unlink()
    (work / "import-memory.json").write_text(json.dumps(rows, indent=1))
    limit = f" --memory-limit {args.memory_limit}" if args.memory_limit else ""
    print(f"| events | JSON Lines | wall time | throughput | peak RSS | database |  (`sightline import{limit}`)")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['events']:,} | {r['inputBytes'] / 1e9:.2f} GB | {r['seconds']:.2f} s | "
            f"{r['eventsPerSecond'] / 1e3:,.0f}k events/s | {r['peakRssBytes'] / 2**20:,.0f} MiB | "
            f"{r['databaseBytes'] / 1e6:,.1f} MB |"
        )


if __name__ == "__main__":
    main()
