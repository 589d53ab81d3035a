"""Cold queries: whole `sightline query` processes against whole DuckDB CLI processes.

    benches/compare/run cold [tiny|small|full] [--runs N] [--reuse]

Every segment summary of the query set is asked as a fresh process of each engine, on
each engine's own database file (the ones `compare.py` loads into target/compare/SIZE,
`--reuse` taking them from an earlier run; DuckDB's copied into the storage version
the CLI reads): `sightline query --db DIR --json SEGMENT`
and `duckdb -readonly DB -c "SQL"` (the CLI from the `duckdb-cli` package, pinned in
requirements.txt). Answers are checked identical first; then each query runs `--runs`
times per engine (default 11), engines alternating, and the median wall time of the
whole process is reported — process start, opening the database, planning, reading
what the query needs from disk or the page cache, answering, exiting. sightline's warm
time (the REPL's `elapsedMs`, median of the same number of runs after a first run) is
printed beside it, for the target cold ≤ 2 × warm + 5 ms.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from compare import SIZES, THREADS, SightlineWorker, generate, load_all, log  # noqa: E402
from queries import QUERIES, normalise_sightline, normalise_sql  # noqa: E402


def duckdb_cli():
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit("the duckdb CLI is not in the virtual environment (duckdb-cli in requirements.txt)")
    return found


def cli_database(duck_db):
    """A copy of DuckDB's database in a storage version the CLI reads (the Python
    package writes a newer one than the latest `duckdb-cli` release reads): the same
    tables, rewritten by DuckDB's own `COPY FROM DATABASE`."""
    copy = duck_db.with_name("duck-cli.db")
    if copy.exists() and copy.stat().st_mtime >= duck_db.stat().st_mtime:
        return copy
    if copy.exists():
        copy.unlink()
    log(f"copying {duck_db.name} for the DuckDB CLI …")
    script = (
        "import duckdb, sys\n"
        "con = duckdb.connect()\n"
        "con.execute(f\"ATTACH '{sys.argv[1]}' AS src (READ_ONLY)\")\n"
        "con.execute(f\"ATTACH '{sys.argv[2]}' AS dst (STORAGE_VERSION 'v1.4.0')\")\n"
        "con.execute('COPY FROM DATABASE src TO dst')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(duck_db), str(copy)], check=True)
    return copy


def timed(cmd, env=None):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True).stdout
    return out, (time.perf_counter() - t0) * 1000


def sightline_cold(binary, db, q):
    env = dict(os.environ, SIGHTLINE_THREADS=THREADS)
    out, ms = timed([str(binary), "query", "--db", str(db), "--json", q["sightline"][0]], env)
    return normalise_sightline("summary", json.loads(out)), ms


def duckdb_cold(cli, db, q):
    sql = f"SET threads = {THREADS}; SET TimeZone = 'UTC'; " + " ".join(q["duckdb"].split())
    out, ms = timed([cli, "-readonly", "-list", "-noheader", str(db), "-c", sql])
    rows = [line.split("|") for line in out.strip().splitlines() if line.strip()]
    return normalise_sql("summary", rows), ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("size", choices=list(SIZES), nargs="?", default="small")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "sightline"))
    args = ap.parse_args()
    binary, cli = Path(args.binary), duckdb_cli()
    work = ROOT / "target" / "compare" / args.size
    work.mkdir(parents=True, exist_ok=True)
    data = generate(binary, work, SIZES[args.size])
    _, paths = load_all(binary, sys.executable, work, data, ["sightline", "duckdb"], args.reuse)
    paths["duckdb"] = cli_database(paths["duckdb"])
    queries = [q for q in QUERIES if q["kind"] == "summary"]
    for q in queries:
        a, _ = sightline_cold(binary, paths["sightline"], q)
        b, _ = duckdb_cold(cli, paths["duckdb"], q)
        if a != b:
            raise SystemExit(f"{q['name']}: answers differ\n  sightline {a}\n  duckdb    {b}")
    log(f"{len(queries)} answers identical")
    warm = {}
    repl = SightlineWorker(binary, paths["sightline"], work / "cold-repl.err")
    try:
        for q in queries:
            repl.run(q)
            warm[q["name"]] = statistics.median(repl.run(q)[1] for _ in range(args.runs))
    finally:
        repl.close()
    rows = []
    for q in queries:
        s, d = [], []
        for _ in range(args.runs):
            s.append(sightline_cold(binary, paths["sightline"], q)[1])
            d.append(duckdb_cold(cli, paths["duckdb"], q)[1])
        rows.append((q, statistics.median(s), statistics.median(d), warm[q["name"]]))
    print(f"| query | sightline cold (ms) | DuckDB CLI cold (ms) | speed-up | sightline warm (ms) | cold ≤ 2×warm+5 |")
    print("|---|---|---|---|---|---|")
    for q, s, d, w in rows:
        ok = "yes" if s <= 2 * w + 5 else "**no**"
        print(f"| {q['name']}: `{q['label']}` | {s:.2f} | {d:.2f} | {d / s:.1f}× | {w:.2f} | {ok} |")
    ratios = [d / s for _, s, d, _ in rows]
    print(f"\nmedian speed-up {statistics.median(ratios):.1f}×, smallest {min(ratios):.1f}×; "
          f"{len(rows)} queries, median of {args.runs} processes each")
    (work / "cold.json").write_text(json.dumps(
        [{"name": q["name"], "sightlineMs": s, "duckdbMs": d, "warmMs": w} for q, s, d, w in rows], indent=1))


if __name__ == "__main__":
    main()
