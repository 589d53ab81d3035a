//! A small, lenient URL splitter for referrer and landing URLs: enough to find the host,
//! path, query and fragment the way PHP's `parse_url` does for the URLs browsers send,
//! without failing on the garbage real logs contain.

use std::borrow::Cow;

/// The parts of an absolute URL (`scheme://host/path?query#fragment`, or `//host…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// The host in lower case, without user info, port or IPv6 brackets; never empty.
    pub host: String,
    /// From the first `/` after the host up to `?` or `#` (may be empty).
    pub path: &'a str,
    /// After `?` up to `#` (empty when absent).
    pub query: &'a str,
    /// After `#` (empty when absent).
    pub fragment: &'a str,
}

/// Splits `url`; `None` when it has no host (a relative URL, a bare word, empty).
pub(crate) fn split(url: &str) -> Option<UrlParts<'_>> {
    let url = url.trim();
    let rest = if let Some(rest) = url.strip_prefix("//") {
        rest
    } else {
        let colon = url.find("://")?;
        let scheme = &url[..colon];
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return None;
        }
        &url[colon + 3..]
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = host_of(authority)?;
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((a, f)) => (a, f),
        None => (tail, ""),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, q),
        None => (before_fragment, ""),
    };
    Some(UrlParts {
        host,
        path,
        query,
        fragment,
    })
}

/// The host of an authority (`user:pw@Host:8080`, `[::1]:80`), lower-cased.
fn host_of(authority: &str) -> Option<String> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        inner.split_once(']').map_or(inner, |(h, _)| h)
    } else {
        host_port.split_once(':').map_or(host_port, |(h, _)| h)
    };
    let host = host.trim_end_matches('.');
    if host.is_empty()
        || host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    Some(host.to_lowercase())
}

/// `host` without one leading `www.`.
pub(crate) fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// The value of the first `name=value` pair of `query` whose name is `name`, decoded as
/// a form (`+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD). `Some("")` when
/// the parameter is present without a value.
pub(crate) fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Percent-decodes `text` as PHP's `urldecode` does (`+` is a space), lossily.
pub(crate) fn url_decode(text: &str) -> String {
    let plus_as_space = text.replace('+', " ");
    percent_decode(&plus_as_space)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex(*c)),
                bytes.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_absolute_urls() {
        let p = split("https://User:pw@WWW.Example.COM:8443/a/b?x=1&y=2#frag").unwrap();
        assert_eq!(p.host, "www.example.com");
        assert_eq!((p.path, p.query, p.fragment), ("/a/b", "x=1&y=2", "frag"));
        let p = split("http://example.com?q=1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.path, p.query),
            ("example.com", "", "q=1")
        );
        let p = split("//cdn.example.org/x").unwrap();
        assert_eq!((p.host.as_str(), p.path), ("cdn.example.org", "/x"));
        let p = split("http://[2001:db8::1]:80/").unwrap();
        assert_eq!(p.host, "2001:db8::1");
        let p = split("android-app://com.google.android.gm/").unwrap();
        assert_eq!(p.host, "com.google.android.gm");
    }

    #[test]
    fn rejects_what_has_no_host() {
        for url in [
            "",
            "/relative/path",
            "example.com/no-scheme",
            "http://",
            "http:///path",
            "://x",
            "1http://x.com",
            "not a url",
            "http://exa mple.com/",
        ] {
            assert_eq!(split(url), None, "{url:?}");
        }
    }

    #[test]
    fn decodes_query_values() {
        assert_eq!(
            query_param("a=1&q=caf%C3%A9+au+lait", "q").unwrap(),
            "café au lait"
        );
        assert_eq!(query_param("q=&a=1", "q").unwrap(), "");
        assert_eq!(query_param("a=1", "q"), None);
        assert_eq!(query_param("q=%FF", "q").unwrap(), "\u{FFFD}");
        assert_eq!(url_decode("a+b%20c%zz%4"), "a b c%zz%4");
    }

    #[test]
    fn truncates_at_char_boundaries() {
        assert_eq!(truncate("ééé".to_string(), 3), "é");
        assert_eq!(truncate("abc".to_string(), 5), "abc");
    }
}
