//! bincode configuration for the small metadata structures (part directories, manifests).
//! Column data never goes through bincode; it is laid out by hand for mmap access.

use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian};

/// Upper bound on a decoded metadata structure: corrupt lengths cannot allocate more.
pub const META_LIMIT: usize = 64 << 20;

type Config = Configuration<LittleEndian, Fixint, Limit<META_LIMIT>>;

fn config() -> Config {
    config::standard()
        .with_fixed_int_encoding()
        .with_limit::<META_LIMIT>()
}

/// Encodes a metadata value.
pub fn encode<T: bincode::Encode>(value: &T) -> Result<Vec<u8>, String> {
    bincode::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

/// Decodes a metadata value that must span all of `bytes`.
pub fn decode<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, String> {
    let (value, used) = bincode::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!(
            "{} trailing bytes after metadata",
            bytes.len() - used
        ));
    }
    Ok(value)
}
