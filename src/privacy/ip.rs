//! IP anonymisation: Matomo's masking rule, on `std::net` addresses.
//!
//! N = 0…4 bytes are masked (set to zero):
//!
//! - an IPv4 address zeroes its last N octets;
//! - an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) zeroes its last N bytes, the last
//!   N octets of its IPv4 part;
//! - any other IPv6 address keeps its first 128, 64, 48, 24 or 0 bits for N = 0, 1, 2, 3,
//!   4 (Matomo's masks `ffff:ffff:ffff:ffff::`, `ffff:ffff:ffff::`, `ffff:ff00::` and
//!   `::`).
//!
//! The result is written in one canonical form, so that two spellings of one masked
//! address store (and compare in segments) as the same text: IPv4 as a dotted quad,
//! IPv6 as RFC 5952 text (lowercase hex, the longest run of zero groups as `::`),
//! an IPv4-mapped address as `::ffff:a.b.c.d`. That is `std`'s `Display` for
//! [`IpAddr`], and what Matomo prints (PHP's `inet_ntop`) too, but for an unmasked
//! IPv4-compatible address (below), which `inet_ntop` writes `::a.b.c.d`.
//!
//! One deliberate difference from Matomo: Matomo also treats the deprecated
//! IPv4-compatible form (`::a.b.c.d`, twelve zero bytes first) as mapped and zeroes
//! only its last N bytes; sightline masks it as the other IPv6 addresses are masked,
//! which hides at least as much (`docs/privacy.md`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most bytes [`anonymize_ip`] masks: 4, every byte of an IPv4 address.
pub const MAX_IP_MASK_BYTES: u8 = 4;

/// Why an IP address could not be anonymised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpError {
    /// The text is not an IPv4 or IPv6 address (the text is kept).
    #[error("not an IP address: {0:?}")]
    NotAnAddress(String),
    /// More bytes to mask than [`MAX_IP_MASK_BYTES`].
    #[error("cannot mask {0} bytes of an IP address: give 0 to 4 bytes")]
    MaskTooLong(u8),
}

/// Bits an IPv6 address (not IPv4-mapped) keeps with N bytes masked, by N.
const IPV6_KEPT_BITS: [u32; 5] = [128, 64, 48, 24, 0];

/// Masks `bytes` bytes of the IPv4 or IPv6 address `text` (surrounding whitespace
/// ignored) by Matomo's rule (see the module docs) and returns the result in canonical
/// form.
///
/// ```
/// use sightline::anonymize_ip;
/// assert_eq!(anonymize_ip("192.168.17.4", 2).unwrap(), "192.168.0.0");
/// assert_eq!(anonymize_ip("::FFFF:192.168.17.4", 1).unwrap(), "::ffff:192.168.17.0");
/// assert_eq!(anonymize_ip("2001:db8:0:8d3:0:8a2e:70:7344", 1).unwrap(), "2001:db8:0:8d3::");
/// assert_eq!(anonymize_ip("2001:0DB8::0001", 0).unwrap(), "2001:db8::1");
/// assert!(anonymize_ip("10.0.0.1", 5).is_err());
/// assert_eq!(
///     anonymize_ip("10.0.0.256", 1).unwrap_err().to_string(),
///     r#"not an IP address: "10.0.0.256""#
/// );
/// ```
pub fn anonymize_ip(text: &str, bytes: u8) -> Result<String, IpError> {
    check_mask(bytes)?;
    let addr: IpAddr = text
        .trim()
        .parse()
        .map_err(|_| IpError::NotAnAddress(text.to_string()))?;
    Ok(anonymize_ip_addr(addr, bytes)?.to_string())
}

/// Masks `bytes` bytes of `addr` by Matomo's rule (see [`anonymize_ip`]).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use sightline::anonymize_ip_addr;
/// let addr = IpAddr::V4(Ipv4Addr::new(127, 255, 255, 255));
/// assert_eq!(anonymize_ip_addr(addr, 3).unwrap(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)));
/// ```
pub fn anonymize_ip_addr(addr: IpAddr, bytes: u8) -> Result<IpAddr, IpError> {
    check_mask(bytes)?;
    // At most 32 bits: every shift below is in range.
    let low_bits = u32::from(bytes) * 8;
    Ok(match addr {
        IpAddr::V4(a) => {
            let keep = u32::MAX.checked_shl(low_bits).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & keep))
        }
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            let keep = !((1u128 << low_bits) - 1);
            IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & keep))
        }
        IpAddr::V6(a) => {
            let kept = IPV6_KEPT_BITS.get(usize::from(bytes)).copied().unwrap_or(0);
            let keep = u128::MAX.checked_shl(128 - kept).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & keep))
        }
    })
}

/// `bytes` if it is a mask length [`anonymize_ip`] takes.
pub(crate) fn check_mask(bytes: u8) -> Result<u8, IpError> {
    if bytes > MAX_IP_MASK_BYTES {
        return Err(IpError::MaskTooLong(bytes));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_compatible_addresses_are_masked_as_ipv6() {
        // `::192.168.1.1` (deprecated IPv4-compatible): the prefix rule, not Matomo's
        // byte rule (which would keep `::c0a8:100`).
        assert_eq!(anonymize_ip("::192.168.1.1", 1).unwrap(), "::");
        assert_eq!(anonymize_ip("::192.168.1.1", 0).unwrap(), "::c0a8:101");
        assert_eq!(anonymize_ip("::1", 1).unwrap(), "::");
    }

    #[test]
    fn mapped_addresses_keep_their_ipv6_form() {
        assert_eq!(
            anonymize_ip("::ffff:c0a8:1", 2).unwrap(),
            "::ffff:192.168.0.0"
        );
        assert_eq!(anonymize_ip("::ffff:1.2.3.4", 4).unwrap(), "::ffff:0.0.0.0");
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        for text in [
            "",
            "x",
            "1.2.3",
            "01.2.3.4",
            "1.2.3.4:80",
            "[::1]",
            "fe80::1%eth0",
        ] {
            assert_eq!(
                anonymize_ip(text, 1),
                Err(IpError::NotAnAddress(text.to_string())),
                "{text:?}"
            );
        }
        assert_eq!(anonymize_ip("1.2.3.4", 5), Err(IpError::MaskTooLong(5)));
        assert_eq!(anonymize_ip(" 1.2.3.4 ", 1).unwrap(), "1.2.3.0");
    }
}
