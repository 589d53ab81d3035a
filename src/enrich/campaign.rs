//! Campaign parameters of a landing page URL, by the rules of Matomo's
//! MarketingCampaignsReporting plugin.

use super::url;

/// The campaign a landing page URL carries. Values are trimmed, lower-cased and cut
/// to 250 bytes, as Matomo stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// `campaignName` (always present: without a name there is no campaign).
    pub name: String,
    /// `campaignSource`.
    pub source: Option<String>,
    /// `campaignMedium`.
    pub medium: Option<String>,
    /// `campaignKeyword`.
    pub keyword: Option<String>,
    /// `campaignContent`.
    pub content: Option<String>,
    /// `campaignId`.
    pub id: Option<String>,
}

/// The parameters of each campaign field, in precedence order: a field takes the value
/// of the first parameter of its list that is present with a non-empty value, each
/// field on its own (Matomo's lists, so `mtm_*` beats `pk_*` beats `utm_*`).
const NAME: &[&str] = &[
    "mtm_campaign",
    "matomo_campaign",
    "mtm_cpn",
    "pk_campaign",
    "piwik_campaign",
    "pk_cpn",
    "utm_campaign",
];
const KEYWORD: &[&str] = &[
    "mtm_keyword",
    "matomo_kwd",
    "mtm_kwd",
    "pk_keyword",
    "piwik_kwd",
    "pk_kwd",
    "utm_term",
];
const SOURCE: &[&str] = &["mtm_source", "pk_source", "utm_source"];
const MEDIUM: &[&str] = &["mtm_medium", "pk_medium", "utm_medium"];
const CONTENT: &[&str] = &["mtm_content", "pk_content", "utm_content"];
const ID: &[&str] = &["mtm_cid", "pk_cid", "utm_id", "mtm_clid"];
/// Matomo core names a campaign by these when no name parameter is present.
const NAME_FALLBACK: &[&str] = &["utm_source", "utm_medium"];

/// Longest value kept, in bytes.
const MAX_VALUE: usize = 250;

/// The campaign of a landing page URL, `None` when it has no campaign name.
///
/// The parameters are read from the fragment first (`#mtm_campaign=x`, or the query
/// part of a fragment route `#/page?utm_campaign=x`) and, when the fragment has none
/// of them, from the query string. The name comes from the first name parameter
/// present (`mtm_campaign`, `matomo_campaign`, `mtm_cpn`, `pk_campaign`,
/// `piwik_campaign`, `pk_cpn`, `utm_campaign`) or, failing that, from `utm_source`
/// or `utm_medium` as Matomo core does; see `docs/enrichment.md` for every field's
/// list. The URL need not be absolute: everything after `?` is its query.
pub fn campaign(page_url: &str) -> Option<Campaign> {
    let (before_fragment, fragment) = match page_url.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (page_url, None),
    };
    let query = before_fragment.split_once('?').map(|(_, q)| q);
    let from_fragment = fragment.map(|f| {
        let params = if f.starts_with('/') {
            f.split_once('?').map_or("", |(_, q)| q)
        } else {
            f
        };
        read(params)
    });
    let fields = match from_fragment {
        Some(fields) if !fields.is_empty() => fields,
        _ => read(query.unwrap_or("")),
    };
    let name = fields
        .name
        .clone()
        .or_else(|| fields.fallback_name.clone())?;
    Some(Campaign {
        name,
        source: fields.source,
        medium: fields.medium,
        keyword: fields.keyword,
        content: fields.content,
        id: fields.id,
    })
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    fallback_name: Option<String>,
    source: Option<String>,
    medium: Option<String>,
    keyword: Option<String>,
    content: Option<String>,
    id: Option<String>,
}

impl Fields {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.source.is_none()
            && self.medium.is_none()
            && self.keyword.is_none()
            && self.content.is_none()
            && self.id.is_none()
    }
}

fn read(query: &str) -> Fields {
    if query.is_empty() {
        return Fields::default();
    }
    // One pass over the query, keeping only campaign parameters (first occurrence of
    // each, as `url::query_param` reads them).
    let mut pairs: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let wanted = [NAME, KEYWORD, SOURCE, MEDIUM, CONTENT, ID]
            .iter()
            .any(|list| list.contains(&key.as_ref()));
        if wanted && !pairs.iter().any(|(k, _)| *k == key) {
            pairs.push((key, value));
        }
    }
    let first = |names: &[&str]| {
        names.iter().find_map(|name| {
            let (_, value) = pairs.iter().find(|(k, _)| k == name)?;
            let value = value.trim();
            (!value.is_empty()).then(|| url::truncate(value.to_lowercase(), MAX_VALUE))
        })
    };
    Fields {
        name: first(NAME),
        fallback_name: first(NAME_FALLBACK),
        source: first(SOURCE),
        medium: first(MEDIUM),
        keyword: first(KEYWORD),
        content: first(CONTENT),
        id: first(ID),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_name(name: &str) -> Campaign {
        Campaign {
            name: name.to_string(),
            source: None,
            medium: None,
            keyword: None,
            content: None,
            id: None,
        }
    }

    #[test]
    fn every_family_names_a_campaign() {
        for (param, expected) in [
            ("mtm_campaign", "a"),
            ("matomo_campaign", "a"),
            ("mtm_cpn", "a"),
            ("pk_campaign", "a"),
            ("piwik_campaign", "a"),
            ("pk_cpn", "a"),
            ("utm_campaign", "a"),
        ] {
            let url = format!("https://shop.example/?{param}=A");
            assert_eq!(campaign(&url), Some(only_name(expected)), "{param}");
        }
    }

    #[test]
    fn matomo_parameters_fill_every_field() {
        let url = "https://shop.example/p?mtm_campaign=Spring%20Sale&mtm_source=Newsletter\
                   &mtm_medium=Email&mtm_keyword=Shoes&mtm_content=Banner+Top&mtm_cid=C-42";
        assert_eq!(
            campaign(url),
            Some(Campaign {
                name: "spring sale".into(),
                source: Some("newsletter".into()),
                medium: Some("email".into()),
                keyword: Some("shoes".into()),
                content: Some("banner top".into()),
                id: Some("c-42".into()),
            })
        );
    }

    #[test]
    fn piwik_and_google_families() {
        let pk = "https://s.example/?pk_campaign=Winter&pk_kwd=Boots&pk_source=ads\
                  &pk_medium=cpc&pk_content=v2&pk_cid=7";
        let got = campaign(pk).unwrap();
        assert_eq!(got.name, "winter");
        assert_eq!(got.keyword.as_deref(), Some("boots"));
        assert_eq!(got.source.as_deref(), Some("ads"));
        assert_eq!(got.medium.as_deref(), Some("cpc"));
        assert_eq!(got.content.as_deref(), Some("v2"));
        assert_eq!(got.id.as_deref(), Some("7"));

        let utm = "https://s.example/?utm_source=Google&utm_medium=CPC&utm_campaign=Brand\
                   &utm_term=running+shoes&utm_content=ad1&utm_id=abc";
        assert_eq!(
            campaign(utm),
            Some(Campaign {
                name: "brand".into(),
                source: Some("google".into()),
                medium: Some("cpc".into()),
                keyword: Some("running shoes".into()),
                content: Some("ad1".into()),
                id: Some("abc".into()),
            })
        );
    }

    #[test]
    fn precedence_is_per_field() {
        // mtm_ beats pk_ beats utm_, field by field.
        let url = "https://s.example/?utm_campaign=u&pk_campaign=p&mtm_campaign=m\
                   &utm_source=us&pk_source=ps&utm_term=ut";
        let got = campaign(url).unwrap();
        assert_eq!(got.name, "m");
        assert_eq!(got.source.as_deref(), Some("ps"));
        assert_eq!(got.keyword.as_deref(), Some("ut"));
        // An empty parameter does not count.
        let got = campaign("https://s.example/?mtm_campaign=&utm_campaign=u").unwrap();
        assert_eq!(got.name, "u");
    }

    #[test]
    fn fragments_before_query() {
        let got = campaign("https://s.example/?utm_campaign=q#mtm_campaign=f").unwrap();
        assert_eq!(got.name, "f");
        let got = campaign("https://s.example/app#/route?utm_campaign=Routed").unwrap();
        assert_eq!(got.name, "routed");
        // A fragment without campaign parameters leaves the query.
        let got = campaign("https://s.example/?utm_campaign=q#section-2").unwrap();
        assert_eq!(got.name, "q");
    }

    #[test]
    fn source_or_medium_names_a_campaign_without_name() {
        let got = campaign("https://s.example/?utm_source=Newsletter&utm_medium=email").unwrap();
        assert_eq!(got.name, "newsletter");
        assert_eq!(got.source.as_deref(), Some("newsletter"));
        let got = campaign("https://s.example/?utm_medium=Email").unwrap();
        assert_eq!(got.name, "email");
    }

    #[test]
    fn no_campaign() {
        for url in [
            "",
            "https://s.example/",
            "https://s.example/?q=1&page=2",
            "https://s.example/?mtm_keyword=only-keyword&pk_cid=3",
            "https://s.example/?mtm_campaign=%20%20",
            "?&&=&",
        ] {
            assert_eq!(campaign(url), None, "{url:?}");
        }
    }

    #[test]
    fn values_are_decoded_trimmed_and_bounded() {
        let got = campaign("/landing?mtm_campaign=%20Caf%C3%A9+%C3%89T%C3%89%20").unwrap();
        assert_eq!(got.name, "café été");
        let long = "x".repeat(300);
        let got = campaign(&format!("/?utm_campaign={long}")).unwrap();
        assert_eq!(got.name.len(), 250);
        let got = campaign("/?utm_campaign=%FF%FE").unwrap();
        assert_eq!(got.name, "\u{FFFD}\u{FFFD}");
    }
}
