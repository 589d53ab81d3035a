//! The privacy operations and the settings together (`docs/privacy.md`): every erasure,
//! purge and anonymisation is in the audit log with its counts, found again by its
//! selector's keyed hash and never holding the selector in clear; the `retention_days`
//! setting purges at compaction (and through `Db::apply_retention`); retroactive
//! pseudonyms are those of the database's secret, so old and new visits of a user link,
//! and running it twice changes nothing.

use sightline::{
    Anonymization, AuditAction, Db, Dialect, Event, ExportSelector, PrivacySettings, SelectorKind,
    TimeRange,
};

const DAY: i64 = 86_400_000;

fn commit(db: &Db, events: &[Event]) {
    let mut tx = db.begin_write().unwrap();
    for e in events {
        tx.append(e).unwrap();
    }
    tx.commit().unwrap();
}

fn files_hold(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

fn with_user(ts: i64, visitor: &str, user: &str) -> Event {
    let mut e = Event::pageview(ts, visitor, "/account");
    e.user_id = Some(user.to_string());
    e
}

#[test]
fn every_privacy_operation_is_audited_by_hash_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    let t0 = 1_767_225_600_000;
    commit(
        &db,
        &[
            with_user(t0, "v1", "secret-user-1"),
            with_user(t0 + DAY, "v2", "secret-user-2"),
            Event::pageview(t0 + 5 * DAY, "v3", "/"),
        ],
    );
    let erased = db
        .erase(&ExportSelector::UserId("secret-user-1".into()), false)
        .unwrap();
    assert_eq!(erased.visitors, 1);
    db.erase(&ExportSelector::Visitor("nobody".into()), true)
        .unwrap(); // dry: not logged
    let seg = db
        .snapshot()
        .compile("visitorId==v2", Dialect::Default)
        .unwrap();
    db.anonymize(
        &Anonymization {
            segment: Some(seg),
            clear_location: true,
            ..Anonymization::default()
        },
        false,
    )
    .unwrap();
    db.purge_before(t0 + 2 * DAY, false).unwrap();

    let log = db.privacy_log().unwrap();
    let actions: Vec<AuditAction> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Erase,
            AuditAction::Anonymize,
            AuditAction::Purge
        ]
    );
    assert_eq!((log[0].counts.visitors, log[0].counts.visits), (1, 1));
    assert_eq!(log[2].counts.visits, 1, "the purge removed v2's visit");
    let found = db
        .was_erased(SelectorKind::UserId, "secret-user-1")
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        db.was_erased(SelectorKind::UserId, "secret-user-2")
            .unwrap()
            .is_empty()
    );
    assert!(
        db.was_erased(SelectorKind::Visitor, "secret-user-1")
            .unwrap()
            .is_empty()
    );
    assert!(!files_hold(dir.path(), "secret-user-1"));
    assert!(!files_hold(dir.path(), "secret-user-2"));
}

#[test]
fn the_retention_setting_purges_at_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    commit(
        &db,
        &[
            Event::pageview(now - 100 * DAY, "old", "/expired-page"),
            Event::pageview(now - 100 * DAY, "both", "/expired-too"),
            Event::pageview(now - DAY, "both", "/kept"),
        ],
    );
    assert!(db.apply_retention(now).unwrap().is_none(), "off by default");
    db.set_privacy_settings(&PrivacySettings {
        retention_days: Some(30),
        ..PrivacySettings::default()
    })
    .unwrap();
    db.compact().unwrap();
    let snap = db.snapshot();
    assert_eq!(snap.stats().unwrap().visits, 1);
    assert!(snap.visitor("old").unwrap().is_none());
    let both = snap
        .query("visitorId==both;visitCount==2", &TimeRange::ALL)
        .unwrap();
    assert_eq!(both.visits, 1, "the kept visit still counts the purged one");
    assert!(!files_hold(dir.path(), "/expired"));
    assert!(
        db.apply_retention(now).unwrap().is_none(),
        "nothing left to expire"
    );
    let log = db.privacy_log().unwrap();
    let purge = log.iter().find(|e| e.action == AuditAction::Purge).unwrap();
    assert_eq!(
        (purge.selector_kind, purge.counts.visits),
        (SelectorKind::OlderThan, 2)
    );
}

#[test]
fn retroactive_pseudonyms_link_with_later_imports_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    let t0 = 1_767_225_600_000;
    commit(&db, &[with_user(t0, "v1", "ann@example.org")]);
    let everything = Anonymization {
        pseudonymize_user_id: true,
        ..Anonymization::default()
    };
    let out = db.anonymize(&everything, false).unwrap();
    assert_eq!(out.visits, 1);
    assert!(!files_hold(dir.path(), "ann@example.org"));
    db.set_privacy_settings(&PrivacySettings {
        pseudonymize_user_id: true,
        ..PrivacySettings::default()
    })
    .unwrap();
    commit(&db, &[with_user(t0 + 10 * DAY, "v2", "ann@example.org")]);
    let pseudonym = db.pseudonymize_user_id("ann@example.org").unwrap();
    let q = |seg: &str| db.snapshot().query(seg, &TimeRange::ALL).unwrap();
    assert_eq!(
        q(&format!("userId=={pseudonym}")).visitors,
        2,
        "old and new link"
    );
    let before = db.snapshot().visits().unwrap();
    db.anonymize(&everything, false).unwrap();
    assert_eq!(
        db.snapshot().visits().unwrap(),
        before,
        "a pseudonym is not hashed again"
    );
}

#[test]
fn erasure_by_clear_user_id_finds_pseudonymised_visits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    let t0 = 1_767_225_600_000;
    commit(&db, &[with_user(t0, "v1", "ann@example.org")]);
    db.set_privacy_settings(&PrivacySettings {
        pseudonymize_user_id: true,
        ..PrivacySettings::default()
    })
    .unwrap();
    commit(
        &db,
        &[
            with_user(t0 + DAY, "v2", "ann@example.org"),
            with_user(t0 + DAY, "v3", "bob@example.org"),
        ],
    );
    let pseudonym = db.pseudonymize_user_id("ann@example.org").unwrap();
    assert!(files_hold(dir.path(), &pseudonym));
    let out = db
        .erase(&ExportSelector::UserId("ann@example.org".into()), false)
        .unwrap();
    assert_eq!(
        (out.visitors, out.visits),
        (2, 2),
        "the clear and the pseudonymised visit"
    );
    assert!(!files_hold(dir.path(), &pseudonym));
    assert!(!files_hold(dir.path(), "ann@example.org"));
    assert_eq!(db.snapshot().stats().unwrap().visitors, 1);
    assert_eq!(
        db.was_erased(SelectorKind::UserId, "ann@example.org")
            .unwrap()
            .len(),
        1
    );
}
