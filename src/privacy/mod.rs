//! Privacy: what sightline does to personal data before it is stored.
//!
//! - [`ip`]: IP anonymisation, Matomo's masking rule, and the one canonical text form
//!   masked addresses are stored in.
//! - [`settings`]: the settings stored in the database (`privacy-<generation>`) and the
//!   database secret; [`secret`]: the keyed hashes made with it (user-id pseudonyms,
//!   selector hashes); [`audit`]: the audit log (`privacy-log`). [`db`] puts them on
//!   the [`Db`](crate::Db) handle.
//!
//! [`WriteRules`] carries the privacy rules of one write (an import, a transaction) down
//! to the row parsers, which apply them to each row before it joins a batch: so nothing
//! unmasked or unpseudonymised reaches a batch, a run file or a part. `docs/privacy.md`
//! is the user's reference.

pub(crate) mod audit;
mod db;
pub(crate) mod ip;
pub(crate) mod rewrite;
pub(crate) mod secret;
pub(crate) mod settings;

use std::borrow::Cow;

pub use audit::{AuditAction, AuditCounts, AuditEntry, AuditRecord, SelectorKind};
pub(crate) use db::PrivacyState;
pub(crate) use db::now_ms;
pub use ip::{IpError, MAX_IP_MASK_BYTES, anonymize_ip, anonymize_ip_addr};
pub use rewrite::{Anonymization, PrivacyOutcome};
pub use settings::PrivacySettings;

/// True for the names of the privacy files: the settings (`privacy-<generation>`) and
/// the audit log (`privacy-log`). They live outside the manifests, so the clean-up of
/// commits leaves them alone.
pub(crate) fn is_privacy_file(name: &str) -> bool {
    name.starts_with(settings::SETTINGS_PREFIX)
}

/// The rules a write applies to every row it stores: the privacy rules (the default
/// applies none: values are stored as given) and the enrichment that derives visit
/// fields from raw request data (`docs/enrichment.md`; the default enriches without
/// GeoIP).
#[derive(Debug, Clone, Default)]
pub struct WriteRules {
    /// Mask this many bytes of every `ip` (0 to [`MAX_IP_MASK_BYTES`]; checked by
    /// [`WriteRules::anonymizing_ip`]), storing it in canonical form; `None` stores `ip`
    /// as given, unchecked.
    anonymize_ip: Option<u8>,
    /// Store every non-empty `userId` as its pseudonym under this key; `None` stores it
    /// as given.
    user_id_key: Option<secret::Key>,
    /// The enricher, `None` for the shared one without GeoIP.
    enricher: Option<std::sync::Arc<crate::enrich::Enricher>>,
}

impl PartialEq for WriteRules {
    fn eq(&self, other: &WriteRules) -> bool {
        self.anonymize_ip == other.anonymize_ip
            && self.user_id_key == other.user_id_key
            && match (&self.enricher, &other.enricher) {
                (None, None) => true,
                (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for WriteRules {}

/// The enricher of writes that name none: one per process, so its user-agent cache
/// serves every import and append.
static DEFAULT_ENRICHER: std::sync::LazyLock<crate::enrich::Enricher> =
    std::sync::LazyLock::new(crate::enrich::Enricher::new);

impl WriteRules {
    /// These rules, enriching with `enricher` (one with a GeoIP database, say).
    pub fn with_enricher(self, enricher: std::sync::Arc<crate::enrich::Enricher>) -> WriteRules {
        WriteRules {
            enricher: Some(enricher),
            ..self
        }
    }

    /// These rules with the enricher of `other`.
    pub(crate) fn with_enricher_of(self, other: &WriteRules) -> WriteRules {
        WriteRules {
            enricher: other.enricher.clone(),
            ..self
        }
    }

    /// The enricher rows are enriched with.
    pub fn enricher(&self) -> &crate::enrich::Enricher {
        self.enricher.as_deref().unwrap_or(&DEFAULT_ENRICHER)
    }

    /// Rules that mask `bytes` bytes of every `ip` (`None`: store `ip` as given). An
    /// error if `bytes` is more than [`MAX_IP_MASK_BYTES`].
    pub fn anonymizing_ip(bytes: Option<u8>) -> Result<WriteRules, IpError> {
        if let Some(n) = bytes {
            ip::check_mask(n)?;
        }
        Ok(WriteRules {
            anonymize_ip: bytes,
            user_id_key: None,
            enricher: None,
        })
    }

    /// These rules, pseudonymising every non-empty `userId` under `key` (`None`: storing
    /// it as given).
    pub(crate) fn with_user_id_key(self, key: Option<secret::Key>) -> WriteRules {
        WriteRules {
            user_id_key: key,
            ..self
        }
    }

    /// The key `userId` is pseudonymised with, if any.
    pub(crate) fn user_id_key(&self) -> Option<secret::Key> {
        self.user_id_key
    }

    /// True when these rules store `userId` as its pseudonym.
    pub fn pseudonymizes_user_id(&self) -> bool {
        self.user_id_key.is_some()
    }

    /// The value to store for the visit-level string field `field` (an index into
    /// `schema::VISIT_STRINGS`): `ip` masked, `userId` pseudonymised, as the rules say;
    /// other fields as given.
    pub(crate) fn stored_visit_string<'v>(
        &self,
        field: usize,
        value: &'v str,
    ) -> Result<Cow<'v, str>, String> {
        match field {
            crate::schema::IP_FIELD => self.stored_ip(value),
            crate::schema::USER_ID_FIELD => Ok(match &self.user_id_key {
                Some(key) if !value.is_empty() => Cow::Owned(key.pseudonym(value)),
                _ => Cow::Borrowed(value),
            }),
            _ => Ok(Cow::Borrowed(value)),
        }
    }

    /// How many bytes of `ip` these rules mask, if any.
    pub fn ip_mask(&self) -> Option<u8> {
        self.anonymize_ip
    }

    /// The `ip` value to store for `value`: masked and canonical when the rules mask
    /// IPs, else `value` itself. An empty value stays empty (no value to mask); anything
    /// else that is not an IP address is an error (`not an IP address: "…"`).
    pub(crate) fn stored_ip<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match self.anonymize_ip {
            None => Ok(Cow::Borrowed(value)),
            Some(_) if value.trim().is_empty() => Ok(Cow::Borrowed("")),
            Some(n) => anonymize_ip(value, n)
                .map(Cow::Owned)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Start of the UTC day `days` days before `now_ms`'s: the cut-off of a retention of
/// `days` days at `now_ms` (visits that started before it have expired).
pub fn retention_cutoff(now_ms: i64, days: u32) -> i64 {
    const DAY: i64 = 86_400_000;
    now_ms.div_euclid(DAY).saturating_sub(i64::from(days)) * DAY
}

/// Whether a stored `userId` has the form of a pseudonym (64 lowercase hexadecimal
/// digits): retroactive pseudonymisation leaves it alone.
pub(crate) fn looks_like_pseudonym(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_mask_only_when_asked() {
        let none = WriteRules::default();
        assert_eq!(none.stored_ip("not an ip").unwrap(), "not an ip");
        let two = WriteRules::anonymizing_ip(Some(2)).unwrap();
        assert_eq!(two.ip_mask(), Some(2));
        assert_eq!(two.stored_ip("192.168.17.4").unwrap(), "192.168.0.0");
        assert_eq!(two.stored_ip("").unwrap(), "");
        assert_eq!(two.stored_ip("x").unwrap_err(), r#"not an IP address: "x""#);
        assert_eq!(
            WriteRules::anonymizing_ip(Some(5)),
            Err(IpError::MaskTooLong(5))
        );
    }
}
