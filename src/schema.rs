//! Dimensions: the names the engine knows, their level and type.
//!
//! Input fields (`docs/ingest.md`), derived visit dimensions (`docs/ingest.md`) and custom dimensions,
//! whose type is fixed by their first non-null value and recorded in the manifest.

use bincode::{Decode, Encode};

/// Event-level string fields, in storage order.
pub const EVENT_STRINGS: [&str; 5] = [
    "pageUrl",
    "pageTitle",
    "eventCategory",
    "eventAction",
    "eventName",
];

/// Visit-level string fields (the visit's value is that of its earliest event having one),
/// in storage order. The first `CORE_VISIT_STRINGS` have a column in every part; the
/// rest (what enrichment derives from raw request data, `docs/enrichment.md`) only in
/// parts where some visit has a value, and read as no value where absent.
pub const VISIT_STRINGS: [&str; 29] = [
    "countryCode",
    "regionCode",
    "city",
    "languageCode",
    "browserCode",
    "operatingSystemCode",
    "deviceType",
    "referrerType",
    "referrerName",
    "referrerKeyword",
    "campaignName",
    "userId",
    "ip",
    "browserName",
    "browserVersion",
    "operatingSystemName",
    "operatingSystemVersion",
    "deviceBrand",
    "deviceModel",
    "referrerUrl",
    "campaignSource",
    "campaignMedium",
    "campaignKeyword",
    "campaignContent",
    "campaignId",
    "countryName",
    "continentCode",
    "latitude",
    "longitude",
];

/// How many of [`VISIT_STRINGS`] every part has a column for (the fields of format
/// versions 1 and 2); the others are optional columns.
pub const CORE_VISIT_STRINGS: usize = 13;

/// Number of visit-level string fields.
pub(crate) const NVIS: usize = VISIT_STRINGS.len();

/// Whether the visit-level string column `name` may be missing from a part (then every
/// visit of the part has no value for it).
pub(crate) fn optional_visit_column(name: &str) -> bool {
    VISIT_STRINGS[CORE_VISIT_STRINGS..].contains(&name)
}

/// Positions of `latitude` and `longitude` in [`VISIT_STRINGS`]: numbers in the input,
/// stored as their shortest decimal text ([`coordinate`]), compared as numbers.
pub(crate) const LATITUDE: usize = visit_field("latitude");
pub(crate) const LONGITUDE: usize = visit_field("longitude");

/// The stored text of coordinate `x` of field `i` ([`LATITUDE`] or [`LONGITUDE`]), or
/// why it is out of range.
pub(crate) fn coordinate(i: usize, x: f64) -> Result<String, String> {
    let limit = if i == LATITUDE { 90.0 } else { 180.0 };
    if !x.is_finite() || x.abs() > limit {
        return Err(format!("{x} is out of range (-{limit} to {limit} degrees)"));
    }
    // -0 is 0: one value, one text.
    Ok(format!("{}", x + 0.0))
}

/// Position of a field in [`VISIT_STRINGS`].
pub(crate) const fn visit_field(name: &str) -> usize {
    let mut i = 0;
    while i < VISIT_STRINGS.len() {
        if eq(VISIT_STRINGS[i].as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a visit-level string field")
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Position of `ip` in [`VISIT_STRINGS`]: the field the privacy rules mask
/// (`crate::privacy::WriteRules`).
pub(crate) const IP_FIELD: usize = 12;
const _: () = assert!(matches!(VISIT_STRINGS[IP_FIELD].as_bytes(), b"ip"));
/// Position of `userId` in [`VISIT_STRINGS`]: the field pseudonyms replace.
pub(crate) const USER_ID_FIELD: usize = 11;
const _: () = assert!(matches!(VISIT_STRINGS[USER_ID_FIELD].as_bytes(), b"userId"));

/// Valid `deviceType` values (`docs/segment-language.md`).
pub const DEVICE_TYPES: &[&str] = &[
    "desktop",
    "smartphone",
    "tablet",
    "phablet",
    "feature phone",
    "console",
    "tv",
    "car browser",
    "smart display",
    "camera",
    "portable media player",
    "smart speaker",
    "wearable",
    "peripheral",
];
/// Valid `referrerType` values.
pub const REFERRER_TYPES: &[&str] = &["direct", "search", "website", "campaign", "social"];

/// The fixed list of values of an input field, for the fields that have one
/// (`deviceType`, `referrerType`): imports store a value of the list in its canonical
/// form and reject others, as segments do.
pub fn input_values(field: &str) -> Option<&'static [&'static str]> {
    match field {
        "deviceType" => Some(DEVICE_TYPES),
        "referrerType" => Some(REFERRER_TYPES),
        _ => None,
    }
}

/// The entry of `values` equal to `value` but for ASCII case and surrounding
/// whitespace (`Smartphone`, ` TABLET ` → `smartphone`, `tablet`).
pub fn canonical_value(values: &'static [&'static str], value: &str) -> Option<&'static str> {
    let value = value.trim();
    values
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(value))
}

/// A value of input field `field` (`VISIT_STRINGS` position `i`) as stored: an empty
/// value as it is, a value of a fixed list in its canonical form, anything else an
/// error naming the valid values.
pub(crate) fn stored_visit_string(i: usize, value: &str) -> Result<&str, String> {
    let Some(values) = VISIT_STRINGS.get(i).and_then(|f| input_values(f)) else {
        return Ok(value);
    };
    if value.is_empty() {
        return Ok(value);
    }
    canonical_value(values, value).ok_or_else(|| {
        let close = crate::exec::catalog::suggest(value, values.iter().copied());
        let hint = close
            .first()
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        format!(
            "unknown value {value:?}{hint}; valid values: {}",
            values.join(", ")
        )
    })
}

/// Derived visit dimensions stored as integer columns.
pub const DERIVED_INTS: [&str; 8] = [
    "visitCount",
    "actions",
    "visitDuration",
    "daysSinceFirstVisit",
    "daysSinceLastVisit",
    "visitConverted",
    "visitStartServerHour",
    "visitServerHour",
];

/// Derived visit dimensions stored as string columns.
pub const DERIVED_STRINGS: [&str; 6] = [
    "visitorType",
    "visitEcommerceStatus",
    "entryPageUrl",
    "exitPageUrl",
    "entryPageTitle",
    "exitPageTitle",
];

/// Where a dimension lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// One value per visit.
    Visit,
    /// One value per action row.
    Action,
    /// One value per conversion row.
    Conversion,
}

impl Level {
    /// `visit`, `action` or `conversion`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Visit => "visit",
            Level::Action => "action",
            Level::Conversion => "conversion",
        }
    }
}

/// Type of a custom dimension, fixed by its first non-null value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum CustomType {
    /// Text values.
    String,
    /// Numeric values.
    Number,
}

impl CustomType {
    /// `"string"` or `"number"`.
    pub fn name(self) -> &'static str {
        match self {
            CustomType::String => "string",
            CustomType::Number => "number",
        }
    }
}

/// A custom dimension known to the database.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct CustomDim {
    /// Its name (an input key that is not a built-in field).
    pub name: String,
    /// Its type.
    pub ty: CustomType,
}

/// Stored column names used internally (not dimensions of the segment language).
pub(crate) mod internal {
    pub const VISIT_START: &str = "@start";
    pub const SITE_ID: &str = "siteId";
    pub const VISIT_ID: &str = "visitId";
    pub const CONVERSIONS: &str = "@conversions";
    /// Per-visit revenue in millionths, stored where non-zero (format version 1).
    pub const REVENUE: &str = "@revenueMicros";
    /// Per-visit revenue, dense, decimal-scaled (format version 2).
    pub const REVENUE_SCALED: &str = "@revenue";
    /// The row set of a part's `goal`, `ecommerceOrder` and `ecommerceCart` rows.
    pub const CONVERSION_ROWS: &str = "conversions";
    pub const TS_OFFSET: &str = "@tsOffset";
    pub const TYPE: &str = "type";
    pub const EVENT_VALUE: &str = "eventValue";
    pub const GOAL_ID: &str = "goalId";
    pub const REVENUE_EVENT: &str = "revenue";
    /// A visitor's purged visits (`ingest::rows::Prior`), on its first stored visit;
    /// the columns exist only in parts holding such a visitor.
    pub const PRIOR_VISITS: &str = "@priorVisits";
    pub const PRIOR_FIRST: &str = "@priorFirstStart";
    pub const PRIOR_LAST: &str = "@priorLastStart";
    pub const PRIOR_ORDER: &str = "@priorOrder";
    pub const PRIORS: [&str; 4] = [PRIOR_VISITS, PRIOR_FIRST, PRIOR_LAST, PRIOR_ORDER];

    /// The per-visit measures a part sums per dictionary entry of its visit-level string
    /// columns and over all its visits (format version 2), in this order: the summary
    /// metrics of a set of visits.
    pub mod measure {
        /// Action rows.
        pub const ACTIONS: usize = 0;
        /// `goal` and `ecommerceOrder` rows.
        pub const CONVERSIONS: usize = 1;
        /// Visit duration, seconds.
        pub const DURATION: usize = 2;
        /// Revenue, millionths.
        pub const REVENUE_MICROS: usize = 3;
        /// 1 for a visit with exactly one action.
        pub const BOUNCES: usize = 4;
        /// How many there are.
        pub const COUNT: usize = 5;
    }
}
