//! What the REPL does to an answer before a terminal shows it: at most `.maxrows` rows
//! per table, and tables narrowed to the terminal's width by hiding their last columns
//! (a table's columns go from most to least important, so the rightmost go first)
//! rather than wrapping every row over several lines. The first two columns always
//! stay (a value and its first count: a table without them says nothing); a terminal
//! too narrow even for those wraps them.
//!
//! Both work on the rendered text of sightline's tables (comfy-table's
//! `UTF8_FULL_CONDENSED` style with round corners: a `╭…╮` top line, a header, a `╞…╡`
//! line, one line per row, a `╰…╯` bottom line); any other text passes unchanged, and so
//! does a table whose lines do not line up (wide characters), which is then only wider
//! than the terminal.

/// Characters that may stand where a column ends, on any line of a table.
const SEPARATORS: &[char] = &[
    '╭', '┬', '╮', '│', '┆', '╞', '╪', '╡', '╰', '┴', '╯', '├', '┼', '┤',
];

/// The lines of `text`, with the ranges of the lines that are tables.
fn tables(lines: &[&str]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('╭') {
            start = Some(i);
        } else if l.starts_with('╰')
            && let Some(s) = start.take()
        {
            out.push((s, i + 1));
        }
    }
    out
}

/// `text` with each table cut to its first `max` rows; and how many rows were left out.
pub fn cap_rows(text: &str, max: usize) -> (String, u64) {
    let lines: Vec<&str> = text.lines().collect();
    let mut hidden = 0u64;
    let mut keep = vec![true; lines.len()];
    for (s, e) in tables(&lines) {
        // Rows follow the header's `╞` line (a table without one has no header: all rows).
        let first = (s + 1..e)
            .find(|&i| lines[i].starts_with('╞'))
            .map_or(s + 1, |i| i + 1);
        let rows = first..e - 1;
        for (n, i) in rows.enumerate() {
            if n >= max {
                keep[i] = false;
                hidden += 1;
            }
        }
    }
    let kept: Vec<&str> = lines
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(l, _)| *l)
        .collect();
    (kept.join("\n"), hidden)
}

/// Columns a narrowed table keeps, whatever the width.
const KEPT_COLUMNS: usize = 2;

/// `text` with each table wider than `width` columns of characters narrowed by hiding
/// its rightmost columns (never the first two); and the headers of the columns hidden.
pub fn fit_width(text: &str, width: usize) -> (String, Vec<String>) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut hidden = Vec::new();
    let views: Vec<&str> = text.lines().collect();
    for (s, e) in tables(&views) {
        let block: Vec<Vec<char>> = lines[s..e].iter().map(|l| l.chars().collect()).collect();
        let Some(fitted) = fit_table(&block, width, &mut hidden) else {
            continue;
        };
        for (line, f) in lines[s..e].iter_mut().zip(fitted) {
            *line = f;
        }
    }
    (lines.join("\n"), hidden)
}

/// One table's lines narrowed to `width`, the headers hidden added to `hidden`; `None`
/// when it fits already or its lines do not line up.
fn fit_table(block: &[Vec<char>], width: usize, hidden: &mut Vec<String>) -> Option<Vec<String>> {
    let top = block.first()?;
    if top.len() <= width {
        return None;
    }
    // Where each column ends: the top line's corners and junctions.
    let bounds: Vec<usize> = top
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, '╭' | '┬' | '╮'))
        .map(|(i, _)| i)
        .collect();
    let lined_up = block.iter().all(|l| {
        l.len() == top.len()
            && bounds
                .iter()
                .all(|&b| l.get(b).is_some_and(|c| SEPARATORS.contains(c)))
    });
    if !lined_up || bounds.len() <= KEPT_COLUMNS + 1 {
        return None;
    }
    // Columns from the right, until the table fits or only the kept ones are left.
    let mut cut = bounds.len() - 1; // the index in `bounds` of the new right border
    let mut width_now = top.len();
    while width_now > width && cut > KEPT_COLUMNS {
        width_now -= bounds[cut] - bounds[cut - 1];
        cut -= 1;
    }
    let header = block.get(1);
    for k in cut..bounds.len() - 1 {
        let name: String = header
            .and_then(|h| h.get(bounds[k] + 1..bounds[k + 1]))
            .map(|cells| cells.iter().collect::<String>().trim().to_string())
            .unwrap_or_default();
        hidden.push(name);
    }
    let right = bounds[bounds.len() - 1];
    Some(
        block
            .iter()
            .map(|l| {
                l[..bounds[cut]]
                    .iter()
                    .chain(&l[right..])
                    .collect::<String>()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
caption
╭──────┬────┬─────────╮
│ page ┆ n  ┆ revenue │
╞══════╪════╪═════════╡
│ /a   ┆ 10 ┆  1.00   │
│ /b   ┆  9 ┆  2.00   │
│ /c   ┆  8 ┆  3.00   │
╰──────┴────┴─────────╯
total";

    #[test]
    fn rows_past_the_cap_are_left_out_and_counted() {
        let (text, hidden) = cap_rows(TABLE, 2);
        assert_eq!(hidden, 1);
        assert!(text.contains("/b") && !text.contains("/c"), "{text}");
        assert!(text.ends_with("╰──────┴────┴─────────╯\ntotal"), "{text}");
        assert_eq!(cap_rows(TABLE, 3), (TABLE.to_string(), 0));
        let (_, all) = cap_rows(TABLE, 0);
        assert_eq!(all, 3);
        // Text without a table passes.
        assert_eq!(cap_rows("a\nb", 1), ("a\nb".to_string(), 0));
    }

    #[test]
    fn a_table_too_wide_loses_its_last_columns() {
        // 23 characters wide: at 17 the revenue column goes.
        assert_eq!(fit_width(TABLE, 23), (TABLE.to_string(), vec![]));
        let (text, hidden) = fit_width(TABLE, 17);
        assert_eq!(hidden, vec!["revenue".to_string()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "╭──────┬────╮");
        assert_eq!(lines[2], "│ page ┆ n  │");
        assert_eq!(lines[4], "│ /a   ┆ 10 │");
        assert_eq!(lines[7], "╰──────┴────╯");
        assert_eq!((lines[0], lines[8]), ("caption", "total"));
        // The first two columns always stay, however narrow the terminal.
        assert_eq!(fit_width(TABLE, 1), (text.clone(), hidden));
        let four = TABLE
            .replace("┬─────────╮", "┬─────────┬───╮")
            .replace("revenue │", "revenue ┆ x │")
            .replace("═════════╡", "═════════╪═══╡")
            .replace("00   │", "00   ┆ 1 │")
            .replace("─────────╯", "─────────┴───╯");
        let (text, hidden) = fit_width(&four, 12);
        assert_eq!(hidden, vec!["revenue".to_string(), "x".into()]);
        assert_eq!(text.lines().nth(5), Some("│ /b   ┆  9 │"));
    }

    #[test]
    fn tables_that_do_not_line_up_are_left_alone() {
        let crooked = TABLE.replace("│ /b   ┆  9 ┆", "│ /bé  ┆  9  ┆");
        assert_eq!(fit_width(&crooked, 10), (crooked.clone(), vec![]));
    }
}
