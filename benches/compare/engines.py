"""Loading and querying DuckDB and chDB, each in a process of its own.

`python engines.py load ENGINE DATA_JSONL DB_PATH` loads the events the way a competent
user of that engine would: the raw rows read with the engine's own JSON reader, then an
`ev` table of events (with a visit id, a normalised URL and an action/conversion flag)
and a `visits` table with the visit dimensions precomputed, as sightline derives them at
import. It prints one JSON line with the timings of each stage and the bytes on disk.

`python engines.py serve ENGINE DB_PATH` answers SQL: one JSON request per line on
stdin (`{"sql": ...}`), one JSON answer per line on stdout (`{"rows", "ms"}` or
`{"error"}`), where `ms` is the time to run the query and fetch every row of its result
into the client. `{"memory": true}` answers with the process's resident memory.

Both engines run with 2 threads. The sessionisation and the visit dimensions follow
`docs/ingest.md` and sightline's docs/ingest.md (30-minute timeout, the visit takes the value of
its earliest event that has one, code dimensions compared lower-cased, revenue summed in
millionths per row).
"""

import json
import os
import sys
import time

THREADS = 2
TIMEOUT_MS = 30 * 60 * 1000

# Visit-level input fields kept in `visits`; the code dimensions are lower-cased at load
# so that queries compare them as sightline does (case-insensitively) with plain `=`.
CODE_FIELDS = ["countryCode", "regionCode", "languageCode", "browserCode", "operatingSystemCode"]
# Every visit-level input field the generator writes is kept, as sightline keeps them.
VISIT_FIELDS = CODE_FIELDS + [
    "city", "deviceType", "referrerType", "referrerName", "referrerKeyword", "campaignName", "userId",
]


def code(f):
    """The SQL of visit field `f` as stored: code dimensions lower-cased."""
    return f"lower({f})" if f in CODE_FIELDS else f


JSON_COLUMNS = {
    "ts": "VARCHAR",
    "visitorId": "VARCHAR",
    "type": "VARCHAR",
    "pageUrl": "VARCHAR",
    "pageTitle": "VARCHAR",
    "countryCode": "VARCHAR",
    "regionCode": "VARCHAR",
    "city": "VARCHAR",
    "languageCode": "VARCHAR",
    "browserCode": "VARCHAR",
    "operatingSystemCode": "VARCHAR",
    "deviceType": "VARCHAR",
    "referrerType": "VARCHAR",
    "referrerName": "VARCHAR",
    "referrerKeyword": "VARCHAR",
    "campaignName": "VARCHAR",
    "userId": "VARCHAR",
    "eventCategory": "VARCHAR",
    "eventAction": "VARCHAR",
    "eventName": "VARCHAR",
    "eventValue": "DOUBLE",
    "goalId": "INTEGER",
    "revenue": "DOUBLE",
    "plan": "VARCHAR",
}


# --------------------------------------------------------------------------- DuckDB


def duckdb_connect(path, read_only=False):
    import duckdb

    con = duckdb.connect(path, read_only=read_only)
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET TimeZone = 'UTC'")
    return con


def duckdb_load(jsonl, path):
    con = duckdb_connect(path)
    cols = ", ".join(f"{k}: '{v}'" for k, v in JSON_COLUMNS.items()).replace("ts: 'VARCHAR'", "ts: 'TIMESTAMPTZ'")
    stages = {}
    t0 = time.perf_counter()
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT * FROM read_json('{jsonl}', "
        f"format = 'newline_delimited', columns = {{{cols}}})"
    )
    stages["read_json"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    visit_cols = ",\n".join(
        f"  arg_min({code(f)}, t) FILTER (WHERE {f} IS NOT NULL) AS {f}"
        for f in VISIT_FIELDS
    )
    con.execute(
        f"""
CREATE TEMP TABLE sess AS
WITH a AS (
  SELECT *, epoch_ms(ts) AS t,
    type IN ('goal', 'ecommerceOrder', 'ecommerceCart') AS is_conv,
    lower(regexp_replace(pageUrl, '^(https?://)?(www\\.)?', '', 'i')) AS url_norm
  FROM raw),
b AS (
  SELECT *, coalesce(t - lag(t) OVER (PARTITION BY visitorId ORDER BY t), {TIMEOUT_MS} + 1)
    > {TIMEOUT_MS} AS new_visit
  FROM a)
SELECT *, sum(new_visit::INTEGER) OVER (PARTITION BY visitorId ORDER BY t) AS vseq FROM b
"""
    )
    con.execute(
        f"""
CREATE TEMP TABLE v0 AS
SELECT visitorId, vseq, min(t) AS vstart, max(t) AS vend,
{visit_cols},
  count(*) FILTER (WHERE NOT is_conv) AS actions,
  count(*) FILTER (WHERE type IN ('goal', 'ecommerceOrder')) AS conversions,
  coalesce(sum(round(revenue * 1e6)) FILTER (WHERE type IN ('goal', 'ecommerceOrder')), 0)::BIGINT
    AS revenue_micros,
  max(t) FILTER (WHERE type = 'ecommerceOrder') AS last_order,
  max(t) FILTER (WHERE type = 'ecommerceCart') AS last_cart
FROM sess GROUP BY visitorId, vseq
"""
    )
    con.execute(
        """
CREATE TABLE visits AS
SELECT row_number() OVER (ORDER BY visitorId, vstart) AS visit_id,
  visitorId, vseq, vstart, vend,
  countryCode, regionCode, languageCode, browserCode, operatingSystemCode, city, deviceType,
  referrerType, referrerName, referrerKeyword, campaignName, userId,
  actions, conversions, revenue_micros,
  (vend - vstart) // 1000 AS visitDuration,
  row_number() OVER w AS visitCount,
  CASE WHEN row_number() OVER w = 1 THEN 'new'
       WHEN coalesce(bool_or(last_order IS NOT NULL) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
         THEN 'returningCustomer'
       ELSE 'returning' END AS visitorType,
  (vstart - first_value(vstart) OVER w) // 86400000 AS daysSinceFirstVisit,
  conversions > 0 AS visitConverted,
  CASE WHEN last_order IS NOT NULL AND last_cart > last_order THEN 'orderedThenAbandonedCart'
       WHEN last_order IS NOT NULL THEN 'ordered'
       WHEN last_cart IS NOT NULL THEN 'abandonedCart'
       ELSE 'none' END AS visitEcommerceStatus
FROM v0
WINDOW w AS (PARTITION BY visitorId ORDER BY vstart)
ORDER BY visit_id
"""
    )
    con.execute(
        """
CREATE TABLE ev AS
SELECT v.visit_id, s.visitorId, s.t, s.type, s.is_conv, s.pageUrl, s.url_norm, s.pageTitle,
  s.eventCategory, s.eventAction, s.eventName, s.eventValue, s.goalId, s.revenue, s.plan
FROM sess s JOIN visits v ON v.visitorId = s.visitorId AND v.vseq = s.vseq
ORDER BY v.visit_id, s.t
"""
    )
    for t in ("raw", "sess", "v0"):
        con.execute(f"DROP TABLE {t}")
    con.execute("CHECKPOINT")
    stages["model"] = time.perf_counter() - t1
    stages["total"] = time.perf_counter() - t0
    counts = con.execute("SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM visits)").fetchone()
    con.close()
    size = os.path.getsize(path) + (os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0)
    return {"stages": stages, "bytes": size, "events": counts[0], "visits": counts[1]}


class DuckDbServer:
    def __init__(self, path):
        self.con = duckdb_connect(path, read_only=True)

    def run(self, sql):
        t0 = time.perf_counter()
        rows = self.con.execute(sql).fetchall()
        ms = (time.perf_counter() - t0) * 1000
        return [list(r) for r in rows], ms


# --------------------------------------------------------------------------- chDB

CH_SETTINGS = (
    f"SETTINGS max_threads = {THREADS}, date_time_input_format = 'best_effort', "
    "input_format_skip_unknown_fields = 1"
)


def ch_connect(path):
    import chdb

    con = chdb.connect(f"file:{path}")
    con.query(f"SET max_threads = {THREADS}")
    return con


def ch_exec(con, sql):
    res = con.query(sql, "JSONCompact")
    text = res.bytes()
    if not text:
        return []
    return json.loads(text)["data"]


def ch_type(duck):
    return {"VARCHAR": "Nullable(String)", "DOUBLE": "Nullable(Float64)", "INTEGER": "Nullable(Int32)"}[duck]


def chdb_load(jsonl, path):
    con = ch_connect(path)
    required = {"ts": "DateTime64(3, ''UTC'')", "visitorId": "String", "type": "String"}
    schema = ", ".join(f"{k} {required.get(k) or ch_type(v)}" for k, v in JSON_COLUMNS.items())
    stages = {}
    t0 = time.perf_counter()
    con.query(
        f"CREATE TABLE raw ENGINE = MergeTree ORDER BY (visitorId, ts) AS "
        f"SELECT * FROM file('{jsonl}', JSONEachRow, '{schema}') {CH_SETTINGS}"
    )
    stages["read_json"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    visit_cols = ",\n".join(
        f"  toLowCardinality(argMinIf({code(f)}, t, {f} IS NOT NULL)) AS {f}"
        for f in VISIT_FIELDS
    )
    con.query(
        f"""
CREATE TABLE sess ENGINE = MergeTree ORDER BY (visitorId, t) AS
SELECT *, sum(new_visit) OVER (PARTITION BY visitorId ORDER BY t
          RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS vseq
FROM (
  SELECT *, toUInt8(rn = 1 OR t - prev > {TIMEOUT_MS}) AS new_visit
  FROM (
    SELECT *, toUInt64(toUnixTimestamp64Milli(ts)) AS t,
      type IN ('goal', 'ecommerceOrder', 'ecommerceCart') AS is_conv,
      lower(replaceRegexpOne(assumeNotNull(pageUrl), '(?i)^(https?://)?(www\\\\.)?', '')) AS url_norm,
      row_number() OVER (PARTITION BY visitorId ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rn,
      lagInFrame(toUInt64(toUnixTimestamp64Milli(ts))) OVER (PARTITION BY visitorId ORDER BY ts
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev
    FROM raw))
{CH_SETTINGS}
"""
    )
    con.query(
        f"""
CREATE TABLE v0 ENGINE = MergeTree ORDER BY (visitorId, vstart) AS
SELECT visitorId, vseq, min(t) AS vstart, max(t) AS vend,
{visit_cols},
  countIf(NOT is_conv) AS actions,
  countIf(type IN ('goal', 'ecommerceOrder')) AS conversions,
  toInt64(coalesce(sumIf(round(revenue * 1e6), type IN ('goal', 'ecommerceOrder') AND revenue IS NOT NULL), 0)) AS revenue_micros,
  maxIf(t, type = 'ecommerceOrder') AS last_order,
  countIf(type = 'ecommerceOrder') > 0 AS has_order,
  maxIf(t, type = 'ecommerceCart') AS last_cart,
  countIf(type = 'ecommerceCart') > 0 AS has_cart
FROM sess GROUP BY visitorId, vseq
{CH_SETTINGS}
"""
    )
    con.query(
        f"""
CREATE TABLE visits ENGINE = MergeTree ORDER BY visit_id AS
SELECT toUInt64(row_number() OVER (ORDER BY visitorId, vstart ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
    AS visit_id,
  visitorId, vseq, vstart, vend,
  countryCode, regionCode, languageCode, browserCode, operatingSystemCode, city, deviceType,
  referrerType, referrerName, referrerKeyword, campaignName, userId,
  actions, conversions, revenue_micros,
  intDiv(vend - vstart, 1000) AS visitDuration,
  row_number() OVER w AS visitCount,
  toLowCardinality(multiIf(visitCount = 1, 'new',
    max(has_order) OVER (PARTITION BY visitorId ORDER BY vstart ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) = 1,
    'returningCustomer', 'returning')) AS visitorType,
  intDiv(vstart - first_value(vstart) OVER w, 86400000) AS daysSinceFirstVisit,
  conversions > 0 AS visitConverted,
  toLowCardinality(multiIf(has_order AND has_cart AND last_cart > last_order, 'orderedThenAbandonedCart',
    has_order, 'ordered', has_cart, 'abandonedCart', 'none')) AS visitEcommerceStatus
FROM v0
WINDOW w AS (PARTITION BY visitorId ORDER BY vstart ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
{CH_SETTINGS}
"""
    )
    con.query(
        f"""
CREATE TABLE ev ENGINE = MergeTree ORDER BY (visit_id, t) AS
SELECT v.visit_id AS visit_id, s.visitorId AS visitorId, s.t AS t, toLowCardinality(s.type) AS type,
  s.is_conv AS is_conv, s.pageUrl AS pageUrl, s.url_norm AS url_norm, s.pageTitle AS pageTitle,
  toLowCardinality(s.eventCategory) AS eventCategory, toLowCardinality(s.eventAction) AS eventAction,
  s.eventName AS eventName, s.eventValue AS eventValue, s.goalId AS goalId, s.revenue AS revenue,
  toLowCardinality(s.plan) AS plan
FROM sess AS s INNER JOIN visits AS v ON v.visitorId = s.visitorId AND v.vseq = s.vseq
{CH_SETTINGS}
"""
    )
    for t in ("raw", "sess", "v0"):
        con.query(f"DROP TABLE {t} SYNC")
    con.query("OPTIMIZE TABLE visits FINAL")
    con.query("OPTIMIZE TABLE ev FINAL")
    stages["model"] = time.perf_counter() - t1
    stages["total"] = time.perf_counter() - t0
    size = ch_exec(
        con,
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase() "
        "AND table IN ('ev', 'visits')",
    )[0][0]
    counts = ch_exec(con, "SELECT (SELECT count() FROM ev), (SELECT count() FROM visits)")[0]
    con.close()
    return {"stages": stages, "bytes": int(size), "events": int(counts[0]), "visits": int(counts[1])}


class ChdbServer:
    def __init__(self, path):
        self.con = ch_connect(path)

    def run(self, sql):
        t0 = time.perf_counter()
        res = self.con.query(sql, "JSONCompact")
        text = res.bytes()
        ms = (time.perf_counter() - t0) * 1000
        return json.loads(text)["data"], ms


# --------------------------------------------------------------------------- main


def resident():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            for key, name in (("VmRSS:", "rssBytes"), ("VmHWM:", "rssPeakBytes")):
                if line.startswith(key):
                    out[name] = int(line.split()[1]) * 1024
    return out


def main(argv):
    if len(argv) == 5 and argv[1] == "load":
        engine, jsonl, path = argv[2], argv[3], argv[4]
        load = {"duckdb": duckdb_load, "chdb": chdb_load}[engine]
        print(json.dumps(load(jsonl, path)), flush=True)
        return 0
    if len(argv) == 4 and argv[1] == "serve":
        engine, path = argv[2], argv[3]
        server = {"duckdb": DuckDbServer, "chdb": ChdbServer}[engine](path)
        for line in sys.stdin:
            req = json.loads(line)
            try:
                if req.get("memory"):
                    answer = resident()
                else:
                    rows, ms = server.run(req["sql"])
                    answer = {"rows": rows, "ms": ms}
            except Exception as e:  # the driver reports it with the query's name
                answer = {"error": f"{type(e).__name__}: {e}"}
            sys.stdout.write(json.dumps(answer, default=str) + "\n")
            sys.stdout.flush()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
