//! User-agent parsing into Matomo's browser, operating-system and device dimensions.
//!
//! Two layers: `woothee` (a small, data-file-free classifier) recognises crawlers and
//! the rare clients (Japanese feature phones, old consoles), and the rules of this
//! module, written after Matomo's device-detector, recognise the common browsers,
//! systems and devices and give them device-detector's short codes, names and device
//! types. Versions are cut to `major.minor`, as device-detector does by default. The
//! mapping is tabulated in `docs/enrichment.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a user-agent string says about the visitor's software and device. Fields the
/// string does not reveal are `None`; a bot has only [`bot`](Self::bot) and
/// [`bot_name`](Self::bot_name) set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// Matomo's browser short code (`CH` Chrome, `FF` Firefox, `SF` Safari, `PS`
    /// Microsoft Edge, `CM` Chrome Mobile, `MF` Mobile Safari …).
    pub browser_code: Option<Box<str>>,
    /// The browser's name as Matomo shows it (`Chrome`, `Microsoft Edge` …).
    pub browser_name: Option<Box<str>>,
    /// `major.minor` (`120.0`), or the major version alone when that is all there is.
    pub browser_version: Option<Box<str>>,
    /// Matomo's operating-system short code (`WIN`, `MAC`, `LIN`, `AND`, `IOS` …).
    pub operating_system_code: Option<Box<str>>,
    /// The system's name as Matomo shows it (`Windows`, `Mac`, `GNU/Linux` …).
    pub operating_system_name: Option<Box<str>>,
    /// The system's version (`10`, `10.15`, `17.1`, `14`).
    pub operating_system_version: Option<Box<str>>,
    /// One of Matomo's device types ([`DEVICE_TYPES`](crate::DEVICE_TYPES)).
    pub device_type: Option<&'static str>,
    /// The device's maker where the string says (`Apple`, `Samsung`, `Google` …).
    pub device_brand: Option<Box<str>>,
    /// The device's model where the string says (`iPhone`, `SM-G991B`, `Pixel 8`).
    pub device_model: Option<Box<str>>,
    /// A crawler, monitor, HTTP library or other non-human client.
    pub bot: bool,
    /// The bot's name when it is a known one (`Googlebot`, `bingbot`).
    pub bot_name: Option<Box<str>>,
}

/// Substrings of a lower-cased user agent that Matomo's log importer
/// (`import_logs.py`, `EXCLUDED_USER_AGENTS`) treats as bots, and a few more clients
/// that are never people.
const BOT_SUBSTRINGS: &[&str] = &[
    // Matomo's importer
    "adsbot-google",
    "ask jeeves",
    "baidubot",
    "bot-",
    "bot/",
    "ccooter/",
    "crawl",
    "curl",
    "echoping",
    "exabot",
    "feed",
    "googlebot",
    "ia_archiver",
    "java/",
    "libwww",
    "mediapartners-google",
    "msnbot",
    "netcraftsurvey",
    "panopta",
    "pingdom.com_bot_",
    "robot",
    "spider",
    "surveybot",
    "twiceler",
    "voilabot",
    "yahoo",
    "yandex",
    "zabbix",
    "googlestackdrivermonitoring",
    // sightline's additions
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "scrapy",
    "uptimerobot",
    "apachebench",
];

/// Parses `ua` (no cache: [`Enricher::user_agent`](super::Enricher::user_agent) adds
/// one). Never fails: what is not recognised is left `None`.
pub fn parse_user_agent(ua: &str) -> UserAgent {
    let ua = ua.trim();
    if ua.is_empty() || ua == "-" {
        return UserAgent::default();
    }
    // woothee is not known to panic, but it is a third-party parser fed untrusted
    // text: a panic there must not take the import down.
    let parser = woothee::parser::Parser::new();
    let w = catch_unwind(AssertUnwindSafe(|| parser.parse(ua)))
        .ok()
        .flatten()
        .map(|r| Woothee {
            name: known(r.name),
            category: known(r.category),
            os: known(r.os),
        })
        .unwrap_or_default();

    let lower = ua.to_ascii_lowercase();
    if w.category == Some("crawler")
        || w.name == Some("HTTP Library")
        || BOT_SUBSTRINGS.iter().any(|s| lower.contains(s))
    {
        return UserAgent {
            bot: true,
            bot_name: w.name.map(Into::into),
            ..UserAgent::default()
        };
    }

    let os = detect_os(ua, &lower, &w);
    let browser = detect_browser(ua, os.as_ref().map(|o| o.code), &w);
    let device = detect_device(ua, &lower, os.as_ref().map(|o| o.code), &w);
    UserAgent {
        browser_code: browser.as_ref().and_then(|b| b.code).map(Into::into),
        browser_name: browser.as_ref().map(|b| b.name.into()),
        browser_version: browser.as_ref().and_then(|b| b.version.clone()),
        operating_system_code: os.as_ref().map(|o| o.code.into()),
        operating_system_name: os.as_ref().map(|o| o.name.into()),
        operating_system_version: os.as_ref().and_then(|o| o.version.clone()),
        device_type: device.kind,
        device_brand: device.brand.map(Into::into),
        device_model: device.model,
        bot: false,
        bot_name: None,
    }
}

/// The parts of woothee's answer used here, `None` for its "UNKNOWN".
#[derive(Default)]
struct Woothee<'a> {
    name: Option<&'a str>,
    category: Option<&'a str>,
    os: Option<&'a str>,
}

fn known(value: &str) -> Option<&str> {
    (!value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN).then_some(value)
}

struct Os {
    code: &'static str,
    name: &'static str,
    version: Option<Box<str>>,
}

struct Browser {
    code: Option<&'static str>,
    name: &'static str,
    version: Option<Box<str>>,
}

#[derive(Default)]
struct Device {
    kind: Option<&'static str>,
    brand: Option<&'static str>,
    model: Option<Box<str>>,
}

fn os(code: &'static str, name: &'static str, version: Option<Box<str>>) -> Option<Os> {
    Some(Os {
        code,
        name,
        version,
    })
}

fn detect_os(ua: &str, lower: &str, w: &Woothee<'_>) -> Option<Os> {
    if ua.contains("Windows Phone") {
        let version = after(ua, "Windows Phone OS ")
            .or_else(|| after(ua, "Windows Phone "))
            .and_then(major_minor);
        return os("WPH", "Windows Phone", version);
    }
    if ua.contains("Xbox") {
        return os("XBX", "Xbox", None);
    }
    if let Some(nt) = after(ua, "Windows NT ") {
        let version = match version_digits(nt) {
            "10.0" | "10" => Some("10"),
            "6.3" => Some("8.1"),
            "6.2" => Some("8"),
            "6.1" => Some("7"),
            "6.0" => Some("Vista"),
            "5.1" | "5.2" => Some("XP"),
            "5.0" => Some("2000"),
            _ => None,
        };
        return os("WIN", "Windows", version.map(Into::into));
    }
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        let version = ["CPU iPhone OS ", "CPU OS ", "iPhone OS "]
            .iter()
            .find_map(|marker| after(ua, marker))
            .and_then(major_minor);
        return os("IOS", "iOS", version);
    }
    if ua.contains("AppleTV") || ua.contains("Apple TV") {
        return os("ATV", "tvOS", None);
    }
    if ua.contains("KAIOS") || ua.contains("KaiOS") {
        let version = after(ua, "KAIOS/")
            .or_else(|| after(ua, "KaiOS/"))
            .and_then(major_minor);
        return os("KOS", "KaiOS", version);
    }
    if let Some(rest) = after(ua, "Android") {
        let version = rest.strip_prefix([' ', '-', '/']).and_then(major_minor);
        return os("AND", "Android", version);
    }
    if ua.contains("CrOS") {
        // `CrOS x86_64 15633.69.0`: the platform version.
        let version = after(ua, "CrOS ")
            .and_then(|r| r.split_once(' '))
            .and_then(|(_, v)| major_minor(v));
        return os("COS", "Chrome OS", version);
    }
    if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        let version = after(ua, "Mac OS X ").and_then(major_minor);
        return os("MAC", "Mac", version);
    }
    if ua.contains("Tizen") {
        return os("TIZ", "Tizen", after(ua, "Tizen ").and_then(major_minor));
    }
    if ua.contains("Web0S") || lower.contains("webos") {
        return os("WOS", "webOS", None);
    }
    if ua.contains("PlayStation Portable")
        || ua.contains("PSP (")
        || ua.contains("PlayStation Vita")
    {
        return os("PSP", "PlayStation Portable", None);
    }
    if ua.contains("PlayStation") {
        return os("PS3", "PlayStation", None);
    }
    if ua.contains("Nintendo 3DS") || ua.contains("Nintendo DS") {
        return os("NDS", "Nintendo Mobile", None);
    }
    if ua.contains("Nintendo") {
        return os("WII", "Nintendo", None);
    }
    if ua.contains("FreeBSD") {
        return os("BSD", "FreeBSD", None);
    }
    if ua.contains("OpenBSD") {
        return os("OBS", "OpenBSD", None);
    }
    if ua.contains("NetBSD") {
        return os("NBS", "NetBSD", None);
    }
    if ua.contains("Ubuntu") {
        return os("UBT", "Ubuntu", None);
    }
    if ua.contains("Fedora") {
        return os("FED", "Fedora", None);
    }
    if ua.contains("Linux") || ua.contains("X11") {
        return os("LIN", "GNU/Linux", None);
    }
    // woothee's rarer systems.
    match w.os? {
        "BlackBerry" | "BlackBerry 10" => os("BLB", "BlackBerry OS", None),
        "Firefox OS" => os("FOS", "Firefox OS", None),
        "SymbianOS" => os("SYS", "Symbian OS", None),
        "Windows CE" => os("WCE", "Windows CE", None),
        "Windows Phone OS" => os("WPH", "Windows Phone", None),
        "Mac OS Classic" => os("MAC", "Mac", None),
        "Windows 98" => os("WIN", "Windows", Some("98".into())),
        "Windows 95" => os("WIN", "Windows", Some("95".into())),
        "Windows Me" => os("WIN", "Windows", Some("ME".into())),
        "Windows UNKNOWN Ver" => os("WIN", "Windows", None),
        _ => None,
    }
}

fn browser(code: &'static str, name: &'static str, version: Option<&str>) -> Option<Browser> {
    Some(Browser {
        code: Some(code),
        name,
        version: version.and_then(major_minor),
    })
}

fn detect_browser(ua: &str, os: Option<&str>, w: &Woothee<'_>) -> Option<Browser> {
    let android = os == Some("AND");
    let ios = os == Some("IOS");
    if let Some(v) = after(ua, "Opera Mini/") {
        return browser("OI", "Opera Mini", Some(v));
    }
    if let Some(v) = after(ua, "OPR/") {
        return if android {
            browser("OM", "Opera Mobile", Some(v))
        } else {
            browser("OP", "Opera", Some(v))
        };
    }
    if ua.starts_with("Opera/") || ua.contains(" Opera ") {
        let v = after(ua, "Version/").or_else(|| after(ua, "Opera/"));
        return browser("OP", "Opera", v);
    }
    for token in ["Edg/", "EdgA/", "EdgiOS/", "Edge/"] {
        if let Some(v) = after(ua, token) {
            return browser("PS", "Microsoft Edge", Some(v));
        }
    }
    // Browsers named by a token of their own, in the order they are tried.
    const BY_TOKEN: [(&str, &str, &str); 6] = [
        ("SamsungBrowser/", "SB", "Samsung Browser"),
        ("YaBrowser/", "YA", "Yandex Browser"),
        ("Vivaldi/", "VI", "Vivaldi"),
        ("UCBrowser/", "UC", "UC Browser"),
        ("CriOS/", "CI", "Chrome Mobile iOS"),
        ("FxiOS/", "F1", "Firefox Mobile iOS"),
    ];
    for (token, code, name) in BY_TOKEN {
        if let Some(v) = after(ua, token) {
            return browser(code, name, Some(v));
        }
    }
    if let Some(v) = after(ua, "Firefox/") {
        return if android {
            browser("FM", "Firefox Mobile", Some(v))
        } else {
            browser("FF", "Firefox", Some(v))
        };
    }
    if let Some(v) = after(ua, "IEMobile/") {
        return browser("IM", "IE Mobile", Some(v));
    }
    if let Some(v) = after(ua, "MSIE ") {
        return browser("IE", "Internet Explorer", Some(v));
    }
    if ua.contains("Trident/") {
        return browser("IE", "Internet Explorer", after(ua, " rv:"));
    }
    if let Some(v) = after(ua, "Chromium/") {
        return browser("CR", "Chromium", Some(v));
    }
    if let Some(v) = after(ua, "Chrome/").or_else(|| after(ua, "CrMo/")) {
        return if android && ua.contains("; wv)") {
            browser("CV", "Chrome Webview", Some(v))
        } else if android {
            browser("CM", "Chrome Mobile", Some(v))
        } else {
            browser("CH", "Chrome", Some(v))
        };
    }
    if ios {
        // Safari, or an app's web view (no `Version/`): Mobile Safari either way.
        return browser("MF", "Mobile Safari", after(ua, "Version/"));
    }
    if android && ua.contains("Safari/") {
        return browser("AN", "Android Browser", after(ua, "Version/"));
    }
    if ua.contains("Safari/") && (os == Some("MAC") || ua.contains("Version/")) {
        return browser("SF", "Safari", after(ua, "Version/"));
    }
    match w.name? {
        "Sleipnir" => browser("SL", "Sleipnir", after(ua, "Sleipnir/")),
        "Safari" => browser("SF", "Safari", after(ua, "Version/")),
        "Firefox" => browser("FF", "Firefox", None),
        "Internet Explorer" => browser("IE", "Internet Explorer", None),
        _ => None,
    }
}

fn detect_device(ua: &str, lower: &str, os: Option<&str>, w: &Woothee<'_>) -> Device {
    let device = |kind, brand, model: Option<&str>| Device {
        kind: Some(kind),
        brand,
        model: model.map(Into::into),
    };
    // iPod touches say `CPU iPhone OS`: test them first.
    if ua.contains("iPod") {
        return device("portable media player", Some("Apple"), Some("iPod Touch"));
    }
    if ua.contains("iPad") {
        return device("tablet", Some("Apple"), Some("iPad"));
    }
    if ua.contains("iPhone") {
        return device("smartphone", Some("Apple"), Some("iPhone"));
    }
    if os == Some("ATV") {
        return device("tv", Some("Apple"), Some("Apple TV"));
    }
    if ua.contains("Xbox") {
        let model = if ua.contains("Xbox One") {
            "Xbox One"
        } else {
            "Xbox"
        };
        return device("console", Some("Microsoft"), Some(model));
    }
    if ua.contains("PlayStation") {
        let model = [
            "PlayStation 5",
            "PlayStation 4",
            "PlayStation 3",
            "PlayStation Vita",
        ]
        .into_iter()
        .find(|m| ua.contains(m));
        return device("console", Some("Sony"), model);
    }
    if ua.contains("Nintendo") {
        let model = [
            "Nintendo Switch",
            "Nintendo 3DS",
            "Nintendo WiiU",
            "Nintendo Wii",
        ]
        .into_iter()
        .find(|m| ua.contains(m))
        .map(|m| m.trim_start_matches("Nintendo "));
        return device("console", Some("Nintendo"), model);
    }
    if lower.contains("tesla/") {
        return device("car browser", Some("Tesla"), None);
    }
    const TV_MARKERS: &[&str] = &[
        "smart-tv",
        "smarttv",
        "smart tv",
        "googletv",
        "android tv",
        "hbbtv",
        "netcast",
        "web0s",
        "crkey",
        "bravia",
        "roku",
        "tizen tv",
        "; aft",
    ];
    if TV_MARKERS.iter().any(|m| lower.contains(m))
        || (os == Some("TIZ") && lower.contains("tv"))
        || w.name == Some("InternetTVBrowser")
    {
        let brand = if lower.contains("roku") {
            Some("Roku")
        } else if lower.contains("; aft") {
            Some("Amazon")
        } else {
            None
        };
        return device("tv", brand, None);
    }
    if lower.contains("watchos") || lower.contains("; watch") || lower.contains("smartwatch") {
        return device("wearable", None, None);
    }
    if os == Some("KOS") || ua.contains("MIDP") || w.category == Some("mobilephone") {
        return device("feature phone", None, None);
    }
    if os == Some("AND") {
        let (brand, model) = android_model(ua);
        let kind =
            if brand == Some("Amazon") && model.as_deref().is_some_and(|m| m.starts_with("KF")) {
                "tablet"
            } else if lower.contains("mobile") && !lower.contains("tablet") {
                "smartphone"
            } else {
                "tablet"
            };
        return Device {
            kind: Some(kind),
            brand,
            model: model.map(Into::into),
        };
    }
    if os == Some("WPH") {
        return device("smartphone", None, None);
    }
    if matches!(
        os,
        Some("WIN" | "MAC" | "LIN" | "UBT" | "FED" | "COS" | "BSD" | "OBS" | "NBS")
    ) {
        if lower.contains("mobile") && os != Some("WIN") && os != Some("MAC") {
            return device("smartphone", None, None);
        }
        let brand = (os == Some("MAC")).then_some("Apple");
        return Device {
            kind: Some("desktop"),
            brand,
            model: None,
        };
    }
    match w.category {
        Some("pc") => device("desktop", None, None),
        Some("smartphone") => device("smartphone", None, None),
        Some("appliance") => device("console", None, None),
        _ => Device::default(),
    }
}

/// The brand and model an Android user agent names: the platform entry after
/// `Android x;` (skipping a locale such as `en-us`), without ` Build/…`. Chrome's
/// reduced user agent (`Android 10; K`) names none.
fn android_model(ua: &str) -> (Option<&'static str>, Option<String>) {
    let Some(rest) = after(ua, "Android") else {
        return (None, None);
    };
    let platform = rest.split(')').next().unwrap_or("");
    let model = platform
        .split(';')
        .skip(1)
        .map(str::trim)
        .find(|part| !is_locale(part) && !part.is_empty() && *part != "U" && *part != "wv")
        .map(|part| part.split(" Build/").next().unwrap_or(part).trim())
        .filter(|m| {
            !m.is_empty() && *m != "K" && !m.starts_with("rv:") && *m != "Mobile" && *m != "Tablet"
        });
    let Some(model) = model else {
        return (None, None);
    };
    let (brand, model) = brand_of(model);
    (brand, brand.map(|_| model.to_string()))
}

fn is_locale(part: &str) -> bool {
    let b = part.as_bytes();
    b.len() == 5
        && b[2] == b'-'
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[3..].iter().all(u8::is_ascii_alphabetic)
        || b.len() == 2 && b.iter().all(u8::is_ascii_lowercase)
}

/// The brand of an Android model name, and the model without a brand prefix.
fn brand_of(model: &str) -> (Option<&'static str>, &str) {
    const PREFIXES: &[(&str, &str, bool)] = &[
        // (prefix, brand, strip the prefix)
        ("SAMSUNG ", "Samsung", true),
        ("SM-", "Samsung", false),
        ("GT-", "Samsung", false),
        ("SCH-", "Samsung", false),
        ("SGH-", "Samsung", false),
        ("Pixel", "Google", false),
        ("Nexus", "Google", false),
        ("Redmi", "Xiaomi", false),
        ("POCO", "Xiaomi", false),
        ("Xiaomi ", "Xiaomi", true),
        ("Mi ", "Xiaomi", false),
        ("HUAWEI ", "Huawei", true),
        ("ONEPLUS ", "OnePlus", true),
        ("OnePlus", "OnePlus", false),
        ("moto", "Motorola", false),
        ("Moto", "Motorola", false),
        ("motorola ", "Motorola", true),
        ("LM-", "LG", false),
        ("LG-", "LG", false),
        ("Nokia", "Nokia", false),
        ("KF", "Amazon", false),
    ];
    for &(prefix, brand, strip) in PREFIXES {
        if let Some(rest) = model.strip_prefix(prefix) {
            let model = if strip { rest.trim() } else { model };
            if !model.is_empty() {
                return (Some(brand), model);
            }
        }
    }
    (None, model)
}

/// The text after the first `marker`.
fn after<'a>(ua: &'a str, marker: &str) -> Option<&'a str> {
    ua.find(marker).map(|i| &ua[i + marker.len()..])
}

/// The leading run of digits, dots and underscores of `text`.
fn version_digits(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// `major.minor` of the version at the start of `text` (`120.0.6099.71` → `120.0`,
/// `17_1_2` → `17.1`, `14` → `14`); `None` when it does not start with a digit.
fn major_minor(text: &str) -> Option<Box<str>> {
    let digits = version_digits(text);
    let mut parts = digits.split(['.', '_']).filter(|p| !p.is_empty());
    let major = parts.next()?;
    // An absurdly long "version" is not one.
    if major.len() > 8 {
        return None;
    }
    Some(match parts.next() {
        Some(minor) if minor.len() <= 8 => format!("{major}.{minor}").into(),
        _ => major.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (user agent, browser code, browser name, browser version, os code, os version,
    /// device type, brand, model)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    const CASES: &[Case] = &[
        // Desktop browsers
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36",
            Some("CH"),
            Some("Chrome"),
            Some("120.0"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("FF"),
            Some("Firefox"),
            Some("121.0"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            Some("PS"),
            Some("Microsoft Edge"),
            Some("120.0"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            Some("OP"),
            Some("Opera"),
            Some("106.0"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
            Some("IE"),
            Some("Internet Explorer"),
            Some("11.0"),
            Some("WIN"),
            Some("7"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)",
            Some("IE"),
            Some("Internet Explorer"),
            Some("8.0"),
            Some("WIN"),
            Some("XP"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
            Some("CH"),
            Some("Chrome"),
            Some("109.0"),
            Some("WIN"),
            Some("8.1"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
            Some("SF"),
            Some("Safari"),
            Some("17.2"),
            Some("MAC"),
            Some("10.15"),
            Some("desktop"),
            Some("Apple"),
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("CH"),
            Some("Chrome"),
            Some("120.0"),
            Some("MAC"),
            Some("10.15"),
            Some("desktop"),
            Some("Apple"),
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("FF"),
            Some("Firefox"),
            Some("121.0"),
            Some("MAC"),
            Some("14.2"),
            Some("desktop"),
            Some("Apple"),
            None,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("CH"),
            Some("Chrome"),
            Some("120.0"),
            Some("LIN"),
            None,
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("FF"),
            Some("Firefox"),
            Some("121.0"),
            Some("UBT"),
            None,
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            Some("FF"),
            Some("Firefox"),
            Some("120.0"),
            Some("FED"),
            None,
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.212 Safari/537.36",
            Some("CH"),
            Some("Chrome"),
            Some("119.0"),
            Some("COS"),
            Some("15633.69"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 YaBrowser/24.1.0.0 Safari/537.36",
            Some("YA"),
            Some("Yandex Browser"),
            Some("24.1"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Vivaldi/6.5.3206.53",
            Some("VI"),
            Some("Vivaldi"),
            Some("6.5"),
            Some("WIN"),
            Some("10"),
            Some("desktop"),
            None,
            None,
        ),
        // Android phones and tablets
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            Some("CM"),
            Some("Chrome Mobile"),
            Some("120.0"),
            Some("AND"),
            Some("10"),
            Some("smartphone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36",
            Some("CM"),
            Some("Chrome Mobile"),
            Some("112.0"),
            Some("AND"),
            Some("13"),
            Some("smartphone"),
            Some("Samsung"),
            Some("SM-G991B"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            Some("CM"),
            Some("Chrome Mobile"),
            Some("120.0"),
            Some("AND"),
            Some("14"),
            Some("smartphone"),
            Some("Google"),
            Some("Pixel 8 Pro"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            Some("SB"),
            Some("Samsung Browser"),
            Some("23.0"),
            Some("AND"),
            Some("13"),
            Some("smartphone"),
            Some("Samsung"),
            Some("SM-S918B"),
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            Some("FM"),
            Some("Firefox Mobile"),
            Some("121.0"),
            Some("AND"),
            Some("14"),
            Some("smartphone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("CM"),
            Some("Chrome Mobile"),
            Some("120.0"),
            Some("AND"),
            Some("13"),
            Some("tablet"),
            Some("Samsung"),
            Some("SM-X700"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SQ3A.220705.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36",
            Some("CV"),
            Some("Chrome Webview"),
            Some("119.0"),
            Some("AND"),
            Some("12"),
            Some("smartphone"),
            Some("Google"),
            Some("Pixel 6"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36 EdgA/120.0.2210.84",
            Some("PS"),
            Some("Microsoft Edge"),
            Some("120.0"),
            Some("AND"),
            Some("10"),
            Some("smartphone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76783",
            Some("OM"),
            Some("Opera Mobile"),
            Some("79.0"),
            Some("AND"),
            Some("10"),
            Some("smartphone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Safari/534.30",
            Some("AN"),
            Some("Android Browser"),
            Some("4.0"),
            Some("AND"),
            Some("4.0"),
            Some("tablet"),
            Some("Amazon"),
            Some("KFTT"),
        ),
        // Apple mobile
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            Some("MF"),
            Some("Mobile Safari"),
            Some("17.2"),
            Some("IOS"),
            Some("17.2"),
            Some("smartphone"),
            Some("Apple"),
            Some("iPhone"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            Some("MF"),
            Some("Mobile Safari"),
            Some("16.6"),
            Some("IOS"),
            Some("16.6"),
            Some("tablet"),
            Some("Apple"),
            Some("iPad"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            Some("CI"),
            Some("Chrome Mobile iOS"),
            Some("120.0"),
            Some("IOS"),
            Some("17.2"),
            Some("smartphone"),
            Some("Apple"),
            Some("iPhone"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
            Some("F1"),
            Some("Firefox Mobile iOS"),
            Some("121.0"),
            Some("IOS"),
            Some("17.2"),
            Some("smartphone"),
            Some("Apple"),
            Some("iPhone"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/400.0]",
            Some("MF"),
            Some("Mobile Safari"),
            None,
            Some("IOS"),
            Some("16.1"),
            Some("smartphone"),
            Some("Apple"),
            Some("iPhone"),
        ),
        (
            "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
            Some("MF"),
            Some("Mobile Safari"),
            Some("12.1"),
            Some("IOS"),
            Some("12.5"),
            Some("portable media player"),
            Some("Apple"),
            Some("iPod Touch"),
        ),
        // Other devices
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
            Some("PS"),
            Some("Microsoft Edge"),
            Some("15.15063"),
            Some("WPH"),
            Some("10.0"),
            Some("smartphone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15",
            Some("SF"),
            Some("Safari"),
            Some("13.0"),
            Some("PS3"),
            None,
            Some("console"),
            Some("Sony"),
            Some("PlayStation 5"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
            Some("PS"),
            Some("Microsoft Edge"),
            Some("18.19041"),
            Some("XBX"),
            None,
            Some("console"),
            Some("Microsoft"),
            Some("Xbox One"),
        ),
        (
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
            Some("SB"),
            Some("Samsung Browser"),
            Some("4.0"),
            Some("TIZ"),
            Some("6.0"),
            Some("tv"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
            Some("FF"),
            Some("Firefox"),
            Some("48.0"),
            Some("KOS"),
            Some("2.5"),
            Some("feature phone"),
            None,
            None,
        ),
        (
            "Mozilla/5.0 (X11; Linux) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.130 Safari/537.36 Tesla/2023.44.30",
            Some("CH"),
            Some("Chrome"),
            Some("79.0"),
            Some("LIN"),
            None,
            Some("car browser"),
            Some("Tesla"),
            None,
        ),
        (
            "DoCoMo/2.0 P903i(c100;TB;W24H12)",
            None,
            None,
            None,
            None,
            None,
            Some("feature phone"),
            None,
            None,
        ),
    ];

    #[test]
    fn real_user_agents() {
        assert!(CASES.len() >= 30);
        for &(ua, code, name, version, os_code, os_version, kind, brand, model) in CASES {
            let got = parse_user_agent(ua);
            let s = |v: &Option<Box<str>>| v.as_deref().map(str::to_string);
            let o = |v: Option<&str>| v.map(str::to_string);
            assert_eq!(
                (
                    s(&got.browser_code),
                    s(&got.browser_name),
                    s(&got.browser_version),
                    s(&got.operating_system_code),
                    s(&got.operating_system_version),
                    got.device_type,
                    s(&got.device_brand),
                    s(&got.device_model),
                    got.bot,
                ),
                (
                    o(code),
                    o(name),
                    o(version),
                    o(os_code),
                    o(os_version),
                    kind,
                    o(brand),
                    o(model),
                    false
                ),
                "{ua}"
            );
        }
    }

    #[test]
    fn operating_system_names() {
        let name = |ua| parse_user_agent(ua).operating_system_name.map(String::from);
        assert_eq!(name(CASES[0].0).as_deref(), Some("Windows"));
        assert_eq!(name(CASES[7].0).as_deref(), Some("Mac"));
        assert_eq!(name(CASES[10].0).as_deref(), Some("GNU/Linux"));
        assert_eq!(name(CASES[16].0).as_deref(), Some("Android"));
        assert_eq!(name(CASES[26].0).as_deref(), Some("iOS"));
        assert_eq!(name(CASES[13].0).as_deref(), Some("Chrome OS"));
    }

    #[test]
    fn bots() {
        let bots = [
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                Some("Googlebot"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                Some("Googlebot"),
            ),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                Some("bingbot"),
            ),
            (
                "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
                None,
            ),
            (
                "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
                None,
            ),
            ("curl/8.4.0", None),
            ("Wget/1.21.4", None),
            ("python-requests/2.31.0", None),
            ("Go-http-client/1.1", None),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                None,
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                Some("facebook"),
            ),
            (
                "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                None,
            ),
            ("Java/17.0.2", None),
            (
                "Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)",
                None,
            ),
        ];
        for (ua, name) in bots {
            let got = parse_user_agent(ua);
            assert!(got.bot, "{ua}");
            assert_eq!(got.browser_code, None, "{ua}");
            assert_eq!(got.device_type, None, "{ua}");
            if let Some(name) = name {
                assert_eq!(got.bot_name.as_deref(), Some(name), "{ua}");
            }
        }
        // A human browser is not a bot.
        assert!(!parse_user_agent(CASES[0].0).bot);
    }

    #[test]
    fn empty_and_unknown_user_agents() {
        assert_eq!(parse_user_agent(""), UserAgent::default());
        assert_eq!(parse_user_agent("-"), UserAgent::default());
        let got = parse_user_agent("SomethingNobodyKnows");
        assert!(!got.bot);
        assert_eq!(got.browser_code, None);
        assert_eq!(got.operating_system_code, None);
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("120.0.6099.71").as_deref(), Some("120.0"));
        assert_eq!(major_minor("17_1_2 like").as_deref(), Some("17.1"));
        assert_eq!(major_minor("14;").as_deref(), Some("14"));
        assert_eq!(major_minor("x1.2"), None);
        assert_eq!(major_minor(""), None);
        assert_eq!(major_minor("123456789.1"), None);
    }
}
