//! The manifest: the one small file whose atomic replacement is a commit.
//!
//! `MANIFEST-<generation>` names the live parts (and their deletion files), the database
//! options and the custom dimension types. A commit writes the new parts, makes them
//! durable, then publishes manifest N+1 by temp-file + fsync + rename + directory fsync.
//! Readers take the highest generation. Generation N-1 and the files it names are kept,
//! so a damaged newest manifest can be rolled back by hand (see docs/file-format.md).
//!
//! Layout: magic (8) | version u32 | payload length u32 | payload (bincode) | CRC32C u32
//! of everything before it.

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

/// A deletion file attached to a part: visitor ordinals that are no longer live there.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct DelEntry {
    /// File name.
    pub file: String,
    /// File length.
    pub bytes: u64,
    /// Number of deleted visitors.
    pub visitors: u32,
}

/// A live part.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PartEntry {
    /// Unique id (file ids never repeat within a database).
    pub id: u64,
    /// File name.
    pub file: String,
    /// File length.
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

    /// Encodes the manifest file.
    pub fn encode(&self) -> Vec<u8> {
        framed(MANIFEST_MAGIC, &codec::encode(self).unwrap_or_default())
    }

    /// Decodes a manifest file read from `path`.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let payload = unframe(path, MANIFEST_MAGIC, bytes)?;
        let m: Manifest =
            codec::decode(payload).map_err(|e| Error::corrupt(path, format!("manifest: {e}")))?;
        Ok(m)
    }
}

fn framed(magic: [u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 20);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn unframe<'a>(path: &Path, magic: [u8; 8], bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.len() < 20 {
        return Err(Error::corrupt(
            path,
            format!("file is {} bytes, too short", bytes.len()),
        ));
    }
    if bytes[..8] != magic {
        return Err(Error::corrupt(path, "bad magic"));
    }
    let n = bytes.len();
    let crc = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
    if crc32c(&bytes[..n - 4]) != crc {
        return Err(Error::corrupt(path, "checksum mismatch"));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if len != n - 20 {
        return Err(Error::corrupt(path, "length field does not match the file"));
    }
    Ok(&bytes[16..n - 4])
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
/// and temporary files); anything else in the directory is never touched.
pub fn is_database_file(name: &str) -> bool {
    ["part-", "del-", fs::TMP_PREFIX, MANIFEST_PREFIX]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Database files of `dir` that neither of the two newest manifests references (nor is
/// one of them): leftovers of interrupted commits, and files superseded before the
/// previous commit. `known` are manifests the caller holds in memory (the commit it
/// just made and the one before): they are not read again.
///
/// Fails, so that nothing is deleted, if the directory cannot be listed or one of the
/// two newest manifests cannot be read — whatever the reason (a transient EIO, EMFILE,
/// ESTALE, or damage): a manifest that cannot be read must protect everything, never
/// nothing.
pub fn orphans(dir: &dyn VfsDir, known: &[&Manifest]) -> Result<Vec<String>> {
    let mut keep = std::collections::HashSet::new();
    for &g in generations(dir)?.iter().rev().take(2) {
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
    }
    Ok(fs::list(dir)?
        .into_iter()
        .filter(|n| is_database_file(n) && !keep.contains(n))
        .collect())
}

/// Encodes a deletion file.
pub fn encode_deletions(deleted: &RoaringBitmap) -> Vec<u8> {
    let mut payload = Vec::with_capacity(deleted.serialized_size());
    let _ = deleted.serialize_into(&mut payload);
    framed(DEL_MAGIC, &payload)
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
            parts: vec![PartEntry {
                id: 1,
                file: "part-1".into(),
                bytes: 10,
                crc: 0,
                visitors: 1,
                visits: 2,
                events: 3,
                deletions: None,
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
}
