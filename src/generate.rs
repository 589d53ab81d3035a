//! Synthetic web-analytics data: a deterministic generator of sightline's input JSON Lines (`docs/ingest.md`).
//!
//! This module owns the synthetic data model: an imaginary shop at
//! `https://www.shop.example` with a home page, ~2000 product pages, 50 category pages, a blog,
//! site search, a contact form and a `/cart` → `/checkout` → `/payment` → `/thank-you` funnel.
//! Each visitor gets stable attributes (country, region, city, language, device, OS, browser,
//! sometimes a `userId` and a `plan` custom dimension) and a heavy-tailed number of visits
//! (mean ≈ 2.2) spread over the requested days with daily and weekly seasonality; each visit
//! gets a referrer and a page walk (mean ≈ 4.5 rows, ~35 % single-page bounces) with events,
//! downloads, outlinks, site searches, goals, carts and orders.
//!
//! A visit's first row carries the visit-level fields, later rows only event-level ones:
//!
//! ```text
//! {"ts":"2026-02-23T00:13:24.315Z","visitorId":"v57a87b1282c1","type":"pageview","pageUrl":"https://www.shop.example/product/rustic-headphones-402","pageTitle":"Rustic Headphones 402 | Shop Example","countryCode":"us","regionCode":"CA","city":"Los Angeles","languageCode":"en","browserCode":"CH","operatingSystemCode":"WIN","deviceType":"desktop","referrerType":"campaign","referrerName":"newsletter","campaignName":"spring_sale_2026"}
//! {"ts":"2026-02-23T00:15:18.593Z","visitorId":"v57a87b1282c1","type":"pageview","pageUrl":"https://www.shop.example/product/compact-skillet-4","pageTitle":"Compact Skillet 4 | Shop Example"}
//! ```
//!
//! Why it exists: benchmarks, demos and tests need data whose *shape* resembles real traffic
//! (Zipf-distributed countries, cities and URLs, funnels with drop-off, returning customers), so
//! that bitmap cardinalities, dictionary sizes and query selectivities are realistic.
//!
//! Why it is written the way it is:
//! - **Deterministic forever.** The only randomness is the raw `u64` stream of
//!   [`rand_chacha::ChaCha8Rng`] seeded with [`GenOptions::seed`]; every distribution (integer
//!   ranges, weighted choices, Zipf tables) is implemented here with integer arithmetic or
//!   correctly rounded IEEE operations (`+`, `*`, `/`, `sqrt`), never `ln`/`powf` whose last bit
//!   may vary between platforms or rand versions. The same options give byte-identical output.
//! - **Sessionisation-exact.** Successive visits of a visitor are separated by more than 31
//!   minutes and rows inside a visit by 5 s … 10 min, with strictly increasing timestamps, so the
//!   engine's 30-minute visit timeout rebuilds exactly the generated visits. Visit-level fields
//!   (`countryCode` … `userId`) are written on the first row of each visit only, which is where
//!   the importer takes them from.
//! - **Streaming.** Rows are written visitor by visitor (each visitor's rows in time order; the
//!   file as a whole is not globally sorted by time, which the engine does not require), with a
//!   reusable line buffer and hand-written JSON formatting: no per-row allocation, no
//!   `serde_json::Value`.

use std::io::{self, BufWriter, Write};

use crate::event::{MAX_TS_MS, MIN_TS_MS};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEC_MS: i64 = 1_000;
const MIN_MS: i64 = 60 * SEC_MS;
const HOUR_MS: i64 = 60 * MIN_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Upper bound on how far past the sampled range a visitor's last visit can run (visits are
/// capped in number and length), used to reject options whose timestamps would leave RFC 3339.
const SPILL_MARGIN_MS: i64 = 1_000 * DAY_MS;

/// Successive visits of a visitor start at least this long after the previous row, so that the
/// 30-minute timeout always splits them.
const MIN_VISIT_GAP_MS: i64 = 31 * MIN_MS;

/// Hard cap on page views in one visit, so visit length (and time spill) stays bounded.
const MAX_PAGES: u32 = 30;

/// Per-mille chance to go on to another page after the second page of a non-bounce visit.
/// Tuned so that visits average ≈ 4.5 rows.
const CONTINUE_PM: u32 = 745;

const SITE: &str = "https://www.shop.example";
const TITLE_SUFFIX: &str = " | Shop Example";

/// Options for [`write_jsonl`].
///
/// # Example
///
/// ```
/// use sightline::generate::GenOptions;
///
/// let opts = GenOptions { visitors: 50, seed: 7, ..GenOptions::default() };
/// assert_eq!(opts.days, 90);
/// ```
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of distinct visitors to generate (at most 2^48: ids have 12 hex digits).
    pub visitors: u64,
    /// Seed of the random stream; the same options always give byte-identical output.
    pub seed: u64,
    /// Start of the time range, in Unix milliseconds (UTC).
    pub start_ms: i64,
    /// Length of the time range in days (at least 1). Every visit starts inside
    /// `[start_ms, start_ms + days)`; the rows of a visit that starts just before the end may
    /// run a few minutes past it.
    pub days: u32,
    /// Raw request data instead of what enrichment derives from it: each visit's first
    /// row carries `userAgent`, `referrerUrl` and `acceptLanguage` (and a campaign visit's
    /// landing `pageUrl` its `mtm_` parameters) in place of `browserCode`,
    /// `operatingSystemCode`, `deviceType`, `languageCode` and the referrer and campaign
    /// fields. The visits, pages and times are those of the same options without it.
    pub raw: bool,
}

impl Default for GenOptions {
    /// 1000 visitors, seed 1, 90 days from 2026-01-01T00:00:00Z.
    fn default() -> Self {
        GenOptions {
            visitors: 1000,
            seed: 1,
            start_ms: 1_767_225_600_000,
            days: 90,
            raw: false,
        }
    }
}

/// What [`write_jsonl`] wrote.
///
/// # Example
///
/// ```
/// use sightline::generate::{write_jsonl, GenOptions, GenSummary};
///
/// let opts = GenOptions { visitors: 10, ..GenOptions::default() };
/// let summary: GenSummary = write_jsonl(&opts, std::io::sink())?;
/// assert_eq!(summary.visitors, 10);
/// assert!(summary.visits >= 10 && summary.events >= summary.visits);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GenSummary {
    /// Number of rows (JSON lines) written.
    pub events: u64,
    /// Number of visits generated (what a 30-minute sessionisation of the output yields).
    pub visits: u64,
    /// Number of distinct `visitorId`s written (equals [`GenOptions::visitors`]).
    pub visitors: u64,
    /// Number of rows of type `goal` or `ecommerceOrder`.
    pub conversions: u64,
    /// Sum of the `revenue` fields written (on `goal` and `ecommerceOrder` rows).
    pub revenue: f64,
}

/// Writes `opts.visitors` visitors' worth of synthetic events to `out` as input JSON Lines and
/// returns what was written.
///
/// `out` is wrapped in a [`BufWriter`] internally, so an unbuffered `File` is fine. Errors of
/// `out` are returned as they are; options that cannot be generated (`days == 0`, more than
/// 2^48 visitors, timestamps outside years 0000–9999) give [`io::ErrorKind::InvalidInput`]
/// before anything is written.
///
/// # Example
///
/// ```
/// use sightline::generate::{write_jsonl, GenOptions};
///
/// let opts = GenOptions { visitors: 20, seed: 42, ..GenOptions::default() };
/// let mut buf = Vec::new();
/// let summary = write_jsonl(&opts, &mut buf)?;
/// let text = String::from_utf8(buf).expect("ASCII output");
/// assert_eq!(text.lines().count() as u64, summary.events);
/// let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
/// assert!(first["ts"].as_str().unwrap().starts_with("2026-"));
/// assert!(first["visitorId"].as_str().unwrap().starts_with('v'));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_jsonl<W: Write>(opts: &GenOptions, out: W) -> io::Result<GenSummary> {
    let span_ms = validate(opts)?;
    let world = World::new();
    let mut rng = Rng(ChaCha8Rng::seed_from_u64(opts.seed));
    // Drawn first so that visitor ids do not depend on anything else in the stream.
    let id_key = rng.u64();
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 18, out),
        raw: opts.raw,
        line: Vec::with_capacity(1024),
        events: 0,
        conversions: 0,
        revenue_cents: 0,
    };
    let frame = Frame {
        start_ms: opts.start_ms,
        span_ms,
        days: u64::from(opts.days),
    };
    let mut visits = 0;
    let mut starts = Vec::new();
    for index in 0..opts.visitors {
        visits += world.visitor(&mut rng, &mut sink, &frame, index, id_key, &mut starts)?;
    }
    sink.out.flush()?;
    Ok(GenSummary {
        events: sink.events,
        visits,
        visitors: opts.visitors,
        conversions: sink.conversions,
        // Exact in cents, converted once: matches a re-sum of the written 2-decimal values.
        revenue: sink.revenue_cents as f64 / 100.0,
    })
}

/// Checks the options and returns the span of the time range in ms.
fn validate(opts: &GenOptions) -> io::Result<i64> {
    let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_string());
    if opts.days == 0 {
        return Err(invalid("gen: days must be at least 1"));
    }
    if opts.visitors > 1 << 48 {
        return Err(invalid(
            "gen: at most 2^48 visitors (ids have 12 hex digits)",
        ));
    }
    let span_ms = i64::from(opts.days) * DAY_MS;
    let last = opts
        .start_ms
        .checked_add(span_ms)
        .and_then(|t| t.checked_add(SPILL_MARGIN_MS));
    match last {
        Some(last) if opts.start_ms >= MIN_TS_MS && last <= MAX_TS_MS => Ok(span_ms),
        _ => Err(invalid(
            "gen: start_ms/days put timestamps outside years 0000-9999",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness: only ChaCha8's raw u64 stream is used, every distribution is implemented here.

struct Rng(ChaCha8Rng);

impl Rng {
    fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`) by widening multiply; the bias (< n / 2^64) is irrelevant
    /// here and, unlike rejection sampling, it consumes exactly one draw.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Index chosen with the given integer weights (not all zero).
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Item chosen from `(weight, item)` pairs.
    fn pick<T: Copy>(&mut self, table: &[(u32, T)]) -> T {
        let total: u64 = table.iter().map(|&(w, _)| u64::from(w)).sum();
        let mut x = self.below(total);
        for &(w, item) in table {
            let w = u64::from(w);
            if x < w {
                return item;
            }
            x -= w;
        }
        table[table.len() - 1].1
    }

    /// Time on a page before the next row: mostly tens of seconds, sometimes minutes.
    fn read_gap(&mut self) -> i64 {
        match self.weighted(&[35, 45, 20]) {
            0 => self.range(5 * SEC_MS, 30 * SEC_MS),
            1 => self.range(30 * SEC_MS, 2 * MIN_MS),
            _ => self.range(2 * MIN_MS, 10 * MIN_MS),
        }
    }

    /// Gap before a row that follows an interaction quickly (a goal after a form submit).
    fn quick_gap(&mut self) -> i64 {
        self.range(5 * SEC_MS, 20 * SEC_MS)
    }
}

/// Zipf distribution over `0..n` (rank `k` = index + 1 has weight `1 / k^s`), sampled by binary
/// search in a precomputed cumulative table.
///
/// `s` is given in halves (`twice_s`) so that `k^s` needs only multiplications and `sqrt`, which
/// IEEE 754 rounds exactly: the table, hence the output, is the same on every platform.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, twice_s: u32) -> Zipf {
        let mut cumulative = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            let k = rank as f64;
            let mut pow = 1.0;
            for _ in 0..twice_s / 2 {
                pow *= k;
            }
            if twice_s % 2 == 1 {
                pow *= k.sqrt();
            }
            total += 1.0 / pow;
            cumulative.push(total);
        }
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

// ---------------------------------------------------------------------------------------------
// Static world: geography, technology, referrers.

struct Country {
    code: &'static str,
    language: &'static str,
    /// Rough UTC offset in hours, to put visits in the visitor's local daytime.
    utc_offset: i8,
    /// Regions (ISO 3166-2 suffixes) with their cities, most populous first.
    regions: &'static [(&'static str, &'static [&'static str])],
}

const fn c(
    code: &'static str,
    language: &'static str,
    utc_offset: i8,
    regions: &'static [(&'static str, &'static [&'static str])],
) -> Country {
    Country {
        code,
        language,
        utc_offset,
        regions,
    }
}

/// Ordered by traffic share: the Zipf rank of a country is its position here.
#[rustfmt::skip]
const COUNTRIES: &[Country] = &[
    c("us", "en", -6, &[("CA", &["Los Angeles", "San Francisco", "San Diego"]), ("NY", &["New York", "Buffalo"]), ("TX", &["Houston", "Austin", "Dallas"])]),
    c("de", "de", 1, &[("BY", &["Munich", "Nuremberg"]), ("BE", &["Berlin"]), ("NW", &["Cologne", "Dusseldorf", "Dortmund"])]),
    c("fr", "fr", 1, &[("IDF", &["Paris", "Boulogne-Billancourt", "Versailles"]), ("ARA", &["Lyon", "Grenoble"]), ("PAC", &["Marseille", "Nice"])]),
    c("gb", "en", 0, &[("ENG", &["London", "Manchester", "Birmingham"]), ("SCT", &["Edinburgh", "Glasgow"])]),
    c("in", "en", 5, &[("MH", &["Mumbai", "Pune"]), ("KA", &["Bengaluru", "Mysuru"]), ("DL", &["New Delhi"])]),
    c("br", "pt", -3, &[("SP", &["Sao Paulo", "Campinas"]), ("RJ", &["Rio de Janeiro", "Niteroi"])]),
    c("ca", "en", -5, &[("ON", &["Toronto", "Ottawa"]), ("QC", &["Montreal", "Quebec City"]), ("BC", &["Vancouver"])]),
    c("es", "es", 1, &[("MD", &["Madrid"]), ("CT", &["Barcelona", "Girona"]), ("AN", &["Seville", "Malaga"])]),
    c("it", "it", 1, &[("25", &["Milan", "Bergamo"]), ("62", &["Rome"]), ("72", &["Naples"])]),
    c("nl", "nl", 1, &[("NH", &["Amsterdam", "Haarlem"]), ("ZH", &["Rotterdam", "The Hague"]), ("UT", &["Utrecht"])]),
    c("jp", "ja", 9, &[("13", &["Tokyo", "Hachioji"]), ("27", &["Osaka", "Sakai"])]),
    c("pl", "pl", 1, &[("MZ", &["Warsaw"]), ("MA", &["Krakow"]), ("DS", &["Wroclaw"])]),
    c("au", "en", 10, &[("NSW", &["Sydney", "Newcastle"]), ("VIC", &["Melbourne"]), ("QLD", &["Brisbane", "Gold Coast"])]),
    c("se", "sv", 1, &[("AB", &["Stockholm"]), ("O", &["Gothenburg"])]),
    c("mx", "es", -6, &[("CMX", &["Mexico City"]), ("JAL", &["Guadalajara"]), ("NLE", &["Monterrey"])]),
    c("ch", "de", 1, &[("ZH", &["Zurich", "Winterthur"]), ("GE", &["Geneva"])]),
    c("be", "nl", 1, &[("BRU", &["Brussels"]), ("VAN", &["Antwerp"]), ("WLG", &["Liege"])]),
    c("at", "de", 1, &[("9", &["Vienna"]), ("6", &["Graz"])]),
    c("tr", "tr", 3, &[("34", &["Istanbul"]), ("06", &["Ankara"]), ("35", &["Izmir"])]),
    c("id", "id", 7, &[("JK", &["Jakarta"]), ("JB", &["Bandung", "Bekasi"])]),
    c("kr", "ko", 9, &[("11", &["Seoul"]), ("26", &["Busan"])]),
    c("cn", "zh", 8, &[("SH", &["Shanghai"]), ("BJ", &["Beijing"]), ("GD", &["Guangzhou", "Shenzhen"])]),
    c("ar", "es", -3, &[("C", &["Buenos Aires"]), ("X", &["Cordoba"])]),
    c("co", "es", -5, &[("DC", &["Bogota"]), ("ANT", &["Medellin"])]),
    c("za", "en", 2, &[("GP", &["Johannesburg", "Pretoria"]), ("WC", &["Cape Town"])]),
    c("dk", "da", 1, &[("84", &["Copenhagen"]), ("82", &["Aarhus"])]),
    c("no", "nb", 1, &[("03", &["Oslo"]), ("46", &["Bergen"])]),
    c("fi", "fi", 2, &[("18", &["Helsinki", "Espoo"]), ("11", &["Tampere"])]),
    c("ie", "en", 0, &[("L", &["Dublin"]), ("M", &["Cork"])]),
    c("pt", "pt", 0, &[("11", &["Lisbon"]), ("13", &["Porto"])]),
    c("cz", "cs", 1, &[("10", &["Prague"]), ("64", &["Brno"])]),
    c("ro", "ro", 2, &[("B", &["Bucharest"]), ("CJ", &["Cluj-Napoca"])]),
    c("hu", "hu", 1, &[("BU", &["Budapest"])]),
    c("gr", "el", 2, &[("I", &["Athens", "Piraeus"]), ("B", &["Thessaloniki"])]),
    c("ua", "uk", 2, &[("30", &["Kyiv"]), ("46", &["Lviv"])]),
    c("il", "he", 2, &[("TA", &["Tel Aviv"]), ("JM", &["Jerusalem"])]),
    c("sg", "en", 8, &[("01", &["Singapore"])]),
    c("my", "ms", 8, &[("14", &["Kuala Lumpur"]), ("10", &["Shah Alam", "Petaling Jaya"])]),
    c("th", "th", 7, &[("10", &["Bangkok"]), ("50", &["Chiang Mai"])]),
    c("vn", "vi", 7, &[("SG", &["Ho Chi Minh City"]), ("HN", &["Hanoi"])]),
    c("ph", "en", 8, &[("00", &["Manila", "Quezon City"]), ("07", &["Cebu City"])]),
    c("nz", "en", 12, &[("AUK", &["Auckland"]), ("WGN", &["Wellington"])]),
    c("cl", "es", -4, &[("RM", &["Santiago"]), ("VS", &["Valparaiso"])]),
    c("pe", "es", -5, &[("LMA", &["Lima"])]),
    c("eg", "ar", 2, &[("C", &["Cairo"]), ("ALX", &["Alexandria"])]),
    c("ng", "en", 1, &[("LA", &["Lagos"]), ("FC", &["Abuja"])]),
    c("ke", "en", 3, &[("30", &["Nairobi"])]),
    c("ma", "ar", 1, &[("06", &["Casablanca"]), ("04", &["Rabat"])]),
    c("sa", "ar", 3, &[("01", &["Riyadh"]), ("02", &["Jeddah", "Mecca"])]),
    c("ae", "ar", 4, &[("DU", &["Dubai"]), ("AZ", &["Abu Dhabi"])]),
    c("pk", "ur", 5, &[("SD", &["Karachi"]), ("PB", &["Lahore"])]),
    c("bd", "bn", 6, &[("13", &["Dhaka"])]),
    c("tw", "zh", 8, &[("TPE", &["Taipei"]), ("KHH", &["Kaohsiung"])]),
    c("hk", "zh", 8, &[("HCW", &["Hong Kong"])]),
    c("sk", "sk", 1, &[("BL", &["Bratislava"])]),
    c("bg", "bg", 2, &[("22", &["Sofia"]), ("02", &["Burgas"])]),
    c("hr", "hr", 1, &[("21", &["Zagreb"]), ("17", &["Split"])]),
    c("rs", "sr", 1, &[("00", &["Belgrade"])]),
    c("lt", "lt", 2, &[("VL", &["Vilnius"]), ("KU", &["Kaunas"])]),
    c("ee", "et", 2, &[("37", &["Tallinn"])]),
];

/// Relative weights of a country's regions and of a region's cities, by position.
const PLACE_WEIGHTS: [u32; 4] = [6, 3, 2, 1];

const DEVICE_TYPES: [&str; 6] = [
    "desktop",
    "smartphone",
    "tablet",
    "phablet",
    "console",
    "tv",
];
const DEVICE_WEIGHTS: [u32; 6] = [540, 380, 55, 12, 3, 10];
const OS_CODES: [&str; 5] = ["WIN", "MAC", "LIN", "AND", "IOS"];
/// OS weights per device type (rows as `DEVICE_TYPES`, columns as `OS_CODES`).
const OS_BY_DEVICE: [[u32; 5]; 6] = [
    [700, 230, 70, 0, 0],
    [0, 0, 0, 700, 300],
    [0, 0, 0, 450, 550],
    [0, 0, 0, 900, 100],
    [400, 0, 600, 0, 0],
    [0, 0, 300, 700, 0],
];
const BROWSER_CODES: [&str; 5] = ["CH", "FF", "SF", "ED", "OP"];
/// Browser weights per OS (rows as `OS_CODES`, columns as `BROWSER_CODES`).
const BROWSER_BY_OS: [[u32; 5]; 5] = [
    [650, 100, 0, 200, 50],
    [380, 60, 520, 40, 0],
    [460, 480, 0, 0, 60],
    [860, 50, 0, 0, 90],
    [110, 20, 870, 0, 0],
];

/// Local-time hour-of-day weights (night trough, lunch and evening peaks).
const HOUR_WEIGHTS: [u32; 24] = [
    10, 6, 4, 3, 3, 5, 12, 25, 40, 52, 58, 60, 58, 57, 58, 60, 60, 58, 60, 66, 70, 62, 42, 22,
];
/// Per-cent acceptance of a day by weekday (0 = Sunday): quieter weekends.
const WEEKDAY_ACCEPT: [u64; 7] = [78, 100, 98, 97, 96, 92, 74];

#[derive(Clone, Copy, PartialEq)]
enum Referrer {
    Direct,
    Search,
    Website,
    Social,
    Campaign,
}

const FIRST_VISIT_REFERRERS: [(u32, Referrer); 5] = [
    (28, Referrer::Direct),
    (38, Referrer::Search),
    (12, Referrer::Website),
    (12, Referrer::Social),
    (10, Referrer::Campaign),
];
const RETURN_VISIT_REFERRERS: [(u32, Referrer); 5] = [
    (48, Referrer::Direct),
    (28, Referrer::Search),
    (7, Referrer::Website),
    (7, Referrer::Social),
    (10, Referrer::Campaign),
];
const SEARCH_ENGINES: [(u32, &str); 3] = [(82, "google"), (11, "bing"), (7, "duckduckgo")];
/// Zipf-ranked referring websites.
const WEBSITES: [&str; 12] = [
    "blog.cooking.example",
    "reviews.example.org",
    "news.example.com",
    "deals.example",
    "wikipedia.org",
    "medium.com",
    "forum.example.net",
    "producthunt.com",
    "stackoverflow.com",
    "github.com",
    "gifts.example.co.uk",
    "homeideas.example.de",
];
const SOCIAL_SITES: [(u32, &str); 7] = [
    (35, "facebook.com"),
    (20, "instagram.com"),
    (15, "x.com"),
    (10, "linkedin.com"),
    (10, "reddit.com"),
    (6, "pinterest.com"),
    (4, "youtube.com"),
];
/// `(weight, campaign name, source)`; the source is the campaign visit's `referrerName`.
const CAMPAIGNS: [(u32, (&str, &str)); 6] = [
    (30, ("spring_sale_2026", "newsletter")),
    (22, ("winter_clearance", "google_ads")),
    (18, ("retargeting_q1", "facebook_ads")),
    (12, ("welcome_series", "newsletter")),
    (10, ("brand_awareness", "instagram")),
    (8, ("partner_deals", "affiliate")),
];

const PLANS: [(u32, &str); 3] = [(65, "free"), (28, "pro"), (7, "enterprise")];

const ADJECTIVES: [&str; 20] = [
    "classic", "rustic", "modern", "compact", "deluxe", "eco", "vintage", "nordic", "urban",
    "smart", "premium", "mini", "large", "travel", "organic", "bamboo", "ceramic", "steel",
    "cotton", "wooden",
];
const NOUNS: [&str; 40] = [
    "kettle",
    "teapot",
    "mug",
    "skillet",
    "blender",
    "toaster",
    "grinder",
    "lamp",
    "chair",
    "desk",
    "rug",
    "pillow",
    "blanket",
    "towel",
    "planter",
    "backpack",
    "bottle",
    "lunchbox",
    "notebook",
    "pen",
    "speaker",
    "headphones",
    "charger",
    "watch",
    "wallet",
    "umbrella",
    "candle",
    "vase",
    "clock",
    "mirror",
    "shelf",
    "basket",
    "tent",
    "lantern",
    "hammock",
    "mat",
    "dumbbell",
    "scooter",
    "helmet",
    "jacket",
];
const DEPARTMENTS: [&str; 10] = [
    "kitchen", "home", "garden", "outdoor", "office", "kids", "pets", "sports", "travel", "tech",
];
const SUBCATEGORIES: [(&str, &str); 5] = [
    ("new-arrivals", "New arrivals"),
    ("best-sellers", "Best sellers"),
    ("sale", "Sale"),
    ("essentials", "Essentials"),
    ("gifts", "Gifts"),
];
/// Zipf-ranked video titles (product demos and blog how-tos).
const VIDEOS: [&str; 12] = [
    "Product tour",
    "Unboxing our best sellers",
    "How to brew the perfect tea",
    "Five kitchen hacks",
    "Setting up your home office",
    "Camping checklist",
    "Care and cleaning tips",
    "Meet the makers",
    "Gift ideas in 60 seconds",
    "Assembling the wooden shelf",
    "Behind the scenes",
    "Customer stories",
];
const NEWSLETTER_PLACES: [(u32, &str); 3] = [(50, "footer"), (30, "popup"), (20, "blog sidebar")];
const DOWNLOADS: [(u32, &str); 4] = [
    (40, "/downloads/catalog-2026.pdf"),
    (25, "/downloads/size-guide.pdf"),
    (20, "/downloads/recipes-ebook.pdf"),
    (15, "/downloads/price-list.xlsx"),
];
const OUTLINKS: [(u32, &str); 8] = [
    (25, "https://en.wikipedia.org/wiki/Tea"),
    (18, "https://www.youtube.com/@shopexample"),
    (14, "https://www.instagram.com/shopexample"),
    (12, "https://www.facebook.com/shopexample"),
    (10, "https://blog.cooking.example/recipes"),
    (9, "https://github.com/shop-example"),
    (7, "https://partner.example.net/offers"),
    (5, "https://maps.example.com/store-locator"),
];

// ---------------------------------------------------------------------------------------------
// Generated world: the site's pages and the Zipf tables.

struct PageText {
    url: String,
    title: String,
}

impl PageText {
    fn new(path: &str, title: &str) -> PageText {
        PageText {
            url: format!("{SITE}{path}"),
            title: format!("{title}{TITLE_SUFFIX}"),
        }
    }
}

#[derive(Clone, Copy)]
enum Page {
    Home,
    Category(usize),
    Product(usize),
    Blog(usize),
    Search(usize),
    Contact,
}

struct World {
    home: PageText,
    contact: PageText,
    cart: PageText,
    checkout: PageText,
    payment: PageText,
    thank_you: PageText,
    products: Vec<PageText>,
    /// Price of each product in cents.
    prices: Vec<u64>,
    /// Product-manual download URL of each product (one per noun).
    manuals: Vec<String>,
    categories: Vec<PageText>,
    blog: Vec<PageText>,
    searches: Vec<PageText>,
    keywords: Vec<String>,
    downloads: Vec<(u32, String)>,
    z_country: Zipf,
    z_product: Zipf,
    z_category: Zipf,
    z_blog: Zipf,
    z_search: Zipf,
    z_keyword: Zipf,
    z_website: Zipf,
    z_video: Zipf,
    z_visits: Zipf,
}

/// Number of product pages.
const PRODUCTS: usize = 2000;

fn capitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    out
}

/// A fixed integer hash (splitmix64 finaliser) for per-product attributes such as prices.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl World {
    // One long table of the synthetic world (countries, products, referrers…): data,
    // not logic, kept in one place so it reads as a table.
    fn new() -> World {
        let product_name = |n: usize| {
            (
                ADJECTIVES[n % ADJECTIVES.len()],
                NOUNS[(n / ADJECTIVES.len() + n) % NOUNS.len()],
            )
        };
        let products = (0..PRODUCTS)
            .map(|n| {
                let (adj, noun) = product_name(n);
                let number = n + 1;
                PageText::new(
                    &format!("/product/{adj}-{noun}-{number}"),
                    &format!("{} {} {number}", capitalize(adj), capitalize(noun)),
                )
            })
            .collect();
        let prices = (0..PRODUCTS as u64)
            .map(|n| 1_500 + mix64(n) % 18_500)
            .collect();
        let manuals = (0..PRODUCTS)
            .map(|n| format!("{SITE}/downloads/manual-{}.pdf", product_name(n).1))
            .collect();
        let categories = SUBCATEGORIES
            .iter()
            .flat_map(|&(sub, sub_title)| {
                DEPARTMENTS.iter().map(move |&dep| {
                    PageText::new(
                        &format!("/category/{dep}/{sub}"),
                        &format!("{}: {sub_title}", capitalize(dep)),
                    )
                })
            })
            .collect();
        let blog = NOUNS
            .iter()
            .flat_map(|&noun| {
                [
                    (
                        format!("how-to-choose-a-{noun}"),
                        format!("How to choose a {noun}"),
                    ),
                    (
                        format!("{noun}-care-guide"),
                        format!("{} care guide", capitalize(noun)),
                    ),
                    (
                        format!("the-{noun}-buyers-guide"),
                        format!("The {noun} buyer's guide"),
                    ),
                    (
                        format!("{noun}-ideas-for-2026"),
                        format!("{} ideas for 2026", capitalize(noun)),
                    ),
                ]
            })
            .map(|(slug, title)| PageText {
                url: format!("{SITE}/blog/{slug}"),
                title: format!("{title} | Shop Example Blog"),
            })
            .collect::<Vec<_>>();
        let search_terms = (0..200).map(|i| {
            if i < NOUNS.len() {
                NOUNS[i].to_string()
            } else {
                format!(
                    "{} {}",
                    ADJECTIVES[i % ADJECTIVES.len()],
                    NOUNS[(i * 7) % NOUNS.len()]
                )
            }
        });
        let searches = search_terms
            .map(|term| PageText {
                url: format!("{SITE}/search?q={}", term.replace(' ', "+")),
                title: format!("Search: {term}{TITLE_SUFFIX}"),
            })
            .collect::<Vec<_>>();
        let keywords = ["shop example".to_string(), "shop.example".to_string()]
            .into_iter()
            .chain((0..58).map(|i| {
                let noun = NOUNS[(i * 3) % NOUNS.len()];
                match i % 3 {
                    0 => format!("buy {noun}"),
                    1 => format!("{} {noun}", ADJECTIVES[i % ADJECTIVES.len()]),
                    _ => format!("best {noun}"),
                }
            }))
            .collect::<Vec<_>>();
        let downloads = DOWNLOADS
            .iter()
            .map(|&(w, path)| (w, format!("{SITE}{path}")))
            .collect();
        World {
            home: PageText::new("/", "Home"),
            contact: PageText::new("/contact", "Contact us"),
            cart: PageText::new("/cart", "Your cart"),
            checkout: PageText::new("/checkout", "Checkout"),
            payment: PageText::new("/payment", "Payment"),
            thank_you: PageText::new("/thank-you", "Thank you for your order"),
            products,
            prices,
            manuals,
            categories,
            z_blog: Zipf::new(blog.len(), 2),
            blog,
            z_search: Zipf::new(searches.len(), 2),
            searches,
            z_keyword: Zipf::new(keywords.len(), 2),
            keywords,
            downloads,
            z_country: Zipf::new(COUNTRIES.len(), 2),
            z_product: Zipf::new(PRODUCTS, 2),
            z_category: Zipf::new(DEPARTMENTS.len() * SUBCATEGORIES.len(), 2),
            z_website: Zipf::new(WEBSITES.len(), 2),
            z_video: Zipf::new(VIDEOS.len(), 2),
            // Visits per visitor: 1..=20 with weight 1/k^2, mean ≈ 2.25, ~3.5 % with 10+.
            z_visits: Zipf::new(20, 4),
        }
    }

    fn page_text(&self, page: Page) -> &PageText {
        match page {
            Page::Home => &self.home,
            Page::Category(i) => &self.categories[i],
            Page::Product(i) => &self.products[i],
            Page::Blog(i) => &self.blog[i],
            Page::Search(i) => &self.searches[i],
            Page::Contact => &self.contact,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output: one reusable line buffer, hand-written JSON.

struct Sink<W: Write> {
    out: BufWriter<W>,
    /// [`GenOptions::raw`].
    raw: bool,
    line: Vec<u8>,
    events: u64,
    conversions: u64,
    revenue_cents: u64,
}

/// One row's event-level fields (visit-level ones come from [`Visit`]).
#[derive(Default)]
struct Row<'a> {
    kind: &'static str,
    url: Option<&'a str>,
    title: Option<&'a str>,
    category: Option<&'a str>,
    action: Option<&'a str>,
    name: Option<&'a str>,
    value: Option<u64>,
    goal_id: Option<u32>,
    revenue_cents: Option<u64>,
}

/// Technology of one device of a visitor.
#[derive(Clone, Copy)]
struct Device {
    device: usize,
    os: usize,
    browser: usize,
}

impl Device {
    fn sample(rng: &mut Rng, device: usize) -> Device {
        let os = rng.weighted(&OS_BY_DEVICE[device]);
        let browser = rng.weighted(&BROWSER_BY_OS[os]);
        Device {
            device,
            os,
            browser,
        }
    }
}

/// State of the visit being written.
struct Visit<'a> {
    visitor_id: &'a str,
    /// Timestamp of the last row written, or the visit start before its first row.
    ts: i64,
    /// True until the visit's first row is written: that row carries the visit-level fields.
    first: bool,
    country: &'static Country,
    region: &'static str,
    city: &'static str,
    language: &'static str,
    device: Device,
    referrer: Referrer,
    referrer_name: Option<&'a str>,
    keyword: Option<&'a str>,
    campaign: Option<&'static str>,
    user_id: Option<&'a str>,
    plan: Option<&'static str>,
}

impl<W: Write> Sink<W> {
    /// Writes one row `gap_ms` after the previous one of the visit (the first row of a visit
    /// is written at the visit start).
    fn emit(&mut self, visit: &mut Visit, row: &Row, gap_ms: i64) -> io::Result<()> {
        let first = visit.first;
        if first {
            visit.first = false;
        } else {
            visit.ts += gap_ms;
        }
        let buf = &mut self.line;
        buf.clear();
        buf.extend_from_slice(b"{\"ts\":\"");
        push_ts(buf, visit.ts)?;
        buf.push(b'"');
        push_str(buf, "visitorId", visit.visitor_id);
        push_str(buf, "type", row.kind);
        let fields = [
            ("pageUrl", row.url),
            ("pageTitle", row.title),
            ("eventCategory", row.category),
            ("eventAction", row.action),
            ("eventName", row.name),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                if key == "pageUrl" && first && self.raw && visit.campaign.is_some() {
                    push_key(buf, key);
                    push_json_string(buf, &campaign_landing(value, visit));
                } else {
                    push_str(buf, key, value);
                }
            }
        }
        if let Some(value) = row.value {
            push_key(buf, "eventValue");
            push_u64(buf, value);
        }
        if let Some(goal_id) = row.goal_id {
            push_key(buf, "goalId");
            push_u64(buf, u64::from(goal_id));
        }
        if let Some(cents) = row.revenue_cents {
            push_key(buf, "revenue");
            push_cents(buf, cents);
            self.revenue_cents += cents;
        }
        if first {
            // Visit-level fields: only on the visit's first row (see module doc).
            if self.raw {
                push_raw_visit_fields(buf, visit);
            } else {
                push_visit_fields(buf, visit);
            }
        }
        if let Some(plan) = visit.plan {
            push_str(buf, "plan", plan);
        }
        buf.extend_from_slice(b"}\n");
        self.out.write_all(buf)?;
        self.events += 1;
        if matches!(row.kind, "goal" | "ecommerceOrder") {
            self.conversions += 1;
        }
        Ok(())
    }
}

/// Appends `,"key":`.
fn push_key(buf: &mut Vec<u8>, key: &str) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

/// Appends `,"key":"value"` with `value` JSON-escaped.
fn push_str(buf: &mut Vec<u8>, key: &str, value: &str) {
    push_key(buf, key);
    push_json_string(buf, value);
}

fn push_json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    // Every string this module writes is plain ASCII; escaping stays for safety's sake.
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                0x00..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[usize::from(b >> 4)]);
                    buf.push(HEX[usize::from(b & 0xf)]);
                }
                _ => buf.push(b),
            }
        }
    }
    buf.push(b'"');
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `n` (`< 10^width`) zero-padded to `width` digits.
fn push_padded(buf: &mut Vec<u8>, n: u64, width: u32) {
    let mut div = 10u64.pow(width.saturating_sub(1));
    while div > 0 {
        buf.push(b'0' + ((n / div) % 10) as u8);
        div /= 10;
    }
}

/// Appends an amount in cents as a JSON number with two decimals (`12.30`).
fn push_cents(buf: &mut Vec<u8>, cents: u64) {
    push_u64(buf, cents / 100);
    buf.push(b'.');
    push_padded(buf, cents % 100, 2);
}

/// Appends `ms` as RFC 3339 UTC with milliseconds (`2026-01-05T10:00:00.123Z`).
fn push_ts(buf: &mut Vec<u8>, ms: i64) -> io::Result<()> {
    if !(MIN_TS_MS..=MAX_TS_MS).contains(&ms) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "gen: timestamp outside years 0000-9999",
        ));
    }
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS) as u64;
    push_padded(buf, year as u64, 4);
    buf.push(b'-');
    push_padded(buf, month, 2);
    buf.push(b'-');
    push_padded(buf, day, 2);
    buf.push(b'T');
    push_padded(buf, in_day / 3_600_000, 2);
    buf.push(b':');
    push_padded(buf, in_day / 60_000 % 60, 2);
    buf.push(b':');
    push_padded(buf, in_day / 1_000 % 60, 2);
    buf.push(b'.');
    push_padded(buf, in_day % 1_000, 3);
    buf.push(b'Z');
    Ok(())
}

/// Proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`): integer-only and much cheaper than a calendar library per row.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u64, day as u64)
}

fn push_visit_fields(buf: &mut Vec<u8>, visit: &Visit) {
    push_str(buf, "countryCode", visit.country.code);
    push_str(buf, "regionCode", visit.region);
    push_str(buf, "city", visit.city);
    push_str(buf, "languageCode", visit.language);
    push_str(buf, "browserCode", BROWSER_CODES[visit.device.browser]);
    push_str(buf, "operatingSystemCode", OS_CODES[visit.device.os]);
    push_str(buf, "deviceType", DEVICE_TYPES[visit.device.device]);
    let referrer_type = match visit.referrer {
        Referrer::Direct => "direct",
        Referrer::Search => "search",
        Referrer::Website => "website",
        Referrer::Social => "social",
        Referrer::Campaign => "campaign",
    };
    push_str(buf, "referrerType", referrer_type);
    let optional = [
        ("referrerName", visit.referrer_name),
        ("referrerKeyword", visit.keyword),
        ("campaignName", visit.campaign),
        ("userId", visit.user_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            push_str(buf, key, value);
        }
    }
}

/// [`push_visit_fields`] for [`GenOptions::raw`]: the raw request data enrichment
/// derives the browser, system, device, language and referrer fields from.
fn push_raw_visit_fields(buf: &mut Vec<u8>, visit: &Visit) {
    push_str(buf, "countryCode", visit.country.code);
    push_str(buf, "regionCode", visit.region);
    push_str(buf, "city", visit.city);
    let lang = visit.language;
    let accept = if lang == "en" {
        "en-US,en;q=0.9".to_string()
    } else {
        format!("{lang},en-US;q=0.7,en;q=0.3")
    };
    push_str(buf, "acceptLanguage", &accept);
    push_str(buf, "userAgent", &user_agent(visit));
    let referrer = match (visit.referrer, visit.referrer_name) {
        (Referrer::Search, Some(engine)) => {
            let (host, path) = match engine {
                "bing" => ("www.bing.com", "/search?q="),
                "duckduckgo" => ("duckduckgo.com", "/?q="),
                _ => ("www.google.com", "/search?q="),
            };
            Some(match visit.keyword {
                Some(k) => format!("https://{host}{path}{}", url_encoded(k)),
                // "Not provided": the engine sends its address only.
                None => format!("https://{host}/"),
            })
        }
        (Referrer::Website | Referrer::Social, Some(site)) => Some(format!("https://{site}/")),
        _ => None,
    };
    if let Some(r) = referrer {
        push_str(buf, "referrerUrl", &r);
    }
    if let Some(user_id) = visit.user_id {
        push_str(buf, "userId", user_id);
    }
}

/// A campaign visit's landing URL with Matomo's campaign parameters.
fn campaign_landing(url: &str, visit: &Visit) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut out = format!(
        "{url}{sep}mtm_campaign={}",
        url_encoded(visit.campaign.unwrap_or_default())
    );
    if let Some(source) = visit.referrer_name {
        out.push_str("&mtm_source=");
        out.push_str(&url_encoded(source));
    }
    out
}

/// `s` percent-encoded for a query string (space as `+`).
fn url_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A current user-agent string for the visit's device, system and browser; the browser
/// version varies with the visitor (so that an import sees many distinct agents, as real
/// traffic has), without drawing from the random stream.
fn user_agent(visit: &Visit) -> String {
    let h = visit
        .visitor_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let chrome = format!("Chrome/{}.0.0.0", 128 + h % 4);
    let firefox = 130 + (h / 4) % 4;
    let d = DEVICE_TYPES[visit.device.device];
    let os = OS_CODES[visit.device.os];
    let browser = BROWSER_CODES[visit.device.browser];
    let webkit = "AppleWebKit/537.36 (KHTML, like Gecko)";
    let safari_tail = "Safari/537.36";
    match (d, os) {
        ("console", "WIN") => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) {webkit} {chrome} \
             {safari_tail} Edge/44.18363.8131"
        ),
        ("console", _) => "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 \
                           (KHTML, like Gecko) Version/13.0 Safari/605.1.15"
            .to_string(),
        ("tv", "LIN") => format!(
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) {webkit} SamsungBrowser/4.0 {chrome} TV \
             {safari_tail}"
        ),
        ("tv", _) => format!(
            "Mozilla/5.0 (Linux; Android 12; BRAVIA 4K GB ATV3) {webkit} {chrome} {safari_tail}"
        ),
        (_, "IOS") => {
            let (device, cpu) = if d == "tablet" {
                ("iPad", "CPU OS 18_1")
            } else {
                ("iPhone", "CPU iPhone OS 18_1")
            };
            let app = match browser {
                "CH" => format!("CriOS/{}.0.6778.73 ", 128 + h % 4),
                "FF" => format!("FxiOS/{firefox}.0 "),
                _ => String::new(),
            };
            format!(
                "Mozilla/5.0 ({device}; {cpu} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) {app}Version/18.1 Mobile/15E148 Safari/604.1"
            )
        }
        (_, "AND") => {
            let tablet = d == "tablet";
            let model = match (tablet, h % 3) {
                (true, _) => "SM-X710",
                (false, 0) => "Pixel 8",
                (false, 1) => "SM-S918B",
                (false, _) => "moto g54 5G",
            };
            if browser == "FF" {
                let form = if tablet { "Tablet" } else { "Mobile" };
                return format!(
                    "Mozilla/5.0 (Android 14; {form}; rv:{firefox}.0) Gecko/{firefox}.0 \
                     Firefox/{firefox}.0"
                );
            }
            let mobile = if tablet { "" } else { "Mobile " };
            let opera = if browser == "OP" { " OPR/86.0.0.0" } else { "" };
            format!(
                "Mozilla/5.0 (Linux; Android 14; {model}) {webkit} {chrome} {mobile}{safari_tail}{opera}"
            )
        }
        (_, os) => {
            let platform = match os {
                "MAC" => "Macintosh; Intel Mac OS X 10_15_7",
                "LIN" => "X11; Linux x86_64",
                _ => "Windows NT 10.0; Win64; x64",
            };
            match browser {
                "FF" => {
                    let platform = platform.replace("10_15_7", "10.15");
                    format!(
                        "Mozilla/5.0 ({platform}; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0"
                    )
                }
                "SF" => format!(
                    "Mozilla/5.0 ({platform}) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                     Version/18.1 Safari/605.1.15"
                ),
                "ED" => format!(
                    "Mozilla/5.0 ({platform}) {webkit} {chrome} {safari_tail} Edg/{}.0.0.0",
                    128 + h % 4
                ),
                "OP" => format!(
                    "Mozilla/5.0 ({platform}) {webkit} {chrome} {safari_tail} OPR/115.0.0.0"
                ),
                _ => format!("Mozilla/5.0 ({platform}) {webkit} {chrome} {safari_tail}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Visitors, visits and page walks.

/// The time range visits start in.
struct Frame {
    start_ms: i64,
    span_ms: i64,
    days: u64,
}

impl Frame {
    /// A visit start with weekly (quieter weekends) and daily (local daytime) seasonality.
    fn visit_start(&self, rng: &mut Rng, utc_offset: i8) -> i64 {
        let first_day = self.start_ms.div_euclid(DAY_MS);
        let mut day = first_day;
        // Rejection sampling on the weekday, bounded so it always terminates.
        for _ in 0..8 {
            day = first_day + rng.below(self.days) as i64;
            let weekday = (day + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
            if rng.below(100) < WEEKDAY_ACCEPT[weekday] {
                break;
            }
        }
        let hour = rng.weighted(&HOUR_WEIGHTS) as i64 - i64::from(utc_offset);
        let t = day * DAY_MS + hour * HOUR_MS + rng.below(HOUR_MS as u64) as i64;
        // Time-zone shifts and a start that is not at midnight can leave the range: wrap back.
        self.start_ms + (t - self.start_ms).rem_euclid(self.span_ms)
    }
}

/// `v` + 12 hex digits: a keyed bijection of the visitor index on 48 bits, so ids look random
/// but are unique without remembering them.
fn visitor_id(index: u64, key: u64, out: &mut String) {
    const MASK: u64 = (1 << 48) - 1;
    let mut x = (index ^ key) & MASK;
    // Odd multipliers and right xor-shifts are both invertible modulo 2^48.
    x = x.wrapping_mul(0x9e37_79b9_7f4b) & MASK;
    x ^= x >> 23;
    x = x.wrapping_mul(0xd6e8_feb8_6659) & MASK;
    x ^= x >> 21;
    x = (x ^ (key >> 16)) & MASK;
    out.clear();
    out.push('v');
    for shift in (0..12).rev() {
        let nibble = ((x >> (shift * 4)) & 0xf) as u32;
        out.push(char::from_digit(nibble, 16).unwrap_or('0'));
    }
}

/// What kind of page to go to next.
#[derive(Clone, Copy)]
enum Kind {
    Home,
    Category,
    Product,
    Blog,
    Search,
    Contact,
}

impl World {
    /// Generates and writes one visitor; returns how many visits it got.
    // One visitor is one straight script of random draws: the order of the draws defines
    // the dataset (a seed must keep giving the same data), so it stays in one piece.
    fn visitor<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        frame: &Frame,
        index: u64,
        id_key: u64,
        starts: &mut Vec<i64>,
    ) -> io::Result<u64> {
        let mut id = String::with_capacity(13);
        visitor_id(index, id_key, &mut id);
        let country = &COUNTRIES[self.z_country.sample(rng)];
        let (region, cities) =
            country.regions[rng.weighted(&PLACE_WEIGHTS[..country.regions.len()])];
        let city = cities[rng.weighted(&PLACE_WEIGHTS[..cities.len()])];
        let language = if country.language != "en" && rng.chance(120) {
            "en"
        } else {
            country.language
        };
        let main_kind = rng.weighted(&DEVICE_WEIGHTS);
        let main = Device::sample(rng, main_kind);
        // The "other" device some later visits come from: a phone for desktop users and
        // vice versa.
        let alt = Device::sample(rng, if main_kind == 0 { 1 } else { 0 });
        let user = rng
            .chance(100)
            .then(|| (format!("u{:07}", index + 1), rng.pick(&PLANS)));

        let visits = self.z_visits.sample(rng) + 1;
        starts.clear();
        for _ in 0..visits {
            starts.push(frame.visit_start(rng, country.utc_offset));
        }
        starts.sort_unstable();
        let end = frame.start_ms + frame.span_ms;
        let mut last_ts = None;
        let mut written = 0;
        for (k, &sampled) in starts.iter().enumerate() {
            let mut start = sampled;
            if let Some(prev) = last_ts {
                // Keep visits apart by more than the 30-minute timeout.
                let earliest = prev + MIN_VISIT_GAP_MS;
                if start < earliest {
                    start = earliest + rng.range(0, 6 * HOUR_MS);
                }
                if start >= end {
                    break;
                }
            }
            let device = if k > 0 && rng.chance(50) { alt } else { main };
            let referrer = rng.pick(if k == 0 {
                &FIRST_VISIT_REFERRERS
            } else {
                &RETURN_VISIT_REFERRERS
            });
            let (referrer_name, keyword, campaign) = match referrer {
                Referrer::Direct => (None, None, None),
                Referrer::Search => {
                    let engine = rng.pick(&SEARCH_ENGINES);
                    // Most search keywords are "not provided" nowadays.
                    let keyword = rng
                        .chance(300)
                        .then(|| self.keywords[self.z_keyword.sample(rng)].as_str());
                    (Some(engine), keyword, None)
                }
                Referrer::Website => (Some(WEBSITES[self.z_website.sample(rng)]), None, None),
                Referrer::Social => (Some(rng.pick(&SOCIAL_SITES)), None, None),
                Referrer::Campaign => {
                    let (name, source) = rng.pick(&CAMPAIGNS);
                    (Some(source), None, Some(name))
                }
            };
            // Logged-in visitors are logged in more often once they know the site.
            let logged_in = match &user {
                Some(_) => rng.chance(if k == 0 { 500 } else { 750 }),
                None => false,
            };
            let (user_id, plan) = match &user {
                Some((user_id, plan)) if logged_in => (Some(user_id.as_str()), Some(*plan)),
                _ => (None, None),
            };
            let mut visit = Visit {
                visitor_id: &id,
                ts: start,
                first: true,
                country,
                region,
                city,
                language,
                device,
                referrer,
                referrer_name,
                keyword,
                campaign,
                user_id,
                plan,
            };
            self.walk(rng, sink, &mut visit)?;
            last_ts = Some(visit.ts);
            written += 1;
        }
        Ok(written)
    }

    /// Writes one visit: a landing page, then (unless it bounces) a page walk with on-page
    /// interactions, then possibly the checkout funnel.
    fn walk<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
    ) -> io::Result<()> {
        let landing = self.landing(rng, visit.referrer);
        self.view(rng, sink, visit, landing)?;
        // Bounce rates by entry page: blog readers leave most often.
        let bounce = match landing {
            Page::Blog(_) => 500,
            Page::Product(_) => 350,
            Page::Home => 320,
            _ => 300,
        };
        if rng.chance(bounce) {
            return Ok(());
        }
        let mut page = landing;
        let mut product = match landing {
            Page::Product(p) => Some(p),
            _ => None,
        };
        let mut pages = 1;
        loop {
            if self.interact(rng, sink, visit, page)? {
                return Ok(());
            }
            // A non-bounce visit has at least two pages.
            if pages >= MAX_PAGES || (pages >= 2 && !rng.chance(CONTINUE_PM)) {
                break;
            }
            page = self.next_page(rng, page);
            self.view(rng, sink, visit, page)?;
            if let Page::Product(p) = page {
                product = Some(p);
            }
            pages += 1;
        }
        // Of the visits that saw a product, 30 % add (the last one seen) to the cart.
        if let Some(p) = product
            && rng.chance(300)
        {
            self.funnel(rng, sink, visit, p)?;
        }
        Ok(())
    }

    fn page_of(&self, rng: &mut Rng, kind: Kind) -> Page {
        match kind {
            Kind::Home => Page::Home,
            Kind::Category => Page::Category(self.z_category.sample(rng)),
            Kind::Product => Page::Product(self.z_product.sample(rng)),
            Kind::Blog => Page::Blog(self.z_blog.sample(rng)),
            Kind::Search => Page::Search(self.z_search.sample(rng)),
            Kind::Contact => Page::Contact,
        }
    }

    /// Entry page: direct traffic lands on the home page, search and campaigns on products,
    /// social links on blog posts.
    fn landing(&self, rng: &mut Rng, referrer: Referrer) -> Page {
        use Kind::*;
        let kind = match referrer {
            Referrer::Direct => rng.pick(&[(65, Home), (15, Product), (12, Category), (8, Blog)]),
            Referrer::Search => rng.pick(&[(25, Home), (35, Product), (20, Category), (20, Blog)]),
            Referrer::Website => rng.pick(&[(15, Home), (35, Product), (15, Category), (35, Blog)]),
            Referrer::Social => rng.pick(&[(20, Home), (30, Product), (50, Blog)]),
            Referrer::Campaign => rng.pick(&[(20, Home), (50, Product), (30, Category)]),
        };
        self.page_of(rng, kind)
    }

    fn next_page(&self, rng: &mut Rng, from: Page) -> Page {
        use Kind::*;
        let kind = match from {
            Page::Home => rng.pick(&[
                (40, Category),
                (25, Product),
                (10, Blog),
                (18, Search),
                (3, Contact),
            ]),
            Page::Category(_) => {
                rng.pick(&[(68, Product), (14, Category), (10, Search), (8, Home)])
            }
            Page::Product(_) => rng.pick(&[
                (42, Product),
                (25, Category),
                (13, Search),
                (10, Home),
                (5, Blog),
            ]),
            Page::Blog(_) => rng.pick(&[(40, Blog), (30, Product), (20, Home), (10, Category)]),
            Page::Search(_) => rng.pick(&[(75, Product), (15, Search), (10, Category)]),
            Page::Contact => rng.pick(&[(60, Home), (40, Category)]),
        };
        self.page_of(rng, kind)
    }

    /// Writes the row for arriving on `page`: a page view, or a site search for result pages.
    fn view<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        page: Page,
    ) -> io::Result<()> {
        let text = self.page_text(page);
        let kind = match page {
            Page::Search(_) => "siteSearch",
            _ => "pageview",
        };
        let row = Row {
            kind,
            url: Some(&text.url),
            title: Some(&text.title),
            ..Row::default()
        };
        let gap = rng.read_gap();
        sink.emit(visit, &row, gap)
    }

    /// Writes what a visitor does on a page besides viewing it. Returns `true` if the visitor
    /// left the site through an outlink (which ends the visit).
    // As `visitor`: one script of random draws whose order defines the dataset.
    fn interact<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        page: Page,
    ) -> io::Result<bool> {
        let url = self.page_text(page).url.as_str();
        if let Page::Contact = page {
            if rng.chance(450) {
                let submit = Row {
                    kind: "event",
                    url: Some(url),
                    category: Some("form"),
                    action: Some("submit"),
                    name: Some("contact"),
                    ..Row::default()
                };
                let gap = rng.read_gap();
                sink.emit(visit, &submit, gap)?;
                self.goal(rng, sink, visit, url, 2, 1_000)?;
            }
            return Ok(false);
        }
        // Per-mille chances of: video, download, newsletter signup, outlink.
        let (video, download, newsletter, outlink) = match page {
            Page::Home => (0, 0, 25, 10),
            Page::Product(_) => (80, 30, 10, 0),
            Page::Blog(_) => (180, 50, 50, 80),
            Page::Category(_) => (0, 0, 10, 0),
            Page::Search(_) | Page::Contact => (0, 0, 0, 0),
        };
        if rng.chance(video) {
            let name = VIDEOS[self.z_video.sample(rng)];
            let play = Row {
                kind: "event",
                url: Some(url),
                category: Some("video"),
                action: Some("play"),
                name: Some(name),
                ..Row::default()
            };
            let gap = rng.read_gap();
            sink.emit(visit, &play, gap)?;
            if rng.chance(600) {
                // eventValue = seconds watched, which is also the time until the pause.
                let watched = rng.range(5, 300);
                let pause = Row {
                    action: Some("pause"),
                    value: Some(watched as u64),
                    ..play
                };
                sink.emit(visit, &pause, watched * SEC_MS + rng.range(0, SEC_MS))?;
            }
        }
        if rng.chance(download) {
            let file = match page {
                Page::Product(p) => self.manuals[p].as_str(),
                _ => {
                    let i = rng.weighted(&DOWNLOADS.map(|(w, _)| w));
                    self.downloads[i].1.as_str()
                }
            };
            let row = Row {
                kind: "download",
                url: Some(file),
                ..Row::default()
            };
            let gap = rng.read_gap();
            sink.emit(visit, &row, gap)?;
        }
        if rng.chance(newsletter) {
            let row = Row {
                kind: "event",
                url: Some(url),
                category: Some("newsletter"),
                action: Some("subscribe"),
                name: Some(rng.pick(&NEWSLETTER_PLACES)),
                ..Row::default()
            };
            let gap = rng.read_gap();
            sink.emit(visit, &row, gap)?;
            self.goal(rng, sink, visit, url, 1, 500)?;
        }
        if rng.chance(outlink) {
            let row = Row {
                kind: "outlink",
                url: Some(rng.pick(&OUTLINKS)),
                ..Row::default()
            };
            let gap = rng.read_gap();
            sink.emit(visit, &row, gap)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes a `goal` row; 40 % of goals carry a (fixed) revenue.
    fn goal<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        url: &str,
        goal_id: u32,
        revenue_cents: u64,
    ) -> io::Result<()> {
        let row = Row {
            kind: "goal",
            url: Some(url),
            goal_id: Some(goal_id),
            revenue_cents: rng.chance(400).then_some(revenue_cents),
            ..Row::default()
        };
        let gap = rng.quick_gap();
        sink.emit(visit, &row, gap)
    }

    /// The checkout funnel after adding `product` to the cart, with drop-off at every step.
    fn funnel<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        product: usize,
    ) -> io::Result<()> {
        self.step(rng, sink, visit, &self.cart)?;
        self.cart_row(rng, sink, visit, &self.cart.url)?;
        for (page, keep_pm) in [
            (&self.checkout, 600),
            (&self.payment, 700),
            (&self.thank_you, 800),
        ] {
            if !rng.chance(keep_pm) {
                return Ok(());
            }
            self.step(rng, sink, visit, page)?;
        }
        let row = Row {
            kind: "ecommerceOrder",
            url: Some(&self.thank_you.url),
            revenue_cents: Some(self.order_value(rng, product)),
            ..Row::default()
        };
        let gap = rng.quick_gap();
        sink.emit(visit, &row, gap)?;
        // A few customers go on shopping and leave a new cart behind.
        if rng.chance(30) {
            let next = self.page_of(rng, Kind::Product);
            self.view(rng, sink, visit, next)?;
            let url = &self.page_text(next).url;
            self.cart_row(rng, sink, visit, url)?;
        }
        Ok(())
    }

    fn step<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        page: &PageText,
    ) -> io::Result<()> {
        let row = Row {
            kind: "pageview",
            url: Some(&page.url),
            title: Some(&page.title),
            ..Row::default()
        };
        let gap = rng.read_gap();
        sink.emit(visit, &row, gap)
    }

    fn cart_row<W: Write>(
        &self,
        rng: &mut Rng,
        sink: &mut Sink<W>,
        visit: &mut Visit,
        url: &str,
    ) -> io::Result<()> {
        let row = Row {
            kind: "ecommerceCart",
            url: Some(url),
            ..Row::default()
        };
        let gap = rng.quick_gap();
        sink.emit(visit, &row, gap)
    }

    /// Order total in cents, between 20.00 and 400.00: the product, sometimes several of it,
    /// sometimes with a second product.
    fn order_value(&self, rng: &mut Rng, product: usize) -> u64 {
        let quantity = rng.pick(&[(70, 1), (22, 2), (8, 3)]);
        let mut total = self.prices[product] * quantity;
        if rng.chance(250) {
            total += self.prices[self.z_product.sample(rng)];
        }
        if total > 40_000 {
            total = self.prices[product];
        }
        total.max(2_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn generate(opts: &GenOptions) -> (Vec<u8>, GenSummary) {
        let mut buf = Vec::new();
        let summary = write_jsonl(opts, &mut buf).expect("writing to a Vec cannot fail");
        (buf, summary)
    }

    fn opts(visitors: u64, seed: u64) -> GenOptions {
        GenOptions {
            visitors,
            seed,
            ..GenOptions::default()
        }
    }

    fn parse(buf: &[u8]) -> Vec<serde_json::Value> {
        let text = std::str::from_utf8(buf).expect("output is UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'));
        text.lines()
            .map(|line| serde_json::from_str(line).expect("every line is a JSON object"))
            .collect()
    }

    fn ts_ms(row: &serde_json::Value) -> i64 {
        let ts = row["ts"].as_str().expect("ts is a string");
        let parsed: jiff::Timestamp = ts.parse().expect("ts is RFC 3339");
        parsed.as_millisecond()
    }

    /// Rows grouped by visitor, in file order.
    fn by_visitor(rows: &[serde_json::Value]) -> HashMap<String, Vec<&serde_json::Value>> {
        let mut map: HashMap<String, Vec<&serde_json::Value>> = HashMap::new();
        for row in rows {
            let id = row["visitorId"].as_str().expect("visitorId is a string");
            map.entry(id.to_string()).or_default().push(row);
        }
        map
    }

    #[test]
    fn same_options_give_identical_bytes() {
        let (a, sa) = generate(&opts(300, 9));
        let (b, sb) = generate(&opts(300, 9));
        assert!(!a.is_empty());
        assert_eq!(a, b);
        assert_eq!(sa, sb);
    }

    #[test]
    fn different_seeds_differ() {
        let (a, _) = generate(&opts(300, 1));
        let (b, _) = generate(&opts(300, 2));
        assert_ne!(a, b);
    }

    #[test]
    fn summary_matches_a_recount_of_the_lines() {
        let o = opts(2_000, 1);
        let (buf, summary) = generate(&o);
        let rows = parse(&buf);
        assert_eq!(rows.len() as u64, summary.events);
        let mut conversions = 0;
        let mut revenue = 0.0;
        for row in &rows {
            assert!(row["ts"].is_string() && row["visitorId"].is_string());
            let kind = row["type"].as_str().expect("type is written");
            if matches!(kind, "goal" | "ecommerceOrder") {
                conversions += 1;
            }
            if let Some(r) = row.get("revenue") {
                assert!(matches!(kind, "goal" | "ecommerceOrder"));
                revenue += r.as_f64().expect("revenue is a number");
            }
            match kind {
                "goal" => assert!(row["goalId"].is_u64()),
                "ecommerceOrder" => {
                    assert!(row.get("goalId").is_none());
                    let r = row["revenue"].as_f64().expect("orders have revenue");
                    assert!((20.0..=400.0).contains(&r), "order revenue {r}");
                }
                _ => assert!(row.get("goalId").is_none()),
            }
            if let Some(plan) = row.get("plan") {
                assert!(plan.is_string(), "custom dimension keeps one type");
            }
        }
        assert_eq!(conversions, summary.conversions);
        assert!(conversions > 0);
        assert!((revenue - summary.revenue).abs() <= 1e-6 * revenue.max(1.0));
        let visitors = by_visitor(&rows);
        assert_eq!(visitors.len() as u64, o.visitors);
        assert_eq!(summary.visitors, o.visitors);
        let per_visitor = summary.events as f64 / o.visitors as f64;
        assert!(
            (7.0..13.0).contains(&per_visitor),
            "{per_visitor} events per visitor"
        );
    }

    #[test]
    fn visits_are_exact_under_30_minute_sessionisation() {
        let (buf, summary) = generate(&opts(2_000, 3));
        let rows = parse(&buf);
        let mut visits = 0;
        let mut bounces = 0;
        for rows in by_visitor(&rows).values() {
            let mut prev: Option<i64> = None;
            let mut visit_len = 0;
            for row in rows {
                let ts = ts_ms(row);
                let new_visit = match prev {
                    None => true,
                    Some(p) => {
                        assert!(ts > p, "timestamps strictly increase per visitor");
                        ts - p > 30 * MIN_MS
                    }
                };
                // Visit-level fields exactly on a visit's first row.
                assert_eq!(row.get("countryCode").is_some(), new_visit, "{row}");
                assert_eq!(row.get("deviceType").is_some(), new_visit, "{row}");
                if new_visit {
                    visits += 1;
                    if visit_len == 1 {
                        bounces += 1;
                    }
                    visit_len = 0;
                }
                if let Some(p) = prev
                    && !new_visit
                {
                    let gap = ts - p;
                    assert!(
                        (5 * SEC_MS..=10 * MIN_MS + SEC_MS).contains(&gap),
                        "gap {gap}"
                    );
                }
                visit_len += 1;
                prev = Some(ts);
            }
            if visit_len == 1 {
                bounces += 1;
            }
        }
        assert_eq!(visits, summary.visits);
        let rate = f64::from(bounces) / visits as f64;
        assert!((0.25..0.45).contains(&rate), "bounce rate {rate}");
    }

    #[test]
    fn visit_starts_lie_in_the_requested_range() {
        let o = GenOptions {
            visitors: 500,
            seed: 5,
            start_ms: 1_767_225_600_000 + 7 * HOUR_MS,
            days: 3,
            raw: false,
        };
        let (buf, _) = generate(&o);
        let end = o.start_ms + i64::from(o.days) * DAY_MS;
        for row in parse(&buf) {
            if row.get("countryCode").is_some() {
                let ts = ts_ms(&row);
                assert!((o.start_ms..end).contains(&ts), "{row}");
            }
        }
    }

    #[test]
    fn visitor_ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        let mut id = String::new();
        for index in 0..100_000 {
            visitor_id(index, 0x1234_5678_9abc_def0, &mut id);
            assert_eq!(id.len(), 13);
            assert!(id.starts_with('v'));
            assert!(id[1..].bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(id.clone()), "duplicate {id}");
        }
    }

    #[test]
    fn timestamps_format_like_rfc3339() {
        let fmt = |ms: i64| {
            let mut buf = Vec::new();
            push_ts(&mut buf, ms).expect("in range");
            String::from_utf8(buf).expect("ASCII")
        };
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(fmt(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(fmt(MIN_TS_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(fmt(MAX_TS_MS), "9999-12-30T22:00:00.000Z");
        for ms in [951_782_400_123, 1_709_210_096_789, 4_107_542_399_999] {
            let expected = jiff::Timestamp::from_millisecond(ms)
                .expect("valid")
                .strftime("%Y-%m-%dT%H:%M:%S.%3fZ")
                .to_string();
            assert_eq!(fmt(ms), expected);
        }
        assert!(push_ts(&mut Vec::new(), MAX_TS_MS + 1).is_err());
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut buf = Vec::new();
        push_json_string(&mut buf, "a\"b\\c\nd\u{1}é");
        let back: String = serde_json::from_slice(&buf).expect("valid JSON string");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
        let mut buf = Vec::new();
        push_cents(&mut buf, 1_205);
        assert_eq!(buf, b"12.05");
    }

    #[test]
    fn static_tables_fit_their_weight_tables() {
        // Region and city choices index `PLACE_WEIGHTS` by position.
        assert_eq!(COUNTRIES.len(), 60);
        let mut codes = HashSet::new();
        for country in COUNTRIES {
            assert!(codes.insert(country.code), "duplicate {}", country.code);
            assert!((1..=3).contains(&country.regions.len()), "{}", country.code);
            for (_, cities) in country.regions {
                assert!((1..=PLACE_WEIGHTS.len()).contains(&cities.len()));
            }
        }
        for row in OS_BY_DEVICE.iter().chain(BROWSER_BY_OS.iter()) {
            assert!(row.iter().any(|&w| w > 0));
        }
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let zipf = Zipf::new(50, 2);
        let mut rng = Rng(ChaCha8Rng::seed_from_u64(1));
        let mut counts = [0u32; 50];
        for _ in 0..20_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[4] && counts[4] > counts[40]);
        // Rank 1 has probability 1 / H(50) ≈ 0.222.
        assert!((4_000..4_900).contains(&counts[0]), "{}", counts[0]);
    }

    #[test]
    fn invalid_options_are_rejected_without_output() {
        let bad = [
            GenOptions {
                days: 0,
                ..GenOptions::default()
            },
            GenOptions {
                visitors: (1 << 48) + 1,
                ..GenOptions::default()
            },
            GenOptions {
                start_ms: i64::MAX - 1,
                ..GenOptions::default()
            },
            GenOptions {
                start_ms: MIN_TS_MS - 1,
                ..GenOptions::default()
            },
        ];
        for o in bad {
            let mut buf = Vec::new();
            let err = write_jsonl(&o, &mut buf).expect_err("invalid options");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn zero_visitors_write_nothing() {
        let (buf, summary) = generate(&opts(0, 1));
        assert!(buf.is_empty());
        assert_eq!(
            summary,
            GenSummary {
                events: 0,
                visits: 0,
                visitors: 0,
                conversions: 0,
                revenue: 0.0
            }
        );
    }

    #[test]
    fn writer_errors_are_returned() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_jsonl(&opts(10, 1), Broken).expect_err("write fails");
        assert_eq!(err.to_string(), "disk full");
    }
}

#[cfg(test)]
mod raw_tests {
    use super::*;

    fn rows(raw: bool) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let opts = GenOptions {
            visitors: 300,
            seed: 3,
            raw,
            ..GenOptions::default()
        };
        let mut buf = Vec::new();
        write_jsonl(&opts, &mut buf).unwrap();
        std::str::from_utf8(&buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn raw_mode_swaps_derived_fields_for_request_data_and_keeps_the_visits() {
        let (plain, raw) = (rows(false), rows(true));
        assert_eq!(plain.len(), raw.len());
        let derived = [
            "browserCode",
            "operatingSystemCode",
            "deviceType",
            "languageCode",
            "referrerType",
            "referrerName",
            "referrerKeyword",
            "campaignName",
        ];
        let (mut agents, mut referrers, mut campaigns) = (0, 0, 0);
        for (p, r) in plain.iter().zip(&raw) {
            for k in [
                "ts",
                "visitorId",
                "type",
                "pageTitle",
                "countryCode",
                "userId",
                "revenue",
            ] {
                assert_eq!(p.get(k), r.get(k), "{k}");
            }
            for k in derived {
                assert!(!r.contains_key(k), "raw rows have no {k}");
            }
            let first_row = p.contains_key("referrerType");
            assert_eq!(first_row, r.contains_key("userAgent"));
            assert_eq!(first_row, r.contains_key("acceptLanguage"));
            agents += usize::from(first_row);
            referrers += usize::from(r.contains_key("referrerUrl"));
            // A search, website or social entry has a referrer URL; a direct one has none.
            let kind = p.get("referrerType").and_then(|v| v.as_str());
            assert_eq!(
                r.contains_key("referrerUrl"),
                matches!(kind, Some("search" | "website" | "social")),
                "{p:?}"
            );
            let url = |m: &serde_json::Map<String, serde_json::Value>| {
                m.get("pageUrl")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            if kind == Some("campaign") {
                campaigns += 1;
                let name = p["campaignName"].as_str().unwrap();
                let landing = url(r).unwrap();
                assert!(landing.starts_with(&url(p).unwrap()));
                assert!(
                    landing.contains(&format!("mtm_campaign={name}")),
                    "{landing}"
                );
            } else {
                assert_eq!(url(p), url(r));
            }
        }
        assert!(
            agents > 300 && referrers > 50 && campaigns > 10,
            "{agents} {referrers} {campaigns}"
        );
    }
}
