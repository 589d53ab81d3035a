//! The privacy settings, pseudonyms and audit log on the [`Db`] handle.
//!
//! A handle keeps the stored settings and secret in memory ([`PrivacyState`], behind a
//! mutex of its own): a writer loads them at open and is the only one to change them; a
//! read-only handle loads them again at every [`Db::refresh`]. The audit log is read
//! from the file every time. Lock order: the writer
//! state (`Db::write_locked`, a write transaction) before this mutex, never after, so
//! [`Db::audit`] may be called with a transaction open or inside `write_locked`.
//!
//! **A secret is used only once it is durable**: it is drawn, written in the settings
//! file (fsynced, renamed, directory fsynced), and only then hashes anything. A failed
//! write leaves the handle as it was.

use std::time::{SystemTime, UNIX_EPOCH};

use super::WriteRules;
use super::audit::{self, AuditAction, AuditEntry, AuditRecord, LOG_FILE, SelectorKind};
use super::secret::{Key, Secret};
use super::settings::{self, PrivacySettings, Stored};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::storage::fs;

/// A handle's privacy settings and secret.
#[derive(Debug, Default)]
pub struct PrivacyState {
    stored: Stored,
    /// The rules writes start from, made from `stored`.
    rules: WriteRules,
}

impl PrivacyState {
    fn set(&mut self, stored: Stored) {
        let s = &stored.settings;
        let key = stored
            .secret
            .filter(|_| s.pseudonymize_user_id)
            .map(|k| k.pseudonym_key());
        // The stored mask was checked when it was read or set.
        self.rules = WriteRules::anonymizing_ip(s.anonymize_ip)
            .unwrap_or_default()
            .with_user_id_key(key);
        self.stored = stored;
    }
}

impl Db {
    /// The privacy settings every write applies (`docs/privacy.md`, "Settings"): as
    /// stored in the database when this handle was opened or last changed them (a
    /// read-only handle: as of its last [`refresh`](Db::refresh)).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{Db, PrivacySettings};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::create(dir.path(), Default::default())?;
    /// assert_eq!(db.privacy_settings(), PrivacySettings::default());
    /// db.set_privacy_settings(&PrivacySettings {
    ///     anonymize_ip: Some(2),
    ///     pseudonymize_user_id: true,
    ///     retention_days: Some(395),
    /// })?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":1,"visitorId":"v","ip":"192.168.17.4","userId":"ann"}"#)?;
    /// tx.commit()?;
    /// let snap = db.snapshot();
    /// assert_eq!(snap.dimension_values("ip", "", 10)?.values, vec!["192.168.0.0".to_string()]);
    /// let stored = snap.dimension_values("userId", "", 10)?.values;
    /// assert_eq!(stored, vec![db.pseudonymize_user_id("ann")?]);
    /// drop((snap, db));
    /// assert_eq!(Db::open(dir.path())?.privacy_settings().retention_days(), Some(395));
    /// # Ok(()) }
    /// ```
    pub fn privacy_settings(&self) -> PrivacySettings {
        self.privacy_state().lock().stored.settings
    }

    /// Stores new privacy settings, applied to every write that starts after it
    /// returns: write transactions begun later, their imports, and every later append
    /// of an [`Appender`](crate::Appender). Stored data is not changed. Waits for a
    /// running write transaction to end. Durable when it returns, and recorded in the
    /// audit log ([`privacy_log`](Db::privacy_log)); settings equal to the current ones
    /// change and record nothing. Turning pseudonyms on draws the database secret if it
    /// has none.
    ///
    /// Fails on a read-only handle ([`Error::ReadOnly`]), on a value out of range (an
    /// IP mask above 4 bytes, a retention of 0 days), and on an I/O error, which leaves
    /// this handle's settings as they were (the file may hold either).
    pub fn set_privacy_settings(&self, settings: &PrivacySettings) -> Result<()> {
        settings.check()?;
        if !self.is_writable() {
            return Err(Error::ReadOnly);
        }
        self.write_locked(|_, _| {
            let mut st = self.privacy_state().lock();
            if st.stored.settings == *settings {
                return Ok(());
            }
            let secret = match st.stored.secret {
                Some(s) => s,
                None => Secret::generate()?,
            };
            self.store_privacy(&mut st, *settings, secret)?;
            let record = AuditRecord::new(
                AuditAction::Settings,
                SelectorKind::None,
                "",
                Default::default(),
            );
            let entry = audit::entry(&record, None, now_ms(), Some(*settings));
            self.append_log(&mut st, &entry).map_err(|e| {
                Error::io(
                    "record the settings change in",
                    &fs::path_of(self.dir(), LOG_FILE),
                    std::io::Error::other(format!(
                        "the new settings are stored, but the audit log could not record \
                         them: {e}"
                    )),
                )
            })
        })
    }

    /// The pseudonym `userId` values are stored as when pseudonyms are on: HMAC-SHA-256
    /// of `user_id` under the database secret, 64 lowercase hex digits. Stable within
    /// the database, so a caller holding a clear user id can find its data
    /// (`sightline privacy export --user-id` does); not reversible without the secret.
    ///
    /// A writable handle draws the secret (durably) if the database has none yet; a
    /// read-only one then fails with [`Error::InvalidArgument`] (no `userId` was ever
    /// pseudonymised there).
    pub fn pseudonymize_user_id(&self, user_id: &str) -> Result<String> {
        Ok(self.pseudonym_key()?.pseudonym(user_id))
    }

    /// Appends `record` to the privacy audit log (`privacy-log`), durably: when it
    /// returns the record survives a crash or power loss. The record holds the time,
    /// the action, the selector's kind, the HMAC-SHA-256 of the selector's kind and
    /// text under the database's audit key (drawing the secret if there is none yet),
    /// and the counts; never the selector in clear. Needs a writable handle.
    ///
    /// Takes only the privacy mutex, not the writer state: it may be called inside
    /// `write_locked` or with a write transaction open.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{AuditAction, AuditCounts, AuditRecord, Db, SelectorKind};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::create(dir.path(), Default::default())?;
    /// let counts = AuditCounts { visitors: 1, visits: 3, events: 12 };
    /// db.audit(AuditRecord::new(AuditAction::Erase, SelectorKind::Visitor, "v42", counts))?;
    /// let log = db.privacy_log()?;
    /// assert_eq!((log.len(), log[0].counts), (1, counts));
    /// assert_eq!(db.was_erased(SelectorKind::Visitor, "v42")?.len(), 1);
    /// assert!(db.was_erased(SelectorKind::Visitor, "v43")?.is_empty());
    /// assert!(db.was_erased(SelectorKind::UserId, "v42")?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn audit(&self, record: AuditRecord) -> Result<()> {
        if !self.is_writable() {
            return Err(Error::ReadOnly);
        }
        let mut st = self.privacy_state().lock();
        let secret = self.secret_locked(&mut st)?;
        let entry = audit::entry(&record, Some(&secret.audit_key()), now_ms(), None);
        self.append_log(&mut st, &entry)
    }

    /// Every record of the privacy audit log, oldest first (none if the database has no
    /// log yet). A torn last record — power lost while it was appended — is left out; any
    /// other damage is a corruption error naming the file.
    pub fn privacy_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self.read_log()?.map(|s| s.entries).unwrap_or_default())
    }

    /// The records of the audit log whose selector is `selector` of kind `kind` (any
    /// action), found by hashing `selector` under the database's audit key.
    pub fn privacy_log_matching(
        &self,
        kind: SelectorKind,
        selector: &str,
    ) -> Result<Vec<AuditEntry>> {
        if !self.is_writable() {
            self.reload_privacy()?;
        }
        let Some(secret) = self.privacy_state().lock().stored.secret else {
            // No secret: nothing was ever hashed.
            return Ok(Vec::new());
        };
        let hash = super::secret::hex(&secret.audit_key().selector_hash(kind.name(), selector));
        let mut entries = self.privacy_log()?;
        entries.retain(|e| e.selector_kind == kind && e.selector_hash.as_deref() == Some(&*hash));
        Ok(entries)
    }

    /// "Was X erased?": the erasures in the audit log whose selector was `selector` of
    /// kind `kind` (a visitor id, a user id in clear …), oldest first; empty if none
    /// is recorded.
    pub fn was_erased(&self, kind: SelectorKind, selector: &str) -> Result<Vec<AuditEntry>> {
        let mut entries = self.privacy_log_matching(kind, selector)?;
        entries.retain(|e| e.action == AuditAction::Erase);
        Ok(entries)
    }

    /// The rules a write starts from: the stored settings.
    pub(crate) fn write_rules(&self) -> WriteRules {
        self.privacy_state().lock().rules.clone()
    }

    /// The key user ids are pseudonymised with (drawing the secret on a writable handle
    /// if there is none).
    pub(crate) fn pseudonym_key(&self) -> Result<Key> {
        if !self.is_writable() {
            self.reload_privacy()?;
        }
        let mut st = self.privacy_state().lock();
        Ok(self.secret_locked(&mut st)?.pseudonym_key())
    }

    /// Reads the settings file again (at open; a read-only handle at every refresh).
    pub(crate) fn reload_privacy(&self) -> Result<()> {
        let stored = settings::load(self.dir())?;
        let mut st = self.privacy_state().lock();
        st.set(stored);
        Ok(())
    }

    /// The secret, drawn and stored first if the database has none.
    fn secret_locked(&self, st: &mut PrivacyState) -> Result<Secret> {
        if let Some(s) = st.stored.secret {
            return Ok(s);
        }
        if !self.is_writable() {
            return Err(Error::argument(
                "user_id",
                "this database has no pseudonym secret (no userId was ever pseudonymised \
                 in it); open it for writing to draw one",
            ));
        }
        let secret = Secret::generate()?;
        let settings = st.stored.settings;
        self.store_privacy(st, settings, secret)?;
        Ok(secret)
    }

    /// Writes the next settings file durably and adopts it; on failure, keeps the state.
    fn store_privacy(
        &self,
        st: &mut PrivacyState,
        settings: PrivacySettings,
        secret: Secret,
    ) -> Result<()> {
        let dir = self.dir();
        let generation = settings::next_generation(dir)?;
        let name = settings::file_name(generation);
        // The clean-up of a concurrent commit leaves the temporary file alone.
        let _writing = self.in_flight(&[format!("{}{name}", fs::TMP_PREFIX)]);
        let stored = Stored {
            generation,
            settings,
            secret: Some(secret),
        };
        settings::write(dir, &stored)?;
        st.set(stored);
        Ok(())
    }

    /// The audit log as read now (`None`: there is none).
    fn read_log(&self) -> Result<Option<audit::Scan>> {
        let dir = self.dir();
        match dir.read(LOG_FILE) {
            Ok(bytes) => audit::scan(&fs::path_of(dir, LOG_FILE), &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &fs::path_of(dir, LOG_FILE), e)),
        }
    }

    /// Appends `entry` durably: creates the log whole if there is none, cuts a torn
    /// tail off first if there is one. The log is read first every time (it is small,
    /// and appends are rare): damage is found before anything is written after it.
    /// Called with the privacy mutex held (`_st`), so appends never interleave.
    fn append_log(&self, _st: &mut PrivacyState, entry: &AuditEntry) -> Result<()> {
        let record = audit::encode(entry)?;
        let dir = self.dir();
        let path = fs::path_of(dir, LOG_FILE);
        let (valid, torn) = match self.read_log()? {
            Some(scan) => (scan.valid_len, scan.torn),
            None => {
                let mut bytes = audit::header();
                bytes.extend_from_slice(&record);
                let _writing = self.in_flight(&[format!("{}{LOG_FILE}", fs::TMP_PREFIX)]);
                return fs::write_durable(dir, LOG_FILE, &bytes);
            }
        };
        let mut file = dir
            .append(LOG_FILE)
            .map_err(|e| Error::io("open for appending", &path, e))?;
        if torn {
            dir.truncate(LOG_FILE, valid)
                .map_err(|e| Error::io("cut the torn tail of", &path, e))?;
            file.sync().map_err(|e| Error::io("fsync", &path, e))?;
        }
        file.write_all(&record)
            .map_err(|e| Error::io("write", &path, e))?;
        file.sync().map_err(|e| Error::io("fsync", &path, e))
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
