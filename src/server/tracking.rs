//! Matomo tracking requests → input rows: the query-string decoder and the parameter
//! mapping of `docs/server.md`. Pure functions (no I/O), so every rule has a unit test.
//!
//! A request either becomes one row (a JSON object in the input format of
//! `docs/ingest.md`, handed to [`crate::Appender::append_json`]), is a heartbeat
//! (`ping=1`: accepted, nothing stored), or is rejected with a reason naming the
//! parameter; a rejected request stores nothing.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::event::{MAX_REVENUE, MAX_TS_MS, MIN_TS_MS};

/// What the request itself does not say: who sent it and when it arrived.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    /// The client's address (the socket peer, or the trusted proxy's header).
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Accept-Language` header.
    pub accept_language: Option<String>,
    /// Arrival time, Unix ms (the row's `ts` unless `cdt` says otherwise).
    pub now_ms: i64,
    /// `cip` may override the address (`--trust-cip`).
    pub trust_cip: bool,
}

/// One tracking request, mapped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tracked {
    /// The row to store.
    Row(Map<String, Value>),
    /// `ping=1`: a heartbeat; accepted, nothing stored.
    Ping,
}

/// Decodes a query string or form body (`a=1&b=x+y&c=%C3%A4`) strictly: `+` is a
/// space, every `%` must start two hex digits, and each name and value must be UTF-8
/// once decoded. A later duplicate name replaces an earlier one (as PHP, and so Matomo,
/// reads them). Empty pieces (`a=1&&b=2`) are skipped.
pub(crate) fn decode_params(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for piece in raw.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &b""[..]),
        };
        let name = decode_component(name).map_err(|r| format!("a parameter name: {r}"))?;
        let value = decode_component(value).map_err(|r| format!("parameter `{name}`: {r}"))?;
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    Ok(out)
}

fn decode_component(raw: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => bytes.push(v),
                    None => {
                        return Err(format!(
                            "bad percent-encoding at byte {i} (`%` must be followed by two \
                             hexadecimal digits)"
                        ));
                    }
                }
                i += 2;
            }
            _ => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 once percent-decoded (byte {} of the value)",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Custom dimensions taken from campaign parameters (Matomo's and its older Piwik
/// names), besides `campaignName` and `referrerKeyword`.
const CAMPAIGN_EXTRAS: [(&str, &[&str]); 6] = [
    ("campaignSource", &["mtm_source", "pk_source"]),
    ("campaignMedium", &["mtm_medium", "pk_medium"]),
    ("campaignContent", &["mtm_content", "pk_content"]),
    ("campaignId", &["mtm_cid", "pk_cid"]),
    ("campaignGroup", &["mtm_group", "pk_group"]),
    ("campaignPlacement", &["mtm_placement", "pk_placement"]),
];
const CAMPAIGN_NAMES: [&str; 5] = ["_rcn", "mtm_campaign", "mtm_cpn", "pk_campaign", "pk_cpn"];
const CAMPAIGN_KEYWORDS: [&str; 6] = [
    "_rck",
    "mtm_keyword",
    "mtm_kwd",
    "pk_keyword",
    "pk_kwd",
    "pk_kw",
];

/// Maps the parameters of one tracking request to a row (`docs/server.md` has the
/// table).
pub(crate) fn to_row(params: &[(String, String)], client: &Client) -> Result<Tracked, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    // Present and not empty (Matomo treats an empty parameter as absent).
    let some = |name: &str| get(name).filter(|v| !v.is_empty());

    match get("rec") {
        Some("1") => {}
        Some(v) => return Err(format!("parameter `rec`: must be 1 to record, found {v:?}")),
        None => return Err("parameter `rec`: missing (add rec=1 to record the request)".into()),
    }
    let site = match some("idsite") {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "parameter `idsite`: must be a positive integer, found {v:?}"
                ));
            }
        },
        None => return Err("parameter `idsite`: missing (the site id, e.g. idsite=1)".into()),
    };
    if get("ping") == Some("1") {
        return Ok(Tracked::Ping);
    }

    let mut row = Map::new();
    let mut put = |k: &str, v: Value| {
        row.insert(k.to_string(), v);
    };

    // Time.
    let ts = match some("cdt") {
        Some(v) => parse_cdt(v)?,
        None => client.now_ms,
    };
    put("ts", ts.into());

    // Address, client headers.
    let ip = match some("cip") {
        Some(v) if client.trust_cip => match v.trim().parse::<std::net::IpAddr>() {
            Ok(a) => Some(a.to_string()),
            Err(_) => return Err(format!("parameter `cip`: not an IP address: {v:?}")),
        },
        _ => client.ip.clone(),
    };
    let ua = some("ua").or(client.user_agent.as_deref());
    let lang = some("lang").or(client.accept_language.as_deref());

    // Visitor.
    let uid = some("uid");
    let visitor = if let Some(cid) = some("cid") {
        hex16("cid", cid)?
    } else if let Some(uid) = uid {
        hash16(&[b"uid", uid.as_bytes()])
    } else if let Some(id) = some("_id") {
        hex16("_id", id)?
    } else {
        let ip_bytes = ip.as_deref().unwrap_or("").as_bytes();
        hash16(&[
            b"fingerprint",
            ua.unwrap_or("").as_bytes(),
            ip_bytes,
            lang.unwrap_or("").as_bytes(),
        ])
    };
    put("visitorId", visitor.into());
    put("siteId", site.into());
    if let Some(uid) = uid {
        put("userId", uid.into());
    }
    if let Some(ip) = ip {
        put("ip", ip.into());
    }
    if let Some(ua) = ua {
        put("userAgent", ua.into());
    }
    if let Some(lang) = lang {
        put("acceptLanguage", lang.into());
    }
    if let Some(r) = some("urlref") {
        put("referrerUrl", r.into());
    }

    // Page.
    let url = some("url");
    if let Some(u) = url {
        put("pageUrl", u.into());
    }
    if let Some(t) = some("action_name") {
        put("pageTitle", t.into());
    }

    // What happened: the first of these that the request carries.
    let ec_id = some("ec_id");
    let idgoal = match some("idgoal") {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("parameter `idgoal`: must be an integer ≥ 0, found {v:?}"))?,
        ),
        None => None,
    };
    if let Some(items) = some("ec_items") {
        match serde_json::from_str::<Value>(items) {
            Ok(Value::Array(_)) => {}
            Ok(_) => return Err("parameter `ec_items`: must be a JSON array of items".into()),
            Err(e) => return Err(format!("parameter `ec_items`: invalid JSON ({e})")),
        }
    }
    for p in ["ec_st", "ec_tx", "ec_sh", "ec_dt"] {
        if let Some(v) = some(p) {
            number(p, v)?;
        }
    }
    let revenue = match some("revenue") {
        Some(v) => {
            let x = number("revenue", v)?;
            if x.abs() > MAX_REVENUE {
                return Err(format!(
                    "parameter `revenue`: {v} is out of range (at most ±1000000000000)"
                ));
            }
            Some(x)
        }
        None => None,
    };
    let (e_c, e_a) = (some("e_c").map(str::trim), some("e_a").map(str::trim));
    let kind = if ec_id.is_some() {
        "ecommerceOrder"
    } else if idgoal == Some(0) {
        "ecommerceCart"
    } else if let Some(g) = idgoal {
        put("goalId", g.into());
        "goal"
    } else if e_c.is_some() || e_a.is_some() || some("e_n").is_some() || some("e_v").is_some() {
        match (e_c.filter(|c| !c.is_empty()), e_a.filter(|a| !a.is_empty())) {
            (Some(c), Some(a)) => {
                put("eventCategory", c.into());
                put("eventAction", a.into());
            }
            _ => {
                return Err(
                    "parameters `e_c` and `e_a`: an event needs both a category and an action"
                        .into(),
                );
            }
        }
        if let Some(n) = some("e_n") {
            put("eventName", n.into());
        }
        if let Some(v) = some("e_v") {
            put("eventValue", number("e_v", v)?.into());
        }
        "event"
    } else if let Some(k) = some("search") {
        put("searchKeyword", k.into());
        if let Some(c) = some("search_cat") {
            put("searchCategory", c.into());
        }
        if let Some(n) = some("search_count") {
            let n = n.trim().parse::<u64>().map_err(|_| {
                format!("parameter `search_count`: must be an integer ≥ 0, found {n:?}")
            })?;
            put("searchCount", n.into());
        }
        "siteSearch"
    } else if let Some(d) = some("download") {
        put("pageUrl", d.into());
        "download"
    } else if let Some(l) = some("link") {
        put("pageUrl", l.into());
        "outlink"
    } else {
        "pageview"
    };
    put("type", kind.into());
    if matches!(kind, "goal" | "ecommerceOrder" | "ecommerceCart")
        && let Some(r) = revenue
    {
        put("revenue", r.into());
    }
    if let Some(id) = ec_id {
        put("orderId", id.into());
    }

    // Campaign: the request's own parameters, else those of the page URL's query.
    let url_params = url
        .and_then(|u| u.split_once('?'))
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .and_then(|q| decode_params(q.as_bytes()).ok())
        .unwrap_or_default();
    let campaign = |names: &[&str]| -> Option<String> {
        let from = |ps: &[(String, String)]| {
            names.iter().find_map(|n| {
                ps.iter()
                    .find(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_empty())
                    .map(|(_, v)| v.clone())
            })
        };
        from(params).or_else(|| from(&url_params))
    };
    if let Some(name) = campaign(&CAMPAIGN_NAMES) {
        put("campaignName", name.into());
    }
    if let Some(k) = campaign(&CAMPAIGN_KEYWORDS) {
        put("referrerKeyword", k.into());
    }
    for (field, names) in CAMPAIGN_EXTRAS {
        if let Some(v) = campaign(names) {
            put(field, v.into());
        }
    }

    // Custom dimensions.
    if let Some(res) = some("res") {
        put("resolution", res.into());
    }
    for (name, value) in params {
        let is_dimension = name
            .strip_prefix("dimension")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_dimension && !value.is_empty() {
            put(name, value.as_str().into());
        }
    }
    Ok(Tracked::Row(row))
}

/// `cdt`: Unix seconds, or `YYYY-MM-DD HH:MM:SS` in UTC.
fn parse_cdt(v: &str) -> Result<i64, String> {
    let v = v.trim();
    let ms = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<i64>().ok().and_then(|s| s.checked_mul(1000))
    } else {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", v)
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp().as_millisecond())
    };
    match ms {
        Some(ms) if (MIN_TS_MS..=MAX_TS_MS).contains(&ms) => Ok(ms),
        Some(_) => Err(format!(
            "parameter `cdt`: {v:?} is outside the supported time range (years 0000 to 9999)"
        )),
        None => Err(format!(
            "parameter `cdt`: {v:?} is neither Unix seconds nor `YYYY-MM-DD HH:MM:SS` (UTC)"
        )),
    }
}

fn number(name: &str, v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("parameter `{name}`: not a number: {v:?}")),
    }
}

/// A visitor id given as 16 hexadecimal characters, in lower case.
fn hex16(name: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(format!(
            "parameter `{name}`: a visitor id is exactly 16 hexadecimal characters, found {v:?}"
        ))
    }
}

/// The first 16 hex digits of SHA-256 over the parts (each ended by a NUL byte, so
/// that `("ab", "c")` and `("a", "bc")` differ).
fn hash16(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("Mozilla/5.0 test".into()),
            accept_language: Some("fr-FR,fr;q=0.9".into()),
            now_ms: 1_767_607_200_000,
            trust_cip: false,
        }
    }

    fn row(q: &str) -> Map<String, Value> {
        match to_row(&decode_params(q.as_bytes()).unwrap(), &client()).unwrap() {
            Tracked::Row(r) => r,
            Tracked::Ping => panic!("a ping"),
        }
    }

    fn err(q: &str) -> String {
        to_row(&decode_params(q.as_bytes()).unwrap(), &client()).unwrap_err()
    }

    #[test]
    fn decoding_is_strict_about_percent_signs_and_utf8() {
        let p = decode_params(b"a=x+y&b=%C3%A4&&c&a=z").unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), "z".into()),
                ("b".into(), "ä".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(
            decode_params(b"a=%zz")
                .unwrap_err()
                .contains("percent-encoding")
        );
        assert!(
            decode_params(b"a=%4")
                .unwrap_err()
                .contains("percent-encoding")
        );
        assert!(decode_params(b"url=%FF").unwrap_err().contains("UTF-8"));
        assert!(decode_params(b"u\xffrl=1").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn a_page_view_maps_to_the_input_fields() {
        let r = row(
            "idsite=3&rec=1&url=https%3A%2F%2Fshop.example%2Fa&action_name=Home&_id=0123456789ABCDEF&urlref=https%3A%2F%2Fsearch.example%2F&res=1920x1080&dimension2=gold&cdt=1767607200",
        );
        assert_eq!(r["ts"], 1_767_607_200_000i64);
        assert_eq!(r["siteId"], 3);
        assert_eq!(r["type"], "pageview");
        assert_eq!(r["pageUrl"], "https://shop.example/a");
        assert_eq!(r["pageTitle"], "Home");
        assert_eq!(r["visitorId"], "0123456789abcdef");
        assert_eq!(r["referrerUrl"], "https://search.example/");
        assert_eq!(r["resolution"], "1920x1080");
        assert_eq!(r["dimension2"], "gold");
        assert_eq!(r["ip"], "203.0.113.9");
        assert_eq!(r["userAgent"], "Mozilla/5.0 test");
        assert_eq!(r["acceptLanguage"], "fr-FR,fr;q=0.9");
    }

    #[test]
    fn the_visitor_id_is_cid_then_uid_then_id_then_a_fingerprint() {
        let both = "idsite=1&rec=1&_id=0123456789abcdef";
        assert_eq!(row(both)["visitorId"], "0123456789abcdef");
        let uid = row(&format!("{both}&uid=alice"));
        assert_eq!(uid["userId"], "alice");
        assert_eq!(uid["visitorId"], hash16(&[b"uid", b"alice"]));
        assert_eq!(uid["visitorId"].as_str().unwrap().len(), 16);
        let cid = row(&format!("{both}&uid=alice&cid=FEDCBA9876543210"));
        assert_eq!(cid["visitorId"], "fedcba9876543210");
        let a = row("idsite=1&rec=1");
        let b = row("idsite=1&rec=1&lang=de");
        assert_ne!(a["visitorId"], b["visitorId"]);
        assert_eq!(a["visitorId"], row("idsite=1&rec=1&url=x")["visitorId"]);
        assert!(err("idsite=1&rec=1&cid=123").contains("16 hexadecimal"));
        assert!(err("idsite=1&rec=1&_id=zzzzzzzzzzzzzzzz").contains("`_id`"));
    }

    #[test]
    fn cdt_takes_unix_seconds_or_a_utc_datetime() {
        let a = row("idsite=1&rec=1&cdt=2026-01-05+10%3A00%3A00");
        assert_eq!(a["ts"], 1_767_607_200_000i64);
        assert!(err("idsite=1&rec=1&cdt=yesterday").contains("`cdt`"));
        assert!(err("idsite=1&rec=1&cdt=999999999999999").contains("range"));
        assert_eq!(row("idsite=1&rec=1")["ts"], client().now_ms);
    }

    #[test]
    fn events_goals_orders_carts_searches_downloads_and_outlinks() {
        let e = row("idsite=1&rec=1&e_c=Video&e_a=Play&e_n=Intro&e_v=2.5");
        assert_eq!(
            (&e["type"], &e["eventCategory"], &e["eventAction"]),
            (&"event".into(), &"Video".into(), &"Play".into())
        );
        assert_eq!(
            (&e["eventName"], &e["eventValue"]),
            (&"Intro".into(), &2.5.into())
        );
        assert!(err("idsite=1&rec=1&e_c=Video").contains("both"));
        assert!(err("idsite=1&rec=1&e_c=V&e_a=P&e_v=abc").contains("`e_v`"));
        let g = row("idsite=1&rec=1&idgoal=4&revenue=9.5");
        assert_eq!(
            (&g["type"], &g["goalId"], &g["revenue"]),
            (&"goal".into(), &4.into(), &9.5.into())
        );
        let o = row(
            "idsite=1&rec=1&idgoal=0&ec_id=A1&revenue=120&ec_items=%5B%5B%22sku%22%2C%22n%22%2C%22c%22%2C10%2C1%5D%5D",
        );
        assert_eq!(
            (&o["type"], &o["revenue"], &o["orderId"]),
            (&"ecommerceOrder".into(), &120.0.into(), &"A1".into())
        );
        assert!(!o.contains_key("ec_items") && !o.contains_key("goalId"));
        assert_eq!(
            row("idsite=1&rec=1&idgoal=0&revenue=5")["type"],
            "ecommerceCart"
        );
        assert!(err("idsite=1&rec=1&ec_id=A&ec_items=%5Bx").contains("invalid JSON"));
        assert!(err("idsite=1&rec=1&ec_id=A&ec_items=3").contains("array"));
        assert!(err("idsite=1&rec=1&idgoal=-1").contains("`idgoal`"));
        assert!(err("idsite=1&rec=1&idgoal=1&revenue=1e13").contains("range"));
        let s = row("idsite=1&rec=1&search=shoes&search_cat=men&search_count=12");
        assert_eq!(
            (&s["type"], &s["searchKeyword"], &s["searchCount"]),
            (&"siteSearch".into(), &"shoes".into(), &12.into())
        );
        let d = row(
            "idsite=1&rec=1&url=https%3A%2F%2Fa.example%2F&download=https%3A%2F%2Fa.example%2Ff.pdf",
        );
        assert_eq!(
            (&d["type"], &d["pageUrl"]),
            (&"download".into(), &"https://a.example/f.pdf".into())
        );
        let l = row("idsite=1&rec=1&link=https%3A%2F%2Fother.example%2F");
        assert_eq!(
            (&l["type"], &l["pageUrl"]),
            (&"outlink".into(), &"https://other.example/".into())
        );
        // Revenue belongs to conversions only.
        assert!(!row("idsite=1&rec=1&revenue=3").contains_key("revenue"));
    }

    #[test]
    fn campaigns_come_from_the_request_or_the_page_url() {
        let r = row("idsite=1&rec=1&_rcn=Spring&_rck=shoes");
        assert_eq!(
            (&r["campaignName"], &r["referrerKeyword"]),
            (&"Spring".into(), &"shoes".into())
        );
        let u = row(
            "idsite=1&rec=1&url=https%3A%2F%2Fa.example%2F%3Fmtm_campaign%3DWinter%26mtm_source%3Dnews%26pk_kwd%3Dboots",
        );
        assert_eq!(u["campaignName"], "Winter");
        assert_eq!(u["campaignSource"], "news");
        assert_eq!(u["referrerKeyword"], "boots");
        let both = row(
            "idsite=1&rec=1&_rcn=Spring&url=https%3A%2F%2Fa.example%2F%3Fmtm_campaign%3DWinter",
        );
        assert_eq!(both["campaignName"], "Spring");
    }

    #[test]
    fn bad_requests_say_which_parameter() {
        assert!(err("rec=1").contains("`idsite`: missing"));
        assert!(err("idsite=abc&rec=1").contains("positive integer"));
        assert!(err("idsite=0&rec=1").contains("positive integer"));
        assert!(err("idsite=1").contains("`rec`: missing"));
        assert!(err("idsite=1&rec=0").contains("must be 1"));
    }

    #[test]
    fn ping_stores_nothing_and_cip_needs_trust() {
        let p = decode_params(b"idsite=1&rec=1&ping=1").unwrap();
        assert_eq!(to_row(&p, &client()).unwrap(), Tracked::Ping);
        assert_eq!(row("idsite=1&rec=1&cip=198.51.100.7")["ip"], "203.0.113.9");
        let trusted = Client {
            trust_cip: true,
            ..client()
        };
        let p = decode_params(b"idsite=1&rec=1&cip=198.51.100.7").unwrap();
        let Tracked::Row(r) = to_row(&p, &trusted).unwrap() else {
            panic!("a ping")
        };
        assert_eq!(r["ip"], "198.51.100.7");
        let bad = decode_params(b"idsite=1&rec=1&cip=nope").unwrap();
        assert!(to_row(&bad, &trusted).unwrap_err().contains("`cip`"));
    }
}
