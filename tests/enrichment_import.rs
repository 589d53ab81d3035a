//! Enrichment at import and append: raw request data (user agent, referrer URL, landing
//! page campaign parameters, Accept-Language, address with a GeoIP database) becomes the
//! visit dimensions of `docs/enrichment.md`, and fields given explicitly win.

use sightline::{Db, DbOptions, Event, TimeRange};

const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) \
                             AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 \
                             Mobile/15E148 Safari/604.1";

fn db_of(lines: &[String]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    for l in lines {
        tx.append_json(l).unwrap();
    }
    tx.commit().unwrap();
    (dir, db)
}

fn visits(db: &Db, segment: &str) -> u64 {
    db.snapshot()
        .query(segment, &TimeRange::ALL)
        .unwrap_or_else(|e| panic!("{segment}: {e}"))
        .visits
}

fn row(visitor: &str, min: i64, rest: &str) -> String {
    let ts = 1_767_225_600_000 + min * 60_000;
    format!(r#"{{"ts":{ts},"visitorId":"{visitor}",{rest}}}"#)
}

#[test]
fn raw_request_data_becomes_visit_dimensions() {
    let (_d, db) = db_of(&[
        row(
            "a",
            0,
            &format!(
                r#""pageUrl":"https://shop.example/","userAgent":"{CHROME_WIN}","referrerUrl":"https://www.google.com/search?q=red+kettle","acceptLanguage":"fr-FR,fr;q=0.9","countryCode":"fr""#
            ),
        ),
        // A later row of the same visit: its referrer does not change the visit's.
        row(
            "a",
            1,
            r#""pageUrl":"https://shop.example/b","referrerUrl":"https://shop.example/""#,
        ),
        row(
            "b",
            0,
            &format!(
                r#""pageUrl":"https://shop.example/?mtm_campaign=Spring&mtm_source=newsletter&mtm_medium=email","userAgent":"{SAFARI_IPHONE}""#
            ),
        ),
        row(
            "c",
            0,
            &format!(
                r#""pageUrl":"https://shop.example/","userAgent":"{CHROME_WIN}","referrerUrl":"https://www.linkedin.com/feed/""#
            ),
        ),
        // Internal referrer, no referrer at all: both direct entries.
        row(
            "d",
            0,
            &format!(
                r#""pageUrl":"https://shop.example/x","userAgent":"{CHROME_WIN}","referrerUrl":"https://shop.example/""#
            ),
        ),
        row(
            "e",
            0,
            &format!(r#""pageUrl":"/","userAgent":"{CHROME_WIN}""#),
        ),
        // Explicit fields win over derived ones.
        row(
            "f",
            0,
            &format!(
                r#""userAgent":"{CHROME_WIN}","browserName":"Custom","referrerUrl":"https://www.bing.com/search?q=x","referrerType":"website""#
            ),
        ),
        // No raw data: nothing derived.
        row("g", 0, r#""pageUrl":"/""#),
    ]);
    assert_eq!(visits(&db, "browserName==Chrome"), 4);
    assert_eq!(visits(&db, "browserName==Custom"), 1);
    assert_eq!(visits(&db, "browserCode==CH"), 5);
    assert_eq!(visits(&db, "operatingSystemName==Windows"), 5);
    assert_eq!(
        visits(&db, "deviceType==smartphone;operatingSystemCode==IOS"),
        1
    );
    assert_eq!(visits(&db, "deviceBrand==Apple"), 1);
    assert_eq!(visits(&db, "referrerType==search;referrerName==Google"), 1);
    assert_eq!(visits(&db, "referrerKeyword==red kettle"), 1);
    assert_eq!(
        visits(
            &db,
            "referrerUrl==https://www.google.com/search?q=red+kettle"
        ),
        1
    );
    assert_eq!(visits(&db, "referrerType==social"), 1);
    assert_eq!(visits(&db, "referrerType==direct"), 2);
    assert_eq!(visits(&db, "referrerType==website"), 1);
    assert_eq!(visits(&db, "referrerType==campaign"), 1);
    assert_eq!(
        visits(
            &db,
            "campaignName==spring;campaignSource==newsletter;campaignMedium==email"
        ),
        1
    );
    assert_eq!(visits(&db, "languageCode==fr-fr,languageCode==fr"), 1);
    assert_eq!(visits(&db, "countryName==France;continentCode==eur"), 1);
    assert_eq!(visits(&db, "referrerType=="), 1);
    assert_eq!(visits(&db, "browserName=="), 1);
}

#[test]
fn typed_events_are_enriched_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.append(&Event {
        user_agent: Some(SAFARI_IPHONE.into()),
        referrer_url: Some("https://duckduckgo.com/?q=teapot".into()),
        latitude: Some(48.85),
        ..Event::pageview(1_767_225_600_000, "v", "https://shop.example/")
    })
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        visits(&db, "browserName==Mobile Safari;referrerName==DuckDuckGo"),
        1
    );
    assert_eq!(visits(&db, "latitude>48"), 1);
}

#[test]
fn geoip_locates_the_whole_address_before_masking() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    let mmdb = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/geoip/GeoIP2-City-Test.mmdb");
    tx.set_geoip(&mmdb).unwrap();
    tx.set_anonymize_ip(Some(2)).unwrap();
    for (v, ip) in [("london", "81.2.69.142"), ("nowhere", "10.1.2.3")] {
        tx.append(&Event {
            ip: Some(ip.into()),
            ..Event::pageview(1_767_225_600_000, v, "/")
        })
        .unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(visits(&db, "countryCode==gb;city==London"), 1);
    assert_eq!(
        visits(&db, "countryName==United Kingdom;continentCode==eur"),
        1
    );
    assert_eq!(visits(&db, "latitude>51;latitude<52"), 1);
    // The stored address is masked; the location came from the whole one.
    assert_eq!(visits(&db, "visitIp==81.2.0.0"), 1);
    assert_eq!(visits(&db, "countryCode=="), 1);
    let err = db
        .begin_write()
        .unwrap()
        .set_geoip(std::path::Path::new("/no/such.mmdb"))
        .unwrap_err();
    assert!(err.to_string().contains("/no/such.mmdb"), "{err}");
}
