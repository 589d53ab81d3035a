//! The segment grammar in its three dialects: a table of accepted and rejected inputs
//! (Matomo's own examples included), the limits, degenerate inputs, and properties
//! (canonical text round-trips; no input panics; error offsets are in bounds).

use proptest::prelude::*;
use sightline::{
    Condition, Dialect, MAX_CONDITIONS, MAX_SEGMENT_BYTES, Op, OrGroup, Segment,
    parse_segment as parse,
};

use Dialect::{Default as D, Matomo as M, MatomoUrl as U};

/// What a row expects.
enum Expect {
    /// Parses, and its canonical text is this.
    Canonical(&'static str),
    /// Parses into these groups of `(name, operator, value)`.
    Groups(&'static [&'static [(&'static str, &'static str, &'static str)]]),
    /// Fails at this byte offset with a reason containing this text.
    Error(usize, &'static str),
}
use Expect::{Canonical, Error, Groups};

const OPERATOR_ERROR: &str =
    "expected an operator (==, !=, <, <=, >, >=, =@, !@, =^, =$, =~, !~) after";
const NO_CONDITION: &str = "expected a condition (name operator value)";
const MATOMO_EMPTY_VALUE: &str = "has no value specified. You can leave this value empty only when \
                                  you use the operators: != (is not) or == (is)";

#[rustfmt::skip]
const TABLE: &[(Dialect, &str, Expect)] = &[
    // ---- default dialect: shape ----
    (D, "", Canonical("")),
    (D, " \t\r\n ", Canonical("")),
    (D, "A==1,B==2;C==3,D==4,E==5;F==6", Groups(&[
        &[("A", "==", "1"), ("B", "==", "2")],
        &[("C", "==", "3"), ("D", "==", "4"), ("E", "==", "5")],
        &[("F", "==", "6")],
    ])),
    (D, "countryCode==FR;visitCount>2,pageUrl=@%2Fcheckout",
        Canonical("countryCode==FR;visitCount>2,pageUrl=@/checkout")),
    // ---- every operator ----
    (D, "a==1", Groups(&[&[("a", "==", "1")]])),
    (D, "a!=1", Groups(&[&[("a", "!=", "1")]])),
    (D, "a<1", Groups(&[&[("a", "<", "1")]])),
    (D, "a<=1", Groups(&[&[("a", "<=", "1")]])),
    (D, "a>1", Groups(&[&[("a", ">", "1")]])),
    (D, "a>=1", Groups(&[&[("a", ">=", "1")]])),
    (D, "a=@1", Groups(&[&[("a", "=@", "1")]])),
    (D, "a!@1", Groups(&[&[("a", "!@", "1")]])),
    (D, "a=^1", Groups(&[&[("a", "=^", "1")]])),
    (D, "a=$1", Groups(&[&[("a", "=$", "1")]])),
    (D, "a=~^ab?.*$", Groups(&[&[("a", "=~", "^ab?.*$")]])),
    (D, "a!~[0-9]+", Groups(&[&[("a", "!~", "[0-9]+")]])),
    // Longest operator first; whatever follows it belongs to the value.
    (D, "a===x", Groups(&[&[("a", "==", "=x")]])),
    (D, "a!==x", Groups(&[&[("a", "!=", "=x")]])),
    (D, "a>=<=x", Groups(&[&[("a", ">=", "<=x")]])),
    (D, "a<>x", Groups(&[&[("a", "<", ">x")]])),
    (D, "E!=Hello World!=", Groups(&[&[("E", "!=", "Hello World!=")]])),
    // ---- names ----
    (D, "plan_type==pro;ab.test==b;utm-source==x;dimension1==y",
        Canonical("plan_type==pro;ab.test==b;utm-source==x;dimension1==y")),
    (D, "Stadt==Zürich", Groups(&[&[("Stadt", "==", "Zürich")]])),
    (D, "pageUrl%20==x", Groups(&[&[("pageUrl%20", "==", "x")]])),
    // ---- whitespace ----
    (D, " a == 1 ;\tb =@ x y , c!=z \n", Canonical("a==1;b=@x y,c!=z")),
    (D, "countryCode==fr; browserCode==FF", Groups(&[
        &[("countryCode", "==", "fr")], &[("browserCode", "==", "FF")],
    ])),
    (D, "a==%20x%20", Groups(&[&[("a", "==", " x ")]])),
    (D, "a==%20x%20", Canonical("a==%20x%20")),
    // ---- escapes and percent-decoding ----
    (D, "a==x\\;y\\,z", Groups(&[&[("a", "==", "x;y,z")]])),
    (D, "a==x\\;y\\,z", Canonical("a==x%3By%2Cz")),
    (D, "a==\\A", Groups(&[&[("a", "==", "\\A")]])),
    (D, "a==\\\\;b", Groups(&[&[("a", "==", "\\;b")]])),
    (D, "a==x\\", Groups(&[&[("a", "==", "x\\")]])),
    (D, "a==x+y", Groups(&[&[("a", "==", "x+y")]])),
    (D, "a==%3B%2C%25", Groups(&[&[("a", "==", ";,%")]])),
    (D, "city==t%C3%A4s,city==t%c3%a4s", Groups(&[&[("city", "==", "täs"), ("city", "==", "täs")]])),
    (D, "pageUrl==https%3A%2F%2Fmatomo.org", Groups(&[&[("pageUrl", "==", "https://matomo.org")]])),
    (D, "pageUrl==https%253A", Groups(&[&[("pageUrl", "==", "https%3A")]])),
    // ---- empty values ----
    (D, "referrerKeyword==", Groups(&[&[("referrerKeyword", "==", "")]])),
    (D, "referrerKeyword!= ;a==1", Groups(&[&[("referrerKeyword", "!=", "")], &[("a", "==", "1")]])),
    (D, "a=@", Error(3, "`=@` needs a value; only == and != may have an empty value")),
    (D, "a< ,b==1", Error(3, "`<` needs a value")),
    (D, "a<=", Error(3, "`<=` needs a value")),
    // ---- syntax errors ----
    (D, "countryCode=FR", Error(11, "expected an operator (==, !=, <, <=, >, >=, =@, !@, =^, =$, =~, !~) after `countryCode`")),
    (D, "countryCode", Error(11, "after `countryCode`")),
    (D, "a b==1", Error(2, "after `a`")),
    (D, "a==1;b", Error(6, "after `b`")),
    (D, "A=B", Error(1, OPERATOR_ERROR)),
    (D, "C!D", Error(1, OPERATOR_ERROR)),
    (D, "pageUrl=!1.0", Error(7, OPERATOR_ERROR)),
    (D, "a~=1", Error(2, "after `a~`")),
    (D, "a\u{1}==1", Error(1, "after `a`")),
    (D, ";a==1", Error(0, NO_CONDITION)),
    (D, "a==1;;b==2", Error(5, NO_CONDITION)),
    (D, "a==1,,b==2", Error(5, NO_CONDITION)),
    (D, "a==1;", Error(5, NO_CONDITION)),
    (D, "a==1, ", Error(6, NO_CONDITION)),
    (D, "==x", Error(0, "expected a dimension name")),
    (D, "a==1; <2", Error(6, "expected a dimension name")),
    (D, "\\a==1", Error(0, "a name cannot contain `\\`")),
    (D, "\u{7f}a==1", Error(0, "a name cannot contain control characters (U+007F)")),
    (D, "a==%", Error(3, "`%` must be followed by two hex digits; write %25 for a literal %")),
    (D, "a==x%4g", Error(4, "two hex digits")),
    (D, "a==1;b==100%", Error(11, "two hex digits")),
    (D, "a==%FF", Error(3, "percent-encoded bytes are not valid UTF-8")),
    (D, "a==%C3x", Error(3, "not valid UTF-8")),
    (D, "a==ok%C3%A4%C3", Error(11, "not valid UTF-8")),
    (D, "a==ä%A4", Error(5, "not valid UTF-8")),

    // ---- Matomo dialect: Matomo's own examples (reference §1.2–1.9) ----
    (M, "A==1,B==2;C==3,D==4,E==5;F==6", Groups(&[
        &[("A", "==", "1"), ("B", "==", "2")],
        &[("C", "==", "3"), ("D", "==", "4"), ("E", "==", "5")],
        &[("F", "==", "6")],
    ])),
    (M, "ABCDEF====B===", Groups(&[&[("ABCDEF", "==", "==B===")]])),
    (M, "A>=<=B", Groups(&[&[("A", ">=", "<=B")]])),
    (M, "A===B", Groups(&[&[("A", "==", "=B")]])),
    (M, "pageUrl!@=home", Groups(&[&[("pageUrl", "!@", "=home")]])),
    (M, "a=b==c", Groups(&[&[("a=b", "==", "c")]])),
    (M, "a<b==c", Groups(&[&[("a", "<", "b==c")]])),
    (M, "===x", Groups(&[&[("=", "==", "x")]])),
    (M, "(UNIX_TIMESTAMP(A)-B)>=1", Groups(&[&[("(UNIX_TIMESTAMP(A)-B)", ">=", "1")]])),
    (M, "A==x;B==y;", Groups(&[&[("A", "==", "x")], &[("B", "==", "y;")]])),
    (M, "countryCode==fr;", Groups(&[&[("countryCode", "==", "fr;")]])),
    (M, "countryCode==fr,", Groups(&[&[("countryCode", "==", "fr,")]])),
    (M, "a==1,;b==2", Groups(&[&[("a", "==", "1,")], &[("b", "==", "2")]])),
    (M, "a==1;;b==2", Groups(&[&[("a", "==", "1")], &[("b", "==", "2")]])),
    (M, ";a==1", Groups(&[&[("a", "==", "1")]])),
    (M, "a==1;0;b==2", Groups(&[&[("a", "==", "1")], &[("b", "==", "2")]])),
    (M, "a==1,,b==2", Error(5, "The segment condition '' is not valid.")),
    (M, "a==1,0", Error(5, "The segment condition '0' is not valid.")),
    (M, "E!=Hello World!=", Groups(&[&[("E", "!=", "Hello World!=")]])),
    (M, "A==\\A", Groups(&[&[("A", "==", "\\A")]])),
    (M, "A==x\\;y\\,z", Groups(&[&[("A", "==", "x;y,z")]])),
    (M, "A==x\\\\;y", Groups(&[&[("A", "==", "x\\;y")]])),
    (M, "A=@B_", Groups(&[&[("A", "=@", "B_")]])),
    (M, "referrerKeyword==", Groups(&[&[("referrerKeyword", "==", "")]])),
    (M, "referrerKeyword!=", Groups(&[&[("referrerKeyword", "!=", "")]])),
    (M, "A=@", Error(0, "The segment 'A=@' has no value specified. You can leave this value empty only when you use the operators: != (is not) or == (is)")),
    (M, "a==1;B=^", Error(5, MATOMO_EMPTY_VALUE)),
    (M, "A=B", Error(0, "The segment condition 'A=B' is not valid.")),
    (M, "a==1,C!D", Error(5, "The segment condition 'C!D' is not valid.")),
    (M, "pageUrl=!1.0", Error(0, "The segment condition 'pageUrl=!1.0' is not valid.")),
    (M, "a=~x", Error(0, "The segment condition 'a=~x' is not valid.")),
    (M, "a!~x", Error(0, "is not valid")),
    (M, "==x", Error(0, "The segment condition '==x' is not valid.")),
    // ---- Matomo: whitespace is significant, except at the two ends ----
    (M, "countryCode==fr; browserCode==FF", Groups(&[
        &[("countryCode", "==", "fr")], &[(" browserCode", "==", "FF")],
    ])),
    (M, "a == 1 ", Groups(&[&[("a ", "==", " 1")]])),
    (M, " \t\0a==1\x0B\n", Groups(&[&[("a", "==", "1")]])),
    (M, "", Canonical("")),
    (M, "0", Canonical("")),
    (M, " 0\n", Canonical("")),
    (M, ";", Error(0, "The segment condition ';' is not valid.")),
    (M, ";;", Error(1, "The segment condition ';' is not valid.")),
    // ---- Matomo: newlines ----
    (M, "a==line1\nline2;b==2", Groups(&[&[("a", "==", "line1")], &[("b", "==", "2")]])),
    (M, "a\nb==1", Error(0, "is not valid")),
    // ---- Matomo: decoding twice, `+` is a space each time ----
    (M, "a==x+y", Groups(&[&[("a", "==", "x y")]])),
    (M, "pageUrl==https%253A%252F%252Fmatomo.org", Groups(&[&[("pageUrl", "==", "https://matomo.org")]])),
    (M, "city==existing+t%C3%A4s%2Fts", Groups(&[&[("city", "==", "existing täs/ts")]])),
    (M, "a==d%252Bf", Groups(&[&[("a", "==", "d+f")]])),
    (M, "a==d%2Bf", Groups(&[&[("a", "==", "d f")]])),
    (M, "a==d%2520f", Groups(&[&[("a", "==", "d f")]])),
    (M, "a==d%252520f", Groups(&[&[("a", "==", "d%20f")]])),
    (M, "a==100%,b==%zz%2", Groups(&[&[("a", "==", "100%"), ("b", "==", "%zz%2")]])),
    (M, "a==x%3Bb==y", Groups(&[&[("a", "==", "x;b==y")]])),
    (M, "a%3D=b", Groups(&[&[("a", "==", "b")]])),
    (M, "a%3Db==c", Groups(&[&[("a=b", "==", "c")]])),
    (M, "a%3D%3Db", Groups(&[&[("a", "==", "b")]])),
    (M, "a==%253D", Groups(&[&[("a", "==", "=")]])),
    (M, "a=@%2520", Groups(&[&[("a", "=@", " ")]])),
    (M, "a==%FF", Error(3, "not UTF-8")),
    (M, "a%FF==1", Error(1, "not UTF-8")),

    // ---- matomo-url: whole-string heuristic ----
    (U, "pageUrl=@%2Ca", Groups(&[&[("pageUrl", "=@", ",a")]])),
    (U, "countryCode==a%3BcountryCode==b", Groups(&[&[("countryCode", "==", "a")], &[("countryCode", "==", "b")]])),
    (U, "a==1;b==2", Groups(&[&[("a", "==", "1")], &[("b", "==", "2")]])),
    (U, "a==%", Groups(&[&[("a", "==", "%")]])),
    (U, "pageUrl==https%25253A%25252F%25252Fmatomo.org", Groups(&[&[("pageUrl", "==", "https://matomo.org")]])),
    (U, "%20a==1%20", Groups(&[&[("a", "==", "1")]])),
    (U, "a==b%3B", Groups(&[&[("a", "==", "b;")]])),
    (U, "a==x%25252B", Groups(&[&[("a", "==", "x+")]])),
    (U, "A%3DB", Error(0, "The segment condition 'A=B' is not valid.")),
    (U, "a==1;b%3D%3D", Groups(&[&[("a", "==", "1")], &[("b", "==", "")]])),
    (U, "", Canonical("")),
    (U, "%30", Canonical("")),
];

fn triples(s: &Segment) -> Vec<Vec<(String, String, String)>> {
    s.groups
        .iter()
        .map(|g| {
            g.conditions
                .iter()
                .map(|c| (c.name.clone(), c.op.to_string(), c.value.clone()))
                .collect()
        })
        .collect()
}

#[test]
fn table() {
    let mut failures = Vec::new();
    for (i, (dialect, input, expect)) in TABLE.iter().enumerate() {
        let got = parse(input, *dialect);
        let ok = match (expect, &got) {
            (Canonical(c), Ok(s)) => s.to_string() == *c,
            (Groups(g), Ok(s)) => {
                let want: Vec<Vec<(String, String, String)>> = g
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(|(n, o, v)| (n.to_string(), o.to_string(), v.to_string()))
                            .collect()
                    })
                    .collect();
                triples(s) == want
            }
            (Error(offset, reason), Err(e)) => e.offset == *offset && e.reason.contains(reason),
            _ => false,
        };
        if !ok {
            let got = match &got {
                Ok(s) => format!("Ok({:?}) = {s}", triples(s)),
                Err(e) => format!("Err({e})"),
            };
            failures.push(format!("row {i}: {} {input:?}: got {got}", dialect.name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing rows:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn default_spans_cover_name_and_trimmed_raw_value() {
    let input = " pageUrl =@  %2Fa\\;b  ;x==";
    let s = parse(input, D).unwrap();
    let c = &s.groups[0].conditions[0];
    assert_eq!(&input[c.name_span.clone()], "pageUrl");
    assert_eq!(&input[c.value_span.clone()], "%2Fa\\;b");
    let empty = &s.groups[1].conditions[0];
    assert_eq!(empty.value_span, input.len()..input.len());
}

#[test]
fn matomo_spans_map_decoded_text_back_to_the_input() {
    let input = "a==1; b%3D%3D%2520x\\;y";
    let s = parse(input, M).unwrap();
    let c = &s.groups[1].conditions[0];
    assert_eq!((c.name.as_str(), c.value.as_str()), (" b", " x;y"));
    assert_eq!(&input[c.name_span.clone()], " b");
    assert_eq!(&input[c.value_span.clone()], "%2520x\\;y");
    // matomo-url: offsets still point into the caller's (undecoded) text.
    let input = "a==1%3Bb%3D%3Dz";
    let s = parse(input, U).unwrap();
    let c = &s.groups[1].conditions[0];
    assert_eq!(&input[c.name_span.clone()], "b");
    assert_eq!(&input[c.value_span.clone()], "z");
}

#[test]
fn matomo_url_error_offsets_point_into_the_raw_input() {
    // Both readings fail (the raw one at `C`), so the decoded reading's error is
    // reported, at the raw offset of `A`.
    let e = parse("a==1%3BA%3DB;C", U).unwrap_err();
    assert_eq!(e.offset, 7);
    assert!(e.reason.contains("'A=B' is not valid"), "{e}");
}

// ---- limits ----

#[test]
fn input_over_64_kib_is_rejected_not_truncated() {
    for dialect in [D, M, U] {
        let input = format!("a=={}", "x".repeat(MAX_SEGMENT_BYTES + 1 - 3));
        assert_eq!(input.len(), MAX_SEGMENT_BYTES + 1);
        let e = parse(&input, dialect).unwrap_err();
        assert!(e.reason.contains("limit is 65536 bytes"), "{e}");
        let exact = &input[..MAX_SEGMENT_BYTES];
        assert_eq!(parse(exact, dialect).unwrap().len(), 1);
    }
}

#[test]
fn more_than_10000_conditions_are_rejected() {
    let many = |n: usize| vec!["a==1"; n].join(";");
    for dialect in [D, M, U] {
        let e = parse(&many(MAX_CONDITIONS + 1), dialect).unwrap_err();
        assert!(e.reason.contains("has 10001 conditions"), "{e}");
        assert_eq!(
            parse(&many(MAX_CONDITIONS), dialect).unwrap().len(),
            MAX_CONDITIONS
        );
    }
    let ors = vec!["a==1"; MAX_CONDITIONS + 1].join(",");
    assert!(parse(&ors, D).is_err());
}

#[test]
fn a_60_kib_segment_is_accepted() {
    let long_value = format!("pageTitle=@{}", "é".repeat(30 * 1024));
    assert!(long_value.len() > 60 * 1024);
    let s = parse(&long_value, D).unwrap();
    assert_eq!(s.to_string(), long_value);
    let many: String = (0..MAX_CONDITIONS)
        .map(|i| format!("a=={:02};", i % 100))
        .collect();
    let many = many.trim_end_matches(';');
    assert!(many.len() > 58 * 1024);
    let s = parse(many, D).unwrap();
    assert_eq!(s.len(), MAX_CONDITIONS);
    assert_eq!(s.to_string(), many);
}

#[test]
fn degenerate_inputs_end_without_exhausting_the_stack() {
    let inputs = [
        ";".repeat(60_000),
        ",".repeat(60_000),
        "\\".repeat(30_000),
        "=".repeat(60_000),
        "<".repeat(60_000),
        "%".repeat(60_000),
        "+".repeat(60_000),
        " ".repeat(60_000),
        "a".repeat(60_000),
        format!("a=={}", "\\;".repeat(30_000)),
        format!("a=={}", "%25".repeat(20_000)),
        "a==1,".repeat(12_000),
        "a==1;".repeat(12_000),
        "\n".repeat(60_000),
    ];
    for input in &inputs {
        for dialect in [D, M, U] {
            // Either answer is fine; finishing (and not overflowing) is the test.
            if let Err(e) = parse(input, dialect) {
                assert!(e.offset <= input.len());
            }
        }
    }
}

// ---- properties ----

/// A name the default dialect accepts.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,12}",
        "[^\\s\\p{Cc};,\\\\=!<>]{1,6}",
    ]
}

/// Any value: delimiters, escapes, `%`, whitespace, controls, non-ASCII.
fn value() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => any::<char>(),
        4 => prop::sample::select(vec![
            ';', ',', '%', '\\', ' ', '\t', '\n', '\r', '\0', '+', '=', '<', '>', '!', '@', '\u{a0}',
            '\u{3000}', 'ä', '2', 'F',
        ]),
        2 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(c, 0..12).prop_map(|v| v.into_iter().collect())
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(Op::ALL.to_vec())
}

fn condition() -> impl Strategy<Value = Condition> {
    (name(), op(), value()).prop_map(|(name, op, mut value)| {
        if value.is_empty() && !matches!(op, Op::Eq | Op::Ne) {
            value.push('x');
        }
        Condition {
            name,
            op,
            value,
            name_span: 0..0,
            value_span: 0..0,
        }
    })
}

fn segment() -> impl Strategy<Value = Segment> {
    prop::collection::vec(
        prop::collection::vec(condition(), 1..4).prop_map(|conditions| OrGroup { conditions }),
        0..4,
    )
    .prop_map(|groups| Segment { groups })
}

/// Checks what every parse result must satisfy: error offsets and spans in bounds and
/// on character boundaries; default-dialect results print and re-parse to themselves.
fn check(input: &str, dialect: Dialect) -> Result<(), TestCaseError> {
    match parse(input, dialect) {
        Err(e) => {
            prop_assert!(
                e.offset <= input.len(),
                "offset {} > {}",
                e.offset,
                input.len()
            );
            prop_assert!(
                input.is_char_boundary(e.offset),
                "offset {} inside a char",
                e.offset
            );
        }
        Ok(s) => {
            for c in s.conditions() {
                for span in [&c.name_span, &c.value_span] {
                    prop_assert!(span.start <= span.end && span.end <= input.len());
                    prop_assert!(
                        input.is_char_boundary(span.start) && input.is_char_boundary(span.end)
                    );
                }
                if dialect == D {
                    prop_assert_eq!(&input[c.name_span.clone()], c.name.as_str());
                }
            }
            if dialect == D {
                let text = s.to_string();
                let back = parse(&text, D);
                prop_assert_eq!(back.as_ref(), Ok(&s), "canonical text {:?}", text);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_text_round_trips(s in segment()) {
        let text = s.to_string();
        let back = parse(&text, D);
        prop_assert_eq!(back.as_ref(), Ok(&s), "canonical text {:?}", text);
    }

    #[test]
    fn any_string_parses_or_fails_cleanly(input in any::<String>()) {
        for dialect in [D, M, U] {
            check(&input, dialect)?;
        }
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let input = String::from_utf8_lossy(&bytes);
        for dialect in [D, M, U] {
            check(&input, dialect)?;
        }
    }

    #[test]
    fn segment_like_strings_parse_or_fail_cleanly(
        input in "[a-c =!<>@^$~;,\\\\%+0-9A-Fä\u{a0}\n\t]{0,40}"
    ) {
        for dialect in [D, M, U] {
            check(&input, dialect)?;
        }
    }

    #[test]
    fn canonical_text_of_a_generated_segment_parses_in_every_dialect_cleanly(s in segment()) {
        let text = s.to_string();
        for dialect in [D, M, U] {
            check(&text, dialect)?;
        }
    }
}

/// `a<` + `=x` must not print as `a<=x` (which reads back as `<=` `x`).
#[test]
fn less_than_a_value_starting_with_equals_round_trips() {
    let s = Segment {
        groups: vec![OrGroup {
            conditions: vec![Condition {
                name: "a".into(),
                op: Op::Lt,
                value: "=x".into(),
                name_span: 0..0,
                value_span: 0..0,
            }],
        }],
    };
    assert_eq!(parse(&s.to_string(), D), Ok(s));
}
