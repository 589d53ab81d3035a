//! Warnings about segments that are valid but rarely mean what they say: two positive
//! conditions on one action-level dimension ANDed together (`pageUrl=@/cart;
//! pageUrl=@/checkout`). Every positive action-level condition of a segment is tested
//! on the same action row (`docs/segment-language.md`), so such a segment selects only
//! visits with one row whose value satisfies both — usually none, while the user meant
//! "visited both".

use serde::Serialize;

use super::compile::{CompiledSegment, Cond, Operand};
use crate::lang::Op;
use crate::schema::Level;

/// A warning about a segment that compiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentWarning {
    /// Byte offset, in the segment's text, of the later condition's name (for a caret).
    pub offset: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl SegmentWarning {
    /// Two lines: `input` (the segment's text) and a caret under [`Self::offset`], as
    /// [`SegmentError::caret`](crate::SegmentError::caret) draws them.
    pub fn caret(&self, input: &str) -> String {
        crate::lang::SegmentError::new(input, self.offset, "").caret()
    }
}

/// The warnings of `seg`: one per pair of AND-groups that each test only one and the
/// same action-level dimension with positive conditions (the first pair per
/// dimension).
pub fn warnings(seg: &CompiledSegment) -> Vec<SegmentWarning> {
    let mut out = Vec::new();
    // (dimension, group index) of the groups pinning one action-level dimension.
    let mut pinned: Vec<(&str, usize)> = Vec::new();
    for (g, conds) in seg.groups.iter().enumerate() {
        let Some(dim) = pinned_dimension(conds) else {
            continue;
        };
        if let Some(&(_, first)) = pinned.iter().find(|(d, _)| *d == dim) {
            if !out.iter().any(|w: &(usize, &str, usize)| w.1 == dim) {
                out.push((first, dim, g));
            }
        } else {
            pinned.push((dim, g));
        }
    }
    out.into_iter()
        .filter_map(|(a, dim, b)| {
            let (first, second) = (seg.groups.get(a)?, seg.groups.get(b)?);
            let offset = seg
                .segment
                .groups
                .get(b)
                .and_then(|g| g.conditions.first())
                .map_or(0, |c| c.name_span.start);
            Some(SegmentWarning {
                offset,
                message: message(dim, first, second),
            })
        })
        .collect()
}

/// The action-level dimension every condition of an AND-group tests positively, if
/// there is one such dimension.
fn pinned_dimension(conds: &[Cond]) -> Option<&str> {
    let first = conds.first()?;
    let name = first.dim.name.as_str();
    let all = conds
        .iter()
        .all(|c| c.level() == Level::Action && !c.is_negative() && c.dim.name == name);
    all.then_some(name)
}

/// The warning's text for two groups pinning `dim`.
fn message(dim: &str, first: &[Cond], second: &[Cond]) -> String {
    let text = |g: &[Cond]| {
        g.iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (a, b) = (text(first), text(second));
    let never = match (first, second) {
        ([x], [y]) => never_on_one_row(x, y),
        _ => false,
    };
    let outcome = if never {
        format!("no single {dim} can satisfy both, so it selects no visit")
    } else {
        format!("it selects only visits with one row whose {dim} satisfies both")
    };
    format!(
        "`{a}` and `{b}` are tested on the same action row (every positive action-level \
         condition of a segment is): {outcome}. For visits with a row of each, use a \
         funnel: `sightline funnel --step '{a}' --step '{b}'` (in that order); for visits \
         with either, one OR-group: `{a},{b}`"
    )
}

/// Whether no stored value can pass both conditions (decided for exact values and
/// prefixes or suffixes; `false` when unsure).
fn never_on_one_row(x: &Cond, y: &Cond) -> bool {
    let (Operand::Text(a), Operand::Text(b)) = (&x.operand, &y.operand) else {
        return false;
    };
    // Compare in the weaker form when one side is case-folded.
    let fold = x.fold_case || y.fold_case;
    let (a, b) = if fold {
        (a.to_lowercase(), b.to_lowercase())
    } else {
        (a.clone(), b.clone())
    };
    let holds = |op: Op, value: &str, pattern: &str| match op {
        Op::Eq => value == pattern,
        Op::Contains => value.contains(pattern),
        Op::StartsWith => value.starts_with(pattern),
        Op::EndsWith => value.ends_with(pattern),
        _ => true,
    };
    match (x.op, y.op) {
        (Op::Eq, Op::Eq) if !fold => a != b,
        (Op::Eq, op) => !holds(op, &a, &b),
        (op, Op::Eq) => !holds(op, &b, &a),
        (Op::StartsWith, Op::StartsWith) => !a.starts_with(&b) && !b.starts_with(&a),
        (Op::EndsWith, Op::EndsWith) => !a.ends_with(&b) && !b.ends_with(&a),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Catalog;
    use crate::lang::{Dialect, parse};

    fn warn(s: &str) -> Vec<SegmentWarning> {
        let seg = parse(s, Dialect::Default).unwrap();
        warnings(&super::super::compile::compile(&seg, &Catalog::new(&[]), s).unwrap())
    }

    #[test]
    fn two_and_groups_on_one_action_dimension_warn() {
        let w = warn("pageUrl=@/cart;pageUrl=@/checkout");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].offset, 15);
        let m = &w[0].message;
        assert!(m.contains("same action row"), "{m}");
        assert!(m.contains("one row whose pageUrl satisfies both"), "{m}");
        assert!(
            m.contains("sightline funnel --step 'pageUrl=@/cart' --step 'pageUrl=@/checkout'"),
            "{m}"
        );
        assert!(m.contains("`pageUrl=@/cart,pageUrl=@/checkout`"), "{m}");
    }

    #[test]
    fn impossible_pairs_say_so() {
        for s in [
            "pageTitle==Home;pageTitle==Cart",
            "pageUrl==shop.example/a;pageUrl=@/b",
            "pageUrl=^shop.example/a;pageUrl=^shop.example/b",
            "eventCategory=$video;eventCategory=$audio",
        ] {
            let w = warn(s);
            assert_eq!(w.len(), 1, "{s}");
            assert!(
                w[0].message.contains("selects no visit"),
                "{s}: {}",
                w[0].message
            );
        }
        for s in [
            "pageUrl=@/cart;pageUrl=@/checkout",
            "pageUrl=^shop.example/;pageUrl=^shop.example/a",
            "pageTitle==Home;pageTitle=@om",
        ] {
            let w = warn(s);
            assert_eq!(w.len(), 1, "{s}");
            assert!(
                !w[0].message.contains("selects no visit"),
                "{s}: {}",
                w[0].message
            );
        }
    }

    #[test]
    fn other_segments_do_not_warn() {
        for s in [
            "pageUrl=@/cart",
            "pageUrl=@/cart,pageUrl=@/checkout",
            "pageUrl=@/cart;pageTitle==Cart",
            "pageUrl=@/cart;pageUrl!@/checkout",
            "countryCode==fr;countryCode==de",
            "pageUrl=@/cart;pageUrl=@/checkout,countryCode==fr",
            "visitConvertedGoalId==1;visitConvertedGoalId==2",
        ] {
            assert!(warn(s).is_empty(), "{s}: {:?}", warn(s));
        }
    }
}
