//! The manifest: the one small file whose atomic replacement is a commit.
//!
//! `MANIFEST-<generation>` names the live parts (and their deletion files), the database
//! options and the custom dimension types. A commit writes the new parts, makes them
//! durable, then publishes manifest N+1 by temp-file + fsync + rename + directory fsync.
//! Readers take the highest generation. A commit's manifest names its rollback
//! generation (the one it replaced): that manifest and the files it names are kept, so
//! a damaged newest manifest can be rolled back by hand (see docs/file-format.md). A
//! compaction's manifest names none (it changes no answer; the data it replaced goes
//! at the next clean-up).
//!
//! Layout: magic (8) | version u32 | payload length u32 | payload (bincode) | CRC32C u32
//! of everything before it | inline blobs (version 2).
//!
//! Version 2 lets a manifest carry small parts and deletion sets itself, after its
//! checksummed frame (each blob has a checksum of its own): a small commit then writes
//! one file, not three. Later manifests refer to such a blob by the manifest's file name
//! and the blob's offset, which keeps that manifest file as long as the blob is live.
//! Version 1 manifests (every part and deletion set in a file of its own) are still read.

use std::path::Path;

use bincode::{Decode, Encode};
use roaring::RoaringBitmap;

use super::checksum::crc32c;
use super::codec;
use super::format::{DEL_MAGIC, FORMAT_VERSION, MANIFEST_MAGIC};
use super::fs::{self, VfsDir};
use crate::error::{Error, Result};
use crate::schema::CustomDim;

/// File name prefix of manifests.
pub const MANIFEST_PREFIX: &str = "MANIFEST-";

/// Manifest format written by this build; it reads versions 1 and 2.
pub const MANIFEST_VERSION: u32 = 2;

/// A deletion set attached to a part: visitor ordinals that are no longer live there.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct DelEntry {
    /// File name (a deletion file, or the manifest holding it inline).
    pub file: String,
    /// Length in bytes.
    pub bytes: u64,
    /// Number of deleted visitors.
    pub visitors: u32,
    /// Offset in the inline blobs of manifest `file`, if held there.
    pub inline: Option<u64>,
}

/// A live part.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PartEntry {
    /// Unique id (file ids never repeat within a database).
    pub id: u64,
    /// File name (a part file, or the manifest holding the part inline).
    pub file: String,
    /// Length in bytes.
    pub bytes: u64,
    /// CRC32C of the whole file (verified by `check`; readers verify per section).
    pub crc: u32,
    /// Visitors stored (including deleted ones).
    pub visitors: u32,
    /// Visits stored.
    pub visits: u32,
    /// Events stored.
    pub events: u32,
    /// Deleted visitors, if any.
    pub deletions: Option<DelEntry>,
    /// Offset in the inline blobs of manifest `file`, if held there.
    pub inline: Option<u64>,
}

/// The content of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Manifest {
    /// Commit number; the file name carries it too.
    pub generation: u64,
    /// Visit timeout of this database, ms.
    pub visit_timeout_ms: i64,
    /// Next unused file id.
    pub next_file_id: u64,
    /// Live parts.
    pub parts: Vec<PartEntry>,
    /// The generation this one replaced, whose files stay until the next commit (so
    /// that a damaged newest manifest can be rolled back by hand); `None` after a
    /// compaction, which removes the files it replaced at once.
    pub rollback: Option<u64>,
    /// Custom dimensions and their types.
    pub custom: Vec<CustomDim>,
}

impl Manifest {
    /// File name of this generation.
    pub fn file_name(generation: u64) -> String {
        format!("{MANIFEST_PREFIX}{generation:020}")
    }

    /// Every file this manifest references.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().flat_map(|p| {
            std::iter::once(p.file.as_str()).chain(p.deletions.iter().map(|d| d.file.as_str()))
        })
    }

    /// Encodes the manifest file, without inline blobs.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(&[])
    }

    /// Encodes the manifest file followed by `blobs` (the inline parts and deletion
    /// sets its entries point into).
    pub fn encode_with(&self, blobs: &[u8]) -> Vec<u8> {
        let mut out = framed(
            MANIFEST_MAGIC,
            MANIFEST_VERSION,
            &codec::encode(self).unwrap_or_default(),
        );
        out.extend_from_slice(blobs);
        out
    }

    /// Decodes a manifest file read from `path` (either version).
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let (version, payload, _) = unframe_manifest(path, bytes)?;
        let bad = |e: String| Error::corrupt(path, format!("manifest: {e}"));
        if version == 1 {
            let m: v1::Manifest = codec::decode(payload).map_err(bad)?;
            return Ok(m.into());
        }
        codec::decode(payload).map_err(bad)
    }
}

/// The version 1 manifest (no inline blobs): read, never written.
mod v1 {
    use bincode::{Decode, Encode};

    use crate::schema::CustomDim;

    #[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
    pub struct DelEntry {
        pub file: String,
        pub bytes: u64,
        pub visitors: u32,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
    pub struct PartEntry {
        pub id: u64,
        pub file: String,
        pub bytes: u64,
        pub crc: u32,
        pub visitors: u32,
        pub visits: u32,
        pub events: u32,
        pub deletions: Option<DelEntry>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
    pub struct Manifest {
        pub generation: u64,
        pub visit_timeout_ms: i64,
        pub next_file_id: u64,
        pub parts: Vec<PartEntry>,
        pub custom: Vec<CustomDim>,
    }

    impl From<Manifest> for super::Manifest {
        fn from(m: Manifest) -> super::Manifest {
            super::Manifest {
                generation: m.generation,
                visit_timeout_ms: m.visit_timeout_ms,
                next_file_id: m.next_file_id,
                parts: m
                    .parts
                    .into_iter()
                    .map(|p| super::PartEntry {
                        id: p.id,
                        file: p.file,
                        bytes: p.bytes,
                        crc: p.crc,
                        visitors: p.visitors,
                        visits: p.visits,
                        events: p.events,
                        deletions: p.deletions.map(|d| super::DelEntry {
                            file: d.file,
                            bytes: d.bytes,
                            visitors: d.visitors,
                            inline: None,
                        }),
                        inline: None,
                    })
                    .collect(),
                rollback: None,
                custom: m.custom,
            }
        }
    }
}

/// `magic | version | payload length | payload | CRC32C` of everything before it: the
/// frame of manifests, deletion files and the privacy settings file.
pub(crate) fn framed(magic: [u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 20);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The payload of a framed file (a deletion file: version 1, the frame is the whole
/// file).
fn unframe<'a>(path: &Path, magic: [u8; 8], bytes: &'a [u8]) -> Result<&'a [u8]> {
    let (version, payload, rest) = frame_parts(path, magic, bytes)?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if !rest.is_empty() {
        return Err(Error::corrupt(path, "length field does not match the file"));
    }
    Ok(payload)
}

/// A manifest's version, payload and inline blobs.
fn unframe_manifest<'a>(path: &Path, bytes: &'a [u8]) -> Result<(u32, &'a [u8], &'a [u8])> {
    let (version, payload, blobs) = frame_parts(path, MANIFEST_MAGIC, bytes)?;
    match version {
        1 if blobs.is_empty() => Ok((version, payload, blobs)),
        1 => Err(Error::corrupt(path, "length field does not match the file")),
        MANIFEST_VERSION => Ok((version, payload, blobs)),
        _ => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: MANIFEST_VERSION,
        }),
    }
}

/// Splits a framed file: (version, checksummed payload, bytes after the frame). The
/// checksum is verified before anything in the frame is trusted but its length.
pub(crate) fn frame_parts<'a>(
    path: &Path,
    magic: [u8; 8],
    bytes: &'a [u8],
) -> Result<(u32, &'a [u8], &'a [u8])> {
    if bytes.len() < 20 {
        return Err(Error::corrupt(
            path,
            format!("file is {} bytes, too short", bytes.len()),
        ));
    }
    if bytes[..8] != magic {
        return Err(Error::corrupt(path, "bad magic"));
    }
    let le = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let len = le(12) as usize;
    let Some(end) = len.checked_add(16).filter(|&e| e + 4 <= bytes.len()) else {
        return Err(Error::corrupt(
            path,
            "length field runs past the end of the file",
        ));
    };
    if crc32c(&bytes[..end]) != le(end) {
        return Err(Error::corrupt(path, "checksum mismatch"));
    }
    Ok((le(8), &bytes[16..end], &bytes[end + 4..]))
}

/// The blob of `len` bytes at `offset` in the inline blobs of manifest file `file`.
pub fn read_inline(dir: &dyn VfsDir, file: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
    inline_blob(&fs::path_of(dir, file), &fs::read(dir, file)?, offset, len)
}

/// The blob of `len` bytes at `offset` in the inline blobs of the manifest file `bytes`
/// (read from `path`).
pub fn inline_blob(path: &Path, bytes: &[u8], offset: u64, len: u64) -> Result<Vec<u8>> {
    let (_, _, blobs) = unframe_manifest(path, bytes)?;
    let range = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(o, l)| Some(o..o.checked_add(l)?))
        .filter(|r| r.end <= blobs.len());
    match range {
        Some(r) => Ok(blobs[r].to_vec()),
        None => Err(Error::corrupt(
            path,
            format!(
                "an inline blob of {len} bytes at offset {offset} runs past the end of the file"
            ),
        )),
    }
}

/// Generations of the manifests present in `dir`, ascending.
pub fn generations(dir: &dyn VfsDir) -> Result<Vec<u64>> {
    let mut gens: Vec<u64> = fs::list(dir)?
        .iter()
        .filter_map(|n| n.strip_prefix(MANIFEST_PREFIX).and_then(|g| g.parse().ok()))
        .collect();
    gens.sort_unstable();
    Ok(gens)
}

/// Reads and decodes manifest `generation` of `dir`.
pub fn read(dir: &dyn VfsDir, generation: u64) -> Result<Manifest> {
    let name = Manifest::file_name(generation);
    let path = fs::path_of(dir, &name);
    let m = Manifest::decode(&path, &fs::read(dir, &name)?)?;
    if m.generation != generation {
        return Err(Error::corrupt(
            &path,
            format!(
                "holds generation {} under the name of {generation}",
                m.generation
            ),
        ));
    }
    Ok(m)
}

/// Reads the newest manifest of `dir`; `None` when there is none (no database).
pub fn read_newest(dir: &dyn VfsDir) -> Result<Option<Manifest>> {
    match generations(dir)?.last() {
        Some(&g) => read(dir, g).map(Some),
        None => Ok(None),
    }
}

/// True for the names of files the database writes (parts, deletion files, manifests,
/// the privacy settings and audit log, and temporary files); anything else in the
/// directory is never touched.
pub fn is_database_file(name: &str) -> bool {
    ["part-", "del-", fs::TMP_PREFIX, MANIFEST_PREFIX]
        .iter()
        .any(|p| name.starts_with(p))
        || crate::privacy::is_privacy_file(name)
}

/// The files a database directory must keep: the newest manifest, the files it
/// references, and its rollback generation's manifest and files (if it names one and it
/// is present). `known` are manifests the caller holds in memory: they are not read
/// again.
///
/// Fails if the directory cannot be listed or one of those manifests cannot be read —
/// whatever the reason (a transient EIO, EMFILE, ESTALE, or damage): a manifest that
/// cannot be read must protect everything, never nothing.
pub fn needed(dir: &dyn VfsDir, known: &[&Manifest]) -> Result<std::collections::HashSet<String>> {
    let gens = generations(dir)?;
    let mut keep = std::collections::HashSet::new();
    let Some(&newest) = gens.last() else {
        return Ok(keep);
    };
    let mut next = Some(newest);
    for _ in 0..2 {
        let Some(g) = next.filter(|g| gens.binary_search(g).is_ok()) else {
            break;
        };
        let read_here;
        let m = match known.iter().find(|m| m.generation == g) {
            Some(m) => *m,
            None => {
                read_here = read(dir, g)?;
                &read_here
            }
        };
        keep.extend(m.files().map(str::to_string));
        keep.insert(Manifest::file_name(g));
        next = m.rollback;
    }
    Ok(keep)
}

/// Database files of `dir` it need not keep ([`needed`]): leftovers of interrupted
/// commits, and files superseded before the previous commit (or by a compaction).
/// Fails, so that nothing is deleted, when [`needed`] does.
pub fn orphans(dir: &dyn VfsDir, known: &[&Manifest]) -> Result<Vec<String>> {
    let keep = needed(dir, known)?;
    Ok(fs::list(dir)?
        .into_iter()
        .filter(|n| is_database_file(n) && !keep.contains(n))
        // The privacy files live outside the manifests; their module replaces them.
        .filter(|n| !crate::privacy::is_privacy_file(n))
        .collect())
}

/// Encodes a deletion file.
pub fn encode_deletions(deleted: &RoaringBitmap) -> Vec<u8> {
    let mut payload = Vec::with_capacity(deleted.serialized_size());
    let _ = deleted.serialize_into(&mut payload);
    framed(DEL_MAGIC, FORMAT_VERSION, &payload)
}

/// Decodes a deletion file.
pub fn decode_deletions(path: &Path, bytes: &[u8]) -> Result<RoaringBitmap> {
    let payload = unframe(path, DEL_MAGIC, bytes)?;
    RoaringBitmap::deserialize_from(payload)
        .map_err(|e| Error::corrupt(path, format!("deletion bitmap: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_roundtrip_and_every_flip_detected() {
        let m = Manifest {
            generation: 7,
            visit_timeout_ms: 1_800_000,
            next_file_id: 3,
            rollback: Some(6),
            parts: vec![PartEntry {
                id: 1,
                file: "part-1".into(),
                bytes: 10,
                crc: 0,
                visitors: 1,
                visits: 2,
                events: 3,
                deletions: Some(DelEntry {
                    file: "MANIFEST-7".into(),
                    bytes: 4,
                    visitors: 1,
                    inline: Some(6),
                }),
                inline: None,
            }],
            custom: vec![],
        };
        let bytes = m.encode();
        let p = Path::new("MANIFEST-x");
        assert_eq!(Manifest::decode(p, &bytes).unwrap(), m);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            assert!(Manifest::decode(p, &b).is_err(), "flip at {i} undetected");
        }
        for n in 0..bytes.len() {
            assert!(Manifest::decode(p, &bytes[..n]).is_err());
        }
    }

    #[test]
    fn blobs_follow_the_frame_and_are_read_back_by_offset() {
        let m = Manifest {
            generation: 2,
            visit_timeout_ms: 1,
            next_file_id: 1,
            parts: vec![],
            rollback: None,
            custom: vec![],
        };
        let bytes = m.encode_with(b"abcdefgh");
        let p = Path::new("MANIFEST-2");
        assert_eq!(Manifest::decode(p, &bytes).unwrap(), m);
        assert_eq!(inline_blob(p, &bytes, 2, 3).unwrap(), b"cde");
        assert_eq!(inline_blob(p, &bytes, 8, 0).unwrap(), b"");
        for (offset, len) in [(6, 3), (9, 0), (u64::MAX, 2), (0, u64::MAX)] {
            let e = inline_blob(p, &bytes, offset, len).unwrap_err();
            assert!(e.to_string().contains("runs past the end"), "{e}");
        }
        // A manifest whose frame is cut short is damage, blobs or not.
        assert!(Manifest::decode(p, &bytes[..bytes.len() - 9]).is_err());
    }

    #[test]
    fn version_1_manifests_are_read_and_unknown_versions_refused() {
        let old = v1::Manifest {
            generation: 3,
            visit_timeout_ms: 1_800_000,
            next_file_id: 9,
            parts: vec![v1::PartEntry {
                id: 4,
                file: "part-00000004.slp".into(),
                bytes: 100,
                crc: 7,
                visitors: 2,
                visits: 3,
                events: 5,
                deletions: Some(v1::DelEntry {
                    file: "del-00000008.slr".into(),
                    bytes: 30,
                    visitors: 1,
                }),
            }],
            custom: vec![],
        };
        let bytes = framed(MANIFEST_MAGIC, 1, &codec::encode(&old).unwrap());
        let p = Path::new("MANIFEST-3");
        let m = Manifest::decode(p, &bytes).unwrap();
        assert_eq!(m, Manifest::from(old));
        assert_eq!(m.parts[0].inline, None);
        assert_eq!(m.parts[0].deletions.as_ref().unwrap().inline, None);
        // Bytes after a version 1 frame are damage (that version has no blobs).
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Manifest::decode(p, &longer).is_err());

        let newer = framed(MANIFEST_MAGIC, 9, b"whatever");
        let e = Manifest::decode(p, &newer).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::UnsupportedVersion);
        assert!(
            e.to_string()
                .contains("format version 9; this build reads versions 1 to 2"),
            "{e}"
        );
    }
}
