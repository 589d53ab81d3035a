//! The database secret and the keyed hashes made with it.
//!
//! A database that pseudonymises user ids or keeps an audit log has a secret: 32 random
//! bytes from the operating system (`getrandom`), drawn once and stored in the privacy
//! settings file (`settings`). Two keys are derived from it, one per use, so that a
//! hash made for one purpose never equals a hash made for the other:
//!
//! - the **pseudonym key** = HMAC-SHA-256(secret, `"sightline userId pseudonym v1"`): a
//!   `userId` is stored as HMAC-SHA-256(pseudonym key, value), 64 lowercase hex digits;
//! - the **audit key** = HMAC-SHA-256(secret, `"sightline audit selector v1"`): the audit
//!   log stores HMAC-SHA-256(audit key, kind name, a zero byte, selector text).
//!
//! Without the secret a hash cannot be turned back into its input, nor recomputed;
//! with it, a guess can be tested (`docs/privacy.md`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

/// Bytes of the secret and of every key and hash.
pub const SECRET_BYTES: usize = 32;

/// The database secret. Its `Debug` form does not show it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret(pub(crate) [u8; SECRET_BYTES]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A key derived from the secret for one use. Its `Debug` form does not show it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; SECRET_BYTES]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Secret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Result<Secret> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io {
            op: "draw random bytes for",
            path: "the privacy secret".into(),
            error: std::io::Error::other(e.to_string()),
        })?;
        Ok(Secret(bytes))
    }

    /// The key user-id pseudonyms are made with.
    pub fn pseudonym_key(&self) -> Key {
        Key(hmac(&self.0, &[b"sightline userId pseudonym v1"]))
    }

    /// The key the audit log's selector hashes are made with.
    pub fn audit_key(&self) -> Key {
        Key(hmac(&self.0, &[b"sightline audit selector v1"]))
    }
}

impl Key {
    /// The pseudonym of a user id: HMAC-SHA-256 under this key, 64 lowercase hex digits.
    pub fn pseudonym(&self, user_id: &str) -> String {
        hex(&hmac(&self.0, &[user_id.as_bytes()]))
    }

    /// The hash of a selector: HMAC-SHA-256 of its kind's name, a zero byte and its
    /// text (so that equal texts of two kinds hash apart).
    pub fn selector_hash(&self, kind: &str, text: &str) -> [u8; SECRET_BYTES] {
        hmac(&self.0, &[kind.as_bytes(), &[0], text.as_bytes()])
    }
}

/// HMAC-SHA-256 of the concatenation of `parts` under `key`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; SECRET_BYTES] {
    // HMAC takes a key of any length (a long one is hashed first), so this never fails;
    // the fallback keeps library code free of panics all the same.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; SECRET_BYTES];
    };
    for p in parts {
        mac.update(p);
    }
    let mut out = [0u8; SECRET_BYTES];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_differ_by_purpose_and_pseudonyms_are_stable() {
        let s = Secret([7; SECRET_BYTES]);
        assert_ne!(s.pseudonym_key(), s.audit_key());
        let k = s.pseudonym_key();
        let p = k.pseudonym("ann@example.org");
        assert_eq!(p.len(), 64);
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(p, k.pseudonym("ann@example.org"));
        assert_ne!(p, k.pseudonym("bob@example.org"));
        assert_ne!(
            p,
            Secret([8; SECRET_BYTES])
                .pseudonym_key()
                .pseudonym("ann@example.org")
        );
        let a = s.audit_key();
        assert_ne!(
            a.selector_hash("visitor", "x"),
            a.selector_hash("userId", "x")
        );
        assert_ne!(hex(&a.selector_hash("userId", "ann@example.org")), p);
        assert_eq!(format!("{s:?} {k:?}"), "Secret(…) Key(…)");
    }
}
