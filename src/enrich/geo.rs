//! IP geolocation from a MaxMind DB file (GeoIP2 / GeoLite2 City or Country, or any
//! database of the same layout, such as DB-IP's).

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{Reader, geoip2};

use crate::error::{Error, Result};
use crate::storage::mmap::Backing;

/// Where an IP address is, as far as the database knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Geo {
    /// ISO 3166-1 alpha-2, lower case (`gb`), as Matomo stores `countryCode`.
    pub country_code: Option<String>,
    /// The ISO 3166-2 code of the largest subdivision without the country (`ENG`,
    /// `CA`), as the database gives it.
    pub region_code: Option<String>,
    /// The city's English name.
    pub city: Option<String>,
    /// Degrees north.
    pub latitude: Option<f64>,
    /// Degrees east.
    pub longitude: Option<f64>,
}

/// An open MaxMind DB file, memory-mapped through the crate's guarded maps (a file
/// truncated underneath a reader makes lookups answer `None` rather than crash).
pub(crate) struct GeoDb {
    path: PathBuf,
    /// The map the reader reads, kept here too to ask whether it was damaged.
    backing: Arc<Backing>,
    reader: Reader<Bytes>,
}

/// The map, as the bytes `maxminddb` reads.
struct Bytes(Arc<Backing>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl GeoDb {
    pub(crate) fn open(path: &Path) -> Result<GeoDb> {
        let file = File::open(path).map_err(|e| Error::io("open GeoIP database", path, e))?;
        let backing = Backing::map(file).map_err(|e| Error::io("map GeoIP database", path, e))?;
        let backing = Arc::new(backing);
        let reader = Reader::from_source(Bytes(Arc::clone(&backing))).map_err(|e| {
            Error::argument(
                "geoip",
                format!(
                    "{}: not a readable MaxMind DB (.mmdb) file: {e}; give a GeoIP2 or \
                     GeoLite2 City or Country database",
                    path.display()
                ),
            )
        })?;
        Ok(GeoDb {
            path: path.to_path_buf(),
            backing,
            reader,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The location of `ip` (IPv4 or IPv6 text; an IPv4-mapped IPv6 address is looked
    /// up as IPv4). `None` for text that is no IP address, an address the database
    /// does not hold, and a damaged database.
    pub(crate) fn lookup(&self, ip: &str) -> Option<Geo> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let result = self.reader.lookup(ip).ok()?;
        let city: geoip2::City<'_> = result.decode().ok()??;
        if self.backing.damaged() {
            return None;
        }
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        let geo = Geo {
            country_code: text(city.country.iso_code).map(|c| c.to_ascii_lowercase()),
            region_code: text(city.subdivisions.first().and_then(|s| s.iso_code)),
            city: text(city.city.names.english),
            latitude: city.location.latitude.filter(|v| v.is_finite()),
            longitude: city.location.longitude.filter(|v| v.is_finite()),
        };
        let empty = geo.country_code.is_none()
            && geo.region_code.is_none()
            && geo.city.is_none()
            && geo.latitude.is_none()
            && geo.longitude.is_none();
        (!empty).then_some(geo)
    }
}
