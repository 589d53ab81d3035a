//! The privacy audit log: `privacy-log` in the database directory, one record per
//! erasure, purge, retroactive anonymisation and settings change.
//!
//! A record says when (UTC milliseconds), what ([`AuditAction`]), which kind of selector
//! ([`SelectorKind`]), a keyed hash of the selector's text (HMAC-SHA-256 under the
//! database's audit key, `secret`), the counts of what it affected and, for a settings
//! change, the new settings. Never the selector or an identifier in clear: "was X
//! erased?" is answered by hashing X again ([`Db::was_erased`](crate::Db::was_erased)).
//!
//! # Layout
//!
//! ```text
//! header   magic "SLAUDIT\x01" (8) | version u32 | CRC32C u32 of the 12 bytes before
//! record   length u32 | CRC32C u32 of the length | payload (bincode, `length` bytes)
//!          | CRC32C u32 of length, its checksum and payload | end byte 0xA5
//! ```
//!
//! The file is created whole — header and first record under a temporary name, fsynced,
//! renamed, the directory fsynced — so it never exists without a complete header.
//! Later records are appended and fsynced one at a time; an append that returned is
//! durable.
//!
//! **A torn tail.** Power lost during an append leaves the last record cut short, or of
//! its full length with its end zeroed (the size reached the disk, the data did not).
//! Reading stops there and ignores it, and the next append cuts it off first. Exactly
//! these are taken for a torn append: a record whose checked length runs past the end
//! of the file; a last record whose end byte is 0 and whose checksum fails; a header
//! that fails its checksum with nothing but zero bytes after its length. Any other
//! damage — a bad checksum with more records after it, a bad file header — is a
//! corruption error naming the file and the offset.

use std::path::Path;

use bincode::{Decode, Encode};
use serde::Serialize;

use super::secret::{Key, SECRET_BYTES, hex};
use super::settings::PrivacySettings;
use crate::error::{Error, Result};
use crate::storage::checksum::crc32c;
use crate::storage::codec;

/// The audit log's file name.
pub const LOG_FILE: &str = "privacy-log";

const MAGIC: [u8; 8] = *b"SLAUDIT\x01";

/// Audit log format written (and read) by this build.
pub const LOG_VERSION: u32 = 1;

/// Bytes of the file header.
const HEADER: usize = 16;

/// The byte that ends every record.
const END: u8 = 0xA5;

/// Bytes a record adds to its payload: length, its checksum, checksum, end byte.
const FRAME: usize = 13;

/// The largest payload a record may declare (a record is about a hundred bytes).
const MAX_PAYLOAD: usize = 64 << 10;

/// What a logged operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AuditAction {
    /// Data of visitors erased (`sightline privacy erase`).
    Erase,
    /// Visits removed for their age (`sightline privacy purge`, retention).
    Purge,
    /// Stored visits anonymised retroactively (`sightline privacy anonymize`).
    Anonymize,
    /// The privacy settings changed (the record carries the new ones).
    Settings,
}

impl AuditAction {
    const ALL: [AuditAction; 4] = [
        AuditAction::Erase,
        AuditAction::Purge,
        AuditAction::Anonymize,
        AuditAction::Settings,
    ];

    /// Its name: `erase`, `purge`, `anonymize`, `settings`.
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Erase => "erase",
            AuditAction::Purge => "purge",
            AuditAction::Anonymize => "anonymize",
            AuditAction::Settings => "settings",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }
}

/// Which kind of selector chose the data a logged operation affected. Its
/// [`name`](SelectorKind::name) is hashed with the selector's text, so a visitor id and
/// a user id of the same text have different hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SelectorKind {
    /// A `visitorId`.
    Visitor,
    /// A `userId`, in clear (as the person gives it, not its pseudonym).
    UserId,
    /// A segment definition.
    Segment,
    /// An age: visits that started before a cut-off (its text: as the caller states it,
    /// e.g. `180d`).
    OlderThan,
    /// A time range (its text: as the caller states it, e.g. `2026-01-01..2026-01-31`).
    Range,
    /// Everything (the text is empty).
    All,
    /// No selector: a settings change.
    None,
}

impl SelectorKind {
    const ALL: [SelectorKind; 7] = [
        SelectorKind::Visitor,
        SelectorKind::UserId,
        SelectorKind::Segment,
        SelectorKind::OlderThan,
        SelectorKind::Range,
        SelectorKind::All,
        SelectorKind::None,
    ];

    /// Its name: `visitor`, `userId`, `segment`, `olderThan`, `range`, `all`, `none`.
    pub fn name(self) -> &'static str {
        match self {
            SelectorKind::Visitor => "visitor",
            SelectorKind::UserId => "userId",
            SelectorKind::Segment => "segment",
            SelectorKind::OlderThan => "olderThan",
            SelectorKind::Range => "range",
            SelectorKind::All => "all",
            SelectorKind::None => "none",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }
}

/// How much a logged operation affected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuditCounts {
    /// Visitors.
    pub visitors: u64,
    /// Visits.
    pub visits: u64,
    /// Events.
    pub events: u64,
}

/// An operation to log ([`Db::audit`](crate::Db::audit)). The selector text is hashed,
/// never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// What was done.
    pub action: AuditAction,
    /// Which kind of selector chose the data.
    pub selector_kind: SelectorKind,
    /// The selector's text (a visitor id, a user id in clear, a segment definition …),
    /// exactly as [`Db::was_erased`](crate::Db::was_erased) will be asked about it.
    pub selector: String,
    /// What it affected.
    pub counts: AuditCounts,
}

impl AuditRecord {
    /// A record of `action` on the data `selector` of kind `kind` chose.
    pub fn new(
        action: AuditAction,
        kind: SelectorKind,
        selector: impl Into<String>,
        counts: AuditCounts,
    ) -> AuditRecord {
        AuditRecord {
            action,
            selector_kind: kind,
            selector: selector.into(),
            counts,
        }
    }
}

/// A record read back from the audit log ([`Db::privacy_log`](crate::Db::privacy_log)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, in Unix milliseconds (UTC).
    pub time_ms: i64,
    /// What was done.
    pub action: AuditAction,
    /// Which kind of selector chose the data.
    pub selector_kind: SelectorKind,
    /// HMAC-SHA-256 of the selector under the database's audit key, 64 lowercase hex
    /// digits; `None` for a settings change.
    pub selector_hash: Option<String>,
    /// What it affected.
    #[serde(flatten)]
    pub counts: AuditCounts,
    /// For a settings change, the new settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<PrivacySettings>,
}

/// A record's payload, version 1.
#[derive(Encode, Decode)]
struct Payload {
    time_ms: i64,
    action: u8,
    kind: u8,
    hash: Option<[u8; SECRET_BYTES]>,
    visitors: u64,
    visits: u64,
    events: u64,
    settings: Option<(Option<u8>, bool, Option<u32>)>,
}

/// The record of `record` at `time_ms`, hashed with `key` (none for a settings change).
pub fn entry(
    record: &AuditRecord,
    key: Option<&Key>,
    time_ms: i64,
    settings: Option<PrivacySettings>,
) -> AuditEntry {
    AuditEntry {
        time_ms,
        action: record.action,
        selector_kind: record.selector_kind,
        selector_hash: key
            .map(|k| hex(&k.selector_hash(record.selector_kind.name(), &record.selector))),
        counts: record.counts,
        settings,
    }
}

/// The file header.
pub fn header() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&LOG_VERSION.to_le_bytes());
    out.extend_from_slice(&crc32c(&out).to_le_bytes());
    out
}

/// One record, framed.
pub fn encode(entry: &AuditEntry) -> Result<Vec<u8>> {
    let hash = match &entry.selector_hash {
        None => None,
        Some(h) => Some(unhex(h).ok_or_else(|| Error::internal("a selector hash is not hex"))?),
    };
    let payload = Payload {
        time_ms: entry.time_ms,
        action: entry.action.code(),
        kind: entry.selector_kind.code(),
        hash,
        visitors: entry.counts.visitors,
        visits: entry.counts.visits,
        events: entry.counts.events,
        settings: entry
            .settings
            .map(|s| (s.anonymize_ip, s.pseudonymize_user_id, s.retention_days)),
    };
    let payload = codec::encode(&payload).map_err(Error::internal)?;
    let len = u32::try_from(payload.len()).map_err(|_| Error::internal("audit record too long"))?;
    let mut out = Vec::with_capacity(payload.len() + FRAME);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c(&len.to_le_bytes()).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32c(&out).to_le_bytes());
    out.push(END);
    Ok(out)
}

/// What a read of the log found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The records, in order.
    pub entries: Vec<AuditEntry>,
    /// Bytes of the file that hold them (with the header): where the next record goes.
    pub valid_len: u64,
    /// True when a torn last record follows them.
    pub torn: bool,
}

/// Reads a whole log file (read from `path`).
pub fn scan(path: &Path, bytes: &[u8]) -> Result<Scan> {
    let corrupt =
        |at: usize, why: &str| Error::corrupt(path, format!("audit log at byte {at}: {why}"));
    if bytes.len() < HEADER || bytes[..8] != MAGIC {
        return Err(Error::corrupt(path, "audit log: bad file header"));
    }
    let le = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if crc32c(&bytes[..12]) != le(12) {
        return Err(Error::corrupt(
            path,
            "audit log: file header checksum mismatch",
        ));
    }
    if le(8) != LOG_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: le(8),
            supported: LOG_VERSION,
        });
    }
    let mut scan = Scan::default();
    let mut at = HEADER;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 8 {
            scan.torn = true;
            break;
        }
        let len = le(at) as usize;
        if crc32c(&rest[..4]) != le(at + 4) {
            // A zeroed tail (power lost with the size on disk, the data not) leaves
            // nothing but zeros after the length; anything else is damage.
            if rest[8..].iter().all(|&b| b == 0) {
                scan.torn = true;
                break;
            }
            return Err(corrupt(at, "record header checksum mismatch"));
        }
        if len == 0 || len > MAX_PAYLOAD {
            return Err(corrupt(at, "record length out of range"));
        }
        let end = at + len + FRAME;
        if end > bytes.len() {
            scan.torn = true;
            break;
        }
        let body = &bytes[at..end - 5];
        if crc32c(body) != le(end - 5) || bytes[end - 1] != END {
            if end == bytes.len() && bytes[end - 1] == 0 {
                scan.torn = true;
                break;
            }
            return Err(corrupt(at, "record checksum mismatch"));
        }
        let entry = decode(&body[8..]).map_err(|why| corrupt(at, &why))?;
        scan.entries.push(entry);
        at = end;
    }
    scan.valid_len = at as u64;
    Ok(scan)
}

fn decode(payload: &[u8]) -> std::result::Result<AuditEntry, String> {
    let p: Payload = codec::decode(payload)?;
    let action = AuditAction::ALL
        .into_iter()
        .find(|a| a.code() == p.action)
        .ok_or_else(|| format!("unknown action {}", p.action))?;
    let selector_kind = SelectorKind::ALL
        .into_iter()
        .find(|k| k.code() == p.kind)
        .ok_or_else(|| format!("unknown selector kind {}", p.kind))?;
    Ok(AuditEntry {
        time_ms: p.time_ms,
        action,
        selector_kind,
        selector_hash: p.hash.map(|h| hex(&h)),
        counts: AuditCounts {
            visitors: p.visitors,
            visits: p.visits,
            events: p.events,
        },
        settings: p.settings.map(|(ip, pseudo, days)| PrivacySettings {
            anonymize_ip: ip,
            pseudonymize_user_id: pseudo,
            retention_days: days,
        }),
    })
}

fn unhex(text: &str) -> Option<[u8; SECRET_BYTES]> {
    let b = text.as_bytes();
    if b.len() != SECRET_BYTES * 2 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; SECRET_BYTES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secret::Secret;

    fn log_of(n: usize) -> (Vec<u8>, Vec<AuditEntry>, Vec<usize>) {
        let key = Secret([3; SECRET_BYTES]).audit_key();
        let mut bytes = header();
        let mut entries = Vec::new();
        let mut ends = Vec::new();
        for i in 0..n {
            let r = AuditRecord::new(
                AuditAction::Erase,
                SelectorKind::Visitor,
                format!("v{i}"),
                AuditCounts {
                    visitors: 1,
                    visits: i as u64,
                    events: 10,
                },
            );
            let e = entry(&r, Some(&key), 1_767_225_600_000 + i as i64, None);
            bytes.extend(encode(&e).unwrap());
            ends.push(bytes.len());
            entries.push(e);
        }
        (bytes, entries, ends)
    }

    #[test]
    fn records_read_back_and_a_torn_tail_is_ignored() {
        let (bytes, entries, ends) = log_of(3);
        let p = Path::new("privacy-log");
        let s = scan(p, &bytes).unwrap();
        assert_eq!(
            (s.entries, s.valid_len, s.torn),
            (entries.clone(), bytes.len() as u64, false)
        );
        let last_start = ends[1];
        // Every prefix of the last record, and the last record zeroed from any byte on.
        for cut in last_start..bytes.len() {
            let s = scan(p, &bytes[..cut]).unwrap();
            assert_eq!(s.entries, entries[..2], "cut at {cut}");
            assert_eq!(s.valid_len, last_start as u64);
            assert_eq!(s.torn, cut > last_start);
            let mut zeroed = bytes.clone();
            zeroed[cut..].iter_mut().for_each(|b| *b = 0);
            let s = scan(p, &zeroed).unwrap();
            assert_eq!((s.entries.len(), s.torn), (2, true), "zeroed from {cut}");
        }
    }

    #[test]
    fn damage_that_is_not_a_torn_tail_is_corruption() {
        let (bytes, _, ends) = log_of(3);
        let p = Path::new("privacy-log");
        // Any flip before the last record, and any flip of the last record but to its
        // end byte's zero, is reported.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            let r = scan(p, &b);
            assert!(
                r.as_ref()
                    .is_err_and(|e| e.kind() == crate::ErrorKind::Corruption),
                "flip at {i} (records end at {ends:?}): {r:?}"
            );
        }
        assert!(scan(p, &bytes[..HEADER - 1]).is_err());
        assert_eq!(scan(p, &header()).unwrap().entries, vec![]);
    }
}
