//! The visitor's language from an `Accept-Language` header.

/// The preferred language of an `Accept-Language` header as Matomo's `languageCode`
/// holds it: lower case, language and region joined by `-` (`"fr-FR,fr;q=0.9"` →
/// `"fr-fr"`, `"de"` → `"de"`).
///
/// The preferred entry is the one with the highest `q` (the first of equals; entries
/// with `q=0`, an invalid `q`, `*` or an invalid tag are skipped). Of its tag, the
/// language subtag (1–8 letters) is kept, and the region when one follows it, after
/// an optional script subtag (`zh-Hant-TW` → `zh-tw`); `en_US.UTF-8` (the POSIX form)
/// reads as `en-us`. `None` when nothing usable is left.
pub fn language(accept_language: &str) -> Option<String> {
    let mut best: Option<(f32, String)> = None;
    for entry in accept_language.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let mut q = 1.0_f32;
        let mut valid_q = true;
        for param in parts {
            if let Some((key, value)) = param.split_once('=')
                && key.trim().eq_ignore_ascii_case("q")
            {
                match value.trim().parse::<f32>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                    _ => valid_q = false,
                }
            }
        }
        if !valid_q || q <= 0.0 {
            continue;
        }
        let Some(code) = normalize(tag) else {
            continue;
        };
        if best.as_ref().is_none_or(|(best_q, _)| q > *best_q) {
            best = Some((q, code));
        }
    }
    best.map(|(_, code)| code)
}

/// `language[-region]` of one tag, lower case; `None` for `*` and invalid tags.
fn normalize(tag: &str) -> Option<String> {
    // POSIX locale: `en_US.UTF-8`, `de_DE@euro`.
    let tag = tag.split(['.', '@']).next().unwrap_or("");
    let mut subtags = tag.split(['-', '_']);
    let language = subtags.next()?;
    if language.is_empty()
        || language.len() > 8
        || !language.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let mut code = language.to_ascii_lowercase();
    let mut next = subtags.next();
    // A script subtag (`Hant`) may come between language and region.
    if next.is_some_and(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphabetic())) {
        next = subtags.next();
    }
    if let Some(region) = next {
        let is_region = (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
            || (region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit()));
        if is_region {
            code.push('-');
            code.push_str(&region.to_ascii_lowercase());
        }
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::language;

    #[test]
    fn first_language_with_region() {
        assert_eq!(
            language("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7").as_deref(),
            Some("fr-fr")
        );
        assert_eq!(language("de").as_deref(), Some("de"));
        assert_eq!(language("EN-gb").as_deref(), Some("en-gb"));
        assert_eq!(
            language("  pt-BR ; q=1 , pt;q=0.5").as_deref(),
            Some("pt-br")
        );
        assert_eq!(language("es-419,es;q=0.9").as_deref(), Some("es-419"));
    }

    #[test]
    fn highest_quality_wins() {
        assert_eq!(
            language("en;q=0.3,de;q=0.8,fr;q=0.5").as_deref(),
            Some("de")
        );
        // Ties keep the first.
        assert_eq!(language("it;q=0.5,nl;q=0.5").as_deref(), Some("it"));
        // q=0 means "not acceptable".
        assert_eq!(language("ja;q=0,ko;q=0.1").as_deref(), Some("ko"));
    }

    #[test]
    fn wildcards_scripts_and_posix_forms() {
        assert_eq!(language("*").as_deref(), None);
        assert_eq!(language("*,sv;q=0.5").as_deref(), Some("sv"));
        assert_eq!(language("zh-Hant-TW,zh;q=0.8").as_deref(), Some("zh-tw"));
        assert_eq!(language("zh-Hans").as_deref(), Some("zh"));
        assert_eq!(language("en_US.UTF-8").as_deref(), Some("en-us"));
        assert_eq!(language("sr-Latn").as_deref(), Some("sr"));
        assert_eq!(language("de-DE-1996").as_deref(), Some("de-de"));
    }

    #[test]
    fn empty_and_garbage() {
        for header in [
            "",
            " ",
            ",",
            ";q=1",
            "q=0.5",
            "12-34",
            "en;q=abc",
            "en;q=2",
            "fr;q=-1",
            "\u{e9}t\u{e9}",
            "toolonglanguage",
            "a b c",
            "-us",
        ] {
            assert_eq!(language(header), None, "{header:?}");
        }
        // Garbage entries are skipped, valid ones kept.
        assert_eq!(language("??,en;q=0.4").as_deref(), Some("en"));
    }
}
