//! `part_bytes` and `part_resealed`: arbitrary part files opened, verified, read back
//! and queried.

use std::path::Path;
use std::sync::Arc;

use roaring::RoaringBitmap;
use sightline::Catalog;
use sightline::testing::ColumnBody;
use sightline::testing::PartEntry;
use sightline::testing::Rows;
use sightline::testing::compile;
use sightline::testing::{LoosePart, read_back, select, summarize};
use sightline::testing::{PartReader, reseal};
use sightline::{CustomDim, CustomType};
use sightline::{Dialect, parse_segment as parse};
use sightline::{Error, ErrorKind, TimeRange};

/// Segments run over a part: every level (visit, action, conversion), every kind of
/// column (dictionary, URL, numeric, regex, custom) and negations.
const QUERIES: &[&str] = &[
    "",
    "countryCode==fr",
    "city!=Paris,deviceType==desktop",
    "pageUrl=@cart",
    "pageUrl==shop.example/cart;pageTitle!=Home",
    "entryPageUrl=^shop,exitPageTitle=$t",
    "pageUrl=~^https?://",
    "eventCategory==video;eventAction==play",
    "eventValue>=1;actionType==events",
    "visitCount>1;visitDuration<=600",
    "siteId==2,visitServerHour>=12,daysSinceLastVisit>0",
    "visitConvertedGoalId==1,revenue>5",
    "visitConvertedGoalId!=2;visitEcommerceStatus!=none",
    "visitorId==v1,visitorType==returning",
    "visitId==a",
    "plan==pro,plan!@e",
    "score>1,score==",
];

/// A part error must say "damaged" (or "newer format"), nothing else.
fn expect_damage(e: &Error, what: &str) {
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Corruption | ErrorKind::UnsupportedVersion
        ),
        "{what}: not a corruption error: {e}"
    );
}

/// Opens `bytes`, verifies them and reads every visitor back; with `query`, also
/// runs [`QUERIES`] over the part (whole, and with visitor 0 deleted). Every step
/// returns data or a corruption error.
fn exercise(bytes: Vec<u8>, query: bool) {
    let path = Path::new("fuzz.slp");
    let reader = match PartReader::from_bytes(path, bytes) {
        Ok(r) => r,
        Err(e) => return expect_damage(&e, "open"),
    };
    if let Err(e) = reader.verify_all() {
        expect_damage(&e, "verify_all");
    }
    let mut rows = Rows::default();
    if let Err(e) = read_back(&reader, &mut rows) {
        expect_damage(&e, "read_back");
    }
    if query {
        run_queries(reader);
    }
}

fn run_queries(reader: PartReader) {
    let m = reader.meta().clone();
    let custom: Vec<CustomDim> = m
        .custom_columns
        .iter()
        .map(|c| CustomDim {
            name: c.name.clone(),
            ty: match c.body {
                ColumnBody::Cat { .. } => CustomType::String,
                _ => CustomType::Number,
            },
        })
        .collect();
    let catalog = Catalog::new(&custom);
    let entry = PartEntry {
        id: 1,
        file: "fuzz.slp".into(),
        bytes: reader.file_len(),
        crc: 0,
        visitors: m.visitors,
        visits: m.visits,
        events: m.events,
        deletions: None,
        inline: None,
    };
    let reader = Arc::new(reader);
    let whole = LoosePart::new(reader.clone(), entry.clone(), RoaringBitmap::new());
    let less = LoosePart::new(reader, entry, RoaringBitmap::from_iter([0]));
    let mid = m.min_ts / 2 + m.max_ts / 2;
    let ranges = [
        TimeRange::ALL,
        TimeRange {
            start: Some(m.min_ts),
            end: Some(mid),
        },
    ];
    for text in QUERIES {
        let Ok(seg) = parse(text, Dialect::Default) else {
            panic!("{text}: does not parse");
        };
        // Custom dimensions the part lacks do not compile: nothing to run.
        let Ok(compiled) = compile(&seg, &catalog, text) else {
            continue;
        };
        for parts in [std::slice::from_ref(&whole), std::slice::from_ref(&less)] {
            for range in &ranges {
                match select(parts, &compiled, range) {
                    Ok(sel) => {
                        if let Err(e) = summarize(parts, &sel) {
                            expect_damage(&e, text);
                        }
                    }
                    Err(e) => expect_damage(&e, text),
                }
            }
        }
    }
}

/// Any bytes as a part file: opening, verifying and reading every visitor back return
/// data or a corruption error, never a panic. (Mutated bytes mostly fail a checksum:
/// this target exercises the checksum gate and the fixed-layout header and trailer.)
pub fn part_bytes(data: &[u8]) {
    exercise(data.to_vec(), false);
}

/// Any bytes as a part file whose checksums are then recomputed (`reseal`), so that
/// the section decoders behind the checksum gate see arbitrary content: opening,
/// verifying, reading every visitor back and running segments over the part return
/// data or a corruption error, never a panic.
pub fn part_resealed(data: &[u8]) {
    let mut bytes = data.to_vec();
    reseal(&mut bytes);
    exercise(bytes, true);
}
