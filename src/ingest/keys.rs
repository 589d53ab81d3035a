//! Input keys that look like misspelt built-in fields (`contryCode`, `pageURL`): such
//! a key is stored as a custom dimension, as any unknown key is, and the import says so
//! in a warning naming the field it probably meant, the first line using it and how
//! many rows do (`docs/ingest.md`).

use std::collections::HashMap;

use serde::Serialize;

use super::rows::{Row, Rows, custom_of};
use crate::schema::{EVENT_STRINGS, VISIT_STRINGS};

/// The input fields a key may have meant.
const FIELDS: [&str; 8] = [
    "ts",
    "visitorId",
    "visitId",
    "siteId",
    "type",
    "eventValue",
    "goalId",
    "revenue",
];

/// A key of the input that is not a built-in field but looks like one misspelt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyWarning {
    /// The key as written (stored as a custom dimension of that name).
    pub key: String,
    /// The built-in field it probably meant.
    pub did_you_mean: String,
    /// The first line (of its file) whose row uses it.
    pub line: u64,
    /// How many imported rows of the file use it.
    pub rows: u64,
}

/// The built-in field `key` probably misspells: one equal to it but for case, or within
/// a (Damerau–Levenshtein) edit distance of 1 for names of 4 or 5 characters and of 2
/// for longer ones (`ip`, `ts` only match case variants, so short custom names such as
/// `id` do not warn). `None` for a built-in field itself and for keys far from all.
pub fn misspelt_field(key: &str) -> Option<&'static str> {
    let known = FIELDS
        .iter()
        .chain(EVENT_STRINGS.iter())
        .chain(VISIT_STRINGS.iter());
    if known.clone().any(|k| *k == key) {
        return None;
    }
    let lower = key.to_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for &k in known {
        let d = if k.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &k.to_lowercase())
        };
        let allowed = match k.len() {
            0..=3 => 0,
            4..=5 => 1,
            _ => 2,
        };
        if d <= allowed && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// The warnings of one file, as its rows are imported in file order.
#[derive(Debug, Default)]
pub(crate) struct KeyCheck {
    /// Every custom key seen, and its warning's index when it looks misspelt.
    seen: HashMap<String, Option<usize>>,
    warnings: Vec<KeyWarning>,
}

impl KeyCheck {
    /// Notes the imported rows `rows[from..]` of `batch`, whose lines are `lines` (one
    /// per row, in order; a shorter slice leaves the remaining rows without a line).
    /// Costs a lookup per custom dimension of the batch, and a pass over the rows only
    /// while some dimension of it looks misspelt.
    pub fn note(&mut self, batch: &Rows, from: usize, lines: &dyn Fn(usize) -> u64) {
        // Which of the batch's custom dimensions warn (by dimension index).
        let mut flagged: Vec<Option<usize>> = Vec::with_capacity(batch.custom_names.len());
        for d in &batch.custom_names {
            let slot = match self.seen.get(&d.name) {
                Some(slot) => *slot,
                None => {
                    let slot = misspelt_field(&d.name).map(|field| {
                        self.warnings.push(KeyWarning {
                            key: d.name.clone(),
                            did_you_mean: field.to_string(),
                            line: 0,
                            rows: 0,
                        });
                        self.warnings.len() - 1
                    });
                    self.seen.insert(d.name.clone(), slot);
                    slot
                }
            };
            flagged.push(slot);
        }
        if flagged.iter().all(Option::is_none) {
            return;
        }
        let rows: &[Row] = batch.rows.get(from..).unwrap_or_default();
        for (i, row) in rows.iter().enumerate() {
            for (d, _) in custom_of(batch, row) {
                let Some(Some(w)) = flagged.get(*d as usize) else {
                    continue;
                };
                if let Some(w) = self.warnings.get_mut(*w) {
                    if w.rows == 0 {
                        w.line = lines(from + i);
                    }
                    w.rows += 1;
                }
            }
        }
    }

    /// The warnings of keys some imported row used, in order of first use.
    pub fn finish(self) -> Vec<KeyWarning> {
        let mut w: Vec<KeyWarning> = self.warnings.into_iter().filter(|w| w.rows > 0).collect();
        w.sort_by_key(|w| w.line);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_keys_name_the_field() {
        assert_eq!(misspelt_field("contryCode"), Some("countryCode"));
        assert_eq!(misspelt_field("countrycode"), Some("countryCode"));
        assert_eq!(misspelt_field("pageURL"), Some("pageUrl"));
        assert_eq!(misspelt_field("visitorid"), Some("visitorId"));
        assert_eq!(misspelt_field("tpye"), Some("type"));
        assert_eq!(misspelt_field("refererType"), Some("referrerType"));
        assert_eq!(misspelt_field("IP"), Some("ip"));
        assert_eq!(misspelt_field("TS"), Some("ts"));
    }

    #[test]
    fn built_in_and_distant_keys_do_not_warn() {
        for key in [
            "countryCode",
            "ts",
            "ip",
            "type",
            "plan",
            "score",
            "id",
            "tier",
            "x",
        ] {
            assert_eq!(misspelt_field(key), None, "{key}");
        }
        // Three edits from `countryCode`.
        assert_eq!(misspelt_field("cntryCd"), None);
        // Two edits from a four-letter name.
        assert_eq!(misspelt_field("tyep1"), None);
    }
}
