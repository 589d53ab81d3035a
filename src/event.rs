//! The input data model (`docs/ingest.md`): one [`Event`] per input row.

use std::fmt;

/// The earliest accepted timestamp: 0000-01-01T00:00:00Z, in Unix ms. Accepted
/// timestamps are those that RFC 3339 can write and that every UTC offset can show
/// (so the last accepted instant is some hours before the end of year 9999).
pub const MIN_TS_MS: i64 = -62_167_219_200_000;
/// The latest accepted timestamp: 9999-12-30T22:00:00Z, in Unix ms.
pub const MAX_TS_MS: i64 = 253_402_207_200_000;

/// The largest accepted `revenue` of one row, in absolute value (one trillion). Revenue
/// is summed exactly in millionths; a visit's total must stay below about ±9.2 × 10¹²
/// (the commit fails otherwise), every larger total is exact whatever its size.
pub const MAX_REVENUE: f64 = 1e12;

/// Checks a timestamp against the accepted range (the reason, if not).
pub fn check_ts(ms: i64) -> Result<(), String> {
    if (MIN_TS_MS..=MAX_TS_MS).contains(&ms) {
        Ok(())
    } else {
        Err(format!(
            "{ms} ms is outside the supported time range, 0000-01-01T00:00:00Z \
             ({MIN_TS_MS}) to 9999-12-30T22:00:00Z ({MAX_TS_MS})"
        ))
    }
}

/// Checks a `revenue` value: finite, at most [`MAX_REVENUE`] in absolute value.
pub fn check_revenue(x: f64) -> Result<(), String> {
    if !x.is_finite() {
        Err("must be a finite number".into())
    } else if x.abs() > MAX_REVENUE {
        let shown = if x.abs() < 1e16 {
            x.to_string()
        } else {
            format!("{x:e}")
        };
        Err(format!(
            "{shown} is out of range: a row's revenue is at most ±1000000000000 (one trillion)"
        ))
    } else {
        Ok(())
    }
}

/// The `type` of an event row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum EventType {
    /// A page view (the default).
    #[default]
    Pageview = 0,
    /// A custom event (`eventCategory` / `eventAction` / `eventName`).
    Event = 1,
    /// A file download.
    Download = 2,
    /// A click on an outgoing link.
    Outlink = 3,
    /// An internal site search.
    SiteSearch = 4,
    /// A goal conversion (`goalId`).
    Goal = 5,
    /// An ecommerce order (goal id 0).
    EcommerceOrder = 6,
    /// An ecommerce cart update.
    EcommerceCart = 7,
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl EventType {
    /// All types, in their numeric order.
    pub const ALL: [EventType; 8] = [
        EventType::Pageview,
        EventType::Event,
        EventType::Download,
        EventType::Outlink,
        EventType::SiteSearch,
        EventType::Goal,
        EventType::EcommerceOrder,
        EventType::EcommerceCart,
    ];

    /// The name used in input files (`pageview`, `ecommerceOrder` …).
    pub fn name(self) -> &'static str {
        match self {
            EventType::Pageview => "pageview",
            EventType::Event => "event",
            EventType::Download => "download",
            EventType::Outlink => "outlink",
            EventType::SiteSearch => "siteSearch",
            EventType::Goal => "goal",
            EventType::EcommerceOrder => "ecommerceOrder",
            EventType::EcommerceCart => "ecommerceCart",
        }
    }

    /// Parses an input `type` value.
    ///
    /// ```
    /// use sightline::EventType;
    /// assert_eq!(EventType::from_name("goal"), Some(EventType::Goal));
    /// assert_eq!(EventType::from_name("Goal"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Conversions are `goal`, `ecommerceOrder` and `ecommerceCart` rows; the rest are
    /// actions (`docs/ingest.md`).
    pub fn is_conversion(self) -> bool {
        matches!(
            self,
            EventType::Goal | EventType::EcommerceOrder | EventType::EcommerceCart
        )
    }

    /// Rows counted by the `conversions` metric and whose revenue is summed:
    /// `goal` and `ecommerceOrder` (`docs/analytics.md`).
    pub fn counts_as_conversion(self) -> bool {
        matches!(self, EventType::Goal | EventType::EcommerceOrder)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of a custom dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string value.
    Str(String),
    /// A numeric value.
    Num(f64),
}

/// One input row: an action or a conversion of a visitor at an instant.
///
/// Build one with struct-update syntax:
///
/// ```
/// use sightline::{Event, EventType};
/// let e = Event {
///     ts: 1_767_225_600_000, // 2026-01-01T00:00:00Z in Unix milliseconds
///     visitor_id: "v1".into(),
///     kind: EventType::Pageview,
///     page_url: Some("https://shop.example/".into()),
///     country_code: Some("fr".into()),
///     ..Default::default()
/// };
/// assert!(!e.kind.is_conversion());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// Timestamp, Unix milliseconds (UTC).
    pub ts: i64,
    /// Visitor id (non-empty).
    pub visitor_id: String,
    /// Explicit visit id, scoped to the visitor; overrides timeout sessionisation.
    pub visit_id: Option<String>,
    /// Site id (visit level; 1 when no event of the visit has one).
    pub site_id: Option<i64>,
    /// Row type.
    pub kind: EventType,
    /// Page URL.
    pub page_url: Option<String>,
    /// Page title.
    pub page_title: Option<String>,
    /// Event category.
    pub event_category: Option<String>,
    /// Event action.
    pub event_action: Option<String>,
    /// Event name.
    pub event_name: Option<String>,
    /// Event value.
    pub event_value: Option<f64>,
    /// Goal id (`goal` rows).
    pub goal_id: Option<i64>,
    /// Revenue (`goal` and `ecommerceOrder` rows).
    pub revenue: Option<f64>,
    /// Visit level: country code.
    pub country_code: Option<String>,
    /// Visit level: region code.
    pub region_code: Option<String>,
    /// Visit level: city.
    pub city: Option<String>,
    /// Visit level: language code.
    pub language_code: Option<String>,
    /// Visit level: browser code.
    pub browser_code: Option<String>,
    /// Visit level: operating system code.
    pub operating_system_code: Option<String>,
    /// Visit level: device type.
    pub device_type: Option<String>,
    /// Visit level: referrer type.
    pub referrer_type: Option<String>,
    /// Visit level: referrer name.
    pub referrer_name: Option<String>,
    /// Visit level: referrer keyword.
    pub referrer_keyword: Option<String>,
    /// Visit level: campaign name.
    pub campaign_name: Option<String>,
    /// Visit level: user id.
    pub user_id: Option<String>,
    /// Visit level: IP address text.
    pub ip: Option<String>,
    /// Visit level: browser name (`Chrome`).
    pub browser_name: Option<String>,
    /// Visit level: browser version (`120.0`).
    pub browser_version: Option<String>,
    /// Visit level: operating system name (`Windows`).
    pub operating_system_name: Option<String>,
    /// Visit level: operating system version (`10`).
    pub operating_system_version: Option<String>,
    /// Visit level: device brand (`Apple`).
    pub device_brand: Option<String>,
    /// Visit level: device model (`iPhone`).
    pub device_model: Option<String>,
    /// Visit level: referrer URL (classified into `referrerType`, `referrerName` and
    /// `referrerKeyword` unless those are given).
    pub referrer_url: Option<String>,
    /// Visit level: campaign source.
    pub campaign_source: Option<String>,
    /// Visit level: campaign medium.
    pub campaign_medium: Option<String>,
    /// Visit level: campaign keyword.
    pub campaign_keyword: Option<String>,
    /// Visit level: campaign content.
    pub campaign_content: Option<String>,
    /// Visit level: campaign id.
    pub campaign_id: Option<String>,
    /// Visit level: country name (derived from `country_code` unless given).
    pub country_name: Option<String>,
    /// Visit level: continent code (`eur`; derived from `country_code` unless given).
    pub continent_code: Option<String>,
    /// Visit level: latitude, degrees (−90 to 90).
    pub latitude: Option<f64>,
    /// Visit level: longitude, degrees (−180 to 180).
    pub longitude: Option<f64>,
    /// Raw request data, not stored: the user agent, from which browser, operating system
    /// and device fields are derived unless given.
    pub user_agent: Option<String>,
    /// Raw request data, not stored: an `Accept-Language` header, from which
    /// `language_code` is derived unless given.
    pub accept_language: Option<String>,
    /// Custom dimensions (event level), by name.
    pub custom: Vec<(String, Value)>,
}

impl Event {
    /// A page view of `url` by `visitor_id` at `ts` (Unix ms).
    ///
    /// ```
    /// let e = sightline::Event::pageview(0, "v1", "/home");
    /// assert_eq!(e.page_url.as_deref(), Some("/home"));
    /// ```
    pub fn pageview(ts: i64, visitor_id: &str, url: &str) -> Event {
        Event {
            ts,
            visitor_id: visitor_id.into(),
            page_url: Some(url.into()),
            ..Default::default()
        }
    }

    /// The five event-level string fields, in [`crate::schema::EVENT_STRINGS`] order.
    pub(crate) fn event_strings(&self) -> [Option<&str>; 5] {
        [
            self.page_url.as_deref(),
            self.page_title.as_deref(),
            self.event_category.as_deref(),
            self.event_action.as_deref(),
            self.event_name.as_deref(),
        ]
    }

    /// The visit-level string fields, in [`crate::schema::VISIT_STRINGS`] order.
    pub(crate) fn visit_strings(&self) -> [Option<&str>; crate::schema::NVIS] {
        [
            self.country_code.as_deref(),
            self.region_code.as_deref(),
            self.city.as_deref(),
            self.language_code.as_deref(),
            self.browser_code.as_deref(),
            self.operating_system_code.as_deref(),
            self.device_type.as_deref(),
            self.referrer_type.as_deref(),
            self.referrer_name.as_deref(),
            self.referrer_keyword.as_deref(),
            self.campaign_name.as_deref(),
            self.user_id.as_deref(),
            self.ip.as_deref(),
            self.browser_name.as_deref(),
            self.browser_version.as_deref(),
            self.operating_system_name.as_deref(),
            self.operating_system_version.as_deref(),
            self.device_brand.as_deref(),
            self.device_model.as_deref(),
            self.referrer_url.as_deref(),
            self.campaign_source.as_deref(),
            self.campaign_medium.as_deref(),
            self.campaign_keyword.as_deref(),
            self.campaign_content.as_deref(),
            self.campaign_id.as_deref(),
            self.country_name.as_deref(),
            self.continent_code.as_deref(),
            // Latitude and longitude: the numbers, as text (`crate::schema::coordinate`).
            None,
            None,
        ]
    }
}

/// The input fields by role; used by the parsers to route a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Ts,
    VisitorId,
    VisitId,
    SiteId,
    Type,
    EventStr(usize),
    EventValue,
    GoalId,
    Revenue,
    VisitStr(usize),
    /// Raw request data, enriched and not stored (`docs/enrichment.md`).
    UserAgent,
    AcceptLanguage,
}

impl Field {
    pub(crate) fn lookup(name: &str) -> Option<Field> {
        use crate::schema::{EVENT_STRINGS, VISIT_STRINGS};
        Some(match name {
            "ts" => Field::Ts,
            "visitorId" => Field::VisitorId,
            "visitId" => Field::VisitId,
            "siteId" => Field::SiteId,
            "type" => Field::Type,
            "eventValue" => Field::EventValue,
            "goalId" => Field::GoalId,
            "revenue" => Field::Revenue,
            "userAgent" => Field::UserAgent,
            "acceptLanguage" => Field::AcceptLanguage,
            _ => {
                if let Some(i) = EVENT_STRINGS.iter().position(|n| *n == name) {
                    Field::EventStr(i)
                } else if let Some(i) = VISIT_STRINGS.iter().position(|n| *n == name) {
                    Field::VisitStr(i)
                } else {
                    return None;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_range_is_what_jiff_can_show_from_year_0() {
        let min: jiff::Timestamp = "0000-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(min.as_millisecond(), MIN_TS_MS);
        assert_eq!(jiff::Timestamp::MAX.as_second() * 1000, MAX_TS_MS);
        for ms in [MIN_TS_MS, MAX_TS_MS] {
            assert!(check_ts(ms).is_ok());
            assert!(jiff::Timestamp::from_millisecond(ms).is_ok());
        }
        assert!(jiff::Timestamp::from_millisecond(MAX_TS_MS + 1).is_err());
        assert!(check_ts(MIN_TS_MS - 1).is_err());
        assert!(check_ts(MAX_TS_MS + 1).is_err());
        assert!(check_revenue(1e12).is_ok() && check_revenue(-1e12).is_ok());
        assert!(check_revenue(1.000_000_1e12).is_err());
        assert!(check_revenue(f64::NAN).is_err());
    }
}
