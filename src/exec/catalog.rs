//! The dimensions a segment can name: level, type, accepted values, and where each is
//! stored. One table serves the compiler, the bitmap engine, the scan oracle, `.schema`
//! and the "did you mean" suggestions.

use crate::schema::{CustomDim, CustomType, DERIVED_INTS, EVENT_STRINGS, Level, VISIT_STRINGS};

pub use crate::schema::{DEVICE_TYPES, REFERRER_TYPES};
/// Valid `visitorType` values.
pub const VISITOR_TYPES: &[&str] = &["new", "returning", "returningCustomer"];
/// Valid `visitEcommerceStatus` values.
pub const ECOMMERCE_STATUSES: &[&str] = &[
    "none",
    "ordered",
    "abandonedCart",
    "orderedThenAbandonedCart",
];
/// Valid `actionType` values, and the stored row `type` each stands for.
pub const ACTION_TYPES: &[(&str, &str)] = &[
    ("pageviews", "pageview"),
    ("outlinks", "outlink"),
    ("downloads", "download"),
    ("sitesearches", "siteSearch"),
    ("events", "event"),
];

/// Valid `conversionType` values, and the stored row `type` each stands for: a goal
/// conversion, an ecommerce order, an abandoned cart (Matomo's goal ids ≥ 1, 0 and −1).
pub const CONVERSION_TYPES: &[(&str, &str)] = &[
    ("goal", "goal"),
    ("order", "ecommerceOrder"),
    ("cart", "ecommerceCart"),
];

/// Dimensions compared case-insensitively under every operator (`docs/segment-language.md`).
pub const CODE_DIMENSIONS: &[&str] = &[
    "countryCode",
    "regionCode",
    "languageCode",
    "browserCode",
    "operatingSystemCode",
];
/// Dimensions whose values are URLs (scheme and `www.` ignored when comparing).
pub const URL_DIMENSIONS: &[&str] = &["pageUrl", "entryPageUrl", "exitPageUrl"];
/// Accepted aliases and the dimension each names.
pub const ALIASES: &[(&str, &str)] = &[("country", "countryCode"), ("visits", "visitCount")];

/// What kind of values a dimension holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimType {
    /// Free text.
    Text,
    /// Numbers (integers or decimals).
    Number,
    /// Text from a fixed list.
    Enum(&'static [&'static str]),
}

impl DimType {
    /// `string`, `number` or `enum`.
    pub fn name(self) -> &'static str {
        match self {
            DimType::Text => "string",
            DimType::Number => "number",
            DimType::Enum(_) => "enum",
        }
    }
}

/// Where a dimension's values are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A string column of the visit table.
    VisitText(&'static str),
    /// A numeric column of the visit table.
    VisitNumber(&'static str),
    /// The visitor id dictionary of each part.
    VisitorId,
    /// The visit id: the given `visitId`, else the visit's start in Unix ms.
    VisitId,
    /// A string column of the event table.
    EventText(&'static str),
    /// A numeric column of the event table.
    EventNumber(&'static str),
    /// The row `type` of action rows, named as Matomo names action types.
    ActionType,
    /// A custom string dimension (event table).
    CustomText(String),
    /// A custom numeric dimension (event table).
    CustomNumber(String),
    /// `goalId` of conversion rows.
    ConversionGoal,
    /// The row `type` of conversion rows (`goal`, `order`, `cart`).
    ConversionType,
    /// `revenue` of conversion rows.
    ConversionRevenue,
}

/// A dimension of the segment language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    /// Its canonical name.
    pub name: String,
    /// Visit, action or conversion level.
    pub level: Level,
    /// Value type.
    pub ty: DimType,
    /// Where it is stored.
    pub source: Source,
    /// Compared case-insensitively under every operator (code dimensions).
    pub code: bool,
    /// A URL dimension (scheme and `www.` are ignored when comparing).
    pub url: bool,
    /// How `<`, `<=`, `>`, `>=` (and `==` between equal numbers or addresses written
    /// differently) compare its text.
    pub order: TextOrder,
}

/// How the text of a string dimension is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextOrder {
    /// Byte by byte.
    #[default]
    Lexical,
    /// As decimal numbers (`latitude`, `longitude`); text that is not one has no order.
    Number,
    /// As IP addresses (`visitIp`), IPv4 and IPv6 each in their own order; text that is
    /// not an address has no order.
    Ip,
}

impl TextOrder {
    /// How `stored` compares with `operand`, `None` when they are not comparable.
    pub(crate) fn compare(self, stored: &str, operand: &str) -> Option<std::cmp::Ordering> {
        use std::net::IpAddr;
        match self {
            TextOrder::Lexical => Some(stored.cmp(operand)),
            TextOrder::Number => {
                let (a, b) = (stored.parse::<f64>().ok()?, operand.parse::<f64>().ok()?);
                a.partial_cmp(&b)
            }
            TextOrder::Ip => match (
                stored.parse::<IpAddr>().ok()?,
                operand.parse::<IpAddr>().ok()?,
            ) {
                (IpAddr::V4(a), IpAddr::V4(b)) => Some(a.cmp(&b)),
                (IpAddr::V6(a), IpAddr::V6(b)) => Some(a.cmp(&b)),
                _ => None,
            },
        }
    }

    /// Whether `operand` has a place in this order (every text has a lexical one).
    pub(crate) fn accepts(self, operand: &str) -> bool {
        self.compare(operand, operand).is_some()
    }
}

impl Dimension {
    fn new(name: &str, level: Level, ty: DimType, source: Source) -> Dimension {
        Dimension {
            name: name.to_string(),
            level,
            ty,
            source,
            code: CODE_DIMENSIONS.contains(&name),
            url: URL_DIMENSIONS.contains(&name),
            order: match name {
                "latitude" | "longitude" => TextOrder::Number,
                "ip" | "visitIp" => TextOrder::Ip,
                _ => TextOrder::Lexical,
            },
        }
    }

    /// Whether `==` is plain equality of the stored text (no URL rule, no typed order),
    /// so that a dictionary lookup answers it.
    pub fn exact_text(&self) -> bool {
        !self.url && self.order == TextOrder::Lexical
    }

    /// Whether values are numbers.
    pub fn is_numeric(&self) -> bool {
        self.ty == DimType::Number
    }
}

/// Every dimension of a database: the built-in ones and its custom dimensions.
#[derive(Debug, Clone)]
pub struct Catalog {
    dims: Vec<Dimension>,
    /// Position of each name in `dims`.
    by_name: std::collections::HashMap<String, usize>,
}

impl Catalog {
    /// Parses and compiles `text` against this catalog (what
    /// [`Snapshot::compile`](crate::Snapshot::compile) does with the database's), for
    /// checks without a database: `Catalog::new(&[])` knows the built-in dimensions.
    pub fn compile(
        &self,
        text: &str,
        dialect: crate::lang::Dialect,
    ) -> Result<super::CompiledSegment, crate::lang::SegmentError> {
        let seg = crate::lang::parse(text, dialect)?;
        super::compile::compile(&seg, self, text)
    }

    /// The catalog of a database with these custom dimensions.
    pub fn new(custom: &[CustomDim]) -> Catalog {
        let mut dims = builtin_dimensions();
        let mut by_name: std::collections::HashMap<String, usize> = dims
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        dims.reserve(custom.len());
        by_name.reserve(custom.len());
        for c in custom {
            if by_name.contains_key(&c.name) {
                continue; // a built-in name always wins (ingest never creates such a custom)
            }
            let (ty, source) = match c.ty {
                CustomType::String => (DimType::Text, Source::CustomText(c.name.clone())),
                CustomType::Number => (DimType::Number, Source::CustomNumber(c.name.clone())),
            };
            by_name.insert(c.name.clone(), dims.len());
            dims.push(Dimension::new(&c.name, Level::Action, ty, source));
        }
        Catalog { dims, by_name }
    }

    /// Every dimension, built-in ones first, then custom dimensions.
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// The dimension called `name` (aliases accepted; names are case-sensitive).
    pub fn get(&self, name: &str) -> Option<&Dimension> {
        let name = ALIASES
            .iter()
            .find(|(a, _)| *a == name)
            .map_or(name, |(_, real)| real);
        self.by_name.get(name).and_then(|&i| self.dims.get(i))
    }

    /// The accepted aliases, and the dimension each names (`country` → `countryCode`).
    pub fn aliases() -> &'static [(&'static str, &'static str)] {
        ALIASES
    }

    /// Up to three of `candidates` closest to `word`, best first (the "did you mean"
    /// rule of the dimension names, for other vocabularies).
    pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
        suggest(word, candidates)
    }

    /// Up to three known names closest to `name` (for "did you mean"), best first.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let names = self
            .dims
            .iter()
            .map(|d| d.name.as_str())
            .chain(ALIASES.iter().map(|(a, _)| *a));
        suggest(name, names)
    }
}

/// The built-in dimensions, in `.schema` order: visit level first, then the ones
/// stored on event rows.
fn builtin_dimensions() -> Vec<Dimension> {
    let mut dims = Vec::new();
    push_visit_dimensions(&mut dims);
    push_event_dimensions(&mut dims);
    dims
}

/// Appends the visit-level built-in dimensions to `dims`.
fn push_visit_dimensions(dims: &mut Vec<Dimension>) {
    use DimType::*;
    use Level::*;
    dims.push(Dimension::new("visitorId", Visit, Text, Source::VisitorId));
    dims.push(Dimension::new("visitId", Visit, Text, Source::VisitId));
    dims.push(Dimension::new(
        "siteId",
        Visit,
        Number,
        Source::VisitNumber(crate::schema::internal::SITE_ID),
    ));
    for name in VISIT_STRINGS {
        let ty = match name {
            "deviceType" => Enum(DEVICE_TYPES),
            "referrerType" => Enum(REFERRER_TYPES),
            _ => Text,
        };
        dims.push(Dimension::new(name, Visit, ty, Source::VisitText(name)));
    }
    // Matomo's name for the visitor's address, ordered as addresses
    // (`visitIp>=10.0.0.0;visitIp<=10.0.0.255`).
    dims.push(Dimension::new(
        "visitIp",
        Visit,
        Text,
        Source::VisitText("ip"),
    ));
    for name in DERIVED_INTS {
        dims.push(Dimension::new(
            name,
            Visit,
            Number,
            Source::VisitNumber(name),
        ));
    }
    for name in crate::schema::DERIVED_STRINGS {
        let ty = match name {
            "visitorType" => Enum(VISITOR_TYPES),
            "visitEcommerceStatus" => Enum(ECOMMERCE_STATUSES),
            _ => Text,
        };
        dims.push(Dimension::new(name, Visit, ty, Source::VisitText(name)));
    }
}

/// Appends the built-in dimensions stored on event rows to `dims`: action level, then
/// conversion level.
fn push_event_dimensions(dims: &mut Vec<Dimension>) {
    use DimType::*;
    use Level::*;
    const ACTION_TYPE_NAMES: &[&str] = &[
        "pageviews",
        "outlinks",
        "downloads",
        "sitesearches",
        "events",
    ];
    dims.push(Dimension::new(
        "actionType",
        Action,
        Enum(ACTION_TYPE_NAMES),
        Source::ActionType,
    ));
    for name in EVENT_STRINGS {
        dims.push(Dimension::new(name, Action, Text, Source::EventText(name)));
    }
    dims.push(Dimension::new(
        "eventValue",
        Action,
        Number,
        Source::EventNumber(crate::schema::internal::EVENT_VALUE),
    ));
    dims.push(Dimension::new(
        "visitConvertedGoalId",
        Conversion,
        Number,
        Source::ConversionGoal,
    ));
    dims.push(Dimension::new(
        "revenue",
        Conversion,
        Number,
        Source::ConversionRevenue,
    ));
    const CONVERSION_TYPE_NAMES: &[&str] = &["goal", "order", "cart"];
    dims.push(Dimension::new(
        "conversionType",
        Conversion,
        Enum(CONVERSION_TYPE_NAMES),
        Source::ConversionType,
    ));
}

/// Up to three of `candidates` closest to `word`, best first: case-insensitive equality
/// first, then Jaro-Winkler similarity, keeping only plausible matches.
pub fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let lw = word.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| {
            let lc = c.to_lowercase();
            let s = if lc == lw {
                2.0
            } else if !lw.is_empty() && (lc.starts_with(&lw) || lc.contains(&lw)) {
                1.0 + strsim::jaro_winkler(&lw, &lc) / 10.0
            } else {
                strsim::jaro_winkler(&lw, &lc)
            };
            (s, c)
        })
        .filter(|(s, _)| *s >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_suggestions() {
        let c = Catalog::new(&[CustomDim {
            name: "plan".into(),
            ty: CustomType::String,
        }]);
        assert_eq!(
            c.get("country").map(|d| d.name.as_str()),
            Some("countryCode")
        );
        assert_eq!(c.get("visits").map(|d| d.name.as_str()), Some("visitCount"));
        assert_eq!(c.get("plan").map(|d| d.level), Some(Level::Action));
        assert!(c.get("PageUrl").is_none());
        assert_eq!(c.suggest("PageUrl")[0], "pageUrl");
        assert!(c.suggest("contry").contains(&"country".to_string()));
        assert_eq!(c.suggest("visitcount")[0], "visitCount");
        assert!(c.suggest("zzzzzzzz").is_empty());
        assert!(c.get("countryCode").is_some_and(|d| d.code));
        assert!(c.get("entryPageUrl").is_some_and(|d| d.url));
    }
}
