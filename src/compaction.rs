//! Compaction: live visitors of several parts rewritten as fewer parts, dead data
//! (visitors moved out, later erased) dropped and deletion files folded away, swapped in
//! with one manifest commit.
//!
//! The work happens without the writer lock, on a snapshot: reading the chosen parts
//! back (through the cursor, as a commit reads stored visitors), sessionising them again
//! (which reproduces their visits: a part holds whole visitors) and writing the new
//! parts under temporary names. Only the swap takes the lock: it renames the new parts
//! into place and publishes the manifest, so commits and readers wait at most for one
//! manifest swap. Commits that moved visitors out of a chosen part meanwhile are carried
//! over: those visitors are marked deleted in the new parts in the same swap.
//!
//! The policy ([`plan_tiers`]) keeps the number of parts logarithmic in the data, like
//! an LSM tree's size tiers: parts are grouped by live events in powers of four, and a
//! tier holding four or more parts is merged into one part of the next tier.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::AtomicU64;

use roaring::RoaringBitmap;

use crate::commit::{self, Blobs, Built, Group, GroupBuilder, Plan, Temps};
use crate::db::Db;
use crate::error::Result;
use crate::exec::LivePart;
use crate::ingest::readback;
use crate::ingest::rows::Rows;
use crate::snapshot::Snapshot;
use crate::storage::cursor::PartCursor;
use crate::storage::dict::DictView;
use crate::storage::format::PART_FORMAT_VERSION;
use crate::storage::fs;
use crate::storage::manifest::Manifest;
use crate::storage::part_reader::PartReader;

/// What a compaction did (`sightline compact --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// Live parts before.
    pub parts_before: u64,
    /// Live parts after.
    pub parts_after: u64,
    /// Bytes of the live files (parts and deletion files) before.
    pub bytes_before: u64,
    /// Bytes of the live files after.
    pub bytes_after: u64,
    /// Parts rewritten.
    pub parts_merged: u64,
    /// Visitors whose data was dropped (moved out of, or erased from, the merged parts).
    pub visitors_dropped: u64,
    /// The generation of the swap (unchanged when there was nothing to do).
    pub generation: u64,
}

/// A part is "full" past half the events of a part compaction builds (half of
/// [`commit::MAX_PART_EVENTS`] under any but a small memory budget): merging it gains
/// nothing. Compaction writes parts of that size, so what it writes is full: the policy
/// never merges its own output again.
fn full_part_events(db: &Db) -> u64 {
    db.budget().compaction_group_events as u64 / 2
}

/// Parts of a tier (among the small parts) that trigger a merge of the tier.
const TIER_WIDTH: usize = 4;

/// The open parts are merged into one once the small parts and the dead data together
/// reach this fraction (1/N) of the largest open part's live events.
const LEVEL_RATIO: u64 = 4;

/// Open parts holding this many live events or fewer between them are merged into one
/// whenever there are two: merging them takes well under a tenth of a second, while
/// each part adds a fixed cost to every query, which on data this small is most of it.
const SMALL_EVENTS: u64 = 1 << 16;

/// Live events of part `p` (an estimate when visitors were deleted from it: the part's
/// events times its live share of visitors).
fn live_events(p: &LivePart) -> u64 {
    let visitors = u64::from(p.entry.visitors.max(1));
    let live = visitors.saturating_sub(p.deleted.len());
    u64::from(p.entry.events) * live / visitors
}

/// Events of part `p` that belong to deleted visitors (estimated as in [`live_events`]).
fn dead_events(p: &LivePart) -> u64 {
    u64::from(p.entry.events) - live_events(p)
}

/// A part whose deleted visitors are a third of them or more: rewriting it frees that
/// space (so dead data stays below about half of the live data).
fn is_dirty(p: &LivePart) -> bool {
    !p.deleted.is_empty() && p.deleted.len() * 3 >= u64::from(p.entry.visitors.max(1))
}

/// The parts (positions in `snap`) the automatic policy merges next, or none.
///
/// Parts short of full are "open". The largest open part is the base; the others are
/// the tail, which takes each commit's new part. The policy keeps the part count
/// logarithmic and the dead data bounded:
///
/// 1. among the tail, the lowest size tier (live events in powers of four) holding
///    four parts or more merges into one part of the next tier, with any dirty part
///    (a third of its visitors deleted) of that tier or below;
/// 2. else, once the tail's live events and the dead events of the open parts reach a
///    quarter of the base's live events, all open parts merge into one (the base grows
///    by at least a quarter each time, so an event is rewritten about five times over
///    its life, however small the commits); so do they when all of them hold no more
///    than [`SMALL_EVENTS`] live events together (not while commits keep coming:
///    [`plan_busy`]);
/// 3. else the dirty parts are rewritten (full parts included), dropping their dead
///    visitors.
pub(crate) fn plan_tiers(snap: &Snapshot, full: u64) -> Vec<usize> {
    plan(snap, full, true)
}

/// [`plan_tiers`] without the merges of small data (the second half of rule 2): what
/// the background compactor does while commits keep coming.
pub(crate) fn plan_busy(snap: &Snapshot, full: u64) -> Vec<usize> {
    plan(snap, full, false)
}

fn plan(snap: &Snapshot, full: u64, small_merges: bool) -> Vec<usize> {
    let parts = snap.parts();
    let open: Vec<usize> = (0..parts.len())
        .filter(|&i| live_events(&parts[i]) < full)
        .collect();
    let base = open
        .iter()
        .copied()
        .max_by_key(|&i| (live_events(&parts[i]), std::cmp::Reverse(i)));
    if let Some(base) = base
        && open.len() >= 2
    {
        let tail: Vec<usize> = open.iter().copied().filter(|&i| i != base).collect();
        let chosen = lowest_full_tier(parts, &tail);
        if !chosen.is_empty() {
            return chosen;
        }
        let tail_events: u64 = tail.iter().map(|&i| live_events(&parts[i])).sum();
        let dead: u64 = open.iter().map(|&i| dead_events(&parts[i])).sum();
        let base_events = live_events(&parts[base]);
        if (tail_events + dead) * LEVEL_RATIO >= base_events
            || (small_merges && tail_events + base_events <= SMALL_EVENTS)
        {
            return open;
        }
    }
    (0..parts.len()).filter(|&i| is_dirty(&parts[i])).collect()
}

/// The parts of `among` in the lowest size tier holding [`TIER_WIDTH`] parts or more,
/// with the dirty parts of lower tiers; none if no tier is that full.
fn lowest_full_tier(parts: &[LivePart], among: &[usize]) -> Vec<usize> {
    // floor(log4(events)), roughly: the tier of a part.
    let tier = |p: &LivePart| (u64::BITS - live_events(p).max(1).leading_zeros()) / 2;
    let mut tiers: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for &i in among {
        tiers.entry(tier(&parts[i])).or_default().push(i);
    }
    let Some((&t, _)) = tiers.iter().find(|(_, v)| v.len() >= TIER_WIDTH) else {
        return Vec::new();
    };
    let mut chosen: Vec<usize> = tiers
        .range(..=t)
        .flat_map(|(&k, v)| {
            v.iter()
                .copied()
                .filter(move |&i| k == t || is_dirty(&parts[i]))
        })
        .collect();
    chosen.sort_unstable();
    chosen
}

/// Every part worth rewriting, for a full compaction: all but the clean full parts in
/// files of their own (nothing would change for them). A lone part is rewritten only
/// if that changes something: it has deleted visitors, or it is held inline by an
/// older manifest (which it keeps on disk), or it is of an older format version (it is
/// rewritten in the current one, with the query index older versions lack). The merged
/// part is held inline in the new manifest when it is small, else it gets a file of
/// its own.
pub(crate) fn plan_all(snap: &Snapshot, full: u64) -> Vec<usize> {
    let parts = snap.parts();
    let current = Manifest::file_name(snap.generation());
    let old = |p: &crate::exec::LivePart| p.reader.version() < PART_FORMAT_VERSION;
    let chosen: Vec<usize> = (0..parts.len())
        .filter(|&i| {
            let p = &parts[i];
            !p.deleted.is_empty() || p.entry.inline.is_some() || live_events(p) < full || old(p)
        })
        .collect();
    let must = chosen.iter().any(|&i| {
        let p = &parts[i];
        !p.deleted.is_empty() || (p.entry.inline.is_some() && p.entry.file != current) || old(p)
    });
    if chosen.len() < 2 && !must {
        return Vec::new();
    }
    chosen
}

/// Totals of the live files of a snapshot: (parts, bytes).
fn footprint(snap: &Snapshot) -> (u64, u64) {
    let parts = snap.parts();
    let bytes = parts
        .iter()
        .map(|p| p.entry.bytes + p.entry.deletions.as_ref().map_or(0, |d| d.bytes))
        .sum();
    (parts.len() as u64, bytes)
}

/// Compacts the parts `choose` picks from the current snapshot. Returns what was done
/// (nothing when `choose` picks nothing). `stop` is asked between the phases: a
/// compaction that should stop leaves nothing behind. One compaction runs at a time.
pub(crate) fn compact(
    db: &Db,
    choose: impl Fn(&Snapshot, u64) -> Vec<usize>,
    stop: &dyn Fn() -> bool,
) -> Result<Compaction> {
    let _one_at_a_time = db.compaction_lock();
    let snap = db.snapshot();
    let (parts_before, bytes_before) = footprint(&snap);
    let nothing = Compaction {
        parts_before,
        parts_after: parts_before,
        bytes_before,
        bytes_after: bytes_before,
        generation: snap.generation(),
        ..Compaction::default()
    };
    let chosen = choose(&snap, full_part_events(db));
    if chosen.is_empty() {
        // Files an earlier clean-up left for snapshots that have gone since.
        drop(snap);
        let _ = db.write_locked(|state, _| match state.deferred.is_empty() {
            true => Ok(()),
            false => db.remove_files(state, Vec::new()),
        });
        return Ok(nothing);
    }
    let parts: Vec<&LivePart> = chosen
        .iter()
        .filter_map(|&pi| snap.parts().get(pi))
        .collect();
    // Ids for the new parts, reserved before anything is written. A group closes
    // before it would pass the part limit, so two groups in a row hold more than a
    // part's worth of events: this many ids are always enough.
    let budget = db.budget();
    let cap = budget.compaction_group_events.max(1);
    let events: u64 = parts.iter().map(|p| u64::from(p.entry.events)).sum();
    let reserved = 2 * (events / cap as u64) + 2;
    let first_id = db.reserve_file_ids(reserved)?;
    let names: Vec<String> = (first_id..first_id + reserved)
        .map(Plan::part_name)
        .flat_map(|n| [format!("{}{n}", fs::TMP_PREFIX), n])
        .collect();
    let _guard = db.in_flight(&names);
    let ids = AtomicU64::new(first_id);
    let builder = GroupBuilder {
        dir: db.dir(),
        snap: &snap,
        ids: &ids,
        id_limit: first_id + reserved,
        timeout_ms: snap.manifest().visit_timeout_ms,
        find_stored: false,
    };
    let built = commit::build_groups(&builder, budget.compaction_builders, |emit| {
        merge_parts(&snap, &parts, &Merge::default(), cap, emit).map(|_| ())
    })
    .and_then(|groups| {
        // Rows read back from a part truncated underneath its map must not be committed.
        snap.intact()?;
        Ok(groups)
    });
    let built: Vec<(Built, (String, String))> = match built {
        Ok(groups) if !stop() => groups.into_iter().flat_map(|g| g.built).collect(),
        Ok(_) => return Ok(remove(db, &names, nothing)),
        Err(e) => {
            let _ = remove(db, &names, nothing);
            return Err(e);
        }
    };
    let generation = match swap(db, &snap, &chosen, &built) {
        Ok(g) => g,
        Err(e) => {
            let _ = remove(db, &names, nothing);
            return Err(e);
        }
    };
    // The replaced files go once this compaction's own snapshot no longer holds them
    // (under the writer lock: a commit's files in the making are not orphans).
    let parts_merged = parts.len() as u64;
    let visitors_dropped = parts.iter().map(|p| p.deleted.len()).sum();
    drop(parts);
    drop(snap);
    let _ = db.write_locked(|state, current| db.remove_orphans(state, &[current.manifest()]));
    let (parts_after, bytes_after) = footprint(&db.snapshot());
    Ok(Compaction {
        parts_after,
        bytes_after,
        parts_merged,
        visitors_dropped,
        generation,
        ..nothing
    })
}

/// Merges the live visitors of `parts` by id (each part is sorted by visitor id, and a
/// live visitor is in one part only) and emits them, read back as input rows, in
/// groups of whole visitors: a group closes before a visitor would take it past `cap`
/// events (the part limit, [`commit::MAX_PART_EVENTS`]), so each group is one part, cut
/// where reading everything at once would have cut it. Memory holds one group, whatever
/// the size of the parts.
pub(crate) fn merge_parts(
    snap: &Snapshot,
    parts: &[&LivePart],
    merge: &Merge<'_>,
    cap: usize,
    emit: &mut dyn FnMut(Group) -> Result<()>,
) -> Result<Merged> {
    let mut merged = Merged::default();
    struct Source<'a> {
        part: &'a LivePart,
        cursor: PartCursor<'a>,
        ids: DictView<'a>,
        /// The next visitor ordinal to look at.
        next: u32,
        /// The part's custom dimensions in the group being gathered (by its number).
        dims: Option<(u64, Vec<u32>)>,
    }
    let mut sources = parts
        .iter()
        .map(|p| {
            Ok(Source {
                part: p,
                cursor: PartCursor::new(&p.reader)?,
                ids: p.reader.visitor_ids()?,
                next: 0,
                dims: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The next live visitor of source `k`, with its id, moving past deleted ones.
    let head = |src: &mut Source<'_>, k: usize| -> Option<Reverse<(Vec<u8>, usize, u32)>> {
        while src.next < src.part.entry.visitors {
            let v = src.next;
            src.next += 1;
            let dropped = merge.drop.get(k).is_some_and(|d| d.contains(v));
            if !src.part.deleted.contains(v) && !dropped {
                let id = src.ids.get_bytes(v as usize).unwrap_or_default().to_vec();
                return Some(Reverse((id, k, v)));
            }
        }
        None
    };
    let mut heads = BinaryHeap::new();
    for (k, src) in sources.iter_mut().enumerate() {
        heads.extend(head(src, k));
    }
    let schema = &snap.manifest().custom;
    let (mut seq, mut events) = (0u64, 0usize);
    let mut rows = Rows::with_schema(schema);
    while let Some(Reverse((id, k, v))) = heads.pop() {
        let mut from = vec![(k, v)];
        while let Some(Reverse((next, j, w))) = heads.peek()
            && *next == id
        {
            from.push((*j, *w));
            heads.pop();
        }
        let mut n = 0;
        for &(k, v) in &from {
            if let Some(src) = sources.get(k) {
                n += visitor_events(&src.part.reader, v)?;
            }
        }
        if events > 0 && events + n > cap {
            let full = std::mem::replace(&mut rows, Rows::with_schema(schema));
            emit(Group { seq, rows: full })?;
            (seq, events) = (seq + 1, 0);
        }
        for (k, v) in from {
            let Some(src) = sources.get_mut(k) else {
                continue;
            };
            let dims = match &src.dims {
                Some((s, d)) if *s == seq => d.clone(),
                _ => {
                    let d = readback::custom_dims(&src.cursor, &mut rows)?;
                    src.dims = Some((seq, d.clone()));
                    d
                }
            };
            let (kept, dropped) = readback::read_visitor_with(
                &src.cursor,
                v,
                &dims,
                &mut rows,
                merge.rewrite.map(|r| (r, src.part.entry.id)),
            )?;
            merged.visits_kept += kept;
            merged.visits_dropped += dropped;
            heads.extend(head(src, k));
        }
        events += n;
    }
    if !rows.rows.is_empty() {
        emit(Group { seq, rows })?;
    }
    Ok(merged)
}

/// What a merge leaves out or changes besides the deleted visitors: a privacy
/// rewrite's (`privacy::rewrite`). The default changes nothing.
#[derive(Default)]
pub(crate) struct Merge<'a> {
    /// Per part (in the order of the merged parts), visitor ordinals left out too.
    pub drop: Vec<RoaringBitmap>,
    /// Applied to every visit read back.
    pub rewrite: Option<&'a dyn readback::VisitRewrite>,
}

/// What a merge read back.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Merged {
    /// Visits read back.
    pub visits_kept: u64,
    /// Visits the rewrite dropped.
    pub visits_dropped: u64,
}

/// Events of visitor ordinal `v` of part `r`.
fn visitor_events(r: &PartReader, v: u32) -> Result<usize> {
    let visits = r.visits_of(v)?;
    if visits.is_empty() {
        return Ok(0);
    }
    let first = r.events_of(visits.start)?;
    let last = r.events_of(visits.end - 1)?;
    Ok(last.end.saturating_sub(first.start))
}

/// Removes what an abandoned compaction wrote; returns `nothing`.
fn remove(db: &Db, names: &[String], nothing: Compaction) -> Compaction {
    let dir = db.dir();
    if names.iter().try_for_each(|n| fs::remove(dir, n)).is_ok() {
        let _ = fs::sync_dir(dir);
    }
    nothing
}

/// The new parts of a compaction, in visitor order, each with its first and last visitor
/// id: written under temporary names, or in memory to go inline in the swap's manifest.
type NewParts = [(Built, (String, String))];

/// The swap, under the writer lock: the new part files renamed into place, and the
/// manifest without the merged parts (`chosen`, positions in `snap`) and with the new
/// ones — the commit point — holding the small new parts inline, and as deletion sets
/// the visitors moved out of the merged parts since `snap` was taken. Returns the new
/// generation.
fn swap(db: &Db, snap: &Snapshot, chosen: &[usize], new: &NewParts) -> Result<u64> {
    db.write_locked(|state, current| {
        let merged: HashSet<u64> = chosen
            .iter()
            .filter_map(|&pi| snap.parts().get(pi).map(|p| p.entry.id))
            .collect();
        // Visitors moved out of a merged part since `snap`: dead in the new parts too.
        let gone = moved_since(snap, current, chosen);
        let deleted = locate(db, &gone, new)?;
        let old = current.manifest();
        let generation = old.generation.max(state.next_generation) + 1;
        state.next_generation = generation;
        let created = [
            format!("{}{}", fs::TMP_PREFIX, Manifest::file_name(generation)),
            Manifest::file_name(generation),
        ];
        let m = Manifest {
            generation,
            visit_timeout_ms: old.visit_timeout_ms,
            next_file_id: old.next_file_id.max(state.next_file_id),
            parts: old
                .parts
                .iter()
                .filter(|p| !merged.contains(&p.id))
                .cloned()
                .collect(),
            rollback: None,
            custom: old.custom.clone(),
        };
        match publish_swap(db, m, new, &deleted) {
            Ok((snapshot, unused)) => {
                db.publish(snapshot);
                // Best effort, like a commit's clean-up: what stays is an orphan.
                let _ = unused.iter().try_for_each(|t| fs::remove(db.dir(), t));
                Ok(generation)
            }
            Err(e) => {
                // The new part files are removed by the caller; this removes the rest.
                let undone = created
                    .iter()
                    .try_for_each(|n| fs::remove(db.dir(), n))
                    .and_then(|()| fs::sync_dir(db.dir()));
                if let Err(e2) = undone {
                    state.poisoned = Some(format!(
                        "a failed compaction ({e}) could not be undone ({e2})"
                    ));
                }
                Err(e)
            }
        }
    })
}

/// Publishes the new part files and commits manifest `m` (holding the parts that stay;
/// the new ones are added here, with their `deleted` visitors). Returns the new
/// snapshot (not yet published) and the temporary files of new parts left out.
fn publish_swap(
    db: &Db,
    mut m: Manifest,
    new: &NewParts,
    deleted: &[RoaringBitmap],
) -> Result<(Snapshot, Vec<String>)> {
    let dir = db.dir();
    let mut blobs = Blobs::new(m.generation);
    let mut publish = Temps::new();
    let mut unused = Vec::new();
    for ((built, _), dead) in new.iter().zip(deleted) {
        let all_dead = dead.len() == u64::from(built.entry().visitors);
        let mut e = match built {
            Built::File(tmp, _) if all_dead => {
                unused.push(tmp.clone()); // every visitor moved on meanwhile
                continue;
            }
            Built::Inline(..) if all_dead => continue,
            Built::File(tmp, e) => {
                publish.push((tmp.clone(), e.file.clone()));
                e.clone()
            }
            Built::Inline(bytes, e) => blobs.hold(e.clone(), bytes),
        };
        if !dead.is_empty() {
            blobs.hold_deletions(&mut e, dead);
        }
        m.parts.push(e);
    }
    for (tmp, name) in &publish {
        fs::publish(dir, tmp, name)?;
    }
    if !publish.is_empty() {
        fs::sync_dir(dir)?;
    }
    let encoded = m.encode_with(blobs.bytes());
    let generation = m.generation;
    let snapshot = db.load_with(m, Some((blobs.manifest(), &encoded)))?;
    fs::write_durable(dir, &Manifest::file_name(generation), &encoded)?;
    Ok((snapshot, unused))
}

/// The visitor ids that were live in a merged part (`chosen`, positions in `snap`) and
/// no longer are in `current` (moved out by a commit since, or the part gone).
fn moved_since(snap: &Snapshot, current: &Snapshot, chosen: &[usize]) -> Vec<String> {
    let mut gone = Vec::new();
    for &pi in chosen {
        let Some(p) = snap.parts().get(pi) else {
            continue;
        };
        let now = current.parts().iter().find(|c| c.entry.id == p.entry.id);
        let dead: RoaringBitmap = match now {
            Some(c) => &*c.deleted - &*p.deleted,
            None => {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..p.entry.visitors);
                all - &*p.deleted
            }
        };
        let Ok(ids) = p.reader.visitor_ids() else {
            continue;
        };
        gone.extend(
            dead.iter()
                .filter_map(|v| ids.get(v as usize).map(str::to_string)),
        );
    }
    gone
}

/// For each new part, the ordinals of the visitors of `gone` it holds (found through
/// each part's first and last id, then its visitor dictionary).
fn locate(db: &Db, gone: &[String], new: &NewParts) -> Result<Vec<RoaringBitmap>> {
    let mut out = vec![RoaringBitmap::new(); new.len()];
    let mut opened: Vec<Option<PartReader>> = (0..new.len()).map(|_| None).collect();
    for id in gone {
        let Some(k) = new.iter().position(|(_, (first, last))| {
            first.as_str() <= id.as_str() && id.as_str() <= last.as_str()
        }) else {
            continue;
        };
        let (Some((built, _)), Some(slot), Some(bitmap)) =
            (new.get(k), opened.get_mut(k), out.get_mut(k))
        else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(match built {
                Built::File(tmp, e) => PartReader::open(db.dir(), tmp, e.bytes)?,
                Built::Inline(bytes, e) => {
                    PartReader::from_bytes(&fs::path_of(db.dir(), &e.file), bytes.clone())?
                }
            });
        }
        if let Some(reader) = slot
            && let Some(v) = reader.visitor_ids()?.find(id)
        {
            bitmap.insert(v as u32);
        }
    }
    Ok(out)
}
