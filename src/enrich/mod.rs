//! Enrichment: the visit dimensions Matomo derives from raw request data.
//!
//! Imports and the tracking server receive what a browser sends — a user-agent
//! string, a referrer URL, the landing page URL with its campaign parameters, an
//! `Accept-Language` header, an IP address — and Matomo reports dimensions derived
//! from them. This module derives them:
//!
//! - [`Enricher::user_agent`] → browser, operating system and device ([`UserAgent`]),
//!   bots flagged; parsed once per distinct string (a bounded cache shared by threads);
//! - [`classify_referrer`] and [`visit_referrer`] → `referrerType`, `referrerName`,
//!   `referrerKeyword` ([`Referrer`]), by Matomo's search-engine and social-network
//!   lists;
//! - [`campaign`] → the campaign fields of a landing URL ([`Campaign`]);
//! - [`language`] → `languageCode` from an `Accept-Language` header;
//! - [`Enricher::geo`] → country, region, city and coordinates from a MaxMind DB file
//!   ([`Geo`]);
//! - [`country_name`] and [`continent_code`] → ISO 3166-1 tables.
//!
//! Every function is pure (the cache aside), never fails and never panics, whatever
//! the input: what cannot be derived is `None`. `docs/enrichment.md` documents the
//! rules, the mappings, the data sources and their licences.
//!
//! ```
//! use sightline::enrich::{Enricher, campaign, classify_referrer, language};
//!
//! let enricher = Enricher::new();
//! let ua = enricher.user_agent(
//!     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 \
//!      (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
//! );
//! assert_eq!(ua.browser_code.as_deref(), Some("MF"));
//! assert_eq!(ua.operating_system_code.as_deref(), Some("IOS"));
//! assert_eq!(ua.device_type, Some("smartphone"));
//!
//! let referrer = classify_referrer("https://www.google.com/search?q=Rust", None);
//! assert_eq!(referrer.referrer_type, "search");
//! assert_eq!(referrer.keyword.as_deref(), Some("rust"));
//!
//! let c = campaign("https://shop.example/?utm_campaign=Spring&utm_source=news").unwrap();
//! assert_eq!((c.name.as_str(), c.source.as_deref()), ("spring", Some("news")));
//!
//! assert_eq!(language("fr-FR,fr;q=0.9,en;q=0.8").as_deref(), Some("fr-fr"));
//! ```

mod campaign;
mod countries;
mod geo;
mod language;
mod referrer;
mod url;
mod user_agent;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

pub use campaign::{Campaign, campaign};
pub use geo::Geo;
pub use language::language;
pub use referrer::{Referrer, classify_referrer, visit_referrer};
pub use user_agent::{UserAgent, parse_user_agent};

use crate::error::{Error, Result};

/// Shards of the user-agent cache: threads that parse different strings rarely wait
/// for one another.
const CACHE_SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied (real traffic has a few thousand
/// distinct user agents, so this keeps them all while bounding hostile input).
const SHARD_CAPACITY: usize = 4096;
/// Longer user agents are parsed every time instead of cached (they are junk or
/// attacks, and would make the cache's memory bound a multiple of their length).
const MAX_CACHED_LEN: usize = 1024;

type Shard = Mutex<HashMap<Box<str>, Arc<UserAgent>, ahash::RandomState>>;

/// Derives visit dimensions from raw request data; holds the user-agent cache and,
/// optionally, a GeoIP database. Cheap to share: every method takes `&self`, and an
/// `Enricher` is `Send + Sync` (wrap it in an `Arc` for several threads).
pub struct Enricher {
    shards: Box<[Shard]>,
    hasher: ahash::RandomState,
    geo: Option<geo::GeoDb>,
}

impl Enricher {
    /// An enricher without GeoIP database ([`geo`](Self::geo) answers `None`).
    pub fn new() -> Enricher {
        let hasher = ahash::RandomState::new();
        let shards = (0..CACHE_SHARDS)
            .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        Enricher {
            shards,
            hasher,
            geo: None,
        }
    }

    /// An enricher that locates IP addresses with the MaxMind DB file at `path`
    /// (GeoIP2 or GeoLite2, City or Country; read through a memory map).
    ///
    /// A missing file or one that is no MaxMind DB is
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput), other read failures
    /// [`Io`](crate::ErrorKind::Io); the message names the file either way.
    pub fn with_geoip(path: &Path) -> Result<Enricher> {
        if !path.is_file() {
            let what = if path.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            return Err(Error::argument(
                "geoip",
                format!(
                    "GeoIP database {} {what}; give the path of a MaxMind DB (.mmdb) file",
                    path.display()
                ),
            ));
        }
        let db = geo::GeoDb::open(path)?;
        Ok(Enricher {
            geo: Some(db),
            ..Enricher::new()
        })
    }

    /// The parsed form of `ua`, parsed once per distinct string and then shared.
    pub fn user_agent(&self, ua: &str) -> Arc<UserAgent> {
        if ua.len() > MAX_CACHED_LEN {
            return Arc::new(parse_user_agent(ua));
        }
        let shard = &self.shards[self.hasher.hash_one(ua) as usize % CACHE_SHARDS];
        if let Some(hit) = shard.lock().get(ua) {
            return Arc::clone(hit);
        }
        // Parse outside the lock; a thread that raced us may have inserted meanwhile,
        // and then its value is kept so that every caller shares one.
        let parsed = Arc::new(parse_user_agent(ua));
        let mut map = shard.lock();
        if map.len() >= SHARD_CAPACITY && !map.contains_key(ua) {
            map.clear();
        }
        Arc::clone(map.entry(ua.into()).or_insert(parsed))
    }

    /// The location of an IP address (IPv4 or IPv6 text). `None` without a GeoIP
    /// database, for text that is no IP address, and for an address the database does
    /// not hold.
    pub fn geo(&self, ip: &str) -> Option<Geo> {
        self.geo.as_ref()?.lookup(ip)
    }

    /// The GeoIP database this enricher reads, if any.
    pub fn geoip_path(&self) -> Option<&Path> {
        self.geo.as_ref().map(|g| g.path())
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

impl Default for Enricher {
    fn default() -> Enricher {
        Enricher::new()
    }
}

impl fmt::Debug for Enricher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enricher")
            .field("geoip", &self.geoip_path())
            .finish_non_exhaustive()
    }
}

/// The English short name of an ISO 3166-1 alpha-2 country code, in either case
/// (`"fr"` → `"France"`, `"GB"` → `"United Kingdom"`).
pub fn country_name(code: &str) -> Option<&'static str> {
    country(code).map(|(_, name, _)| name)
}

/// Matomo's continent code of an ISO 3166-1 alpha-2 country code, in either case:
/// `eur`, `asi`, `afr`, `oce`, `ant`, and for the Americas `amn` (North), `amc`
/// (Central, with the Caribbean) and `ams` (South).
pub fn continent_code(code: &str) -> Option<&'static str> {
    country(code).map(|(_, _, continent)| continent)
}

fn country(code: &str) -> Option<(&'static str, &'static str, &'static str)> {
    let code = code.trim();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = code.to_ascii_lowercase();
    countries::COUNTRIES
        .binary_search_by(|(c, _, _)| (*c).cmp(lower.as_str()))
        .ok()
        .map(|i| countries::COUNTRIES[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn geoip(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/geoip")
            .join(name)
    }

    fn city_db() -> Enricher {
        Enricher::with_geoip(&geoip("GeoIP2-City-Test.mmdb")).unwrap()
    }

    #[test]
    fn geoip_city_ipv4() {
        let e = city_db();
        assert_eq!(
            e.geo("81.2.69.142"),
            Some(Geo {
                country_code: Some("gb".into()),
                region_code: Some("ENG".into()),
                city: Some("London".into()),
                latitude: Some(51.5142),
                longitude: Some(-0.0931),
            })
        );
        let milton = e.geo("216.160.83.57").unwrap();
        assert_eq!(milton.country_code.as_deref(), Some("us"));
        assert_eq!(milton.region_code.as_deref(), Some("WA"));
        assert_eq!(milton.city.as_deref(), Some("Milton"));
        let linkoping = e.geo(" 89.160.20.128 ").unwrap();
        assert_eq!(linkoping.country_code.as_deref(), Some("se"));
        assert_eq!(linkoping.region_code.as_deref(), Some("E"));
        assert_eq!(linkoping.city.as_deref(), Some("Linköping"));
        // The largest subdivision first: England, not West Berkshire.
        let boxford = e.geo("2.125.160.216").unwrap();
        assert_eq!(boxford.region_code.as_deref(), Some("ENG"));
        assert_eq!(boxford.city.as_deref(), Some("Boxford"));
    }

    #[test]
    fn geoip_city_ipv6() {
        let e = city_db();
        let jp = e.geo("2001:218::1").unwrap();
        assert_eq!(jp.country_code.as_deref(), Some("jp"));
        assert_eq!((jp.region_code, jp.city), (None, None));
        assert_eq!(
            (jp.latitude, jp.longitude),
            (Some(35.68536), Some(139.75309))
        );
        let san_diego = e.geo("2001:480:10::1").unwrap();
        assert_eq!(san_diego.city.as_deref(), Some("San Diego"));
        assert_eq!(san_diego.region_code.as_deref(), Some("CA"));
        // An IPv4-mapped address is the IPv4 address.
        assert_eq!(e.geo("::ffff:81.2.69.142"), e.geo("81.2.69.142"));
    }

    #[test]
    fn geoip_country_database() {
        let e = Enricher::with_geoip(&geoip("GeoLite2-Country-Test.mmdb")).unwrap();
        assert_eq!(
            e.geo("81.2.69.142"),
            Some(Geo {
                country_code: Some("gb".into()),
                region_code: None,
                city: None,
                latitude: None,
                longitude: None,
            })
        );
        assert_eq!(
            e.geo("67.43.156.1").unwrap().country_code.as_deref(),
            Some("bt")
        );
        assert_eq!(e.geo("127.0.0.1"), None);
    }

    #[test]
    fn geoip_misses_and_garbage() {
        let e = city_db();
        for ip in [
            "1.1.1.1",
            "127.0.0.1",
            "::1",
            "214.1.1.1", // a network with no location
            "",
            "not an ip",
            "81.2.69.142.5",
            "999.1.1.1",
            "81.2.69.142/24",
            "[2001:218::1]",
        ] {
            assert_eq!(e.geo(ip), None, "{ip:?}");
        }
        assert_eq!(Enricher::new().geo("81.2.69.142"), None);
    }

    #[test]
    fn geoip_open_errors_name_the_file() {
        let missing = geoip("no-such-file.mmdb");
        let err = Enricher::with_geoip(&missing).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("no-such-file.mmdb"), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let dir = geoip("");
        let err = Enricher::with_geoip(&dir).unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");

        let not_mmdb = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let err = Enricher::with_geoip(&not_mmdb).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("Cargo.toml"), "{err}");
        assert!(err.to_string().contains("MaxMind DB"), "{err}");

        let tmp = tempfile::NamedTempFile::new().unwrap();
        let err = Enricher::with_geoip(tmp.path()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{err}");
    }

    #[test]
    fn user_agents_are_cached_and_shared() {
        let e = Enricher::new();
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        let a = e.user_agent(ua);
        let b = e.user_agent(ua);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*a, parse_user_agent(ua));
        assert_eq!(e.cached(), 1);
        // Overlong strings are parsed, not cached.
        let long = format!("{ua}{}", " x".repeat(MAX_CACHED_LEN));
        assert_eq!(e.user_agent(&long).browser_code.as_deref(), Some("FF"));
        assert_eq!(e.cached(), 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let e = Enricher::new();
        for i in 0..(CACHE_SHARDS * SHARD_CAPACITY + 5000) {
            e.user_agent(&format!("agent/{i}"));
        }
        assert!(
            e.cached() <= CACHE_SHARDS * SHARD_CAPACITY,
            "{}",
            e.cached()
        );
        assert!(e.cached() > 0);
    }

    #[test]
    fn threads_share_one_enricher() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Enricher>();
        let e = Arc::new(Enricher::new());
        let agents: Vec<String> = (0..200)
            .map(|i| format!("Mozilla/5.0 (Windows NT 10.0) Chrome/{i}.0 Safari/537.36"))
            .collect();
        let results: Vec<Vec<Arc<UserAgent>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| agents.iter().map(|a| e.user_agent(a)).collect()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, agent) in agents.iter().enumerate() {
            let expected = parse_user_agent(agent);
            assert_eq!(
                expected.browser_version.as_deref(),
                Some(format!("{i}.0").as_str())
            );
            for per_thread in &results {
                assert_eq!(*per_thread[i], expected);
                assert!(Arc::ptr_eq(&per_thread[i], &results[0][i]));
            }
        }
    }

    #[test]
    fn country_tables() {
        let cases = [
            ("fr", "France", "eur"),
            ("FR", "France", "eur"),
            ("gb", "United Kingdom", "eur"),
            ("us", "United States", "amn"),
            ("ca", "Canada", "amn"),
            ("mx", "Mexico", "amn"),
            ("br", "Brazil", "ams"),
            ("cr", "Costa Rica", "amc"),
            ("jm", "Jamaica", "amc"),
            ("jp", "Japan", "asi"),
            ("in", "India", "asi"),
            ("za", "South Africa", "afr"),
            ("au", "Australia", "oce"),
            ("aq", "Antarctica", "ant"),
            ("de", "Germany", "eur"),
            ("kr", "South Korea", "asi"),
            ("ss", "South Sudan", "afr"),
        ];
        for (code, name, continent) in cases {
            assert_eq!(country_name(code), Some(name), "{code}");
            assert_eq!(continent_code(code), Some(continent), "{code}");
        }
        for bad in ["", "f", "fra", "xx", "zz", "12", "é", "uk", " "] {
            assert_eq!(country_name(bad), None, "{bad:?}");
            assert_eq!(continent_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_country_table_is_complete_and_sorted() {
        let table = countries::COUNTRIES;
        assert_eq!(table.len(), 249);
        assert!(
            table.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (code, name, continent) in table {
            assert!(code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()));
            assert!(!name.is_empty());
            assert!(
                ["eur", "asi", "amn", "ams", "amc", "afr", "oce", "ant"].contains(continent),
                "{code}: {continent}"
            );
            assert_eq!(country_name(&code.to_ascii_uppercase()), Some(*name));
        }
    }

    #[test]
    fn user_agent_device_types_are_matomo_device_types() {
        // Every device type this module emits is one the database accepts.
        let agents = [
            "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) Version/12.1.2 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 11; SmartWatch) Chrome/100.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393",
        ];
        for ua in agents {
            let t = parse_user_agent(ua).device_type.expect(ua);
            assert!(crate::DEVICE_TYPES.contains(&t), "{ua}: {t}");
        }
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn on_any_text(s in any::<String>(), t in any::<String>()) {
                let e = Enricher::new();
                let ua = e.user_agent(&s);
                if let Some(t) = ua.device_type {
                    prop_assert!(crate::DEVICE_TYPES.contains(&t));
                }
                let r = classify_referrer(&s, Some(&t));
                prop_assert!(crate::REFERRER_TYPES.contains(&r.referrer_type));
                let _ = visit_referrer(Some(&s), Some(&t));
                let _ = campaign(&s);
                let _ = language(&s);
                let _ = country_name(&s);
                let _ = continent_code(&s);
                prop_assert_eq!(e.geo(&s), None);
            }

            #[test]
            fn on_url_like_text(
                host in "[a-zA-Z0-9.\\-]{0,30}",
                path in "[/a-z%?&=#+.\\PC]{0,40}",
                scheme in "(https?|android-app|ftp|)",
            ) {
                let url = format!("{scheme}://{host}{path}");
                let r = classify_referrer(&url, Some(&url));
                prop_assert!(crate::REFERRER_TYPES.contains(&r.referrer_type));
                let _ = campaign(&url);
            }

            #[test]
            fn on_user_agent_like_text(
                parts in proptest::collection::vec(
                    "(Mozilla/5.0 |\\(|\\)|; |Android |iPhone|CPU OS |Windows NT |Chrome/|Version/|Safari/|Edg/|OPR/|Firefox/|[0-9._]{1,6}|\\PC{1,4}|Mobile|Build/|SM-)",
                    0..16,
                ),
            ) {
                let ua = parts.concat();
                let parsed = parse_user_agent(&ua);
                if let Some(t) = parsed.device_type {
                    prop_assert!(crate::DEVICE_TYPES.contains(&t));
                }
            }

            #[test]
            fn geoip_on_any_text_and_addresses(s in any::<String>(), v4 in any::<[u8; 4]>(), v6 in any::<[u16; 8]>()) {
                let e = city_db();
                prop_assert_eq!(e.geo(&s), None);
                let _ = e.geo(&std::net::Ipv4Addr::from(v4).to_string());
                let _ = e.geo(&std::net::Ipv6Addr::from(v6).to_string());
            }
        }
    }
}
