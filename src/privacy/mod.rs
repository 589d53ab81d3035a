//! Privacy: what sightline does to personal data before it is stored.
//!
//! - [`ip`]: IP anonymisation, Matomo's masking rule, and the one canonical text form
//!   masked addresses are stored in.
//!
//! [`WriteRules`] carries the privacy rules of one write (an import, a transaction) down
//! to the row parsers, which apply them to each row before it joins a batch: so nothing
//! unmasked reaches a batch, a run file or a part. `docs/privacy.md` is the user's
//! reference.

pub(crate) mod ip;
pub(crate) mod rewrite;

use std::borrow::Cow;

pub use ip::{IpError, MAX_IP_MASK_BYTES, anonymize_ip, anonymize_ip_addr};
pub use rewrite::{Anonymization, PrivacyOutcome};

/// The privacy rules a write applies to every row it stores. The default applies none:
/// values are stored as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// Mask this many bytes of every `ip` (0 to [`MAX_IP_MASK_BYTES`]; checked by
    /// [`WriteRules::anonymizing_ip`]), storing it in canonical form; `None` stores `ip`
    /// as given, unchecked.
    anonymize_ip: Option<u8>,
}

impl WriteRules {
    /// Rules that mask `bytes` bytes of every `ip` (`None`: store `ip` as given). An
    /// error if `bytes` is more than [`MAX_IP_MASK_BYTES`].
    pub fn anonymizing_ip(bytes: Option<u8>) -> Result<WriteRules, IpError> {
        if let Some(n) = bytes {
            ip::check_mask(n)?;
        }
        Ok(WriteRules {
            anonymize_ip: bytes,
        })
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
