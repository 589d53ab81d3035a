//! IP anonymisation (`docs/privacy.md`): Matomo's masking rule on its own test tables,
//! the canonical text form, and `ip` masked at import (JSON Lines, CSV, typed events,
//! `sightline import --anonymize-ip N`) so that `ip==` segments match the masked form.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use sightline::{
    Db, Error, ErrorKind, Event, ImportOptions, IpError, TimeRange, anonymize_ip, anonymize_ip_addr,
};

mod common;
use common::{describe, s, sightline, text};

// The cases of Matomo's own tests, each address with its expected bytes for 0…4 bytes
// masked: `tests/IPv4Test.php` (`getAddressesToAnonymize`) and `tests/IPv6Test.php`
// (`getAddressesToAnonymize`; `getIPv4AddressesToAnonymize`, the IPv4-mapped cases, is
// the IPv4 table again under `::ffff:`) of github.com/matomo-org/component-network, the
// library Matomo's PrivacyManager (`IPAnonymizer::applyIPMask`,
// `plugins/PrivacyManager/tests/Unit/AnonymizeIPTest.php`, the same tables) masks with.
const IPV4: [(&str, [[u8; 4]; 5]); 13] = [
    (
        "0.0.0.0",
        [
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.0.0.1",
        [
            [0x00, 0x00, 0x00, 0x01],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.0.0.255",
        [
            [0x00, 0x00, 0x00, 0xff],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.0.1.0",
        [
            [0x00, 0x00, 0x01, 0x00],
            [0x00, 0x00, 0x01, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.0.1.1",
        [
            [0x00, 0x00, 0x01, 0x01],
            [0x00, 0x00, 0x01, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.0.255.255",
        [
            [0x00, 0x00, 0xff, 0xff],
            [0x00, 0x00, 0xff, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.1.0.0",
        [
            [0x00, 0x01, 0x00, 0x00],
            [0x00, 0x01, 0x00, 0x00],
            [0x00, 0x01, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.1.1.1",
        [
            [0x00, 0x01, 0x01, 0x01],
            [0x00, 0x01, 0x01, 0x00],
            [0x00, 0x01, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "0.255.255.255",
        [
            [0x00, 0xff, 0xff, 0xff],
            [0x00, 0xff, 0xff, 0x00],
            [0x00, 0xff, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "1.0.0.0",
        [
            [0x01, 0x00, 0x00, 0x00],
            [0x01, 0x00, 0x00, 0x00],
            [0x01, 0x00, 0x00, 0x00],
            [0x01, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "127.255.255.255",
        [
            [0x7f, 0xff, 0xff, 0xff],
            [0x7f, 0xff, 0xff, 0x00],
            [0x7f, 0xff, 0x00, 0x00],
            [0x7f, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "128.0.0.0",
        [
            [0x80, 0x00, 0x00, 0x00],
            [0x80, 0x00, 0x00, 0x00],
            [0x80, 0x00, 0x00, 0x00],
            [0x80, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
    (
        "255.255.255.255",
        [
            [0xff, 0xff, 0xff, 0xff],
            [0xff, 0xff, 0xff, 0x00],
            [0xff, 0xff, 0x00, 0x00],
            [0xff, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00],
        ],
    ),
];
const IPV6: [(&str, [[u8; 16]; 5]); 2] = [
    (
        "2001:db8:0:8d3:0:8a2e:70:7344",
        [
            [
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x08, 0xd3, 0x00, 0x00, 0x8a, 0x2e, 0x00, 0x70,
                0x73, 0x44,
            ],
            [
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x08, 0xd3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x20, 0x01, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
        ],
    ),
    (
        "2001:6f8:900:724::2",
        [
            [
                0x20, 0x01, 0x06, 0xf8, 0x09, 0x00, 0x07, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x02,
            ],
            [
                0x20, 0x01, 0x06, 0xf8, 0x09, 0x00, 0x07, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x20, 0x01, 0x06, 0xf8, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x20, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
            [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,
            ],
        ],
    ),
];
#[test]
fn matomo_ipv4_table() {
    for (ip, expected) in IPV4 {
        for (n, bytes) in (0u8..).zip(expected) {
            let addr = anonymize_ip_addr(ip.parse().unwrap(), n).unwrap();
            assert_eq!(addr, IpAddr::from(bytes), "{ip} with {n} bytes masked");
            assert_eq!(anonymize_ip(ip, n).unwrap(), addr.to_string(), "{ip} / {n}");
        }
        // Matomo clamps a mask past 4 bytes; sightline refuses it.
        assert_eq!(anonymize_ip(ip, 5), Err(IpError::MaskTooLong(5)));
    }
}

#[test]
fn matomo_ipv4_mapped_table() {
    for (ip, expected) in IPV4 {
        let mapped = format!("::ffff:{ip}");
        for (n, bytes) in (0u8..).zip(expected) {
            let mut want = [0u8; 16];
            want[10..12].copy_from_slice(&[0xff, 0xff]);
            want[12..].copy_from_slice(&bytes);
            let addr = anonymize_ip_addr(mapped.parse().unwrap(), n).unwrap();
            assert_eq!(addr, IpAddr::from(want), "{mapped} with {n} bytes masked");
            // Stored as `::ffff:` and the masked IPv4 address, as Matomo prints it.
            let dotted = IpAddr::from(bytes).to_string();
            assert_eq!(
                anonymize_ip(&mapped, n).unwrap(),
                format!("::ffff:{dotted}")
            );
        }
    }
}

#[test]
fn matomo_ipv6_table() {
    for (ip, expected) in IPV6 {
        for (n, bytes) in (0u8..).zip(expected) {
            let addr = anonymize_ip_addr(ip.parse().unwrap(), n).unwrap();
            assert_eq!(addr, IpAddr::from(bytes), "{ip} with {n} bytes masked");
            assert_eq!(anonymize_ip(ip, n).unwrap(), addr.to_string(), "{ip} / {n}");
        }
    }
}

/// The canonical text form, written out by hand (the examples of `docs/privacy.md`):
/// every spelling of an address gives the same text.
#[test]
fn masked_addresses_have_one_canonical_text() {
    let cases = [
        ("192.168.17.4", 0, "192.168.17.4"),
        ("192.168.17.4", 1, "192.168.17.0"),
        ("192.168.17.4", 2, "192.168.0.0"),
        ("192.168.17.4", 3, "192.0.0.0"),
        ("192.168.17.4", 4, "0.0.0.0"),
        (" 192.168.17.4\t", 2, "192.168.0.0"),
        ("::ffff:192.168.17.4", 2, "::ffff:192.168.0.0"),
        ("::FFFF:C0A8:1104", 2, "::ffff:192.168.0.0"),
        ("0:0:0:0:0:ffff:c0a8:1104", 1, "::ffff:192.168.17.0"),
        (
            "2001:db8:0:8d3:0:8a2e:70:7344",
            0,
            "2001:db8:0:8d3:0:8a2e:70:7344",
        ),
        ("2001:db8:0:8d3:0:8a2e:70:7344", 1, "2001:db8:0:8d3::"),
        ("2001:db8:0:8d3:0:8a2e:70:7344", 2, "2001:db8::"),
        ("2001:db8:0:8d3:0:8a2e:70:7344", 3, "2001:d00::"),
        ("2001:db8:0:8d3:0:8a2e:70:7344", 4, "::"),
        ("2001:0DB8:0000:08D3:0000:8A2E:0070:7344", 2, "2001:db8::"),
        ("2001:db8::1", 0, "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", 0, "2001:db8::1"),
        ("2001:db8:0:1:0:0:0:1", 0, "2001:db8:0:1::1"),
        ("::1", 0, "::1"),
        ("::1", 1, "::"),
    ];
    for (input, n, want) in cases {
        assert_eq!(anonymize_ip(input, n).unwrap(), want, "{input:?} / {n}");
    }
    // Every masked text is the canonical text of its own address: masking it again
    // (with 0 bytes) gives it back.
    for (_, _, want) in cases {
        assert_eq!(anonymize_ip(want, 0).unwrap(), want);
    }
    // 64 random IPv6 addresses in two spellings (upper case, uncompressed).
    let mut x: u64 = 0x1b_ad_5e_ed;
    for _ in 0..64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let bits = (u128::from(x) << 64) | u128::from(x.rotate_left(17) & 0xffff_0000_ffff);
        let addr = Ipv6Addr::from_bits(bits);
        let long = addr.segments().map(|g| format!("{g:04X}")).join(":");
        for n in 0..=4 {
            assert_eq!(
                anonymize_ip(&long, n).unwrap(),
                anonymize_ip(&addr.to_string(), n).unwrap(),
                "{long} / {n} (seed state {x:#x})"
            );
        }
    }
}

#[test]
fn bad_addresses_and_masks_are_errors_naming_them() {
    for text in [
        "",
        "x",
        "192.168.1",
        "192.168.1.256",
        "1.2.3.4:8080",
        "[2001:db8::1]",
    ] {
        let e = anonymize_ip(text, 2).unwrap_err();
        assert_eq!(e, IpError::NotAnAddress(text.into()));
        assert_eq!(e.to_string(), format!("not an IP address: {text:?}"));
    }
    let e = anonymize_ip("1.2.3.4", 9).unwrap_err();
    assert!(e.to_string().contains("0 to 4"), "{e}");
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn import(db: &Db, path: &Path, opts: &ImportOptions) -> sightline::Result<sightline::FileReport> {
    let mut tx = db.begin_write()?;
    let report = tx.import_file(path, opts, &|_| {})?;
    tx.commit()?;
    Ok(report)
}

fn masking(n: u8, skip_invalid: bool) -> ImportOptions {
    ImportOptions {
        anonymize_ip: Some(n),
        skip_invalid,
        ..ImportOptions::default()
    }
}

fn ips(db: &Db) -> Vec<String> {
    db.snapshot()
        .dimension_values("ip", "", 100)
        .unwrap()
        .values
}

fn visits(db: &Db, segment: &str) -> u64 {
    db.snapshot()
        .query(segment, &TimeRange::ALL)
        .unwrap()
        .visits
}

/// Five visitors, their addresses spelled in several ways.
const JSONL: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","ip":"192.168.17.4"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"b","ip":"192.168.203.99"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"c","ip":"2001:DB8:0:8d3:0:8a2e:70:7344"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"d","ip":"2001:0db8:0000:ffff::1"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"e","ip":"::ffff:c0a8:1104"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"f"}
"#;

const CSV: &str = "ts,visitorId,ip\n\
    2026-01-05T10:00:00Z,a,192.168.17.4\n\
    2026-01-05T10:00:00Z,b,192.168.203.99\n\
    2026-01-05T10:00:00Z,c,2001:DB8:0:8d3:0:8a2e:70:7344\n\
    2026-01-05T10:00:00Z,d,2001:0db8:0000:ffff::1\n\
    2026-01-05T10:00:00Z,e,::ffff:c0a8:1104\n\
    2026-01-05T10:00:00Z,f,\n";

#[test]
fn import_stores_masked_ips_and_segments_match_them() {
    for (name, content) in [("in.jsonl", JSONL), ("in.csv", CSV)] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
        let path = write(dir.path(), name, content);
        let report = import(&db, &path, &masking(2, false)).unwrap();
        assert_eq!(report.rows, 6, "{name}");
        assert_eq!(
            ips(&db),
            ["192.168.0.0", "2001:db8::", "::ffff:192.168.0.0"],
            "{name}"
        );
        // Equal masked addresses are one value, whatever their spelling was.
        assert_eq!(visits(&db, "ip==192.168.0.0"), 2, "{name}");
        assert_eq!(visits(&db, "ip==2001:db8::"), 2, "{name}");
        assert_eq!(visits(&db, "ip==::ffff:192.168.0.0"), 1, "{name}");
        assert_eq!(visits(&db, "ip==192.168.17.4"), 0, "{name}");
        assert_eq!(visits(&db, "ip=="), 1, "{name}: f has no ip");
        // Nothing of the unmasked addresses is stored.
        let raw = common::dir_content(&dir.path().join("db"));
        for secret in ["192.168.17.4", "8a2e", "c0a8", "1104"] {
            assert!(
                !raw.values()
                    .any(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes())),
                "{name}: {secret} is in a database file"
            );
        }
    }
}

#[test]
fn without_the_option_ip_is_stored_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let text = format!(
        "{JSONL}{}\n",
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"g","ip":"not an address"}"#
    );
    let path = write(dir.path(), "in.jsonl", &text);
    import(&db, &path, &ImportOptions::default()).unwrap();
    assert_eq!(
        ips(&db),
        [
            "192.168.17.4",
            "192.168.203.99",
            "2001:0db8:0000:ffff::1",
            "2001:DB8:0:8d3:0:8a2e:70:7344",
            "::ffff:c0a8:1104",
            "not an address",
        ]
    );
}

#[test]
fn a_bad_ip_is_a_row_error_at_its_line() {
    let bad_jsonl = format!(
        "{}\n{}\n{}\n",
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","ip":"10.1.2.3"}"#,
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"b","ip":"10.1.2.300"}"#,
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"c","ip":"fe80::1:2"}"#,
    );
    let bad_csv = "ts,visitorId,ip\n\
        2026-01-05T10:00:00Z,a,10.1.2.3\n\
        2026-01-05T10:00:00Z,b,10.1.2.300\n\
        2026-01-05T10:00:00Z,c,fe80::1:2\n";
    // (The CSV file's header is line 1.)
    for (name, content, line) in [
        ("bad.jsonl", bad_jsonl.as_str(), 2),
        ("bad.csv", bad_csv, 3),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
        let path = write(dir.path(), name, content);
        let Err(Error::Row(e)) = import(&db, &path, &masking(1, false)) else {
            panic!("{name}: a bad ip was accepted");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "{}:{line}: ip: not an IP address: \"10.1.2.300\"",
                path.display()
            )
        );
        assert_eq!(
            db.snapshot().stats().unwrap().events,
            0,
            "{name}: nothing committed"
        );
        // With skip_invalid the row is skipped, the others stored masked.
        let report = import(&db, &path, &masking(1, true)).unwrap();
        assert_eq!((report.rows, report.rejected), (2, 1), "{name}");
        assert_eq!(report.errors[0].line, line);
        assert_eq!(report.errors[0].field, "ip");
        assert_eq!(ips(&db), ["10.1.2.0", "fe80::"], "{name}");
    }
}

#[test]
fn a_mask_past_four_bytes_fails_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let path = write(dir.path(), "in.jsonl", JSONL);
    let e = import(&db, &path, &masking(5, false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("0 to 4"), "{e}");
    let mut tx = db.begin_write().unwrap();
    assert_eq!(
        tx.set_anonymize_ip(Some(7)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn typed_events_and_json_appends_follow_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut e = Event::pageview(1_767_607_200_000, "a", "https://shop.example/");
    e.ip = Some("203.0.113.77".into());
    tx.append(&e).unwrap(); // before the rule: as given
    tx.set_anonymize_ip(Some(1)).unwrap();
    let mut e2 = e.clone();
    e2.visitor_id = "b".into();
    tx.append(&e2).unwrap();
    tx.append_json(r#"{"ts":1767607200000,"visitorId":"c","ip":"2001:db8:1:2:3:4:5:6"}"#)
        .unwrap();
    let mut bad = e.clone();
    bad.ip = Some("203.0.113".into());
    let err = tx.append(&bad).unwrap_err().to_string();
    assert!(
        err.ends_with(r#": ip: not an IP address: "203.0.113""#),
        "{err}"
    );
    // A file import with its own rule uses it; one without follows the transaction.
    let path = write(
        dir.path(),
        "in.jsonl",
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"d","ip":"198.51.100.23"}"#,
    );
    tx.import_file(&path, &masking(3, false), &|_| {}).unwrap();
    let path2 = write(
        dir.path(),
        "in2.jsonl",
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"e","ip":"198.51.100.23"}"#,
    );
    tx.import_file(&path2, &ImportOptions::default(), &|_| {})
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        ips(&db),
        [
            "198.0.0.0",
            "198.51.100.0",
            "2001:db8:1:2::",
            "203.0.113.0",
            "203.0.113.77"
        ]
    );
}

/// `sightline import --db DB EXTRA… FILE`.
fn cli_import(db: &Path, extra: &[&str], file: &Path) -> std::process::Output {
    let mut args = vec!["import", "--db", s(db)];
    args.extend_from_slice(extra);
    args.push(s(file));
    sightline(&args)
}

#[test]
fn cli_anonymize_ip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let input = write(dir.path(), "in.jsonl", JSONL);
    for bad in ["5", "-1", "two", "256", ""] {
        let arg = format!("--anonymize-ip={bad}");
        let out = cli_import(&db, &[&arg], &input);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--anonymize-ip {bad:?}: {}",
            describe(&out)
        );
        assert!(
            text(&out.stderr).contains("--anonymize-ip"),
            "{}",
            describe(&out)
        );
        assert!(!db.exists(), "a refused import created the database");
    }
    let out = cli_import(&db, &["--anonymize-ip", "3"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let query = |segment: &str| {
        let out = sightline(&["query", "--db", s(&db), "--json", segment]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["visits"].as_u64().unwrap()
    };
    assert_eq!(query("ip==192.0.0.0"), 2);
    assert_eq!(query("ip==2001:d00::"), 2);
    assert_eq!(query("ip==::ffff:192.0.0.0"), 1);
    // A bad ip: exit 2 with FILE:LINE: ip:, nothing committed.
    let bad = write(
        dir.path(),
        "bad.jsonl",
        "{\"ts\":1,\"visitorId\":\"z\",\"ip\":\"10.0.0.1\"}\n{\"ts\":2,\"visitorId\":\"z\",\"ip\":\"nope\"}\n",
    );
    let out = cli_import(&db, &["--anonymize-ip", "1"], &bad);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let want = format!("{}:2: ip: not an IP address: \"nope\"", bad.display());
    assert!(text(&out.stderr).contains(&want), "{}", describe(&out));
    assert_eq!(query(""), 6);
    let out = cli_import(&db, &["--anonymize-ip", "1", "--skip-invalid"], &bad);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(query("ip==10.0.0.0"), 1);
}

/// The examples table of `docs/privacy.md` is what `anonymize_ip` does.
#[test]
fn the_documented_examples_hold() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/privacy.md")).unwrap();
    let start = doc.find("| input | N = 0 |").expect("the examples table");
    let mut rows = 0;
    for line in doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = line
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells.len(), 6, "{line}");
        for (n, want) in (0u8..).zip(&cells[1..]) {
            assert_eq!(anonymize_ip(cells[0], n).unwrap(), *want, "{line}: N = {n}");
        }
        rows += 1;
    }
    assert_eq!(rows, 4);
}
