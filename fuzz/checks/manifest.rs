//! `manifest`: arbitrary bytes as a manifest and as a deletion file.

use std::path::Path;

use sightline::ErrorKind;
use sightline::testing::crc32c;
use sightline::testing::{MANIFEST_VERSION, Manifest, decode_deletions, encode_deletions};

/// Length of the frame around a payload: magic (8), version (4), length (4), CRC (4).
const FRAME: usize = 20;

/// `bytes` with the frame's length field and CRC recomputed, so that the payload
/// decoder sees arbitrary content; `None` if too short to hold a frame.
fn reframe(bytes: &[u8]) -> Option<Vec<u8>> {
    let n = bytes.len();
    if n < FRAME {
        return None;
    }
    let mut b = bytes.to_vec();
    b[12..16].copy_from_slice(&((n - FRAME) as u32).to_le_bytes());
    let crc = crc32c(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    Some(b)
}

/// Decodes `bytes` as a manifest and as a deletion file: each returns a value or a
/// corruption / version error, never a panic. A decoded manifest of the current
/// version re-encodes to the very same frame (the encoding is canonical; the inline
/// blobs after it are not the manifest's to decode), and any decoded manifest
/// re-encodes to one that decodes to an equal value; a decoded deletion set re-encodes
/// to a file that decodes to an equal set.
fn decode_both(bytes: &[u8]) {
    let path = Path::new("fuzz");
    match Manifest::decode(path, bytes) {
        Ok(m) => {
            let again = m.encode();
            let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            if version == MANIFEST_VERSION {
                assert_eq!(
                    again[..],
                    bytes[..again.len().min(bytes.len())],
                    "manifest re-encodes differently: {m:?}"
                );
            }
            assert_eq!(Manifest::decode(path, &again).ok(), Some(m));
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Corruption | ErrorKind::UnsupportedVersion
            ),
            "manifest: {e}"
        ),
    }
    match decode_deletions(path, bytes) {
        Ok(set) => {
            let again = encode_deletions(&set);
            let back = decode_deletions(path, &again);
            assert_eq!(
                back.ok().as_ref(),
                Some(&set),
                "deletions do not round-trip"
            );
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Corruption | ErrorKind::UnsupportedVersion
            ),
            "deletions: {e}"
        ),
    }
}

/// Any bytes as a manifest and as a deletion file, as they are and with their frame
/// (length and CRC) recomputed; see `decode_both` for what must hold.
pub fn manifest(data: &[u8]) {
    decode_both(data);
    if let Some(b) = reframe(data) {
        decode_both(&b);
    }
}
