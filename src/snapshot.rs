//! [`Snapshot`]: a consistent view of the database at one commit, and every question
//! that can be asked of it. Each method delegates to the engine (`exec`), part by part,
//! and checks before returning that no file of the snapshot was damaged while it ran.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::cancel::{CancelToken, Stop};
use crate::error::Result;
use crate::exec::{
    self, Catalog, CohortOptions, Cohorts, CompiledSegment, DimensionValues, Explain,
    ExportSelector, ExportSummary, Funnel, FunnelOptions, LivePart, Report, ReportOptions,
    Selection, Stats, Summary, TimeRange, VisitRecord, VisitorProfile,
};
use crate::lang::{self, Dialect};
use crate::options::DbOptions;
use crate::schema::CustomDim;
use crate::storage::manifest::Manifest;

#[derive(Debug)]
struct SnapshotData {
    manifest: Manifest,
    parts: Vec<LivePart>,
    /// The segment catalog of this schema, built on first use.
    catalog: OnceLock<Catalog>,
}

/// A consistent, immutable view of the database at one commit.
///
/// A snapshot keeps its files mapped, so later commits (which never modify a file) do not
/// change what it sees. Cloning is cheap.
///
/// # Stopping a long analysis
///
/// [`with_cancel`](Self::with_cancel) and
/// [`with_deadline`](Self::with_deadline) give a copy of the snapshot whose analyses
/// ([`query`](Self::query), [`summary`](Self::summary), [`select`](Self::select),
/// [`summarize`](Self::summarize), [`explain`](Self::explain), [`report`](Self::report),
/// [`funnel`](Self::funnel), [`cohorts`](Self::cohorts), [`visits`](Self::visits),
/// [`visitor`](Self::visitor), [`export_selection`](Self::export_selection),
/// [`export`](Self::export)) stop soon after the token is cancelled or the deadline
/// passes, with [`Error::Cancelled`](crate::Error::Cancelled) or
/// [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded) and no partial answer.
/// The engine checks before each part and every few thousand visits or rows inside one,
/// so the cost is a relaxed atomic load (and a clock read with a deadline) per check.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::{CancelToken, ErrorKind, TimeRange};
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append_json(r#"{"ts":0,"visitorId":"a"}"#)?;
/// tx.commit()?;
/// let token = CancelToken::new();
/// let snap = db.snapshot().with_cancel(token.clone());
/// assert_eq!(snap.query("", &TimeRange::ALL)?.visits, 1);
/// token.cancel(); // from any thread, e.g. a Ctrl-C handler
/// let err = snap.query("", &TimeRange::ALL).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Cancelled);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    data: Arc<SnapshotData>,
    /// What stops this copy's analyses (nothing, by default).
    stop: Stop,
}

impl Snapshot {
    /// The snapshot of `manifest`, whose parts are opened as `parts` (same order).
    pub(crate) fn new(manifest: Manifest, parts: Vec<LivePart>) -> Snapshot {
        Snapshot {
            data: Arc::new(SnapshotData {
                manifest,
                parts,
                catalog: OnceLock::new(),
            }),
            stop: Stop::NEVER,
        }
    }

    /// This snapshot, with its analyses stopped once `token` is cancelled (see
    /// [Stopping a long analysis](Snapshot#stopping-a-long-analysis)). Replaces the token
    /// of `self`, if any; keeps its deadline.
    pub fn with_cancel(&self, token: CancelToken) -> Snapshot {
        let mut s = self.clone();
        s.stop.token = Some(token);
        s
    }

    /// This snapshot, with its analyses stopped once `deadline` has passed (see
    /// [Stopping a long analysis](Snapshot#stopping-a-long-analysis)). Replaces the
    /// deadline of `self`, if any; keeps its token.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let soon = db.snapshot().with_deadline(Instant::now() + Duration::from_secs(5));
    /// assert_eq!(soon.query("", &sightline::TimeRange::ALL)?.visits, 0);
    /// let late = db.snapshot().with_deadline(Instant::now());
    /// let err = late.query("", &sightline::TimeRange::ALL).unwrap_err();
    /// assert_eq!(err.kind(), sightline::ErrorKind::DeadlineExceeded);
    /// # Ok(()) }
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> Snapshot {
        let mut s = self.clone();
        s.stop.deadline = Some(deadline);
        s
    }

    /// What stops this copy's analyses.
    pub(crate) fn stop(&self) -> &Stop {
        &self.stop
    }

    pub(crate) fn manifest(&self) -> &Manifest {
        &self.data.manifest
    }

    pub(crate) fn parts(&self) -> &[LivePart] {
        &self.data.parts
    }

    /// The commit generation this snapshot shows (0: nothing committed yet).
    pub fn generation(&self) -> u64 {
        self.data.manifest.generation
    }

    /// The database options.
    pub fn options(&self) -> DbOptions {
        DbOptions {
            visit_timeout_ms: self.data.manifest.visit_timeout_ms,
        }
    }

    /// Custom dimensions and their types.
    pub fn custom_dimensions(&self) -> &[CustomDim] {
        &self.data.manifest.custom
    }

    /// The dimensions segments can use on this database (built once per snapshot).
    pub fn catalog(&self) -> &Catalog {
        self.data
            .catalog
            .get_or_init(|| Catalog::new(self.custom_dimensions()))
    }

    /// Fails with a corruption error if a file of this snapshot was truncated underneath
    /// its memory map (see `storage::mmap`). Every query calls it before returning, so a
    /// result computed from such a file is never returned.
    pub fn intact(&self) -> Result<()> {
        self.data.parts.iter().try_for_each(|p| p.reader.intact())
    }

    /// `result`, unless a file of this snapshot was damaged while it was computed.
    fn checked<T>(&self, result: Result<T>) -> Result<T> {
        // The damage explains any error the zeroed pages caused, so it comes first.
        self.intact()?;
        result
    }

    /// Counts and totals over the whole snapshot.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","type":"goal","revenue":12.5}"#)?;
    /// tx.commit()?;
    /// let stats = db.snapshot().stats()?;
    /// assert_eq!((stats.events, stats.visits, stats.conversions), (1, 1, 1));
    /// assert_eq!(stats.revenue, 12.5);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        self.checked(exec::stats(self.parts(), self.generation()))
    }

    /// Parses `text` in `dialect` and compiles it against this database's schema.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let err = db.snapshot().compile("contry==FR", Default::default()).unwrap_err();
    /// assert!(err.to_string().contains("did you mean `country`"));
    /// # Ok(()) }
    /// ```
    pub fn compile(&self, text: &str, dialect: Dialect) -> Result<CompiledSegment> {
        let seg = lang::parse(text, dialect)?;
        Ok(exec::compile::compile(&seg, self.catalog(), text)?)
    }

    /// The visits `segment` selects within `range`, as bitmaps (parts in parallel).
    pub fn select(&self, segment: &CompiledSegment, range: &TimeRange) -> Result<Selection> {
        self.checked(exec::select(self.parts(), segment, range, &self.stop))
    }

    /// The summary of the selected visits (parts in parallel).
    pub fn summarize(&self, selection: &Selection) -> Result<Summary> {
        self.checked(exec::summarize(self.parts(), selection, &self.stop))
    }

    /// How many of the selected visits converted (have a `goal` or `ecommerceOrder`
    /// row: `visitConverted==1`), for conversion rates. Read from the conversion counts
    /// already kept per visit, without evaluating another condition.
    pub fn converted_visits(&self, selection: &Selection) -> Result<u64> {
        self.checked(exec::converted_visits(self.parts(), selection, &self.stop))
    }

    /// Parses (default dialect), compiles, selects and summarises in one call.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::TimeRange;
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"a","countryCode":"fr","pageUrl":"https://x.org/cart"}"#)?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"b","countryCode":"de","pageUrl":"https://x.org/"}"#)?;
    /// tx.commit()?;
    /// let s = db.snapshot().query("countryCode==FR;pageUrl=@/cart", &TimeRange::ALL)?;
    /// assert_eq!((s.visits, s.visitors, s.actions, s.bounces), (1, 1, 1, 1));
    /// # Ok(()) }
    /// ```
    pub fn query(&self, segment: &str, range: &TimeRange) -> Result<Summary> {
        let c = self.compile(segment, Dialect::Default)?;
        self.summary(&c, range)
    }

    /// The summary of the visits `segment` selects within `range`: what
    /// [`summarize`](Self::summarize) of [`select`](Self::select) gives, in one pass
    /// over the parts, and in constant time per part for a segment that is one value
    /// of a visit-level string dimension (each part keeps the summary of every such
    /// value held by at least 64 of its visits).
    pub fn summary(&self, segment: &CompiledSegment, range: &TimeRange) -> Result<Summary> {
        self.checked(exec::summary(
            self.parts(),
            segment,
            range,
            exec::SummaryPath::Auto,
            &self.stop,
        ))
    }

    /// The plan of `segment` on this database, with the cardinality of every step.
    pub fn explain(&self, segment: &CompiledSegment, range: &TimeRange) -> Result<Explain> {
        self.checked(exec::explain(self.parts(), segment, range, &self.stop))
    }

    /// The report of `selection` by the dimension `by` (`docs/analytics.md`):
    /// one row per value, with the metrics of the selected visits having it.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{ReportOptions, ReportValue, TimeRange};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"a","countryCode":"FR","pageUrl":"/cart"}"#)?;
    /// tx.append_json(r#"{"ts":1,"visitorId":"a","pageUrl":"/cart"}"#)?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"b","countryCode":"fr","pageUrl":"/"}"#)?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"c","pageUrl":"/cart"}"#)?;
    /// tx.commit()?;
    /// let snap = db.snapshot();
    /// let all = snap.select(&snap.compile("", Default::default())?, &TimeRange::ALL)?;
    ///
    /// // Visit level: code dimensions group case-insensitively; no value is the null row.
    /// let r = snap.report("country", &all, &ReportOptions::default())?;
    /// assert_eq!(r.rows[0].value, ReportValue::Text("fr".into()));
    /// assert_eq!((r.rows[0].visits, r.rows[1].value.clone()), (2, ReportValue::Null));
    ///
    /// // Action level: visits having the value, and `hits`, the matching rows.
    /// let r = snap.report("pageUrl", &all, &ReportOptions { limit: Some(1) })?;
    /// assert_eq!(r.rows[0].value, ReportValue::Text("/cart".into()));
    /// assert_eq!((r.rows[0].visits, r.rows[0].hits), (2, Some(3)));
    /// assert_eq!(r.rows[1].others, Some(1)); // "/" folded into the others row
    /// # Ok(()) }
    /// ```
    pub fn report(
        &self,
        by: &str,
        selection: &Selection,
        options: &ReportOptions,
    ) -> Result<Report> {
        self.checked(exec::report::report(
            self.parts(),
            self.catalog(),
            by,
            selection,
            options,
            &self.stop,
        ))
    }

    /// The funnel of `steps` over the visits of `selection` (`docs/analytics.md`).
    /// 1 to [`MAX_FUNNEL_STEPS`](crate::MAX_FUNNEL_STEPS) steps, each a segment
    /// evaluated on single rows.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{FunnelOptions, TimeRange};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// for (ts, who, url) in [(0, "a", "/cart"), (60_000, "a", "/pay"), (0, "b", "/cart"), (0, "c", "/pay")] {
    ///     tx.append_json(&format!(r#"{{"ts":{ts},"visitorId":"{who}","pageUrl":"{url}"}}"#))?;
    /// }
    /// tx.commit()?;
    /// let snap = db.snapshot();
    /// let all = snap.select(&snap.compile("", Default::default())?, &TimeRange::ALL)?;
    /// let steps = [snap.compile("pageUrl==/cart", Default::default())?,
    ///              snap.compile("pageUrl==/pay", Default::default())?];
    /// let f = snap.funnel(&steps, &all, &FunnelOptions::visit())?;
    /// assert_eq!((f.steps[0].count, f.steps[1].count), (2, 1)); // c paid without a cart
    /// assert_eq!((f.steps[1].rate, f.steps[1].drop_off), (0.5, 1));
    /// assert_eq!(f.steps[1].median_time_ms, Some(60_000.0));
    /// # Ok(()) }
    /// ```
    pub fn funnel(
        &self,
        steps: &[CompiledSegment],
        selection: &Selection,
        options: &FunnelOptions,
    ) -> Result<Funnel> {
        self.checked(exec::funnel::funnel(
            self.parts(),
            steps,
            selection,
            options,
            &self.stop,
        ))
    }

    /// The cohorts of the visitors whose first visit is in `selection` (`docs/analytics.md`):
    /// grouped by the period of that first visit, with how many
    /// of them have a selected visit in each later period.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{CohortOptions, Period, TimeRange};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// // Monday 2026-01-05: a and b are new; a comes back a week later.
    /// tx.append_json(r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a"}"#)?;
    /// tx.append_json(r#"{"ts":"2026-01-07T10:00:00Z","visitorId":"b"}"#)?;
    /// tx.append_json(r#"{"ts":"2026-01-13T10:00:00Z","visitorId":"a"}"#)?;
    /// tx.commit()?;
    /// let snap = db.snapshot();
    /// let all = snap.select(&snap.compile("", Default::default())?, &TimeRange::ALL)?;
    /// let c = snap.cohorts(&all, &CohortOptions::default())?;
    /// assert_eq!(c.cohorts[0].start.to_string(), "2026-01-05");
    /// assert_eq!((c.cohorts[0].size, c.cohorts[0].retained.clone()), (2, vec![2, 1]));
    /// # Ok(()) }
    /// ```
    pub fn cohorts(&self, selection: &Selection, options: &CohortOptions) -> Result<Cohorts> {
        let last_event = self.stats()?.last_event;
        self.checked(exec::cohort::cohorts(
            self.parts(),
            selection,
            options,
            last_event,
            &self.stop,
        ))
    }

    /// Every live visit, visitor by visitor (ids ascending within each part).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"a","pageUrl":"/x","countryCode":"de"}"#)?;
    /// tx.commit()?;
    /// let visits = db.snapshot().visits()?;
    /// assert_eq!(visits[0].visit_id, "0");
    /// assert!(visits[0].dims.contains(&("entryPageUrl".into(), sightline::DimValue::Str("/x".into()))));
    /// # Ok(()) }
    /// ```
    pub fn visits(&self) -> Result<Vec<VisitRecord>> {
        self.checked(exec::visits::visits(self.parts(), &self.stop))
    }

    /// The profile of the visitor `id`, or `None` if no live visitor has that id: its
    /// visits with every dimension and event, and totals (`sightline visitor ID`).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"ann","pageUrl":"/"}"#)?;
    /// tx.append_json(r#"{"ts":60000,"visitorId":"ann","type":"goal","goalId":1,"revenue":5}"#)?;
    /// tx.append_json(r#"{"ts":86400000,"visitorId":"ann","pageUrl":"/blog"}"#)?;
    /// tx.commit()?;
    /// let p = db.snapshot().visitor("ann")?.expect("ann exists");
    /// assert_eq!((p.totals.visits, p.totals.events, p.totals.conversions), (2, 3, 1));
    /// assert_eq!((p.first_visit, p.last_event, p.totals.revenue), (0, 86_400_000, 5.0));
    /// assert!(db.snapshot().visitor("bob")?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn visitor(&self, id: &str) -> Result<Option<VisitorProfile>> {
        self.checked(exec::visits::visitor(self.parts(), id, &self.stop))
    }

    /// The visits `selector` selects: those of one visitor, of the visitors with a
    /// `userId`, or of a segment (over all time). What [`export`](Self::export) takes.
    pub fn export_selection(&self, selector: &ExportSelector) -> Result<Selection> {
        self.checked(exec::export::select(self.parts(), selector, &self.stop))
    }

    /// Writes every event of every visitor having a visit in `selection` — all of
    /// their visits, since it is their data — to `out` as JSON Lines in the import
    /// format (`docs/privacy.md`): visitors in id order, each visitor's events in time
    /// order, each visit-level value on the event that supplied it. Importing the
    /// output into an empty database with the same visit timeout gives the same
    /// visits and visitor profiles. Memory holds one visitor at a time.
    ///
    /// A write error of `out` is an [`Io`](crate::ErrorKind::Io) error; what was
    /// written before it stays written.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::ExportSelector;
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"ann","userId":"ann@example.org","pageUrl":"/"}"#)?;
    /// tx.append_json(r#"{"ts":60000,"visitorId":"ann","type":"goal","goalId":1,"revenue":5}"#)?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"bob","pageUrl":"/"}"#)?;
    /// tx.commit()?;
    /// let snap = db.snapshot();
    /// let sel = snap.export_selection(&ExportSelector::UserId("ann@example.org".into()))?;
    /// let mut out = Vec::new();
    /// let summary = snap.export(&sel, &mut out)?;
    /// assert_eq!((summary.visitors, summary.visits, summary.events), (1, 1, 2));
    /// let text = String::from_utf8(out).unwrap();
    /// assert_eq!(text.lines().next(), Some(
    ///     r#"{"ts":"1970-01-01T00:00:00Z","visitorId":"ann","type":"pageview","pageUrl":"/","userId":"ann@example.org"}"#));
    /// # Ok(()) }
    /// ```
    pub fn export(
        &self,
        selection: &Selection,
        out: &mut dyn std::io::Write,
    ) -> Result<ExportSummary> {
        self.checked(exec::export::export(
            self.parts(),
            selection,
            out,
            &self.stop,
        ))
    }

    /// The distinct stored values of the text dimension `name` that start with
    /// `prefix`: how many there are, and the first `limit` in byte order (what the REPL
    /// completes): visitor ids, or dictionary values. Numbers, visit ids and action types
    /// have none.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// for c in ["fr", "fi", "de"] {
    ///     tx.append_json(&format!(r#"{{"ts":0,"visitorId":"{c}","countryCode":"{c}"}}"#))?;
    /// }
    /// tx.commit()?;
    /// let v = db.snapshot().dimension_values("country", "f", 10)?;
    /// assert_eq!((v.distinct, v.values), (2, vec!["fi".to_string(), "fr".to_string()]));
    /// # Ok(()) }
    /// ```
    pub fn dimension_values(
        &self,
        name: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<DimensionValues> {
        let catalog = self.catalog();
        let dim = catalog
            .get(name)
            .ok_or_else(|| exec::report::unknown_dimension(name, catalog))?;
        self.checked(exec::dimension_values(self.parts(), dim, prefix, limit))
    }
}
