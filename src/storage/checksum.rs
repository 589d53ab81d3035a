//! Checksums: CRC32C (Castagnoli, hardware accelerated) over every section and header.

/// CRC32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}
