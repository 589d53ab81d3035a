//! The commit protocol: how a batch of rows becomes new parts, deletion files and the
//! next manifest, durably, or nothing at all (`docs/file-format.md`, "Commit protocol").
//!
//! A commit, in order:
//!
//! 1. [`stored_visitors`]: the batch's visitors already stored, found by binary search
//!    in every live part's visitor dictionary;
//! 2. [`read_back`]: their stored events, read back as input rows;
//! 3. the rows sorted into part order (`sessions::sorted_order`), the visitors cut
//!    into parts of at most [`MAX_PART_EVENTS`] events ([`visitor_cuts`]), and each
//!    part sessionised and built on its own thread ([`build_sorted`]), written under a
//!    temporary name unless small enough for the manifest;
//! 4. [`write_files`]: the deletion sets of the parts visitors moved out of, the part
//!    files published, then the manifest — whose rename is the commit point;
//! 5. clean-up of files no recent manifest names (best effort).
//!
//! A batch that spilled sorted runs (`ingest::runs`) is committed by a merge instead
//! ([`commit_runs`]): the runs are read back visitor by visitor, and the visitors cut
//! into groups of about a part's worth of events; each group goes through steps 1–3 on
//! its own (its stored visitors read back, sessionised, its part built and written)
//! while the merge gathers the next, so memory holds a part or two, not the batch.
//! Steps 4 and 5 are the same.
//!
//! A failure before the commit point is [`undo`]ne. Generations and file ids are
//! reserved before anything is written and never used twice ([`WriterState`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use roaring::RoaringBitmap;

use crate::db::{CommitSummary, Db};
use crate::error::{Error, Result};
use crate::ingest::rows::Rows;
use crate::ingest::runs::{Batch, RunReader};
use crate::ingest::sessions::{self, FixedSyms, Sessionized};
use crate::ingest::{columns, readback};
use crate::snapshot::Snapshot;
use crate::storage::checksum::crc32c;
use crate::storage::cursor::PartCursor;
use crate::storage::fs::{self, VfsDir};
use crate::storage::manifest::{self, DelEntry, Manifest, PartEntry};
use crate::storage::part_writer::write_part;

/// A part holds at most about this many events (whole visitors are never split), so
/// large imports become several parts that are built, and later queried, in parallel.
pub const MAX_PART_EVENTS: usize = 1 << 20;

/// What a writer remembers across commits.
#[derive(Debug, Default)]
pub(crate) struct WriterState {
    /// Highest generation and next file id any commit attempt of this handle used. A
    /// failed commit may have made its manifest or files visible for a moment (readers
    /// can load them), so neither a generation nor a file id is ever used twice.
    pub next_generation: u64,
    pub next_file_id: u64,
    /// Set when a failed commit could not be undone: what is on disk is then unknown
    /// to this handle, and it refuses to write until the database is reopened.
    pub poisoned: Option<String>,
    /// The rollback generation's manifest of the current one, when known: what the
    /// next commit's clean-up removes is computed from it, without listing the
    /// directory.
    pub rollback: Option<Manifest>,
    /// Files a clean-up could not remove yet (a snapshot of this process uses them).
    pub deferred: Vec<String>,
}

/// Stored visitors to rewrite: for each part (its position in the snapshot), the
/// ordinals of the visitors that move out of it.
pub(crate) type Moves = Vec<(usize, Vec<u32>)>;

/// Commits `batch` (all new rows) on top of the database's current snapshot: in memory,
/// or by merging its runs if it spilled any.
pub(crate) fn commit(db: &Db, state: &mut WriterState, batch: Batch) -> Result<CommitSummary> {
    if !batch.runs().is_empty() {
        return commit_runs(db, state, batch);
    }
    let (rows, _no_runs) = batch.into_parts();
    commit_rows(db, state, rows)
}

/// Commits `rows` (all new, in memory) on top of the database's current snapshot.
fn commit_rows(db: &Db, state: &mut WriterState, rows: Rows) -> Result<CommitSummary> {
    let snap = db.snapshot();
    let new_rows = rows.rows.len();
    if new_rows == 0 {
        return Ok(CommitSummary {
            generation: snap.generation(),
            ..Default::default()
        });
    }
    let (moved, visitors) = stored_visitors(&snap, &rows)?;
    let applied = apply(db, state, &snap, rows, &moved, new_rows)?;
    Ok(CommitSummary {
        generation: applied.generation,
        events: new_rows as u64,
        visits: applied.visits_touched,
        visitors,
        parts_written: applied.parts_written,
        visitors_rewritten: moved.iter().map(|(_, o)| o.len() as u64).sum(),
    })
}

/// What [`apply`] did.
struct Applied {
    generation: u64,
    parts_written: u64,
    /// Visits holding at least one new row.
    visits_touched: u64,
}

/// Rewrites the visitors `moved` together with `rows` (whose first `new_rows` rows are
/// new) as new parts, and commits.
fn apply(
    db: &Db,
    state: &mut WriterState,
    snap: &Snapshot,
    mut rows: Rows,
    moved: &Moves,
    new_rows: usize,
) -> Result<Applied> {
    read_back(snap, moved, &mut rows)?;
    let fixed = FixedSyms::intern(&mut rows);
    let (visitors, order) = sessions::sorted_order(&rows);
    let cuts = visitor_cuts(&rows, &visitors, &order);

    // Generation and file ids are reserved first and never reused, even if this
    // attempt fails (see `WriterState`).
    let old = snap.manifest();
    let generation = old.generation.max(state.next_generation) + 1;
    let first_id = old.next_file_id.max(state.next_file_id);
    state.next_generation = generation;
    state.next_file_id = first_id + cuts.len() as u64;
    let plan = Plan {
        generation,
        ids: first_id..first_id + cuts.len() as u64,
        moved,
    };
    let sorted = Sorted {
        rows: &rows,
        fixed: &fixed,
        visitors: &visitors,
        order: &order,
        timeout_ms: old.visit_timeout_ms,
        new_rows,
    };
    let written = build_sorted(db.dir(), &sorted, first_id, &cuts).and_then(|(built, touched)| {
        write_files(db, snap, built, &rows.custom_names, &plan).map(|w| (w, touched))
    });
    let (written, visits_touched) = match written {
        Ok(w) => w,
        Err(e) => return Err(undo(db.dir(), state, &plan, e)),
    };

    // Committed. Publish in memory, then drop the files only the generation before
    // the previous one used; that clean-up is best effort (the next writer's open
    // retries it).
    let new = written.snapshot.clone();
    db.publish(written.snapshot);
    let _ = clean_up(db, state, old, new.manifest());
    Ok(Applied {
        generation,
        parts_written: written.parts_written,
        visits_touched,
    })
}

/// After commit `new` over `old`: removes what `old`'s rollback generation used and
/// neither `old` nor `new` does (and that manifest), computed from the manifests in
/// memory; lists the directory instead when the rollback manifest is not known.
fn clean_up(db: &Db, state: &mut WriterState, old: &Manifest, new: &Manifest) -> Result<()> {
    let previous = state.rollback.replace(old.clone());
    let Some(gone) = previous.filter(|r| Some(r.generation) == old.rollback) else {
        return db.remove_orphans(state, &[new, old]);
    };
    let keep: HashSet<&str> = old.files().chain(new.files()).collect();
    let name = Manifest::file_name(gone.generation);
    let mut names: Vec<String> = gone
        .files()
        .filter(|f| !keep.contains(f))
        .map(str::to_string)
        .collect();
    if !keep.contains(name.as_str()) {
        names.push(name);
    }
    db.remove_files(state, names)
}

/// The visitors of `rows` already stored in a live part of `snap`, by part, and how
/// many distinct visitors `rows` has.
fn stored_visitors(snap: &Snapshot, rows: &Rows) -> Result<(Moves, u64)> {
    let mut seen = HashSet::new();
    let mut visitors: Vec<&str> = rows
        .rows
        .iter()
        .filter(|r| seen.insert(r.visitor))
        .map(|r| rows.strings.get(r.visitor))
        .collect();
    visitors.sort_unstable();
    let mut moved = Vec::new();
    for (pi, p) in snap.parts().iter().enumerate() {
        let ids = p.reader.visitor_ids()?;
        let found: Vec<u32> = visitors
            .iter()
            .filter_map(|v| ids.find(v).map(|o| o as u32))
            .filter(|&o| !p.deleted.contains(o))
            .collect();
        if !found.is_empty() {
            moved.push((pi, found));
        }
    }
    Ok((moved, visitors.len() as u64))
}

/// Appends the stored events of the visitors `moved` to `rows`, as input rows.
pub(crate) fn read_back(snap: &Snapshot, moved: &Moves, rows: &mut Rows) -> Result<()> {
    for (pi, ords) in moved {
        let Some(part) = snap.parts().get(*pi) else {
            continue;
        };
        let cursor = PartCursor::new(&part.reader)?;
        let dims = readback::custom_dims(&cursor, rows)?;
        for &o in ords {
            readback::read_visitor(&cursor, o, &dims, rows)?;
        }
    }
    // Rows read back from a part truncated underneath its map must not be committed.
    snap.intact()
}

/// A batch in part order, to be sessionised and built part by part.
struct Sorted<'a> {
    rows: &'a Rows,
    fixed: &'a FixedSyms,
    /// The visitors, sorted by id, and the rows in part order ([`sessions::sorted_order`]).
    visitors: &'a [crate::ingest::rows::Sym],
    order: &'a [u32],
    timeout_ms: i64,
    /// Rows before this index are new (the others were read back).
    new_rows: usize,
}

/// One part of a [`Sorted`] batch: its visitors (a range of `visitors`) and their rows
/// (a range of `order`).
type Cut = (Range<usize>, Range<usize>);

/// The visitors of a sorted batch cut into parts of at most [`MAX_PART_EVENTS`] events,
/// of about equal size (a larger visitor gets a part of its own), as [`part_ranges`]
/// cuts sessionised ones.
fn visitor_cuts(rows: &Rows, visitors: &[crate::ingest::rows::Sym], order: &[u32]) -> Vec<Cut> {
    let visitor_of = |k: usize| {
        order
            .get(k)
            .and_then(|&i| rows.rows.get(i as usize))
            .map(|r| r.visitor)
    };
    let target = part_target(order.len());
    let mut cuts = Vec::new();
    let (mut v0, mut r0) = (0usize, 0usize);
    let (mut v, mut r) = (0usize, 0usize);
    while r < order.len() {
        let who = visitor_of(r);
        let mut end = r;
        while end < order.len() && visitor_of(end) == who {
            end += 1;
        }
        if end - r0 > target && v > v0 {
            cuts.push((v0..v, r0..r));
            (v0, r0) = (v, r);
        }
        (v, r) = (v + 1, end);
    }
    if !visitors.is_empty() {
        cuts.push((v0..visitors.len(), r0..order.len()));
    }
    cuts
}

/// The parts of a sorted batch, one per cut (file ids `first_id..` in order): each
/// sessionised and built on its own, in parallel. Returns them and the visits holding
/// at least one new row.
fn build_sorted(
    dir: &dyn VfsDir,
    s: &Sorted<'_>,
    first_id: u64,
    cuts: &[Cut],
) -> Result<(Vec<Built>, u64)> {
    let one = |id: u64, (vr, or): Cut| -> Result<(Built, u64)> {
        let visitors = s.visitors.get(vr).unwrap_or_default().to_vec();
        let order = s.order.get(or).unwrap_or_default();
        let sess = sessions::sessionize_sorted(s.rows, visitors, order, s.timeout_ms);
        if let Some(i) = sess.revenue_overflow {
            return Err(revenue_overflow(s.rows, &sess, i));
        }
        let input = Input {
            rows: s.rows,
            sess: &sess,
            fixed: s.fixed,
        };
        let built = build_part(dir, &input, id, 0..sess.visitors.len(), true)?;
        Ok((built, visits_touched(&sess, s.new_rows)))
    };
    let work: Vec<(u64, Cut)> = (first_id..).zip(cuts.iter().cloned()).collect();
    let results = parallel(&work, |(id, cut)| one(*id, cut.clone()))?;
    let mut built = Vec::with_capacity(results.len());
    let mut touched = 0;
    for (b, t) in results {
        built.push(b);
        touched += t;
    }
    Ok((built, touched))
}

/// `f` of every item of `work`, on the worker threads (the caller's alone for one
/// item), in order; the first error by position wins.
fn parallel<W: Sync, T: Send>(work: &[W], f: impl Fn(&W) -> Result<T> + Sync) -> Result<Vec<T>> {
    if work.len() <= 1 {
        return work.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(work.len()));
    let threads = crate::storage::worker_threads().min(work.len());
    let _ = crossbeam::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|_| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(w) = work.get(k) else { break };
                    let r = f(w);
                    results.lock().push((k, r));
                }
            });
        }
    });
    let mut done = results.into_inner();
    if done.len() != work.len() {
        return Err(Error::internal("a part-building thread panicked"));
    }
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The visitors of `sess` cut into parts of at most [`MAX_PART_EVENTS`] events, of
/// about equal size (a larger visitor gets a part of its own).
pub(crate) fn part_ranges(sess: &Sessionized) -> Vec<Range<usize>> {
    let first_event = |v: usize| {
        sess.visitor_visits
            .get(v)
            .and_then(|&visit| sess.visit_events.get(visit as usize))
            .copied()
            .unwrap_or(0) as usize
    };
    let target = part_target(first_event(sess.visitors.len()));
    let mut ranges = Vec::new();
    let mut start = 0usize;
    for v in 0..sess.visitors.len() {
        if first_event(v + 1) - first_event(start) > target && v > start {
            ranges.push(start..v);
            start = v;
        }
    }
    ranges.push(start..sess.visitors.len());
    ranges
}

/// The events a part of a batch of `events` events holds at most: the batch cut into as
/// few parts of at most [`MAX_PART_EVENTS`] as it takes, of about equal size (so that a
/// batch a little over the limit makes two half parts, not a full one and a sliver that
/// compaction would then have to merge).
fn part_target(events: usize) -> usize {
    let parts = events.div_ceil(MAX_PART_EVENTS).max(1);
    events.div_ceil(parts)
}

/// Visits holding at least one new row (`rows[..new_rows]` are new).
fn visits_touched(sess: &Sessionized, new_rows: usize) -> u64 {
    sess.visit_events
        .windows(2)
        .filter(|w| {
            sess.events
                .get(w[0] as usize..w[1] as usize)
                .unwrap_or_default()
                .iter()
                .any(|&e| (e as usize) < new_rows)
        })
        .count() as u64
}

/// The error of a batch in which visit `i` of `sess` sums more revenue than a visit can
/// hold.
pub(crate) fn revenue_overflow(rows: &Rows, sess: &Sessionized, i: usize) -> Error {
    let visitor = sess
        .visitor_visits
        .partition_point(|&first| first as usize <= i)
        .checked_sub(1)
        .and_then(|v| sess.visitors.get(v))
        .map_or("?", |&s| rows.strings.get(s));
    let start = sess.visits.get(i).map_or(0, |v| v.start);
    Error::too_large(format!(
        "the visit of visitor {visitor:?} starting at {start} ms sums its conversions' \
         revenue beyond ±9223372036854 (the most one visit can hold); nothing was committed"
    ))
}

/// The sessionised rows a commit writes.
pub(crate) struct Input<'a> {
    pub rows: &'a Rows,
    pub sess: &'a Sessionized,
    pub fixed: &'a FixedSyms,
}

/// What a commit writes: its generation, and the file ids `first_id..` in order, one
/// per range of visitors (new parts). Deletion sets go inline in the manifest.
pub(crate) struct Plan<'a> {
    generation: u64,
    /// The file ids the commit may have used for its new parts.
    ids: Range<u64>,
    moved: &'a Moves,
}

impl Plan<'_> {
    pub(crate) fn part_name(id: u64) -> String {
        format!("part-{id:08}.slp")
    }
    /// Every name this commit may create (final and temporary), the manifest first:
    /// what [`undo`] removes, in this order. None of them is referenced by a committed
    /// manifest, since ids and generations are never reused.
    fn all_names(&self) -> Vec<String> {
        std::iter::once(Manifest::file_name(self.generation))
            .chain(self.ids.clone().map(Plan::part_name))
            .flat_map(|n| [format!("{}{n}", fs::TMP_PREFIX), n])
            .collect()
    }
}

struct Written {
    snapshot: Snapshot,
    parts_written: u64,
}

/// Files written under temporary names: (temporary name, final name).
pub(crate) type Temps = Vec<(String, String)>;

/// Parts of at most this many bytes (and every deletion set) a commit writes into its
/// manifest, so that a small commit creates one file and syncs it once, instead of one
/// file per part and per deletion set (each costing a create, an fsync and a rename).
/// The compactor later merges them into part files of their own.
pub(crate) const INLINE_MAX_BYTES: usize = 256 << 10;

/// Inline blobs of the manifest being written (parts and deletion sets), under the
/// manifest's file name.
pub(crate) struct Blobs {
    manifest: String,
    bytes: Vec<u8>,
}

impl Blobs {
    pub(crate) fn new(generation: u64) -> Blobs {
        Blobs {
            manifest: Manifest::file_name(generation),
            bytes: Vec::new(),
        }
    }

    /// Adds `blob`; returns (file name, offset) to record in its entry.
    fn push(&mut self, blob: &[u8]) -> (String, u64) {
        let offset = self.bytes.len() as u64;
        self.bytes.extend_from_slice(blob);
        (self.manifest.clone(), offset)
    }

    /// Holds part `bytes` inline; returns its entry pointing there.
    pub(crate) fn hold(&mut self, mut entry: PartEntry, bytes: &[u8]) -> PartEntry {
        let (file, offset) = self.push(bytes);
        entry.file = file;
        entry.inline = Some(offset);
        entry
    }

    /// Holds the deletion set `deleted` of part `entry` inline.
    pub(crate) fn hold_deletions(&mut self, entry: &mut PartEntry, deleted: &RoaringBitmap) {
        let bytes = manifest::encode_deletions(deleted);
        let (file, offset) = self.push(&bytes);
        entry.deletions = Some(DelEntry {
            file,
            bytes: bytes.len() as u64,
            visitors: deleted.len() as u32,
            inline: Some(offset),
        });
    }

    /// The manifest file the blobs go into.
    pub(crate) fn manifest(&self) -> &str {
        &self.manifest
    }

    /// The blobs, in order.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes the deletion sets and the `built` parts (small ones inline in the manifest),
/// publishes the part files, then publishes the manifest (the commit point) with the
/// batch's custom dimensions `dims` added. On error the caller undoes whatever was
/// created.
fn write_files(
    db: &Db,
    snap: &Snapshot,
    built: Vec<Built>,
    dims: &[crate::schema::CustomDim],
    plan: &Plan<'_>,
) -> Result<Written> {
    let dir = db.dir();
    let mut temps = Temps::new();
    let mut blobs = Blobs::new(plan.generation);
    let new_parts = place(built, &mut temps, &mut blobs);
    let (mut parts, next_id) = write_deletions(snap, plan, &mut blobs);
    parts.extend(new_parts.iter().cloned());
    for (tmp, name) in &temps {
        fs::publish(dir, tmp, name)?;
    }
    if !temps.is_empty() {
        fs::sync_dir(dir)?;
    }

    // The new manifest: the commit point.
    let old = snap.manifest();
    let mut custom = old.custom.clone();
    let mut known: HashSet<&str> = old.custom.iter().map(|c| c.name.as_str()).collect();
    for d in dims {
        if known.insert(&d.name) {
            custom.push(d.clone());
        }
    }
    let m = Manifest {
        generation: plan.generation,
        visit_timeout_ms: old.visit_timeout_ms,
        next_file_id: next_id,
        parts,
        rollback: Some(old.generation),
        custom,
    };
    let encoded = m.encode_with(&blobs.bytes);
    // Open the new snapshot before the commit point: if a new file cannot be read back,
    // the commit fails with nothing committed.
    let snapshot = db.load_with(m, Some((&blobs.manifest, &encoded)))?;
    fs::write_durable(dir, &Manifest::file_name(plan.generation), &encoded)?;
    Ok(Written {
        snapshot,
        parts_written: new_parts.len() as u64,
    })
}

/// The new parts (one per range of visitors, with the file ids `first_id..`), built in
/// parallel, in order. Parts of at most [`INLINE_MAX_BYTES`] stay in memory when
/// `may_inline` (for the manifest to hold); the others are written and synced under
/// temporary names.
pub(crate) fn build_parts(
    dir: &dyn VfsDir,
    input: &Input<'_>,
    first_id: u64,
    ranges: &[Range<usize>],
    may_inline: bool,
) -> Result<Vec<Built>> {
    let work: Vec<(u64, Range<usize>)> = (first_id..).zip(ranges.iter().cloned()).collect();
    parallel(&work, |(id, range)| {
        build_part(dir, input, *id, range.clone(), may_inline)
    })
}

/// The manifest entries of `built` parts: those written to files are added to `temps`
/// (to publish), the others to `blobs`.
pub(crate) fn place(built: Vec<Built>, temps: &mut Temps, blobs: &mut Blobs) -> Vec<PartEntry> {
    built
        .into_iter()
        .map(|b| match b {
            Built::File(tmp, entry) => {
                temps.push((tmp, entry.file.clone()));
                entry
            }
            Built::Inline(bytes, entry) => blobs.hold(entry, &bytes),
        })
        .collect()
}

/// A part built: written under a temporary name, or bytes to hold inline.
pub(crate) enum Built {
    File(String, PartEntry),
    Inline(Vec<u8>, PartEntry),
}

impl Built {
    pub(crate) fn entry(&self) -> &PartEntry {
        match self {
            Built::File(_, e) | Built::Inline(_, e) => e,
        }
    }
}

/// Part `id`, holding the visitors `range` of the input: built, and unless it is small
/// enough to go inline (`may_inline`), written under its temporary name and synced.
pub(crate) fn build_part(
    dir: &dyn VfsDir,
    input: &Input<'_>,
    id: u64,
    range: Range<usize>,
    may_inline: bool,
) -> Result<Built> {
    let name = Plan::part_name(id);
    let (layout, columns) = columns::part_columns(input.rows, input.sess, input.fixed, range);
    let (bytes, sum) = write_part(
        &input.rows.strings,
        layout,
        columns.into_iter().map(|c| c()),
    )?;
    let entry = PartEntry {
        id,
        file: name.clone(),
        bytes: bytes.len() as u64,
        crc: crc32c(&bytes),
        visitors: sum.visitors,
        visits: sum.visits,
        events: sum.events,
        deletions: None,
        inline: None,
    };
    if may_inline && bytes.len() <= INLINE_MAX_BYTES {
        return Ok(Built::Inline(bytes, entry));
    }
    let tmp = fs::write_temp(dir, &name, &bytes)?;
    Ok(Built::File(tmp, entry))
}

/// The manifest entries of the snapshot's parts after the move: unchanged, with a new
/// deletion set (inline in the manifest), or gone when no live visitor remains.
/// Returns them and the next unused file id.
fn write_deletions(snap: &Snapshot, plan: &Plan<'_>, blobs: &mut Blobs) -> (Vec<PartEntry>, u64) {
    let mut parts = Vec::with_capacity(snap.parts().len());
    let moved: HashMap<usize, &Vec<u32>> = plan.moved.iter().map(|(p, o)| (*p, o)).collect();
    let next_id = plan.ids.end;
    for (pi, p) in snap.parts().iter().enumerate() {
        let Some(ords) = moved.get(&pi) else {
            parts.push(p.entry.clone());
            continue;
        };
        let mut deleted = (*p.deleted).clone();
        deleted.extend(ords.iter().copied());
        if deleted.len() == p.entry.visitors as u64 {
            continue; // nothing live remains: the part leaves the manifest
        }
        let mut e = p.entry.clone();
        blobs.hold_deletions(&mut e, &deleted);
        parts.push(e);
    }
    (parts, next_id)
}

/// A commit failed with `err`: removes every file it may have created (the manifest
/// first, so that no reader can load it afterwards) and makes that durable, so the
/// database is exactly at its previous commit. If that fails too, nothing is known of
/// the disk any more: the handle refuses further writes until the database is reopened
/// (opening decides, from the manifests present, which commit is the last).
fn undo(dir: &dyn VfsDir, state: &mut WriterState, plan: &Plan<'_>, err: Error) -> Error {
    // Names are reserved above every name present when the writer opened, so each is
    // this commit's own — except one whose publication failed because it existed,
    // which is left alone (it cannot be ours).
    let taken = match &err {
        Error::Io { path, error, .. } if error.kind() == std::io::ErrorKind::AlreadyExists => path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string),
        _ => None,
    };
    let undone = plan
        .all_names()
        .iter()
        .filter(|n| taken.as_ref() != Some(*n))
        .try_for_each(|n| fs::remove(dir, n))
        .and_then(|()| fs::sync_dir(dir));
    if let Err(e2) = undone {
        state.poisoned = Some(format!(
            "a failed commit ({err}) could not be undone ({e2})"
        ));
    }
    err
}

/// Commits a batch that spilled runs: the rows still in memory become a last run, the
/// runs are merged visitor by visitor into groups ([`merge_runs`]) built into parts as
/// they come ([`build_groups`]), and the parts published as by any commit. The runs are
/// deleted once merged, whatever becomes of the commit.
fn commit_runs(db: &Db, state: &mut WriterState, mut batch: Batch) -> Result<CommitSummary> {
    let snap = db.snapshot();
    batch.spill_now()?;
    let (mut schema, runs) = batch.into_parts();
    // Only its custom dimensions are needed from here: its allocation (the budget's
    // share for rows, every page of it touched) goes back before the merge needs its own.
    schema.release_rows();
    let new_rows: u64 = runs.runs().iter().map(|r| r.rows).sum();
    let budget = db.budget();

    // Generation and file ids are reserved first and never reused, even if this
    // attempt fails (see `WriterState`); the ids are taken as parts are built.
    let old = snap.manifest();
    let generation = old.generation.max(state.next_generation) + 1;
    let first_id = old.next_file_id.max(state.next_file_id);
    state.next_generation = generation;
    let ids = AtomicU64::new(first_id);
    let builder = GroupBuilder {
        dir: db.dir(),
        snap: &snap,
        ids: &ids,
        id_limit: u64::MAX,
        timeout_ms: old.visit_timeout_ms,
        find_stored: true,
    };
    let groups = runs.readers().and_then(|readers| {
        build_groups(&builder, budget.builders, |emit| {
            merge_runs(readers, &schema, budget.group_events, emit)
        })
    });
    // Merged (or abandoned): deleted now, before the commit point. One that cannot be
    // deleted is an orphan for the next clean-up (this commit's, or the next writer's).
    state.deferred.extend(runs.delete());
    let used = ids.load(Ordering::Relaxed);
    state.next_file_id = state.next_file_id.max(used);
    let no_moves = Moves::new();
    let failed = |state: &mut WriterState, e| {
        let plan = Plan {
            generation,
            ids: first_id..used,
            moved: &no_moves,
        };
        undo(db.dir(), state, &plan, e)
    };
    let groups = match groups {
        Ok(g) => g,
        Err(e) => return Err(failed(state, e)),
    };

    let mut moves: HashMap<usize, Vec<u32>> = HashMap::new();
    let (mut visitors, mut visits_touched, mut rewritten) = (0, 0, 0);
    let mut built = Vec::new();
    for g in groups {
        for (pi, ords) in g.moved {
            moves.entry(pi).or_default().extend(ords);
        }
        visitors += g.visitors;
        visits_touched += g.visits_touched;
        rewritten += g.rewritten;
        built.extend(g.built.into_iter().map(|(b, _)| b));
    }
    let mut moved: Moves = moves.into_iter().collect();
    moved.sort_unstable_by_key(|(pi, _)| *pi);
    for (_, ords) in &mut moved {
        ords.sort_unstable();
    }
    let plan = Plan {
        generation,
        ids: first_id..used,
        moved: &moved,
    };
    let written = match write_files(db, &snap, built, &schema.custom_names, &plan) {
        Ok(w) => w,
        Err(e) => return Err(undo(db.dir(), state, &plan, e)),
    };
    let new = written.snapshot.clone();
    db.publish(written.snapshot);
    let _ = clean_up(db, state, old, new.manifest());
    Ok(CommitSummary {
        generation,
        events: new_rows,
        visits: visits_touched,
        visitors,
        parts_written: written.parts_written,
        visitors_rewritten: rewritten,
    })
}

/// Whole visitors gathered by a merge, to become one part (or more, if the visitors
/// read back with them make it too large).
pub(crate) struct Group {
    /// Position of the group in the merge (groups come in visitor order).
    pub seq: u64,
    pub rows: Rows,
}

/// A group built: its parts (each with its first and last visitor id), and for a
/// commit's group the stored visitors it moved and what it counts.
pub(crate) struct GroupBuilt {
    seq: u64,
    pub built: Vec<(Built, (String, String))>,
    /// The stored visitors read back and rewritten into the group's parts.
    pub moved: Moves,
    /// Distinct visitors among the group's new rows.
    pub visitors: u64,
    /// Visits holding at least one new row.
    pub visits_touched: u64,
    /// Stored visitors rewritten.
    pub rewritten: u64,
}

/// How the groups of a merge are built into parts.
pub(crate) struct GroupBuilder<'a> {
    pub dir: &'a dyn VfsDir,
    pub snap: &'a Snapshot,
    /// The next file id; ids up to `id_limit` (exclusive) may be taken.
    pub ids: &'a AtomicU64,
    pub id_limit: u64,
    pub timeout_ms: i64,
    /// The group's rows are new (a commit's): look for their visitors among the stored
    /// ones and rewrite those with them. Without (a compaction's), the rows are the
    /// stored visitors themselves.
    pub find_stored: bool,
}

impl GroupBuilder<'_> {
    /// Builds group `g`: its stored visitors read back (a commit's), sessionised, and
    /// its parts built and written under temporary names (small ones kept in memory
    /// for the manifest).
    fn build(&self, mut g: Group) -> Result<GroupBuilt> {
        let new_rows = g.rows.rows.len();
        let (moved, visitors) = if self.find_stored {
            stored_visitors(self.snap, &g.rows)?
        } else {
            (Moves::new(), 0)
        };
        read_back(self.snap, &moved, &mut g.rows)?;
        let mut rows = g.rows;
        let fixed = FixedSyms::intern(&mut rows);
        let sess = sessions::sessionize(&rows, self.timeout_ms);
        if let Some(i) = sess.revenue_overflow {
            return Err(revenue_overflow(&rows, &sess, i));
        }
        let ranges = if sess.visitors.is_empty() {
            Vec::new()
        } else {
            part_ranges(&sess)
        };
        let n = ranges.len() as u64;
        let first_id = self.ids.fetch_add(n, Ordering::Relaxed);
        if first_id.saturating_add(n) > self.id_limit {
            return Err(Error::internal(
                "a merge made more parts than it reserved ids for",
            ));
        }
        let input = Input {
            rows: &rows,
            sess: &sess,
            fixed: &fixed,
        };
        let built = build_parts(self.dir, &input, first_id, &ranges, true)?;
        let id = |v: usize| {
            sess.visitors
                .get(v)
                .map_or(String::new(), |&s| rows.strings.get(s).to_string())
        };
        let bounds = ranges
            .iter()
            .map(|r| (id(r.start), id(r.end.saturating_sub(1))));
        Ok(GroupBuilt {
            seq: g.seq,
            built: built.into_iter().zip(bounds).collect(),
            rewritten: moved.iter().map(|(_, o)| o.len() as u64).sum(),
            moved,
            visitors,
            visits_touched: if self.find_stored {
                visits_touched(&sess, new_rows)
            } else {
                0
            },
        })
    }
}

/// Builds the groups `produce` emits, in order, on `builders` threads while it gathers
/// the next (none: in the producing thread, one group after the other). The first error
/// of either side stops both; a builder's comes first (the producer then only learns
/// that nobody takes its groups). Returns the built groups in the order emitted.
pub(crate) fn build_groups(
    builder: &GroupBuilder<'_>,
    builders: usize,
    produce: impl FnOnce(&mut dyn FnMut(Group) -> Result<()>) -> Result<()>,
) -> Result<Vec<GroupBuilt>> {
    let mut out = if builders == 0 {
        let mut out = Vec::new();
        produce(&mut |g| {
            out.push(builder.build(g)?);
            Ok(())
        })?;
        out
    } else {
        let results = Mutex::new(Vec::new());
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let stop = AtomicBool::new(false);
        let produced = crossbeam::thread::scope(|s| {
            // A rendezvous: the producer hands a full group over only when a builder is
            // free, so groups in memory are the builders' plus the one being gathered.
            let (tx, rx) = crossbeam::channel::bounded::<Group>(0);
            for _ in 0..builders {
                let rx = rx.clone();
                let (results, failed, stop) = (&results, &failed, &stop);
                s.spawn(move |_| {
                    for g in rx {
                        if stop.load(Ordering::Relaxed) {
                            continue;
                        }
                        match builder.build(g) {
                            Ok(b) => results.lock().push(b),
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                failed.lock().get_or_insert(e);
                            }
                        }
                    }
                });
            }
            drop(rx);
            let res = produce(&mut |g| {
                if stop.load(Ordering::Relaxed) {
                    return Err(Error::internal("the part builders stopped"));
                }
                tx.send(g)
                    .map_err(|_| Error::internal("the part builders stopped"))
            });
            if res.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            drop(tx);
            res
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        match produced {
            Ok(res) => res?,
            Err(_) => return Err(Error::internal("a part-building thread panicked")),
        }
        results.into_inner()
    };
    out.sort_unstable_by_key(|g| g.seq);
    Ok(out)
}

/// Merges `runs` by visitor id and emits groups of whole visitors of at most
/// `group_events` rows (a visitor with more gets a group of its own). `schema`: the
/// batch's custom dimensions.
fn merge_runs(
    mut runs: Vec<RunReader>,
    schema: &Rows,
    group_events: usize,
    emit: &mut dyn FnMut(Group) -> Result<()>,
) -> Result<()> {
    let mut heads: BinaryHeap<Reverse<(Vec<u8>, usize)>> = runs
        .iter()
        .enumerate()
        .filter_map(|(k, r)| r.head().map(|h| Reverse((h.to_vec(), k))))
        .collect();
    let mut seq = 0u64;
    let mut rows = schema.empty_like();
    while let Some(Reverse((visitor, k))) = heads.pop() {
        // The visitor's rows from every run that has some.
        let mut from = vec![k];
        while let Some(Reverse((next, j))) = heads.peek()
            && *next == visitor
        {
            from.push(*j);
            heads.pop();
        }
        // A group closes before a visitor would take it past its size, so that it makes
        // one part (unless stored visitors read back with it make it larger).
        let n: u64 = from
            .iter()
            .filter_map(|&k| runs.get(k).map(RunReader::head_rows))
            .sum();
        if !rows.rows.is_empty() && rows.rows.len() as u64 + n > group_events as u64 {
            let full = std::mem::replace(&mut rows, schema.empty_like());
            emit(Group { seq, rows: full })?;
            seq += 1;
        }
        for k in from {
            let Some(run) = runs.get_mut(k) else {
                continue;
            };
            run.take(&mut rows, seq)?;
            if let Some(h) = run.head() {
                heads.push(Reverse((h.to_vec(), k)));
            }
        }
    }
    if !rows.rows.is_empty() {
        emit(Group { seq, rows })?;
    }
    Ok(())
}
