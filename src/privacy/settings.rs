//! The privacy settings stored in the database, and the file that holds them.
//!
//! `privacy-<generation>` (20 digits) holds the [`PrivacySettings`] and the database
//! secret ([`Secret`]). It is framed like a manifest — magic, version, payload length,
//! payload (bincode), CRC32C of everything before it — and replaced the way manifests
//! are: the next generation is written under a temporary name, fsynced, renamed to a
//! name that does not exist yet (never over a file), and the directory fsynced; only
//! then are older generations removed. Readers take the highest generation, so a crash
//! at any moment leaves the old settings or the new ones, never a mix. A damaged
//! newest file is a corruption error: the settings are not guessed, since guessing
//! "off" would store personal data the user asked to mask.
//!
//! The file is outside the manifests: the clean-up of commits never removes it
//! (`storage::manifest::orphans`), and `check` verifies it.

use std::path::Path;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::secret::{SECRET_BYTES, Secret};
use crate::error::{Error, Result};
use crate::storage::codec;
use crate::storage::fs::{self, VfsDir};
use crate::storage::manifest::{frame_parts, framed};

/// File name prefix of the settings file (`privacy-<generation>`).
pub const SETTINGS_PREFIX: &str = "privacy-";

/// Magic of the settings file.
const MAGIC: [u8; 8] = *b"SLPRIV\0\x01";

/// Settings file format written (and read) by this build.
pub const SETTINGS_VERSION: u32 = 1;

/// The privacy settings of a database, applied to every write made after they are
/// set: imports, write transactions and appenders (`docs/privacy.md`, "Settings").
/// The default applies nothing.
///
/// As JSON (`sightline privacy settings --json`):
/// `{"anonymizeIp": 2, "pseudonymizeUserId": true, "retentionDays": null}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacySettings {
    /// Mask this many bytes (0 to [`MAX_IP_MASK_BYTES`](crate::MAX_IP_MASK_BYTES)) of
    /// every stored `ip` ([`anonymize_ip`](crate::anonymize_ip)); `None` stores `ip` as
    /// given. An import's own `ImportOptions::anonymize_ip` wins for that import.
    pub anonymize_ip: Option<u8>,
    /// Store every non-empty `userId` as its keyed hash under the database secret
    /// ([`Db::pseudonymize_user_id`](crate::Db::pseudonymize_user_id)).
    pub pseudonymize_user_id: bool,
    /// Keep visits for this many days (at least 1); `None` keeps them all.
    pub retention_days: Option<u32>,
}

impl PrivacySettings {
    /// How many days visits are kept, if the database has a retention period.
    pub fn retention_days(&self) -> Option<u32> {
        self.retention_days
    }

    /// Checks the values: an IP mask of at most 4 bytes, a retention of at least a day.
    pub fn check(&self) -> Result<()> {
        if let Some(n) = self.anonymize_ip {
            super::ip::check_mask(n).map_err(crate::db::ip_mask_error)?;
        }
        if self.retention_days == Some(0) {
            return Err(Error::InvalidArgument {
                argument: "retention_days",
                reason: "a retention of 0 days would keep nothing: give at least 1 day, \
                         or none to keep every visit"
                    .into(),
            });
        }
        Ok(())
    }
}

/// What a settings file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Its generation (0: no file yet).
    pub generation: u64,
    /// The settings.
    pub settings: PrivacySettings,
    /// The database secret, once drawn.
    pub secret: Option<Secret>,
}

/// The payload of a settings file, version 1.
#[derive(Encode, Decode)]
struct Payload {
    generation: u64,
    anonymize_ip: Option<u8>,
    pseudonymize_user_id: bool,
    retention_days: Option<u32>,
    secret: Option<[u8; SECRET_BYTES]>,
}

/// File name of settings generation `generation`.
pub fn file_name(generation: u64) -> String {
    format!("{SETTINGS_PREFIX}{generation:020}")
}

/// The generation a settings file name carries (`privacy-` and 20 digits).
pub fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix(SETTINGS_PREFIX)
        .filter(|g| g.len() == 20 && g.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|g| g.parse().ok())
}

/// Encodes a settings file.
pub fn encode(stored: &Stored) -> Vec<u8> {
    let s = &stored.settings;
    let payload = Payload {
        generation: stored.generation,
        anonymize_ip: s.anonymize_ip,
        pseudonymize_user_id: s.pseudonymize_user_id,
        retention_days: s.retention_days,
        secret: stored.secret.map(|k| k.0),
    };
    framed(
        MAGIC,
        SETTINGS_VERSION,
        &codec::encode(&payload).unwrap_or_default(),
    )
}

/// Decodes a settings file read from `path`: any damage is a corruption error naming
/// the file, a newer format an unsupported-version error.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Stored> {
    let (version, payload, rest) = frame_parts(path, MAGIC, bytes)?;
    if version != SETTINGS_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: SETTINGS_VERSION,
        });
    }
    let bad = |why: String| Error::corrupt(path, format!("privacy settings: {why}"));
    if !rest.is_empty() {
        return Err(bad("bytes after the checksum".into()));
    }
    let p: Payload = codec::decode(payload).map_err(bad)?;
    let stored = Stored {
        generation: p.generation,
        settings: PrivacySettings {
            anonymize_ip: p.anonymize_ip,
            pseudonymize_user_id: p.pseudonymize_user_id,
            retention_days: p.retention_days,
        },
        secret: p.secret.map(Secret),
    };
    stored.settings.check().map_err(|e| bad(e.to_string()))?;
    if stored.settings.pseudonymize_user_id && stored.secret.is_none() {
        return Err(bad(
            "user ids are pseudonymised, but there is no secret".into()
        ));
    }
    Ok(stored)
}

/// Generations of the settings files present in `dir`, ascending.
fn generations(dir: &dyn VfsDir) -> Result<Vec<u64>> {
    let mut gens: Vec<u64> = fs::list(dir)?
        .iter()
        .filter_map(|n| generation_of(n))
        .collect();
    gens.sort_unstable();
    Ok(gens)
}

/// Reads generation `generation` of `dir`.
pub fn read(dir: &dyn VfsDir, generation: u64) -> Result<Stored> {
    let name = file_name(generation);
    let path = fs::path_of(dir, &name);
    let stored = decode(&path, &fs::read(dir, &name)?)?;
    if stored.generation != generation {
        return Err(Error::corrupt(
            &path,
            format!(
                "holds privacy settings generation {} under the name of {generation}",
                stored.generation
            ),
        ));
    }
    Ok(stored)
}

/// The settings of the database in `dir`: its newest settings file, or the defaults
/// (generation 0, no secret) when it has none.
pub fn load(dir: &dyn VfsDir) -> Result<Stored> {
    match generations(dir)?.last() {
        Some(&g) => read(dir, g),
        None => Ok(Stored::default()),
    }
}

/// The generation the next settings file of `dir` takes: past every one present, so
/// its name is new (a file left by an interrupted change is never replaced).
pub fn next_generation(dir: &dyn VfsDir) -> Result<u64> {
    let highest = fs::list(dir)?
        .iter()
        .filter_map(|n| generation_of(n.strip_prefix(fs::TMP_PREFIX).unwrap_or(n)))
        .max()
        .unwrap_or(0);
    Ok(highest.saturating_add(1))
}

/// Writes `stored` (whose generation is [`next_generation`]) durably, then removes the
/// older settings files. When it returns the new settings survive a crash; on failure
/// the file may or may not be in place (the caller reads back what is).
pub fn write(dir: &dyn VfsDir, stored: &Stored) -> Result<()> {
    let name = file_name(stored.generation);
    fs::write_durable(dir, &name, &encode(stored))?;
    // Best effort: an older generation left behind is harmless (the newest wins) and
    // goes at the next change.
    for g in generations(dir)? {
        if g < stored.generation {
            let _ = fs::remove(dir, &file_name(g));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_every_damage_is_detected() {
        let stored = Stored {
            generation: 3,
            settings: PrivacySettings {
                anonymize_ip: Some(2),
                pseudonymize_user_id: true,
                retention_days: Some(180),
            },
            secret: Some(Secret([9; SECRET_BYTES])),
        };
        let bytes = encode(&stored);
        let p = Path::new("privacy-x");
        assert_eq!(decode(p, &bytes).unwrap(), stored);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(decode(p, &b).is_err(), "a flip at {i} went undetected");
        }
        for n in 0..bytes.len() {
            assert!(decode(p, &bytes[..n]).is_err(), "cut at {n} undetected");
        }
    }

    #[test]
    fn names_carry_the_generation_and_nothing_else_is_one() {
        assert_eq!(file_name(7), "privacy-00000000000000000007");
        assert_eq!(generation_of(&file_name(7)), Some(7));
        for other in ["privacy-log", "privacy-7", "privacy-0000000000000000000x"] {
            assert_eq!(generation_of(other), None, "{other}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_what_to_do() {
        let ip = PrivacySettings {
            anonymize_ip: Some(5),
            ..PrivacySettings::default()
        };
        assert!(ip.check().unwrap_err().to_string().contains("give 0 to 4"));
        let days = PrivacySettings {
            retention_days: Some(0),
            ..PrivacySettings::default()
        };
        assert!(days.check().unwrap_err().to_string().contains("at least 1"));
        let json = serde_json::to_string(&PrivacySettings::default()).unwrap();
        assert_eq!(
            json,
            r#"{"anonymizeIp":null,"pseudonymizeUserId":false,"retentionDays":null}"#
        );
    }
}
