//! `sightline serve` (`docs/server.md`): Matomo tracking requests over real HTTP on
//! 127.0.0.1 — page views, events, goals, orders, bulk requests, bad requests (which
//! store nothing), CORS, `/health`, hostile input, a locked database, and a clean exit
//! on SIGTERM. The stored rows are read back through the library after the server
//! stopped.
#![cfg(feature = "server")]

#[path = "server/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::Path;

use http::{Conn, Server, get, post, request};
use serde_json::Value;
use sightline::{Db, Dialect, ExportSelector};

const GIF_MAGIC: &[u8] = b"GIF89a";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sightline"))
}

/// Every stored event, as the export writes it (visit-level values on the event that
/// supplied them), in visitor then time order.
fn stored(db: &Path) -> Vec<Value> {
    let db = Db::open_read_only(db).expect("open the database");
    let snap = db.snapshot();
    let all = snap.compile("visitCount>=1", Dialect::default()).unwrap();
    let sel = snap
        .export_selection(&ExportSelector::Segment(all))
        .unwrap();
    let mut out = Vec::new();
    snap.export(&sel, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stop_cleanly(server: Server) {
    let (code, err) = server.stop(15);
    assert_eq!(code, Some(0), "exit after SIGTERM; stderr: {err}");
}

fn find<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no stored row with {key} = {value:?} among {rows:#?}"))
}

#[test]
fn page_views_events_goals_and_orders_are_stored_then_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("site.db");
    let server = Server::start(bin(), &db, &[]);
    let a = server.addr;

    // A page view by GET, with the browser's headers.
    let r = request(
        a,
        "GET",
        b"/matomo.php?idsite=2&rec=1&url=https%3A%2F%2Fshop.example%2Fa%3Fmtm_campaign%3DSpring&action_name=Home&_id=0123456789abcdef&urlref=https%3A%2F%2Fsearch.example%2F%3Fq%3Dshoes&res=1280x800&dimension3=gold&cdt=1767607200",
        &["User-Agent: TestBrowser/1.0", "Accept-Language: fr-FR"],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/gif"));
    assert!(r.body.starts_with(GIF_MAGIC) && r.body.len() == 43);

    // An event on /piwik.php, without an image.
    let r = get(
        a,
        "/piwik.php?idsite=2&rec=1&_id=0123456789abcdef&e_c=Video&e_a=Play&e_n=Intro&e_v=4.5&send_image=0&cdt=1767607260",
    );
    assert_eq!((r.status, r.body.len()), (204, 0), "{}", r.text());

    // A goal and an order as form bodies (204 for POST).
    let form = "application/x-www-form-urlencoded";
    let r = post(
        a,
        "/matomo.php",
        form,
        b"idsite=2&rec=1&_id=0123456789abcdef&idgoal=3&revenue=9.5&cdt=1767607320",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = post(
        a,
        "/matomo.php?idsite=2&rec=1",
        form,
        b"uid=alice%40example.org&idgoal=0&ec_id=ORDER-1&revenue=120.25&ec_items=%5B%5B%22SKU1%22%2C%22Shoe%22%2C%22Shoes%22%2C60%2C2%5D%5D&cdt=2026-01-05+10%3A03%3A00",
    );
    assert_eq!(r.status, 204, "{}", r.text());

    // A heartbeat: accepted, nothing stored.
    assert_eq!(get(a, "/matomo.php?idsite=2&rec=1&ping=1").status, 200);
    stop_cleanly(server);

    let rows = stored(&db);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let pv = find(&rows, "type", "pageview");
    assert_eq!(pv["siteId"], 2);
    assert_eq!(pv["visitorId"], "0123456789abcdef");
    assert_eq!(pv["pageUrl"], "https://shop.example/a?mtm_campaign=Spring");
    assert_eq!(pv["pageTitle"], "Home");
    assert_eq!(pv["ts"], "2026-01-05T10:00:00Z");
    assert_eq!(pv["campaignName"], "Spring");
    assert_eq!(pv["ip"], "127.0.0.1");
    // The client fields are enriched: the user agent and language header are not
    // stored as such, the referrer URL is, and the campaign of the landing URL makes
    // the visit's referrer.
    assert_eq!(pv["userAgent"], serde_json::Value::Null);
    assert_eq!(pv["acceptLanguage"], serde_json::Value::Null);
    assert_eq!(pv["languageCode"], "fr-fr");
    assert_eq!(pv["referrerUrl"], "https://search.example/?q=shoes");
    assert_eq!(pv["referrerType"], "campaign");
    assert_eq!(
        (&pv["resolution"], &pv["dimension3"]),
        (&"1280x800".into(), &"gold".into())
    );

    let ev = find(&rows, "type", "event");
    assert_eq!(
        (&ev["eventCategory"], &ev["eventAction"]),
        (&"Video".into(), &"Play".into())
    );
    assert_eq!(
        (&ev["eventName"], &ev["eventValue"]),
        (&"Intro".into(), &4.5.into())
    );
    let goal = find(&rows, "type", "goal");
    assert_eq!(
        (&goal["goalId"], &goal["revenue"]),
        (&3.into(), &9.5.into())
    );
    let order = find(&rows, "type", "ecommerceOrder");
    assert_eq!(order["revenue"], 120.25);
    assert_eq!(order["userId"], "alice@example.org");
    assert_eq!(order["orderId"], "ORDER-1");
    assert_eq!(order["ts"], "2026-01-05T10:03:00Z");
    // Matomo's rule: a user id decides the visitor id (first 16 hex of its hash).
    let vid = order["visitorId"].as_str().unwrap();
    assert!(
        vid.len() == 16 && vid.bytes().all(|b| b.is_ascii_hexdigit()),
        "{vid}"
    );
    assert_ne!(vid, "0123456789abcdef");

    // The page view, the event and the goal make one visit.
    let out = std::process::Command::new(bin())
        .args(["query", "--json", "--db"])
        .arg(&db)
        .arg("visitorId==0123456789abcdef")
        .output()
        .unwrap();
    let q: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&q["visits"], &q["actions"], &q["conversions"]),
        (&1.into(), &2.into(), &1.into())
    );
}

#[test]
fn a_bulk_request_is_stored_in_order_and_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bulk.db");
    let server = Server::start(bin(), &db, &[]);
    let a = server.addr;
    let json = "application/json";

    let body = r#"{"requests": [
        "?idsite=1&rec=1&_id=aaaaaaaaaaaaaaaa&url=https%3A%2F%2Fa.example%2F1&action_name=first&cdt=1767607200",
        "/matomo.php?idsite=1&rec=1&_id=aaaaaaaaaaaaaaaa&url=https%3A%2F%2Fa.example%2F2&action_name=second&cdt=1767607200",
        "?idsite=1&rec=1&_id=aaaaaaaaaaaaaaaa&idgoal=1&revenue=2&cdt=1767607201"
    ], "token_auth": "ignored"}"#;
    let r = post(a, "/matomo.php", json, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"status": "success", "tracked": 3, "invalid": 0})
    );

    // One bad request (the third lacks rec=1) rejects the whole batch.
    let bad = r#"{"requests": ["?idsite=1&rec=1&_id=bbbbbbbbbbbbbbbb", "?idsite=1&rec=1&_id=bbbbbbbbbbbbbbbb", "?idsite=1&_id=bbbbbbbbbbbbbbbb"]}"#;
    let r = post(a, "/matomo.php", json, bad.as_bytes());
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("bulk request 3") && r.text().contains("`rec`"),
        "{}",
        r.text()
    );
    for (body, says) in [
        (r#"{"requests": 3}"#.to_string(), "expected"),
        (r#"{"requests": [7]}"#.to_string(), "not a string"),
        ("{not json".to_string(), "invalid JSON"),
        (
            format!(
                r#"{{"requests": [{}]}}"#,
                vec![r#""?idsite=1&rec=1""#; 10_001].join(",")
            ),
            "at most 10000",
        ),
    ] {
        let r = post(a, "/matomo.php", json, body.as_bytes());
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains(says), "{says}: {}", r.text());
    }
    stop_cleanly(server);

    let rows = stored(&db);
    assert_eq!(rows.len(), 3, "only the good batch: {rows:#?}");
    // Equal timestamps keep the order the batch gave them.
    let titles: Vec<&Value> = rows.iter().map(|r| &r["pageTitle"]).collect();
    assert_eq!(titles[..2], [&Value::from("first"), &Value::from("second")]);
    assert!(rows.iter().all(|r| r["visitorId"] == "aaaaaaaaaaaaaaaa"));
}

#[test]
fn bad_requests_get_400_with_the_reason_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let server = Server::start(bin(), &db, &[]);
    let a = server.addr;
    let cases: [(&[u8], &str); 11] = [
        (b"/matomo.php?rec=1&url=x", "`idsite`: missing"),
        (b"/matomo.php?idsite=1&url=x", "`rec`: missing"),
        (b"/matomo.php?idsite=1&rec=0", "must be 1"),
        (b"/matomo.php?idsite=one&rec=1", "positive integer"),
        (b"/matomo.php?idsite=1&rec=1&cdt=tomorrow", "`cdt`"),
        (
            b"/matomo.php?idsite=1&rec=1&e_c=a&e_a=b&e_v=lots",
            "`e_v`: not a number",
        ),
        (
            b"/matomo.php?idsite=1&rec=1&idgoal=1&revenue=NaN",
            "`revenue`",
        ),
        (
            b"/matomo.php?idsite=1&rec=1&ec_id=1&ec_items=%5B1",
            "`ec_items`: invalid JSON",
        ),
        (b"/matomo.php?idsite=1&rec=1&_id=xyz", "16 hexadecimal"),
        (b"/matomo.php?idsite=1&rec=1&url=%E9t%E9", "UTF-8"),
        (b"/matomo.php?idsite=1&rec=1&url=100%", "percent-encoding"),
    ];
    for (target, says) in cases {
        let r = request(a, "GET", target, &[], b"").unwrap();
        let shown = String::from_utf8_lossy(target);
        assert_eq!(r.status, 400, "{shown}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(
            r.text().contains(says),
            "{shown}: expected {says:?} in {:?}",
            r.text()
        );
    }
    let r = post(
        a,
        "/matomo.php",
        "application/x-www-form-urlencoded",
        b"idsite=1&rec=1&url=%zz",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("body:"), "{}", r.text());
    let r = request(a, "DELETE", b"/matomo.php?idsite=1&rec=1", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    stop_cleanly(server);
    assert_eq!(stored(&db).len(), 0);
}

#[test]
fn cors_preflight_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), &dir.path().join("cors.db"), &[]);
    let a = server.addr;
    let r = request(
        a,
        "OPTIONS",
        b"/matomo.php",
        &[
            "Origin: https://shop.example",
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: content-type",
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );
    // The actual request carries them too.
    let r = request(
        a,
        "GET",
        b"/matomo.php?idsite=1&rec=1",
        &["Origin: https://shop.example"],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );

    let h = get(a, "/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(doc["status"], "ok");
    assert!(doc["generation"].as_u64().is_some(), "{doc}");
    assert_eq!(get(a, "/nowhere").status, 404);
    stop_cleanly(server);
}

/// Keeps `n` keep-alive connections sending `per` requests each, `make(conn, i)` the
/// target of request `i`; returns the statuses.
fn flood(a: SocketAddr, conns: usize, per: usize, make: fn(usize, usize) -> String) -> Vec<u16> {
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(a).unwrap();
                (0..per)
                    .map(|i| conn.get(&make(c, i)).unwrap().status)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn hostile_requests_are_refused_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hostile.db");
    let server = Server::start(bin(), &db, &[]);
    let a = server.addr;

    // A URL past 64 KiB.
    let long = format!("/matomo.php?idsite=1&rec=1&url={}", "a".repeat(70 * 1024));
    let r = request(a, "GET", long.as_bytes(), &[], b"").unwrap();
    assert_eq!(r.status, 414, "{}", r.text());
    // A body past 8 MiB.
    let big = vec![b'a'; 8 * 1024 * 1024 + 1];
    let r = request(
        a,
        "POST",
        b"/matomo.php",
        &["Content-Type: application/json"],
        &big,
    );
    if let Ok(r) = r {
        assert_eq!(r.status, 413, "{}", r.text());
    } // (or the server closed the connection while we were still sending)
    // Bytes that are not UTF-8, in the query and in a header.
    let r = request(
        a,
        "GET",
        b"/matomo.php?idsite=1&rec=1&url=\xff\xfe",
        &[],
        b"",
    );
    if let Ok(r) = r {
        assert_eq!(r.status, 400, "{}", r.text());
    }
    let r = request(
        a,
        "GET",
        b"/matomo.php?idsite=1&rec=1",
        &["User-Agent: \u{ff}x"],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(get(a, "/health").status, 200);

    // Many distinct visitors at once: each is one row, nothing else is kept for them.
    let (conns, per) = (16, 125);
    let statuses = flood(a, conns, per, |c, i| {
        format!(
            "/matomo.php?idsite=1&rec=1&_id={:016x}&url=%2Fp&send_image=0",
            c * 1_000_000 + i
        )
    });
    assert!(
        statuses.iter().all(|&s| s == 204),
        "{:?}",
        statuses.iter().find(|&&s| s != 204)
    );
    assert_eq!(get(a, "/health").status, 200);
    stop_cleanly(server);
    let rows = stored(&db);
    assert_eq!(rows.len(), conns * per + 1);
    let visitors: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["visitorId"].as_str().unwrap())
        .collect();
    assert_eq!(visitors.len(), conns * per + 1);
}

#[test]
fn a_database_held_by_another_server_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let first = Server::start(bin(), &db, &[]);
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{out:?}"
    );
    stop_cleanly(first);
    // A bad --listen is a usage error.
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "nowhere", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
