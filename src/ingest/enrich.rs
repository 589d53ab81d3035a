//! Enrichment of input rows (`docs/enrichment.md`): the visit-level fields derived from a
//! row's raw request data — user agent, referrer URL, landing-page campaign parameters,
//! `Accept-Language`, and, with a GeoIP database, the address — set on the row where the
//! input does not give them. Fields given explicitly always win.
//!
//! Derived values are interned into the batch once per distinct input: a batch keeps
//! the symbols each user agent and each referrer (with the host of its page) gave, so a
//! log with a thousand distinct agents parses a thousand, however many rows it has.

use std::collections::HashMap;

use super::rows::{Row, Rows, Sym};
use crate::enrich::{self, Enricher};
use crate::schema::{EVENT_STRINGS, visit_field};

/// The raw request data of one input row that is not stored as it is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Request<'a> {
    /// `userAgent`.
    pub user_agent: Option<&'a str>,
    /// `acceptLanguage`.
    pub accept_language: Option<&'a str>,
    /// `ip`, as given (before any masking: locations come from the whole address).
    pub ip: Option<&'a str>,
    /// The row carries raw request data (a user agent, a referrer URL or a language
    /// header): such a row is a request, and one without a referrer is a direct entry.
    pub is_request: bool,
}

const BROWSER_CODE: usize = visit_field("browserCode");
const BROWSER_NAME: usize = visit_field("browserName");
const BROWSER_VERSION: usize = visit_field("browserVersion");
const OS_CODE: usize = visit_field("operatingSystemCode");
const OS_NAME: usize = visit_field("operatingSystemName");
const OS_VERSION: usize = visit_field("operatingSystemVersion");
const DEVICE_TYPE: usize = visit_field("deviceType");
const DEVICE_BRAND: usize = visit_field("deviceBrand");
const DEVICE_MODEL: usize = visit_field("deviceModel");
const REFERRER_TYPE: usize = visit_field("referrerType");
const REFERRER_NAME: usize = visit_field("referrerName");
const REFERRER_KEYWORD: usize = visit_field("referrerKeyword");
pub(crate) const REFERRER_URL: usize = visit_field("referrerUrl");
const CAMPAIGN_NAME: usize = visit_field("campaignName");
const CAMPAIGN_SOURCE: usize = visit_field("campaignSource");
const CAMPAIGN_MEDIUM: usize = visit_field("campaignMedium");
const CAMPAIGN_KEYWORD: usize = visit_field("campaignKeyword");
const CAMPAIGN_CONTENT: usize = visit_field("campaignContent");
const CAMPAIGN_ID: usize = visit_field("campaignId");
const LANGUAGE_CODE: usize = visit_field("languageCode");
const COUNTRY_CODE: usize = visit_field("countryCode");
const REGION_CODE: usize = visit_field("regionCode");
const CITY: usize = visit_field("city");
const COUNTRY_NAME: usize = visit_field("countryName");
const CONTINENT_CODE: usize = visit_field("continentCode");
const LATITUDE: usize = visit_field("latitude");
const LONGITUDE: usize = visit_field("longitude");
const PAGE_URL: usize = 0;
const _: () = assert!(matches!(EVENT_STRINGS[PAGE_URL].as_bytes(), b"pageUrl"));

/// The fields a user agent gives, in this order.
const AGENT_FIELDS: [usize; 9] = [
    BROWSER_CODE,
    BROWSER_NAME,
    BROWSER_VERSION,
    OS_CODE,
    OS_NAME,
    OS_VERSION,
    DEVICE_TYPE,
    DEVICE_BRAND,
    DEVICE_MODEL,
];

/// What a batch remembers of the inputs it has enriched.
#[derive(Default)]
pub(crate) struct EnrichCache {
    /// By user agent: the symbols of [`AGENT_FIELDS`] (0: none).
    agents: HashMap<Sym, [Sym; 9], ahash::RandomState>,
    /// By (referrer URL, page URL host): referrer type, name and keyword.
    referrers: HashMap<(Sym, Sym), [Sym; 3], ahash::RandomState>,
    /// By country code: country name and continent code.
    countries: HashMap<Sym, [Sym; 2], ahash::RandomState>,
}

impl EnrichCache {
    /// Heap bytes, about.
    pub fn heap_bytes(&self) -> usize {
        self.agents.capacity() * 48
            + self.referrers.capacity() * 28
            + self.countries.capacity() * 16
    }

    /// Forgets everything (the batch's symbols are gone).
    pub fn clear(&mut self) {
        self.agents.clear();
        self.referrers.clear();
        self.countries.clear();
    }
}

/// Sets on `row` what `request` and the row's stored fields give, where the row has no
/// value of its own.
pub(crate) fn enrich_row(
    row: &mut Row,
    request: &Request<'_>,
    rows: &mut Rows,
    enricher: &Enricher,
) {
    if let Some(ua) = request.user_agent
        && !ua.is_empty()
        && AGENT_FIELDS.iter().any(|&f| row.vis[f] == 0)
    {
        let key = rows.strings.intern(ua);
        let syms = match rows.enrich.agents.get(&key) {
            Some(s) => *s,
            None => {
                let a = enricher.user_agent(ua);
                let mut syms = [0; 9];
                let texts = [
                    a.browser_code.as_deref(),
                    a.browser_name.as_deref(),
                    a.browser_version.as_deref(),
                    a.operating_system_code.as_deref(),
                    a.operating_system_name.as_deref(),
                    a.operating_system_version.as_deref(),
                    a.device_type,
                    a.device_brand.as_deref(),
                    a.device_model.as_deref(),
                ];
                for (slot, t) in syms.iter_mut().zip(texts) {
                    *slot = t
                        .filter(|t| !t.is_empty())
                        .map_or(0, |t| rows.strings.intern(t));
                }
                rows.enrich.agents.insert(key, syms);
                syms
            }
        };
        fill(row, &AGENT_FIELDS, &syms);
    }
    if request.is_request || row.vis[REFERRER_URL] != 0 {
        enrich_referrer(row, rows);
    }
    if let Some(lang) = request.accept_language
        && row.vis[LANGUAGE_CODE] == 0
        && let Some(code) = enrich::language(lang)
    {
        row.vis[LANGUAGE_CODE] = rows.strings.intern(&code);
    }
    if let Some(ip) = request.ip
        && let Some(geo) = enricher.geo(ip)
    {
        let texts = [
            (COUNTRY_CODE, geo.country_code.clone()),
            (REGION_CODE, geo.region_code.clone()),
            (CITY, geo.city.clone()),
            (
                LATITUDE,
                geo.latitude
                    .and_then(|x| crate::schema::coordinate(LATITUDE, x).ok()),
            ),
            (
                LONGITUDE,
                geo.longitude
                    .and_then(|x| crate::schema::coordinate(LONGITUDE, x).ok()),
            ),
        ];
        for (f, t) in texts {
            if row.vis[f] == 0
                && let Some(t) = t.filter(|t| !t.is_empty())
            {
                row.vis[f] = rows.strings.intern(&t);
            }
        }
    }
    let country = row.vis[COUNTRY_CODE];
    if country != 0 && (row.vis[COUNTRY_NAME] == 0 || row.vis[CONTINENT_CODE] == 0) {
        let syms = match rows.enrich.countries.get(&country) {
            Some(s) => *s,
            None => {
                let code = rows.strings.get(country).to_string();
                let name = enrich::country_name(&code).map_or(0, |n| rows.strings.intern(n));
                let continent = enrich::continent_code(&code).map_or(0, |c| rows.strings.intern(c));
                rows.enrich.countries.insert(country, [name, continent]);
                [name, continent]
            }
        };
        fill(row, &[COUNTRY_NAME, CONTINENT_CODE], &syms);
    }
}

/// The referrer and campaign fields from the row's `referrerUrl` and landing `pageUrl`.
fn enrich_referrer(row: &mut Row, rows: &mut Rows) {
    let referrer = row.vis[REFERRER_URL];
    let page = row.ev[PAGE_URL];
    let page_text = rows.strings.get(page);
    let has_campaign = page_text.contains("campaign")
        || page_text.contains("mtm_")
        || page_text.contains("pk_")
        || page_text.contains("utm_")
        || page_text.contains("matomo_")
        || page_text.contains("piwik_");
    if has_campaign && let Some(c) = enrich::campaign(page_text) {
        let fields = [
            (CAMPAIGN_NAME, Some(c.name.clone())),
            (CAMPAIGN_SOURCE, c.source),
            (CAMPAIGN_MEDIUM, c.medium),
            (CAMPAIGN_KEYWORD, c.keyword.clone()),
            (CAMPAIGN_CONTENT, c.content),
            (CAMPAIGN_ID, c.id),
        ];
        for (f, t) in fields {
            if row.vis[f] == 0
                && let Some(t) = t.filter(|t| !t.is_empty())
            {
                row.vis[f] = rows.strings.intern(&t);
            }
        }
    }
    if row.vis[REFERRER_TYPE] != 0 {
        return;
    }
    // The classification depends on the page's host (an internal referrer is a direct
    // entry) and on its campaign parameters: pages without any share one key.
    let host = if has_campaign {
        page
    } else {
        page_host(rows, page)
    };
    let key = (referrer, host);
    let syms = match rows.enrich.referrers.get(&key) {
        Some(s) => *s,
        None => {
            let r = enrich::visit_referrer(
                (referrer != 0).then(|| rows.strings.get(referrer)),
                (page != 0).then(|| rows.strings.get(page)),
            );
            let ty = rows.strings.intern(r.referrer_type);
            let name = r.name.as_deref().map_or(0, |n| rows.strings.intern(n));
            let keyword = r.keyword.as_deref().map_or(0, |k| rows.strings.intern(k));
            rows.enrich.referrers.insert(key, [ty, name, keyword]);
            [ty, name, keyword]
        }
    };
    fill(
        row,
        &[REFERRER_TYPE, REFERRER_NAME, REFERRER_KEYWORD],
        &syms,
    );
}

/// The symbol of the host part of page URL `page` (`https://www.a.example/x` →
/// `https://www.a.example`), 0 for none.
fn page_host(rows: &mut Rows, page: Sym) -> Sym {
    if page == 0 {
        return 0;
    }
    let text = rows.strings.get(page);
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    if end == text.len() {
        return page;
    }
    let host = text[..end].to_string();
    rows.strings.intern(&host)
}

/// Sets `row.vis[fields[k]]` to `syms[k]` where the row has no value and `syms[k]` is one.
fn fill(row: &mut Row, fields: &[usize], syms: &[Sym]) {
    for (&f, &s) in fields.iter().zip(syms) {
        if row.vis[f] == 0 && s != 0 {
            row.vis[f] = s;
        }
    }
}
