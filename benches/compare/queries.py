"""The fixed query set: each question in sightline's REPL and in the SQL of DuckDB and of
ClickHouse (chDB), over the tables engines.py builds (`visits`, and `ev` with one row per
event carrying its `visit_id`).

A segment summary is `{"visits", "visitors", "actions", "conversions", "revenue",
"bounces", "sumVisitDuration"}` (`docs/analytics.md`). The SQL translations follow `docs/segment-language.md`:
visit-level conditions test the visit; positive action-level conditions of one segment
must hold on one and the same action row; negated action-level conditions mean "no
action row matches"; conversion-level conditions test the visit's conversion rows. URL
dimensions compare on `url_norm` (scheme and `www.` removed, lower-cased; the `=@ =^`
operators are case-insensitive), regular expressions on the stored text.
"""

# Summary over the `visits` rows a predicate selects (same text in both dialects).
SUMMARY_SQL = """
SELECT count(*), count(DISTINCT visitorId), coalesce(sum(actions), 0),
  coalesce(sum(conversions), 0), coalesce(sum(revenue_micros), 0),
  coalesce(sum(CASE WHEN actions = 1 THEN 1 ELSE 0 END), 0), coalesce(sum(visitDuration), 0)
FROM visits WHERE {pred}
"""

ACTION = "NOT is_conv"  # action rows; conversion rows are `is_conv`


def exists(rows):
    """The visit has an `ev` row matching `rows` (a semi-join, the same text in both)."""
    return f"visit_id IN (SELECT visit_id FROM ev WHERE {rows})"


def not_exists(rows):
    return f"visit_id NOT IN (SELECT visit_id FROM ev WHERE {rows})"


def summary(name, segment, duck, ch=None, note=""):
    """`duck` / `ch`: the WHERE clause over `visits` (ch defaults to duck's text)."""
    return {
        "name": name,
        "kind": "summary",
        "sightline": [segment],
        "label": segment,
        "duckdb": SUMMARY_SQL.format(pred=duck),
        "chdb": SUMMARY_SQL.format(pred=ch if ch is not None else duck),
        "note": note,
    }


def contains(engine, col, needle):
    return f"contains({col}, '{needle}')" if engine == "duckdb" else f"position({col}, '{needle}') > 0"


def prefix(engine, col, p):
    return f"starts_with({col}, '{p}')" if engine == "duckdb" else f"startsWith({col}, '{p}')"


def regex(engine, col, re):
    return f"regexp_matches({col}, '{re}')" if engine == "duckdb" else f"match({col}, '{re}')"


def both(fn):
    """A predicate built per dialect: (duckdb text, chdb text)."""
    return fn("duckdb"), fn("chdb")


def summary2(name, segment, fn, note=""):
    duck, ch = both(fn)
    return summary(name, segment, duck, ch, note)


SUMMARIES = [
    summary("visit_eq", "countryCode==de", "countryCode = 'de'"),
    summary(
        "visit_or_list",
        "countryCode==fr,countryCode==gb,countryCode==es,countryCode==it",
        "countryCode IN ('fr', 'gb', 'es', 'it')",
    ),
    summary("numeric_range", "visitCount>=3;visitCount<=10", "visitCount BETWEEN 3 AND 10"),
    summary(
        "derived_numeric",
        "visitDuration>600;actions>=5",
        "visitDuration > 600 AND actions >= 5",
    ),
    summary("derived_enum", "visitorType==returningCustomer", "visitorType = 'returningCustomer'"),
    summary(
        "derived_and_visit",
        "visitEcommerceStatus==abandonedCart;deviceType==smartphone",
        "visitEcommerceStatus = 'abandonedCart' AND deviceType = 'smartphone'",
    ),
    summary2(
        "action_contains",
        "pageUrl=@/checkout",
        lambda e: exists(f"{ACTION} AND {contains(e, 'url_norm', '/checkout')}"),
    ),
    summary2(
        "action_prefix",
        "pageUrl=^https://www.shop.example/blog/",
        lambda e: exists(f"{ACTION} AND {prefix(e, 'url_norm', 'shop.example/blog/')}"),
    ),
    summary2(
        "action_regex",
        "pageTitle=~^(Rustic|Compact) [A-Z]",
        lambda e: exists(f"{ACTION} AND {regex(e, 'pageTitle', '^(Rustic|Compact) [A-Z]')}"),
    ),
    summary(
        "same_row_event",
        "eventCategory==video;eventAction==play",
        exists(f"{ACTION} AND eventCategory = 'video' AND eventAction = 'play'"),
    ),
    summary2(
        "same_row_event_url",
        "eventAction==play;pageUrl=@/product/",
        lambda e: exists(f"{ACTION} AND eventAction = 'play' AND {contains(e, 'url_norm', '/product/')}"),
    ),
    summary(
        "action_numeric_range",
        "eventValue>=100;eventValue<200",
        exists(f"{ACTION} AND eventValue >= 100 AND eventValue < 200"),
    ),
    summary2(
        "negated_action",
        "pageUrl!@/cart",
        lambda e: not_exists(f"{ACTION} AND {contains(e, 'url_norm', '/cart')}"),
    ),
    summary(
        "negated_visit",
        "deviceType!=desktop",
        "(deviceType IS NULL OR deviceType <> 'desktop')",
    ),
    summary("conversion_goal", "visitConvertedGoalId==1", exists("is_conv AND goalId = 1")),
    summary("conversion_revenue", "revenue>100", exists("is_conv AND revenue > 100")),
    summary2(
        "mix_visit_action",
        "countryCode==us;visitCount>1;pageUrl=@/product/;visitConverted==0",
        lambda e: "countryCode = 'us' AND visitCount > 1 AND NOT visitConverted AND "
        + exists(f"{ACTION} AND {contains(e, 'url_norm', '/product/')}"),
    ),
    summary2(
        "mix_or_across_levels",
        "referrerType==search,pageUrl=@/checkout;deviceType==smartphone",
        lambda e: "(referrerType = 'search' OR "
        + exists(f"{ACTION} AND {contains(e, 'url_norm', '/checkout')}")
        + ") AND deviceType = 'smartphone'",
    ),
    summary(
        "custom_dimension",
        "plan==pro;countryCode==de",
        f"countryCode = 'de' AND {exists(f'{ACTION} AND plan = ' + chr(39) + 'pro' + chr(39))}",
    ),
]


# --------------------------------------------------------------------------- reports

# Report rows: value, visits, visitors, actions, conversions, revenue (micros)[, hits].
REPORT_VISIT_SQL = """
SELECT {dim}, count(*), count(DISTINCT visitorId), sum(actions), sum(conversions),
  sum(revenue_micros)
FROM visits WHERE {pred} GROUP BY {dim}
"""

REPORT_ACTION_SQL = """
WITH sel AS (SELECT visit_id, visitorId, actions, conversions, revenue_micros FROM visits
             WHERE {pred}),
h AS (SELECT visit_id, {dim} AS value, count(*) AS hits FROM ev
      WHERE NOT is_conv AND visit_id IN (SELECT visit_id FROM sel) GROUP BY visit_id, {dim})
SELECT h.value, count(*), count(DISTINCT sel.visitorId), sum(sel.actions),
  sum(sel.conversions), sum(sel.revenue_micros), sum(h.hits)
FROM h JOIN sel ON sel.visit_id = h.visit_id GROUP BY h.value
"""

REPORTS = [
    {
        "name": "report_country",
        "kind": "report",
        "label": "report by countryCode (every visit)",
        "sightline": [".report countryCode all"],
        "duckdb": REPORT_VISIT_SQL.format(dim="countryCode", pred="1 = 1"),
        "chdb": REPORT_VISIT_SQL.format(dim="countryCode", pred="1 = 1"),
    },
    {
        "name": "report_pages_returning",
        "kind": "report",
        "label": "report by pageUrl of returning visits (visitCount>1)",
        "sightline": [".segment visitCount>1", ".report pageUrl all", ".segment off"],
        "duckdb": REPORT_ACTION_SQL.format(dim="pageUrl", pred="visitCount > 1"),
        "chdb": REPORT_ACTION_SQL.format(dim="pageUrl", pred="visitCount > 1"),
    },
]


# --------------------------------------------------------------------------- funnels

# Steps whose row sets are disjoint, so that windowFunnel (which lets one row satisfy
# several conditions) and sightline (one row per step) define the same funnel.
IN_VISIT_STEPS = ["/cart", "/checkout", "/payment", "/thank-you"]
WEEK_MS = 7 * 24 * 3600 * 1000


def in_visit_step(engine, needle):
    return f"({ACTION} AND {contains(engine, 'url_norm', needle)})"


VISITOR_STEPS_SEGMENTS = ["pageUrl=@/product/", "pageUrl=@/cart", "visitConvertedGoalId==0"]


def visitor_steps(engine):
    return [
        f"({ACTION} AND {contains(engine, 'url_norm', '/product/')})",
        f"({ACTION} AND {contains(engine, 'url_norm', '/cart')})",
        "(is_conv AND (type = 'ecommerceOrder' OR (type = 'goal' AND goalId = 0)))",
    ]


def ch_window_funnel(unit, window, conds):
    n = len(conds)
    counts = ", ".join(f"countIf(level >= {k})" for k in range(1, n + 1))
    return f"""
SELECT {counts} FROM (
  SELECT {unit}, windowFunnel({window})(t, {', '.join(conds)}) AS level
  FROM ev WHERE {' OR '.join(conds)} GROUP BY {unit})
"""


def duck_asof_funnel(unit, window, conds):
    """Greedy chains: from every step-1 row, the earliest matching row of each next step
    at or after the previous one (an ASOF join), within the window of the start."""
    n = len(conds)
    parts = [f"s{i + 1} AS (SELECT {unit} AS u, t FROM ev WHERE {c})" for i, c in enumerate(conds)]
    parts.append("c1 AS (SELECT DISTINCT u, t AS t1, t AS tk FROM s1)")
    for k in range(2, n + 1):
        bound = f" WHERE s{k}.t <= c{k - 1}.t1 + {window}" if window is not None else ""
        parts.append(
            f"c{k} AS (SELECT c{k - 1}.u, c{k - 1}.t1, s{k}.t AS tk FROM c{k - 1} "
            f"ASOF JOIN s{k} ON c{k - 1}.u = s{k}.u AND c{k - 1}.tk <= s{k}.t{bound})"
        )
    counts = ", ".join(f"(SELECT count(DISTINCT u) FROM c{k})" for k in range(1, n + 1))
    return "WITH " + ",\n".join(parts) + f"\nSELECT {counts}"


FUNNELS = [
    {
        "name": "funnel_in_visit_4",
        "kind": "funnel",
        "label": "in-visit funnel cart → checkout → payment → thank-you",
        "sightline": [".funnel visit " + " -> ".join(f"pageUrl=@{s}" for s in IN_VISIT_STEPS)],
        "duckdb": duck_asof_funnel("visit_id", None, [in_visit_step("duckdb", s) for s in IN_VISIT_STEPS]),
        "chdb": ch_window_funnel(
            "visit_id", 2**62, [in_visit_step("chdb", s) for s in IN_VISIT_STEPS]
        ),
    },
    {
        "name": "funnel_visitor_7d",
        "kind": "funnel",
        "label": "7-day visitor funnel product → cart → order (windowFunnel in chDB)",
        "sightline": [".funnel visitor 7d " + " -> ".join(VISITOR_STEPS_SEGMENTS)],
        "duckdb": duck_asof_funnel("visitorId", WEEK_MS, visitor_steps("duckdb")),
        "chdb": ch_window_funnel("visitorId", WEEK_MS, visitor_steps("chdb")),
    },
]


# --------------------------------------------------------------------------- cohorts

COHORT_PERIODS = 12

COHORTS_DUCK = f"""
WITH f AS (SELECT visitorId, min(vstart) AS first FROM visits GROUP BY visitorId),
w AS (SELECT DISTINCT v.visitorId,
        date_trunc('week', make_timestamp(f.first * 1000))::DATE AS cohort,
        (date_trunc('week', make_timestamp(v.vstart * 1000))::DATE
          - date_trunc('week', make_timestamp(f.first * 1000))::DATE) // 7 AS k
      FROM visits v JOIN f ON f.visitorId = v.visitorId)
SELECT strftime(cohort, '%Y-%m-%d'), k, count(*) FROM w WHERE k < {COHORT_PERIODS} GROUP BY cohort, k
"""

COHORTS_CH = f"""
SELECT toString(cohort), k, count() FROM (
  SELECT DISTINCT v.visitorId, toMonday(toDateTime(intDiv(f.first, 1000), 'UTC')) AS cohort,
    intDiv(toMonday(toDateTime(intDiv(v.vstart, 1000), 'UTC')) - cohort, 7) AS k
  FROM visits AS v
  INNER JOIN (SELECT visitorId, min(vstart) AS first FROM visits GROUP BY visitorId) AS f
    ON f.visitorId = v.visitorId)
WHERE k < {COHORT_PERIODS} GROUP BY cohort, k
"""

COHORTS = [
    {
        "name": "cohorts_weekly",
        "kind": "cohorts",
        "label": f"weekly cohorts, {COHORT_PERIODS} periods",
        "sightline": [f".cohorts week {COHORT_PERIODS}"],
        "duckdb": COHORTS_DUCK,
        "chdb": COHORTS_CH,
    }
]

QUERIES = SUMMARIES + REPORTS + FUNNELS + COHORTS


# --------------------------------------------------------------------------- answers


def micros(x):
    return int(round(float(x) * 1e6))


def normalise_sightline(kind, doc):
    """sightline's JSON answer in the shape the SQL answers are normalised to."""
    if kind == "summary":
        return [
            doc["visits"], doc["visitors"], doc["actions"], doc["conversions"],
            micros(doc["revenue"]), doc["bounces"], doc["sumVisitDuration"],
        ]
    if kind == "report":
        rows = []
        for r in doc["rows"]:
            row = [r["value"], r["visits"], r["visitors"], r["actions"], r["conversions"], micros(r["revenue"])]
            if "hits" in r:
                row.append(r["hits"])
            rows.append(row)
        return sorted_report(rows)
    if kind == "funnel":
        return [s["count"] for s in doc["steps"]]
    if kind == "cohorts":
        cells = {}
        for c in doc["cohorts"]:
            for k, n in enumerate(c["retained"]):
                if n:
                    cells[f"{c['start']}+{k}"] = n
        return dict(sorted(cells.items()))
    raise ValueError(kind)


def normalise_sql(kind, rows):
    if kind == "summary":
        return [int(x) for x in rows[0]]
    if kind == "report":
        return sorted_report([[r[0]] + [int(x) for x in r[1:]] for r in rows])
    if kind == "funnel":
        return [int(x) for x in rows[0]]
    if kind == "cohorts":
        return dict(sorted((f"{r[0]}+{int(r[1])}", int(r[2])) for r in rows if int(r[2])))
    raise ValueError(kind)


def sorted_report(rows):
    # Visits descending, then value ascending, nulls last (`docs/analytics.md`).
    return sorted(rows, key=lambda r: (-r[1], r[0] is None, "" if r[0] is None else str(r[0])))
