//! Commands over several lines, and the file names of `.output` and `.read`.
//!
//! A line ending in an odd number of backslashes goes on on the next line, as in a
//! shell: the last backslash and the line break are dropped, so `countryCode==fr;\`
//! then `visitCount>1` is `countryCode==fr;visitCount>1` (type the spaces you want
//! before the backslash). A dot-command with an unclosed `"` goes on too, the line break
//! kept inside the quotes. Segments have no quotes (a `"` in a value is a character
//! like any other), so a lone `"` does not continue a segment.

/// Whether `pending`, the command typed so far, goes on on the next line.
pub fn continues(pending: &str) -> bool {
    ends_in_backslash(pending) || open_quote(pending)
}

/// `pending` and the `next` line, joined (see the module docs).
pub fn join(pending: &str, next: &str) -> String {
    if ends_in_backslash(pending) {
        format!("{}{next}", &pending[..pending.len() - 1])
    } else {
        format!("{pending}\n{next}")
    }
}

fn ends_in_backslash(text: &str) -> bool {
    let n = text.bytes().rev().take_while(|&b| b == b'\\').count();
    n % 2 == 1
}

fn open_quote(text: &str) -> bool {
    text.trim_start().starts_with('.') && text.matches('"').count() % 2 == 1
}

/// The argument of `.output` or `.read` as a path: without the quotes around it, if any.
pub fn file_arg(arg: &str) -> &str {
    let arg = arg.trim();
    arg.strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_backslash_continues_the_line() {
        assert!(continues("countryCode==fr;\\"));
        assert_eq!(
            join("countryCode==fr;\\", "visitCount>1"),
            "countryCode==fr;visitCount>1"
        );
        assert!(!continues("countryCode==fr"));
        // An escaped backslash ends the line.
        assert!(!continues("pageUrl==C:\\\\"));
        assert!(continues("pageUrl==C:\\\\\\"));
        // Lines join again and again.
        let two = join(".funnel a -> \\", "b -> \\");
        assert!(continues(&two));
        assert_eq!(join(&two, "c"), ".funnel a -> b -> c");
    }

    #[test]
    fn an_open_quote_continues_a_dot_command_only() {
        assert!(continues(".output \"my"));
        assert_eq!(join(".output \"my", "file\""), ".output \"my\nfile\"");
        assert!(!continues(".output \"my file\""));
        assert!(!continues("pageTitle=@\""));
    }

    #[test]
    fn file_arguments_lose_their_quotes() {
        assert_eq!(file_arg(" \"a b.txt\" "), "a b.txt");
        assert_eq!(file_arg("out.txt"), "out.txt");
        assert_eq!(file_arg("\"half"), "\"half");
    }
}
