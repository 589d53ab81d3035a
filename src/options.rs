//! Options of a database and the library's defaults.

/// Default visit timeout: 30 minutes.
pub const DEFAULT_VISIT_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Options fixed when a database is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    /// Inactivity after which a visitor's next event starts a new visit, in ms.
    pub visit_timeout_ms: i64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            visit_timeout_ms: DEFAULT_VISIT_TIMEOUT_MS,
        }
    }
}

/// Default memory budget of an import or a compaction: 1 GiB.
///
/// The budget bounds what grows with the data: a write transaction's rows in memory
/// (beyond their share they are sorted and spilled to the database directory as
/// *runs*, merged back at commit), and the parts a commit or a compaction builds at
/// once (whole visitors, up to about a million events per part; fewer, and built one at
/// a time, under a small budget). Fixed costs are not counted: the reading buffers of
/// an import (a few MiB per core), the memory maps the merge reads runs and parts
/// through (at most a few MiB per run), and one visitor's whole history, which is
/// always held at once. See `docs/ingest.md`, "Memory".
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// The smallest memory budget accepted: 64 KiB. Budgets this small make many small
/// runs and parts (useful to test spilling on little data, not to import much).
pub const MIN_MEMORY_LIMIT: usize = 64 << 10;

/// Bytes one event takes while its part is built, about: its row and strings, its place
/// in the sessionised order, its share of the visits, the columns being encoded and
/// the encoded part. Measured on `sightline gen` data: a merge building groups of a
/// million events one at a time peaks at about 400 MB (`docs/BENCHMARKS.md`).
const BUILD_BYTES_PER_EVENT: usize = 400;

/// Bytes one event takes in a group being gathered (its row and strings), about.
const GATHER_BYTES_PER_EVENT: usize = 200;

/// Groups of fewer events than this are not worth a part of their own, whatever the
/// budget.
const MIN_GROUP_EVENTS: usize = 256;

/// A memory budget split into the shares of an import's phases (`docs/ingest.md`,
/// "Memory").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// A transaction spills its rows once they hold this many bytes: five eighths of
    /// the budget (the rest is for the reading buffers and the sort of a spill).
    pub spill_bytes: usize,
    /// A commit's merge cuts the visitors into groups of about this many new events,
    /// one part each (more when stored visitors are rewritten with them).
    pub group_events: usize,
    /// Groups built at once while the next one is gathered (0: the merge builds each
    /// group itself before gathering the next).
    pub builders: usize,
    /// The same for a compaction.
    pub compaction_builders: usize,
    /// A compaction's groups: whole visitors up to this many events, one part each
    /// (the part limit, but under a small budget; its parts are then full at half that,
    /// like an import's).
    pub compaction_group_events: usize,
}

impl Budget {
    /// The shares of `limit` bytes, with `threads` cores to build parts on.
    ///
    /// Parts are built full (about a million events) whenever one fits in the merge's
    /// share, three quarters of the budget, beside the group being gathered; then as
    /// many groups are built at once as fit (and as there are cores besides the
    /// merge's). Under a smaller budget, the merge builds smaller groups itself.
    pub fn new(limit: usize, threads: usize) -> Budget {
        let limit = limit.max(MIN_MEMORY_LIMIT);
        let building = limit / 4 * 3;
        let full = crate::commit::MAX_PART_EVENTS;
        let fit =
            building.saturating_sub(full * GATHER_BYTES_PER_EVENT) / (full * BUILD_BYTES_PER_EVENT);
        let (group_events, builders) = if fit >= 1 {
            (full, fit.min(threads.saturating_sub(1).max(1)))
        } else {
            let events = building / BUILD_BYTES_PER_EVENT;
            (events.clamp(MIN_GROUP_EVENTS, full), 0)
        };
        Budget {
            spill_bytes: limit / 8 * 5,
            group_events,
            builders,
            compaction_builders: builders,
            compaction_group_events: group_events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_builds_full_parts_while_merging() {
        let b = Budget::new(DEFAULT_MEMORY_LIMIT, 2);
        assert_eq!(b.group_events, crate::commit::MAX_PART_EVENTS);
        assert_eq!(b.builders, 1);
        assert_eq!(b.spill_bytes, 640 << 20);
    }

    #[test]
    fn small_budgets_build_smaller_parts_one_at_a_time() {
        let b = Budget::new(256 << 20, 8);
        assert_eq!(b.builders, 0);
        assert!(b.group_events < crate::commit::MAX_PART_EVENTS);
        let two = Budget::new(4 << 30, 8);
        assert_eq!(
            (two.group_events, two.builders),
            (crate::commit::MAX_PART_EVENTS, 7)
        );
        let tiny = Budget::new(1, 2);
        assert_eq!(tiny, Budget::new(MIN_MEMORY_LIMIT, 2));
        assert_eq!(tiny.group_events, MIN_GROUP_EVENTS);
    }
}
