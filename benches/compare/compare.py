"""sightline against DuckDB and chDB (ClickHouse), side by side.

Run through `benches/compare/run [small|full]`, which makes the virtual environment and
builds sightline first. Steps:

1. generate the dataset with `sightline gen` (seed 1; small: 100,000 visitors ≈ 1M
   events, full: 1,000,000 visitors ≈ 10M events), once per size;
2. load it into each engine (sightline import; DuckDB read_json + a visits table; chDB
   file() + a visits table), timing the load, measuring its peak RSS and the bytes on
   disk;
3. start one query process per engine (sightline's REPL, a Python process per SQL
   engine) and ask every question once on each: the answers must be identical, or the
   run stops with the differences;
4. time every query warm, `--runs` times (default 7), engines interleaved and their
   order rotated each round; report medians, speed-ups, each query process's peak RSS
   and sightline's peak heap;
5. print the table and write docs/BENCHMARKS.md (unless `--no-docs`) and
   target/compare/SIZE/results.json.

Every engine runs with 2 threads.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from queries import QUERIES, normalise_sightline, normalise_sql  # noqa: E402

SIZES = {"tiny": 10_000, "small": 100_000, "full": 1_000_000}
SEED = 1
THREADS = "2"
ENGINES = ["sightline", "duckdb", "chdb"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_with_rusage(cmd, env=None):
    """Runs a command, returning (stdout, wall seconds, peak RSS in bytes). Linux counts
    the forking parent's resident set into a child's peak, so this driver stays small
    (it never imports the engines): the figure can be high by its ~15 MiB, no more."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err.decode()}")
    return out.decode(), wall, usage.ru_maxrss * 1024


def dir_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- workers


class SightlineWorker:
    """sightline's REPL in JSON mode; answers carry the engine's own `elapsedMs`."""

    def __init__(self, binary, db, errlog):
        env = dict(os.environ, SIGHTLINE_THREADS=THREADS)
        self.err = open(errlog, "w")
        self.proc = subprocess.Popen(
            [str(binary), "repl", "--db", str(db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env, text=True, bufsize=1,
        )
        self.errlog = errlog
        self.send([".mode json"])

    def send(self, lines):
        """Sends lines, then `.mode` as a marker; returns the JSON answers before it."""
        for line in lines + [".mode"]:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answers = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"sightline repl ended; see {self.errlog}")
            line = line.strip()
            if line.startswith("mode:"):
                return answers
            answers.append(json.loads(line))

    def run(self, query):
        answers = self.send(query["sightline"])
        if not answers:
            self.err.flush()
            tail = Path(self.errlog).read_text().strip().splitlines()[-3:]
            raise RuntimeError(f"sightline gave no answer to {query['sightline']}: {tail}")
        doc = answers[-1]
        return normalise_sightline(query["kind"], doc), doc["elapsedMs"]

    def memory(self):
        return self.send([".memory"])[-1]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.err.close()


class SqlWorker:
    def __init__(self, python, engine, path, errlog):
        self.engine = engine
        self.errlog = errlog
        self.err = open(errlog, "w")
        self.proc = subprocess.Popen(
            [python, str(HERE / "engines.py"), "serve", engine, str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1,
        )

    def ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.engine} worker ended; see {self.errlog}")
        return json.loads(line)

    def run(self, query):
        answer = self.ask({"sql": query[self.engine]})
        if "error" in answer:
            raise RuntimeError(f"{self.engine}: {query['name']}: {answer['error']}")
        return normalise_sql(query["kind"], answer["rows"]), answer["ms"]

    def memory(self):
        return self.ask({"memory": True})

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.err.close()


# --------------------------------------------------------------------------- phases


def generate(binary, work, visitors):
    data = work / "events.jsonl"
    stamp = work / "events.stamp"
    want = f"visitors={visitors} seed={SEED}"
    if data.exists() and stamp.exists() and stamp.read_text() == want:
        log(f"dataset: reusing {data}")
    else:
        log(f"dataset: sightline gen --visitors {visitors} --seed {SEED}")
        subprocess.run([str(binary), "gen", "--visitors", str(visitors), "--seed", str(SEED), "--out", str(data)],
                       check=True, stderr=subprocess.DEVNULL)
        stamp.write_text(want)
    return data


def load_all(binary, python, work, data, engines, reuse):
    loads = {}
    paths = {"sightline": work / "sightline-db", "duckdb": work / "duck.db", "chdb": work / "chdb"}
    saved = work / "loads.json"
    previous = json.loads(saved.read_text()) if reuse and saved.exists() else {}
    for engine in engines:
        path = paths[engine]
        if reuse and engine in previous and path.exists():
            loads[engine] = previous[engine]
            log(f"load {engine}: reusing {path}")
            continue
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        for extra in (Path(str(path) + ".wal"),):
            if extra.exists():
                extra.unlink()
        log(f"load {engine} …")
        if engine == "sightline":
            env = dict(os.environ, SIGHTLINE_THREADS=THREADS)
            out, wall, rss = run_with_rusage(
                [str(binary), "import", "--db", str(path), "--json", str(data)], env=env
            )
            summary = json.loads(out)
            loads[engine] = {
                "seconds": wall, "readSeconds": None, "peakRss": rss, "bytes": dir_bytes(path),
                "events": summary["events"], "visits": summary["visits"],
            }
        else:
            out, wall, rss = run_with_rusage([python, str(HERE / "engines.py"), "load", engine, str(data), str(path)])
            res = json.loads(out)
            loads[engine] = {
                "seconds": res["stages"]["total"], "readSeconds": res["stages"]["read_json"],
                "processSeconds": wall, "peakRss": rss, "bytes": res["bytes"],
                "events": res["events"], "visits": res["visits"],
            }
        log(f"load {engine}: {loads[engine]['seconds']:.1f} s, {loads[engine]['bytes'] / 1e6:.0f} MB on disk")
    saved.write_text(json.dumps({**previous, **loads}, indent=1))
    for engine in engines:
        if loads[engine]["events"] != loads[engines[0]]["events"] or loads[engine]["visits"] != loads[engines[0]]["visits"]:
            raise SystemExit(f"engines disagree on events/visits after loading: {loads}")
    return loads, paths


def check_answers(workers, queries):
    """Asks every query once on every engine (this also warms them up); returns the
    reference answers, or exits listing every disagreement."""
    failures = []
    reference = {}
    for q in queries:
        answers = {}
        for engine, w in workers.items():
            try:
                answers[engine], _ = w.run(q)
            except Exception as e:  # reported below with the query's name
                failures.append(f"{q['name']}: {engine} failed: {e}")
        ref = answers.get("sightline")
        reference[q["name"]] = ref
        for engine, a in answers.items():
            if engine != "sightline" and a != ref:
                failures.append(f"{q['name']} ({q['label']}): {engine} differs from sightline\n"
                                f"    sightline: {short(ref)}\n    {engine}: {short(a)}")
        same = len(answers) == len(workers) and all(a == ref for a in answers.values())
        log(f"check {q['name']}: {'ok' if same else 'DIFFERENT'}")
    if failures:
        log("\nANSWERS DIFFER — nothing was timed:\n" + "\n".join(failures))
        raise SystemExit(1)
    return reference


def short(x):
    text = json.dumps(x)
    return text if len(text) < 600 else text[:600] + "…"


def time_queries(workers, queries, runs, reference):
    times = {q["name"]: {e: [] for e in workers} for q in queries}
    order = list(workers)
    for r in range(runs):
        rotated = order[r % len(order):] + order[: r % len(order)]
        for q in queries:
            for engine in rotated:
                answer, ms = workers[engine].run(q)
                if answer != reference[q["name"]]:
                    raise SystemExit(f"{engine} changed its answer to {q['name']} in run {r + 1}")
                times[q["name"]][engine].append(ms)
        log(f"round {r + 1}/{runs} done")
    return times


# --------------------------------------------------------------------------- report


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:
            return "unknown"

    cpu = "unknown"
    for line in first(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = "unknown"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
        "rustc": first(["rustc", "-V"]), "python": platform.python_version(),
        "git": first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def fmt_ms(x):
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_ratio(x):
    return f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def mib(b):
    return f"{b / 1024 / 1024:.0f} MiB"


def build_report(size, visitors, runs, loads, queries, times, memory, versions, info, engines):
    med = {q: {e: statistics.median(v) for e, v in times[q].items()} for q in times}
    lines = []
    cmd = f"benches/compare/run {size}"
    ev = loads["sightline"]["events"]
    vi = loads["sightline"]["visits"]
    lines += [
        "# Benchmarks: sightline, DuckDB and chDB side by side",
        "",
        f"Written by `{cmd}` (benches/compare/). Dataset `{size}`: `sightline gen --visitors {visitors} "
        f"--seed {SEED}` = {ev:,} events, {vi:,} visits. Every engine ran with 2 threads on the same "
        "machine in the same run; every answer was checked identical across engines before timing.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, Linux {info['kernel']}; "
        f"{info['rustc']}; sightline at {info['git']}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        f"## Queries (warm, median of {runs} runs, milliseconds)",
        "",
        "Times are measured inside each engine's process: sightline's `elapsedMs` (parse, plan, "
        "evaluate, aggregate), DuckDB's `execute().fetchall()`, chDB's `query()` to the result "
        "bytes. Speed-up = engine time / sightline time.",
        "",
    ]
    head = "| query | " + " | ".join(engines) + " | " + " | ".join(f"vs {e}" for e in engines[1:]) + " |"
    lines += [head, "|" + "---|" * (1 + 2 * len(engines) - 1)]
    for q in queries:
        m = med[q["name"]]
        row = f"| {q['name']}: `{q['label']}` | " + " | ".join(fmt_ms(m[e]) for e in engines)
        row += " | " + " | ".join(fmt_ratio(m[e] / m["sightline"]) for e in engines[1:]) + " |"
        lines.append(row)
    lines.append("")
    summary_names = [q["name"] for q in queries if q["kind"] == "summary"]
    verdicts = []
    for e in engines[1:]:
        ratios = [med[n][e] / med[n]["sightline"] for n in summary_names]
        slowest = min(ratios)
        verdicts.append(
            f"- Segment summaries vs {e}: median speed-up {fmt_ratio(statistics.median(ratios))}, "
            f"smallest {fmt_ratio(slowest)} ({summary_names[ratios.index(slowest)]})."
        )
    if "chdb" in engines:
        for q in queries:
            if q["kind"] == "funnel":
                m = med[q["name"]]
                verdicts.append(f"- {q['name']}: {fmt_ratio(m['chdb'] / m['sightline'])} faster than chDB's windowFunnel.")
    lines += ["## Verdicts", ""] + verdicts + [""]
    lines += [
        "## Load, disk and memory",
        "",
        "| engine | load (s) | of which reading JSON (s) | load peak RSS | on disk | query process peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for e in engines:
        ld = loads[e]
        read = f"{ld['readSeconds']:.1f}" if ld.get("readSeconds") is not None else "—"
        lines.append(
            f"| {e} | {ld['seconds']:.1f} | {read} | {mib(ld['peakRss'])} | {ld['bytes'] / 1e6:.1f} MB | "
            f"{mib(memory[e]['rssPeakBytes'])} |"
        )
    lines += [
        "",
        f"sightline's peak heap over the whole query process (open, warm-up, every run of every "
        f"query): {mib(memory['sightline']['heapPeakBytes'])} (counted by its allocator; mapped part "
        "files are not heap). The query processes' peak RSS includes mapped file pages.",
        "",
        "DuckDB and chDB load the JSON with their own readers, then build the `ev` and `visits` "
        "tables (sessionisation, visit dimensions), as sightline does during its import; the "
        "second column is the JSON read alone (DuckDB's `read_json`, chDB's `file()` into a "
        "MergeTree table). sightline's load is the wall time of `sightline import`.",
        "",
    ]
    return "\n".join(lines), med


START, END = "<!-- results: written by benches/compare/run -->", "<!-- end of results -->"


def write_docs(path, text):
    """Replaces the results between the markers, keeping the hand-written rest."""
    block = f"{START}\n{text}\n{END}"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(head + block + tail)
    else:
        path.write_text(block + "\n" + old)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("size", choices=list(SIZES), nargs="?", default="small")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per query and engine (median reported)")
    ap.add_argument("--reuse", action="store_true", help="reuse loaded databases from an earlier run")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/BENCHMARKS.md")
    ap.add_argument("--only", default="", help="comma-separated query names to run (default: all)")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "sightline"))
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be at least 5")

    binary = Path(args.binary)
    python = sys.executable
    visitors = SIZES[args.size]
    work = ROOT / "target" / "compare" / args.size
    work.mkdir(parents=True, exist_ok=True)
    queries = [q for q in QUERIES if not args.only or q["name"] in args.only.split(",")]

    # Versions from the package metadata: importing the engines here would grow this
    # process, and a child's peak RSS as wait4 reports it starts from its parent's.
    from importlib.metadata import version

    versions = {"duckdb": version("duckdb"), "chdb": version("chdb")}
    data = generate(binary, work, visitors)
    loads, paths = load_all(binary, python, work, data, ENGINES, args.reuse)

    workers = {"sightline": SightlineWorker(binary, paths["sightline"], work / "sightline-repl.err")}
    for e in ("duckdb", "chdb"):
        workers[e] = SqlWorker(python, e, paths[e], work / f"{e}-serve.err")
    try:
        reference = check_answers(workers, queries)
        times = time_queries(workers, queries, args.runs, reference)
        memory = {e: w.memory() for e, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()

    info = machine()
    text, med = build_report(args.size, visitors, args.runs, loads, queries, times, memory, versions, info, ENGINES)
    print(text)
    (work / "results.json").write_text(json.dumps({
        "size": args.size, "visitors": visitors, "runs": args.runs, "machine": info, "versions": versions,
        "loads": loads, "memory": memory, "times": times, "medians": med,
    }, indent=1))
    if not args.no_docs:
        write_docs(ROOT / "docs" / "BENCHMARKS.md", text)
        log("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
