//! Erasure, retention purges and retroactive anonymisation: stored parts rewritten
//! without (or with changed) personal data, swapped in by one manifest commit, and the
//! files that held the old bytes deleted before the call returns.
//!
//! Each operation runs under the compaction lock and the writer lock for its whole
//! length: no commit can read an erased visitor back into a new part meanwhile, and no
//! compaction can copy it elsewhere. It rewrites every part that holds a byte of the
//! affected visitors, live or not (a part keeps the data of a visitor that moved out
//! until it is compacted), through the compaction machinery (read back, re-sessionise,
//! build); parts it does not touch are kept as they are, and those held inline in an
//! older manifest are copied into the new one, so that no older manifest stays needed.
//! The new manifest names no rollback generation; the replaced files are removed, even
//! those a snapshot of this process still maps (on Unix the map stays readable to it,
//! but no name in the directory leads to the bytes), and the directory is synced.
//!
//! Crash safety is the commit protocol's: before the manifest is durable, the old
//! state is intact and the operation did not happen (run it again); after, the new
//! state is the database, and the next writer's open removes any replaced file a crash
//! left behind.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use roaring::RoaringBitmap;

use crate::commit::{Blobs, Built, GroupBuilder, Plan, Temps, WriterState};
use crate::compaction::{self, Merge};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::exec::{LivePart, Selection};
use crate::ingest::readback::{Fate, VisitRewrite};
use crate::snapshot::Snapshot;
use crate::storage::cursor::StoredVisit;
use crate::storage::fs;
use crate::storage::manifest::{self, Manifest};
use crate::{CompiledSegment, ExportSelector, TimeRange};

/// What an erasure, a purge or an anonymisation did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyOutcome {
    /// Visitors affected: erased, with visits purged, or with visits anonymised.
    pub visitors: u64,
    /// Visits erased, purged or anonymised.
    pub visits: u64,
    /// Their events.
    pub events: u64,
    /// Parts rewritten (their live data copied without the affected data).
    pub parts_rewritten: u64,
    /// Parts dropped whole, without rewriting (every visit in them purged).
    pub parts_dropped: u64,
    /// Bytes of the parts written by the rewrite.
    pub bytes_written: u64,
    /// Files deleted from the directory once the rewrite was committed.
    pub files_removed: u64,
    /// The generation committed (unchanged when there was nothing to do, or dry).
    pub generation: u64,
}

/// The parts of `snap` to rewrite, each with the visitor ordinals to leave out.
pub(crate) struct Targets {
    /// (position in the snapshot, ordinals to drop there).
    pub parts: Vec<(usize, RoaringBitmap)>,
    /// Parts (positions) dropped whole.
    pub dropped: Vec<usize>,
}

/// The live visitors having a selected visit: their ids, and the counts of
/// [`PrivacyOutcome`] (visitors, all their visits, all their events).
pub(crate) fn selected_visitors(
    snap: &Snapshot,
    sel: &Selection,
) -> Result<(Vec<String>, PrivacyOutcome)> {
    let mut ids = Vec::new();
    let mut out = PrivacyOutcome::default();
    for (p, rows) in snap.parts().iter().zip(&sel.parts) {
        if rows.is_empty() {
            continue;
        }
        let dict = p.reader.visitor_ids()?;
        for v in 0..p.entry.visitors {
            if p.deleted.contains(v) {
                continue;
            }
            let visits = p.reader.visits_of(v)?;
            if rows.range_cardinality(visits.start as u32..visits.end as u32) == 0 {
                continue;
            }
            ids.push(
                dict.get(v as usize)
                    .ok_or_else(|| p.reader.corrupt("visitor id"))?
                    .to_string(),
            );
            out.visitors += 1;
            out.visits += visits.len() as u64;
            if let (Some(first), Some(last)) = (visits.clone().next(), visits.clone().last()) {
                let (a, b) = (p.reader.events_of(first)?, p.reader.events_of(last)?);
                out.events += b.end.saturating_sub(a.start) as u64;
            }
        }
    }
    Ok((ids, out))
}

/// Every part of `snap` holding a visitor of `ids`, live or left behind by a move, with
/// those visitors' ordinals.
pub(crate) fn parts_holding(
    snap: &Snapshot,
    ids: &[String],
) -> Result<Vec<(usize, RoaringBitmap)>> {
    let mut out = Vec::new();
    for (pi, p) in snap.parts().iter().enumerate() {
        let dict = p.reader.visitor_ids()?;
        let mut found = RoaringBitmap::new();
        for id in ids {
            if let Some(v) = dict.find(id) {
                found.insert(v as u32);
            }
        }
        if !found.is_empty() {
            out.push((pi, found));
        }
    }
    Ok(out)
}

/// Runs `f` under the compaction lock and the writer lock, on the current snapshot.
pub(crate) fn exclusive<T>(
    db: &Db,
    f: impl FnOnce(&mut WriterState, &Snapshot) -> Result<T>,
) -> Result<T> {
    let _one_at_a_time = db.compaction_lock();
    db.write_locked(f)
}

/// Rewrites `targets` of `snap` (the current snapshot, under the writer lock): drops
/// the listed visitors and passes every other visit read back through `rewrite`;
/// commits, then removes the replaced files and syncs the directory. Fills in the
/// rewrite's part of `out`.
pub(crate) fn rewrite(
    db: &Db,
    state: &mut WriterState,
    snap: &Snapshot,
    targets: &Targets,
    rewrite: Option<&dyn VisitRewrite>,
    out: &mut PrivacyOutcome,
) -> Result<()> {
    if targets.parts.is_empty() && targets.dropped.is_empty() {
        // Nothing to rewrite; but what an earlier run committed and could not remove
        // (an I/O error after its commit point) goes now.
        out.generation = snap.generation();
        out.files_removed = remove_replaced(db, state)?;
        return Ok(());
    }
    let parts: Vec<&LivePart> = targets
        .parts
        .iter()
        .filter_map(|(pi, _)| snap.parts().get(*pi))
        .collect();
    let merge = Merge {
        drop: targets.parts.iter().map(|(_, d)| d.clone()).collect(),
        rewrite,
    };
    let budget = db.budget();
    let cap = budget.compaction_group_events.max(1);
    let events: u64 = parts.iter().map(|p| u64::from(p.entry.events)).sum();
    let reserved = 2 * (events / cap as u64) + 2;
    let first_id = snap.manifest().next_file_id.max(state.next_file_id);
    state.next_file_id = first_id + reserved;
    let ids = AtomicU64::new(first_id);
    let builder = GroupBuilder {
        dir: db.dir(),
        snap,
        ids: &ids,
        id_limit: first_id + reserved,
        timeout_ms: snap.manifest().visit_timeout_ms,
        find_stored: false,
    };
    let names: Vec<String> = (first_id..first_id + reserved)
        .map(Plan::part_name)
        .flat_map(|n| [format!("{}{n}", fs::TMP_PREFIX), n])
        .collect();
    let generation = snap.manifest().generation.max(state.next_generation) + 1;
    state.next_generation = generation;
    let result = crate::commit::build_groups(&builder, budget.compaction_builders, |emit| {
        compaction::merge_parts(snap, &parts, &merge, cap, emit).map(|_| ())
    })
    .and_then(|groups| {
        snap.intact()?;
        let built: Vec<Built> = groups
            .into_iter()
            .flat_map(|g| g.built.into_iter().map(|(b, _)| b))
            .collect();
        out.bytes_written = built.iter().map(|b| b.entry().bytes).sum();
        out.parts_rewritten = parts.len() as u64;
        out.parts_dropped = targets.dropped.len() as u64;
        swap(db, snap, targets, built, generation)
    });
    match result {
        Ok(new) => {
            out.generation = generation;
            db.publish(new);
            out.files_removed = remove_replaced(db, state)?;
            Ok(())
        }
        Err(e) => {
            let undone = names
                .iter()
                .chain(std::iter::once(&Manifest::file_name(generation)))
                .chain(std::iter::once(&format!(
                    "{}{}",
                    fs::TMP_PREFIX,
                    Manifest::file_name(generation)
                )))
                .try_for_each(|n| fs::remove(db.dir(), n))
                .and_then(|()| fs::sync_dir(db.dir()));
            if let Err(e2) = undone {
                state.poisoned = Some(format!(
                    "a failed privacy rewrite ({e}) could not be undone ({e2})"
                ));
            }
            Err(e)
        }
    }
}

/// The new manifest: the parts kept (those inline copied into it), the new ones; no
/// rollback generation. Publishes the new part files, opens the new snapshot, writes the
/// manifest (the commit point) and returns the snapshot.
fn swap(
    db: &Db,
    snap: &Snapshot,
    targets: &Targets,
    built: Vec<Built>,
    generation: u64,
) -> Result<Snapshot> {
    let dir = db.dir();
    let old = snap.manifest();
    let replaced: HashSet<usize> = targets
        .parts
        .iter()
        .map(|(pi, _)| *pi)
        .chain(targets.dropped.iter().copied())
        .collect();
    let mut blobs = Blobs::new(generation);
    let mut parts = Vec::new();
    for (pi, p) in snap.parts().iter().enumerate() {
        if replaced.contains(&pi) {
            continue;
        }
        let mut e = p.entry.clone();
        if let Some(offset) = e.inline {
            let bytes = manifest::read_inline(dir, &e.file, offset, e.bytes)?;
            e = blobs.hold(e, &bytes);
        }
        if e.deletions.as_ref().is_some_and(|d| d.inline.is_some()) {
            blobs.hold_deletions(&mut e, &p.deleted);
        }
        parts.push(e);
    }
    let mut publish = Temps::new();
    for b in built {
        match b {
            Built::File(tmp, e) => {
                publish.push((tmp, e.file.clone()));
                parts.push(e);
            }
            Built::Inline(bytes, e) => parts.push(blobs.hold(e, &bytes)),
        }
    }
    for (tmp, name) in &publish {
        fs::publish(dir, tmp, name)?;
    }
    if !publish.is_empty() {
        fs::sync_dir(dir)?;
    }
    let m = Manifest {
        generation,
        visit_timeout_ms: old.visit_timeout_ms,
        next_file_id: old.next_file_id.max(
            parts
                .iter()
                .map(|p| p.id + 1)
                .max()
                .unwrap_or(old.next_file_id),
        ),
        parts,
        rollback: None,
        custom: old.custom.clone(),
    };
    let encoded = m.encode_with(blobs.bytes());
    let snapshot = db.load_with(m, Some((blobs.manifest(), &encoded)))?;
    fs::write_durable(dir, &Manifest::file_name(generation), &encoded)?;
    Ok(snapshot)
}

/// Deletes every database file the new manifest does not need — old manifests, the
/// replaced parts (even those a snapshot of this process maps), deletion files — and
/// syncs the directory, so the deletions are durable too. Returns how many.
fn remove_replaced(db: &Db, state: &mut WriterState) -> Result<u64> {
    let current = db.snapshot();
    let orphans = manifest::orphans(db.dir(), &[current.manifest()])?;
    let in_flight = db.in_flight_names();
    let mut removed = 0;
    // Manifests first: an older manifest does not outlive files it names.
    let (manifests, files): (Vec<&String>, Vec<&String>) = orphans
        .iter()
        .filter(|n| !in_flight.contains(*n))
        .partition(|n| n.starts_with(manifest::MANIFEST_PREFIX));
    for name in manifests.into_iter().chain(files) {
        fs::remove(db.dir(), name)?;
        removed += 1;
    }
    state.deferred.retain(|n| !orphans.contains(n));
    if removed > 0 {
        fs::sync_dir(db.dir())?;
    }
    Ok(removed)
}

/// A retention purge's rule: visits that started before `cutoff` are dropped.
pub(crate) struct Expire {
    pub cutoff: i64,
}

impl VisitRewrite for Expire {
    fn fate(&self, _part: u64, _i: usize, visit: &StoredVisit<'_>) -> Fate {
        if visit.start < self.cutoff {
            Fate::Drop
        } else {
            Fate::Keep
        }
    }

    fn edit(&self, _field: usize, value: &str) -> Option<String> {
        Some(value.to_string())
    }
}

/// The live visits of part `p` that started before `cutoff`: (visitors having one,
/// visits, events), and whether they are all of the part's live visits.
pub(crate) fn expired_in(p: &LivePart, cutoff: i64) -> Result<(PrivacyOutcome, bool)> {
    let r = &p.reader;
    let mut out = PrivacyOutcome::default();
    if r.meta().min_ts >= cutoff {
        return Ok((out, p.deleted.len() >= u64::from(p.entry.visitors)));
    }
    let col = r
        .visit_column(crate::schema::internal::VISIT_START)
        .ok_or_else(|| r.corrupt("missing visit column @start"))?;
    let starts = r.num(col, r.meta().visits)?;
    let mut all = true;
    for v in 0..p.entry.visitors {
        if p.deleted.contains(v) {
            continue;
        }
        let mut any = false;
        for i in r.visits_of(v)? {
            let s = starts.int(i).ok_or_else(|| r.corrupt("visit start"))?;
            if s < cutoff {
                any = true;
                out.visits += 1;
                out.events += r.events_of(i)?.len() as u64;
            } else {
                all = false;
            }
        }
        out.visitors += u64::from(any);
    }
    Ok((out, all))
}

/// Erases every visitor one of `selectors` selects (all their visits and events) —
/// see [`Db::erase`].
pub(crate) fn erase(
    db: &Db,
    selectors: &[ExportSelector],
    dry_run: bool,
) -> Result<PrivacyOutcome> {
    exclusive(db, |state, snap| {
        let mut sel = Selection {
            parts: vec![RoaringBitmap::new(); snap.parts().len()],
        };
        for s in selectors {
            let more = snap.export_selection(s)?;
            for (a, b) in sel.parts.iter_mut().zip(&more.parts) {
                *a |= b;
            }
        }
        let (ids, mut out) = selected_visitors(snap, &sel)?;
        out.generation = snap.generation();
        if dry_run {
            return Ok(out);
        }
        let targets = Targets {
            parts: parts_holding(snap, &ids)?,
            dropped: Vec::new(),
        };
        rewrite(db, state, snap, &targets, None, &mut out)?;
        Ok(out)
    })
}

/// Removes the visits that started before `cutoff` (Unix ms) — see [`Db::purge_before`].
pub(crate) fn purge(db: &Db, cutoff: i64, dry_run: bool) -> Result<PrivacyOutcome> {
    exclusive(db, |state, snap| {
        let mut out = PrivacyOutcome {
            generation: snap.generation(),
            ..PrivacyOutcome::default()
        };
        let mut targets = Targets {
            parts: Vec::new(),
            dropped: Vec::new(),
        };
        for (pi, p) in snap.parts().iter().enumerate() {
            let (expired, all) = expired_in(p, cutoff)?;
            out.visitors += expired.visitors;
            out.visits += expired.visits;
            out.events += expired.events;
            if all && p.reader.meta().min_ts < cutoff {
                targets.dropped.push(pi);
            } else if p.reader.meta().min_ts < cutoff {
                targets.parts.push((pi, RoaringBitmap::new()));
            }
        }
        if dry_run {
            return Ok(out);
        }
        let rule = Expire { cutoff };
        rewrite(db, state, snap, &targets, Some(&rule), &mut out)?;
        Ok(out)
    })
}

/// What a retroactive anonymisation changes ([`Db::anonymize`]).
#[derive(Debug, Clone, Default)]
pub struct Anonymization {
    /// The visits that started in this range (`TimeRange::ALL`: all).
    pub range: TimeRange,
    /// Only those this segment selects (`None`: all in the range).
    pub segment: Option<CompiledSegment>,
    /// Mask this many bytes of `ip` (Matomo's rule, 0 to 4), storing it in canonical
    /// form; a stored `ip` that is not an address is cleared.
    pub ip_mask: Option<u8>,
    /// Replace `userId` by its pseudonym under the database's secret.
    pub pseudonymize_user_id: bool,
    /// Clear the location fields below the country: `regionCode` and `city`.
    pub clear_location: bool,
}

/// A user-id pseudonym function.
type Pseudonyms<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The edit of an anonymisation: the selected visits (by part id), and what to do to
/// their values.
struct Anonymize<'a> {
    selected: HashMap<u64, &'a RoaringBitmap>,
    ip_mask: Option<u8>,
    pseudonyms: Option<Pseudonyms<'a>>,
    clear_location: bool,
}

impl VisitRewrite for Anonymize<'_> {
    fn fate(&self, part: u64, i: usize, _visit: &StoredVisit<'_>) -> Fate {
        match self.selected.get(&part) {
            Some(rows) if rows.contains(i as u32) => Fate::Edit,
            _ => Fate::Keep,
        }
    }

    fn edit(&self, field: usize, value: &str) -> Option<String> {
        match crate::schema::VISIT_STRINGS.get(field).copied() {
            Some("ip") => match self.ip_mask {
                Some(n) => super::anonymize_ip(value, n).ok(),
                None => Some(value.to_string()),
            },
            Some("userId") => match self.pseudonyms {
                Some(p) if !value.is_empty() => p(value).or_else(|| Some(value.to_string())),
                _ => Some(value.to_string()),
            },
            Some("regionCode" | "city") if self.clear_location => None,
            _ => Some(value.to_string()),
        }
    }
}

/// Rewrites the visits `a` selects — see [`Db::anonymize`]. `pseudonyms`: the
/// database's user-id pseudonyms (`None` for an already pseudonymised value), needed
/// when `a` asks for them.
pub(crate) fn anonymize(
    db: &Db,
    a: &Anonymization,
    pseudonyms: Option<Pseudonyms<'_>>,
    dry_run: bool,
) -> Result<PrivacyOutcome> {
    if let Some(n) = a.ip_mask {
        super::ip::check_mask(n).map_err(|e| Error::InvalidArgument {
            argument: "ip mask",
            reason: e.to_string(),
        })?;
    }
    exclusive(db, |state, snap| {
        let segment = match &a.segment {
            Some(s) => s.clone(),
            None => snap.compile("", crate::lang::Dialect::Default)?,
        };
        let sel = snap.select(&segment, &a.range)?;
        let mut out = PrivacyOutcome {
            generation: snap.generation(),
            visits: sel.visits(),
            ..PrivacyOutcome::default()
        };
        for (p, rows) in snap.parts().iter().zip(&sel.parts) {
            for i in rows.iter() {
                out.events += p.reader.events_of(i as usize)?.len() as u64;
            }
        }
        let (ids, counted) = selected_visitors(snap, &sel)?;
        out.visitors = counted.visitors;
        if dry_run {
            return Ok(out);
        }
        // The parts with selected visits, and those holding old copies of their
        // visitors (dropped by the rewrite, as by any compaction).
        let mut parts = parts_holding(snap, &ids)?;
        for (_, ordinals) in &mut parts {
            *ordinals = RoaringBitmap::new();
        }
        let selected = snap
            .parts()
            .iter()
            .zip(&sel.parts)
            .map(|(p, rows)| (p.entry.id, rows))
            .collect();
        let rule = Anonymize {
            selected,
            ip_mask: a.ip_mask,
            pseudonyms: if a.pseudonymize_user_id {
                pseudonyms
            } else {
                None
            },
            clear_location: a.clear_location,
        };
        let targets = Targets {
            parts,
            dropped: Vec::new(),
        };
        rewrite(db, state, snap, &targets, Some(&rule), &mut out)?;
        Ok(out)
    })
}
