//! Sorted runs: a write transaction's rows spilled to the database directory once they
//! outgrow their share of the memory budget, and read back visitor by visitor when the
//! commit merges them (`docs/ingest.md`, "Memory"; the encoding is in
//! `docs/file-format.md`, "Run files").
//!
//! A run is one file, `tmp-run-<n>`, written through the database directory's
//! [`VfsDir`] like every other file (so the simulated disk of the tests sees it), never
//! synced and never published: only the process that wrote it reads it, before its
//! commit returns, and the `tmp-` prefix makes it an orphan that the next writer's
//! clean-up deletes if the process dies first. Its rows are sorted by visitor id (as
//! text), then time, then the content order of `sessions::row_cmp`, and grouped into
//! *visitor records*, so that a merge of runs by visitor id yields each visitor's rows
//! whole. It carries its own strings (block by block: a string is written once per
//! block and referred to by number afterwards) and its custom dimensions by name, so it
//! depends on no interner. Every block has a CRC32C; any failed check is corruption
//! naming the file.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::rows::{CVal, Row, Rows, Sym, custom_of};
use super::sessions::sorted_range;
use crate::error::{Error, Result};
use crate::event::EventType;
use crate::schema::{CustomDim, CustomType};
use crate::storage::fs::{self, VfsDir, VfsFile};
use crate::storage::mmap::Backing;

/// Magic number at the start of a run file.
const MAGIC: &[u8; 8] = b"SLRUN\0\0\x01";
/// Version of the run encoding (runs never outlive the process that wrote them, so no
/// other version is ever read).
const VERSION: u32 = 1;
/// A block ends at the first visitor boundary past this many bytes.
const BLOCK_TARGET: usize = 256 << 10;
/// A reader maps its run again after reading this far, so that the pages it has read
/// leave the process's resident memory (a map keeps every page it touched).
const REMAP_BYTES: usize = 4 << 20;
/// Prefix of run files (a temporary file: the clean-up deletes it after a crash).
pub(crate) const RUN_PREFIX: &str = "tmp-run-";

// Which optional fields a row has: one bit each.
const F_VISIT_ID: u64 = 1;
const F_SITE: u64 = 1 << 1;
const F_EVENT_VALUE: u64 = 1 << 2;
const F_GOAL: u64 = 1 << 3;
const F_REVENUE: u64 = 1 << 4;
const F_CUSTOM: u64 = 1 << 5;
/// `ev[i]` is present: bit `F_EV + i`.
const F_EV: u64 = 6;
/// `vis[i]` is present: bit `F_VIS + i` (the flags are a 64-bit varint).
const F_VIS: u64 = 11;
const _: () = assert!(F_VIS as usize + crate::schema::NVIS <= 64);

/// One run file: its name and how many rows it holds.
#[derive(Debug)]
pub(crate) struct Run {
    pub name: String,
    pub rows: u64,
}

/// Where a batch spills: the directory and the counter that names run files.
#[derive(Clone)]
pub(crate) struct SpillTo {
    pub dir: Arc<dyn VfsDir>,
    /// The next run number (shared by every transaction of one database handle).
    pub next_run: Arc<AtomicU64>,
    /// Spill once the rows in memory hold this many bytes (their share of the budget).
    pub at_bytes: usize,
}

/// A write transaction's rows: those in memory and the runs spilled so far. Dropping it
/// deletes its runs (best effort: a run left behind is an orphan that the next writer's
/// clean-up deletes).
pub(crate) struct Batch {
    /// The rows in memory.
    pub rows: Rows,
    /// `None`: the batch never spills (its rows stay in memory).
    spill: Option<SpillTo>,
    runs: Vec<Run>,
    /// The call in progress that may be rolled back ([`begin`](Batch::begin)).
    mark: Option<Mark>,
}

/// Where a call that may fail began: the rows in memory then, and how many runs held
/// rows from before it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    rows: (usize, usize, usize),
    runs: usize,
}

impl Batch {
    /// A batch of `rows` spilling to `spill`.
    pub fn new(rows: Rows, spill: Option<SpillTo>) -> Batch {
        Batch {
            rows,
            spill,
            runs: Vec::new(),
            mark: None,
        }
    }

    /// Rows in the batch: in memory and in runs.
    pub fn len(&self) -> u64 {
        self.rows.rows.len() as u64 + self.runs.iter().map(|r| r.rows).sum::<u64>()
    }

    /// The size of the input chunks an import should hand over at a time: an eighth of
    /// the rows' share (rows join the batch, and may spill, a chunk at a time), so that
    /// a small budget spills in steps of its own size, not of the reader's.
    pub fn chunk_bytes(&self) -> usize {
        self.spill.as_ref().map_or(usize::MAX, |s| s.at_bytes / 8)
    }

    /// The runs spilled so far.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Starts a call whose rows [`rollback`](Batch::rollback) may take back (one file
    /// of an import).
    pub fn begin(&mut self) {
        self.mark = Some(Mark {
            rows: self.rows.checkpoint(),
            runs: self.runs.len(),
        });
    }

    /// The call begun last succeeded: its rows stay.
    pub fn end(&mut self) {
        self.mark = None;
    }

    /// Takes back every row added since [`begin`](Batch::begin): in memory, and the
    /// runs spilled since (deleted; best effort, like every run deletion).
    pub fn rollback(&mut self) {
        let Some(mark) = self.mark.take() else {
            return;
        };
        self.rows.rollback(mark.rows);
        if let Some(spill) = &self.spill {
            for run in self.runs.drain(mark.runs.min(self.runs.len())..) {
                let _ = fs::remove(&*spill.dir, &run.name);
            }
        }
    }

    /// Spills the rows in memory if they outgrew their share of the budget.
    pub fn maybe_spill(&mut self) -> Result<()> {
        match &self.spill {
            Some(s) if self.rows.heap_bytes() >= s.at_bytes && !self.rows.rows.is_empty() => {
                self.spill_now()
            }
            _ => Ok(()),
        }
    }

    /// Sorts the rows in memory and writes them as runs, leaving memory empty. Rows from
    /// before the call in progress go into a run of their own, so that a rollback of
    /// the call can delete the runs holding only its rows.
    pub fn spill_now(&mut self) -> Result<()> {
        let Some(spill) = self.spill.clone() else {
            return Ok(());
        };
        let (runs_before, mark_before) = (self.runs.len(), self.mark);
        let res = self.write_runs(&spill);
        if res.is_err() {
            // Nothing of this spill stays: its rows are all still in memory, and a
            // later spill (or the commit) writes them again.
            for run in self.runs.drain(runs_before.min(self.runs.len())..) {
                let _ = fs::remove(&*spill.dir, &run.name);
            }
            self.mark = mark_before;
        }
        res
    }

    /// [`spill_now`](Batch::spill_now)'s work: the runs written, memory emptied.
    fn write_runs(&mut self, spill: &SpillTo) -> Result<()> {
        let n = self.rows.rows.len();
        let before = self.mark.map_or(0, |m| m.rows.0.min(n));
        for range in [0..before, before..n] {
            if range.is_empty() {
                continue;
            }
            let id = spill.next_run.fetch_add(1, Ordering::Relaxed);
            let name = format!("{RUN_PREFIX}{id:08}");
            let rows = range.len() as u64;
            // Registered first: a failed write leaves a file the batch still deletes.
            self.runs.push(Run {
                name: name.clone(),
                rows,
            });
            write_run(&*spill.dir, &name, &self.rows, range.clone())?;
            if range.start == 0
                && before > 0
                && let Some(m) = &mut self.mark
            {
                // The rows from before the call now live in a run it must keep.
                m.runs = self.runs.len();
            }
        }
        self.rows.clear_rows();
        if let Some(m) = &mut self.mark {
            m.rows = (0, 0, m.rows.2);
        }
        Ok(())
    }

    /// Takes the batch apart: its rows in memory and its runs, which the caller now
    /// deletes (see [`RunSet`]).
    pub fn into_parts(mut self) -> (Rows, RunSet) {
        let rows = std::mem::take(&mut self.rows);
        let runs = std::mem::take(&mut self.runs);
        let dir = self.spill.as_ref().map(|s| s.dir.clone());
        (rows, RunSet { dir, runs })
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(spill) = &self.spill {
            for run in &self.runs {
                let _ = fs::remove(&*spill.dir, &run.name);
            }
        }
    }
}

/// Runs a commit reads: deleted when the set is dropped, whatever became of the commit.
pub(crate) struct RunSet {
    dir: Option<Arc<dyn VfsDir>>,
    runs: Vec<Run>,
}

impl RunSet {
    /// The runs.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Deletes the runs now; returns the names of those that could not be (for a later
    /// clean-up to retry).
    pub fn delete(mut self) -> Vec<String> {
        let runs = std::mem::take(&mut self.runs);
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        runs.into_iter()
            .filter(|r| fs::remove(&**dir, &r.name).is_err())
            .map(|r| r.name)
            .collect()
    }

    /// Opens every run for reading.
    pub fn readers(&self) -> Result<Vec<RunReader>> {
        let Some(dir) = &self.dir else {
            return Ok(Vec::new());
        };
        self.runs
            .iter()
            .map(|r| RunReader::open(dir.clone(), &r.name))
            .collect()
    }
}

impl Drop for RunSet {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            for run in &self.runs {
                let _ = fs::remove(&**dir, &run.name);
            }
        }
    }
}

/// The rows `range` of `rows` in run order: by visitor id (text), time, then content.
fn run_order(rows: &Rows, range: Range<usize>) -> Vec<u32> {
    sorted_range(rows, range).1
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes one block at a time: strings are written once per block, then referred to
/// by their number in the block.
struct Encoder<'r> {
    rows: &'r Rows,
    buf: Vec<u8>,
    /// Per symbol: (block it was last written in + 1, its number there).
    local: Vec<(u32, u32)>,
    block: u32,
    next_local: u32,
    block_rows: u32,
}

impl Encoder<'_> {
    /// A string: `2·(k + 1)` refers to the block's string `k`; `2·len + 1` is followed
    /// by the text (and makes it the block's next string).
    fn string(&mut self, sym: Sym) {
        let stamp = self.block + 1;
        if let Some(slot) = self.local.get_mut(sym as usize) {
            if slot.0 == stamp {
                put_varint(&mut self.buf, (u64::from(slot.1) + 1) << 1);
                return;
            }
            *slot = (stamp, self.next_local);
            self.next_local += 1;
        }
        let s = self.rows.strings.get(sym);
        put_varint(&mut self.buf, ((s.len() as u64) << 1) | 1);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// One visitor record: the visitor, its row count, its rows (in run order).
    fn visitor(&mut self, visitor: Sym, rows: &[&Row]) {
        self.string(visitor);
        put_varint(&mut self.buf, rows.len() as u64);
        let mut prev_ts = 0i64;
        for r in rows {
            self.row(r, prev_ts);
            prev_ts = r.ts;
        }
        self.block_rows += rows.len() as u32;
    }

    fn row(&mut self, r: &Row, prev_ts: i64) {
        let mut flags = 0u64;
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        flags |= bit(r.visit_id != 0, F_VISIT_ID);
        flags |= bit(r.site_id.is_some(), F_SITE);
        flags |= bit(r.event_value.is_some(), F_EVENT_VALUE);
        flags |= bit(r.goal_id.is_some(), F_GOAL);
        flags |= bit(r.revenue.is_some(), F_REVENUE);
        flags |= bit(r.custom_len > 0, F_CUSTOM);
        for (i, &s) in r.ev.iter().enumerate() {
            flags |= bit(s != 0, 1 << (F_EV + i as u64));
        }
        for (i, &s) in r.vis.iter().enumerate() {
            flags |= bit(s != 0, 1 << (F_VIS + i as u64));
        }
        put_varint(&mut self.buf, flags);
        self.buf.push(r.kind as u8);
        put_varint(&mut self.buf, zigzag(r.ts.wrapping_sub(prev_ts)));
        if r.visit_id != 0 {
            self.string(r.visit_id);
        }
        for &s in r.ev.iter().chain(&r.vis) {
            if s != 0 {
                self.string(s);
            }
        }
        if let Some(v) = r.site_id {
            put_varint(&mut self.buf, zigzag(v));
        }
        if let Some(v) = r.event_value {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = r.goal_id {
            put_varint(&mut self.buf, zigzag(v));
        }
        if let Some(v) = r.revenue {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        if r.custom_len > 0 {
            let values = custom_of(self.rows, r);
            put_varint(&mut self.buf, values.len() as u64);
            for &(d, v) in values {
                put_varint(&mut self.buf, u64::from(d));
                match v {
                    CVal::Str(s) => {
                        self.buf.push(0);
                        self.string(s);
                    }
                    CVal::Num(x) => {
                        self.buf.push(1);
                        self.buf.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }
    }

    /// Writes the block (if it holds anything) to `f` and starts the next.
    fn flush(&mut self, f: &mut dyn VfsFile, dir: &dyn VfsDir, name: &str) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut head = Vec::with_capacity(12);
        head.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        head.extend_from_slice(&self.block_rows.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&self.block_rows.to_le_bytes()), &self.buf);
        head.extend_from_slice(&crc.to_le_bytes());
        let write = |f: &mut dyn VfsFile, b: &[u8]| {
            f.write_all(b)
                .map_err(|e| Error::io("write", &fs::path_of(dir, name), e))
        };
        write(f, &head)?;
        write(f, &self.buf)?;
        self.buf.clear();
        self.block += 1;
        self.next_local = 0;
        self.block_rows = 0;
        Ok(())
    }
}

/// Writes the rows `range` of `rows`, sorted, as the run file `name`.
///
/// Layout: magic (8) | version u32 | header length u32 | header | CRC32C u32 of all
/// before it; then blocks, each: payload length u32 | rows u32 | CRC32C u32 (of the
/// rows field and the payload) | payload; then the end: 0u32 | 0u32 | CRC32C u32 of the
/// total | total rows u64. The header lists the custom dimensions (count, then type
/// byte and name each); a row's custom values refer to them by position.
fn write_run(dir: &dyn VfsDir, name: &str, rows: &Rows, range: Range<usize>) -> Result<()> {
    let path = fs::path_of(dir, name);
    let order = run_order(rows, range);
    let mut f = dir
        .create(name)
        .map_err(|e| Error::io("create", &path, e))?;
    let mut header = Vec::new();
    put_varint(&mut header, rows.custom_names.len() as u64);
    for d in &rows.custom_names {
        header.push(match d.ty {
            CustomType::String => 0,
            CustomType::Number => 1,
        });
        put_varint(&mut header, d.name.len() as u64);
        header.extend_from_slice(d.name.as_bytes());
    }
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&(header.len() as u32).to_le_bytes());
    head.extend_from_slice(&header);
    let crc = crc32c::crc32c(&head);
    head.extend_from_slice(&crc.to_le_bytes());
    f.write_all(&head)
        .map_err(|e| Error::io("write", &path, e))?;

    let mut enc = Encoder {
        rows,
        buf: Vec::with_capacity(BLOCK_TARGET + (64 << 10)),
        local: vec![(0, 0); rows.strings.len()],
        block: 0,
        next_local: 0,
        block_rows: 0,
    };
    let mut group: Vec<&Row> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let Some(first) = order.get(i).and_then(|&k| rows.rows.get(k as usize)) else {
            break;
        };
        group.clear();
        while let Some(r) = order.get(i).and_then(|&k| rows.rows.get(k as usize))
            && r.visitor == first.visitor
        {
            group.push(r);
            i += 1;
        }
        enc.visitor(first.visitor, &group);
        if enc.buf.len() >= BLOCK_TARGET {
            enc.flush(&mut *f, dir, name)?;
        }
    }
    enc.flush(&mut *f, dir, name)?;
    let total = order.len() as u64;
    let mut end = vec![0u8; 8];
    end.extend_from_slice(&crc32c::crc32c(&total.to_le_bytes()).to_le_bytes());
    end.extend_from_slice(&total.to_le_bytes());
    f.write_all(&end).map_err(|e| Error::io("write", &path, e))
}

/// A run read back, visitor record by visitor record.
pub(crate) struct RunReader {
    dir: Arc<dyn VfsDir>,
    name: String,
    path: PathBuf,
    map: Backing,
    /// Where the reader was when the run was last mapped.
    mapped_at: usize,
    /// The custom dimensions of the run's header.
    dims: Vec<CustomDim>,
    /// The current block's payload, as a range of the file.
    block: Range<usize>,
    /// The next byte to decode (in the current block).
    pos: usize,
    /// The current block's strings: (range in the file, batch they were last interned
    /// into, their symbol there).
    strings: Vec<(Range<usize>, u64, Sym)>,
    /// The current record's visitor (a string of the block) and row count.
    head: Option<(usize, u64)>,
    /// Rows decoded, and rows the blocks declared, so far.
    rows_read: u64,
    rows_declared: u64,
    /// Per batch (by its number): the positions of the run's dimensions in it.
    dim_map: (u64, Vec<u32>),
}

/// Little-endian u32 at `at` of `b`.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

impl RunReader {
    /// Opens run `name` of `dir` at its first visitor record, checking its header.
    pub fn open(dir: Arc<dyn VfsDir>, name: &str) -> Result<RunReader> {
        let path = fs::path_of(&*dir, name);
        let map = dir.map(name).map_err(|e| Error::io("map", &path, e))?;
        let mut r = RunReader {
            dir,
            name: name.to_string(),
            path,
            map,
            mapped_at: 0,
            dims: Vec::new(),
            block: 0..0,
            pos: 0,
            strings: Vec::new(),
            head: None,
            rows_read: 0,
            rows_declared: 0,
            dim_map: (u64::MAX, Vec::new()),
        };
        let header_end = r.header()?;
        r.block = header_end..header_end;
        r.pos = header_end;
        r.advance()?;
        Ok(r)
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::corrupt(&self.path, format!("run file: {what}"))
    }

    /// Checks the header and reads the custom dimensions; returns where blocks start.
    fn header(&mut self) -> Result<usize> {
        let b: &[u8] = &self.map;
        if b.get(..8) != Some(MAGIC.as_slice()) {
            return Err(self.corrupt("bad magic number"));
        }
        if u32_at(b, 8) != Some(VERSION) {
            return Err(self.corrupt("unknown version"));
        }
        let len = u32_at(b, 12).ok_or_else(|| self.corrupt("truncated header"))? as usize;
        let end = 16usize
            .checked_add(len)
            .filter(|&e| e + 4 <= b.len())
            .ok_or_else(|| self.corrupt("truncated header"))?;
        let crc = u32_at(b, end).ok_or_else(|| self.corrupt("truncated header"))?;
        if crc32c::crc32c(b.get(..end).unwrap_or_default()) != crc {
            return Err(self.corrupt("header checksum mismatch"));
        }
        let mut at = 16;
        let n = varint(b, &mut at, end).ok_or_else(|| self.corrupt("header"))?;
        let mut dims = Vec::new();
        for _ in 0..n {
            let ty = match b.get(at) {
                Some(0) => CustomType::String,
                Some(1) => CustomType::Number,
                _ => return Err(self.corrupt("custom dimension type")),
            };
            at += 1;
            let len = varint(b, &mut at, end).ok_or_else(|| self.corrupt("header"))? as usize;
            let name = at
                .checked_add(len)
                .filter(|&e| e <= end)
                .and_then(|e| b.get(at..e))
                .and_then(|s| std::str::from_utf8(s).ok())
                .ok_or_else(|| self.corrupt("custom dimension name"))?;
            at += len;
            dims.push(CustomDim {
                name: name.to_string(),
                ty,
            });
        }
        self.dims = dims;
        Ok(end + 4)
    }

    /// The visitor id of the next record, `None` at the end of the run.
    pub fn head(&self) -> Option<&[u8]> {
        let (k, _) = self.head?;
        let (range, _, _) = self.strings.get(k)?;
        self.map.get(range.clone())
    }

    /// The row count of the next record (0 at the end of the run).
    pub fn head_rows(&self) -> u64 {
        self.head.map_or(0, |(_, n)| n)
    }

    /// Moves to the next record (into the next block when this one is done), or to the
    /// end of the run, checking the end.
    fn advance(&mut self) -> Result<()> {
        self.head = None;
        if self.pos >= self.block.end {
            if self.pos != self.block.end {
                return Err(self.corrupt("a record runs past its block"));
            }
            if !self.next_block()? {
                return Ok(());
            }
        }
        let k = self.string()?;
        let mut at = self.pos;
        let n = varint(&self.map, &mut at, self.block.end).ok_or_else(|| self.corrupt("record"))?;
        self.pos = at;
        self.head = Some((k, n));
        Ok(())
    }

    /// Reads the next block's frame and checks it; false at the end of the run.
    fn next_block(&mut self) -> Result<bool> {
        if self.pos - self.mapped_at >= REMAP_BYTES {
            // Drops the pages read so far from the process's resident memory.
            self.map = self
                .dir
                .map(&self.name)
                .map_err(|e| Error::io("map", &self.path, e))?;
            self.mapped_at = self.pos;
        }
        let b: &[u8] = &self.map;
        let at = self.pos;
        let (Some(len), Some(rows), Some(crc)) =
            (u32_at(b, at), u32_at(b, at + 4), u32_at(b, at + 8))
        else {
            return Err(self.corrupt("truncated (no end)"));
        };
        if len == 0 && rows == 0 {
            let total = b
                .get(at + 12..at + 20)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| self.corrupt("truncated end"))?;
            if crc32c::crc32c(&total.to_le_bytes()) != crc
                || total != self.rows_declared
                || total != self.rows_read
                || at + 20 != b.len()
            {
                return Err(self.corrupt("the end does not match the blocks"));
            }
            self.pos = b.len();
            self.block = self.pos..self.pos;
            return Ok(false);
        }
        let start = at + 12;
        let end = start
            .checked_add(len as usize)
            .filter(|&e| e <= b.len())
            .ok_or_else(|| self.corrupt("truncated block"))?;
        let payload = b.get(start..end).unwrap_or_default();
        if crc32c::crc32c_append(crc32c::crc32c(&rows.to_le_bytes()), payload) != crc {
            return Err(self.corrupt(&format!("block at byte {at}: checksum mismatch")));
        }
        self.rows_declared += u64::from(rows);
        self.block = start..end;
        self.pos = start;
        self.strings.clear();
        Ok(true)
    }

    /// Reads a string reference of the current block; returns its number there.
    fn string(&mut self) -> Result<usize> {
        let mut at = self.pos;
        let code =
            varint(&self.map, &mut at, self.block.end).ok_or_else(|| self.corrupt("string"))?;
        self.pos = at;
        if code & 1 == 1 {
            let len = (code >> 1) as usize;
            let end = at
                .checked_add(len)
                .filter(|&e| e <= self.block.end)
                .ok_or_else(|| self.corrupt("string past its block"))?;
            self.strings.push((at..end, u64::MAX, 0));
            self.pos = end;
            Ok(self.strings.len() - 1)
        } else {
            let k = (code >> 1)
                .checked_sub(1)
                .map(|k| k as usize)
                .filter(|&k| k < self.strings.len())
                .ok_or_else(|| self.corrupt("string reference"))?;
            Ok(k)
        }
    }

    /// String `k` of the block as a symbol of `rows` (batch number `batch`), interned
    /// once per block and batch.
    fn sym(&mut self, k: usize, rows: &mut Rows, batch: u64) -> Result<Sym> {
        let Some((range, seen, sym)) = self.strings.get(k).cloned() else {
            return Err(self.corrupt("string reference"));
        };
        if seen == batch {
            return Ok(sym);
        }
        let text = self
            .map
            .get(range)
            .and_then(|s| std::str::from_utf8(s).ok())
            .ok_or_else(|| self.corrupt("string is not UTF-8"))?;
        let sym = rows.strings.intern(text);
        if let Some(slot) = self.strings.get_mut(k) {
            slot.1 = batch;
            slot.2 = sym;
        }
        Ok(sym)
    }

    fn read_varint(&mut self) -> Result<u64> {
        let mut at = self.pos;
        let v = varint(&self.map, &mut at, self.block.end).ok_or_else(|| self.corrupt("row"))?;
        self.pos = at;
        Ok(v)
    }

    fn read_f64(&mut self) -> Result<f64> {
        let at = self.pos;
        let v = self
            .map
            .get(at..at + 8)
            .filter(|_| at + 8 <= self.block.end)
            .and_then(|s| s.try_into().ok())
            .map(f64::from_le_bytes)
            .ok_or_else(|| self.corrupt("row"))?;
        self.pos = at + 8;
        Ok(v)
    }

    /// The positions of the run's custom dimensions in `rows` (batch `batch`).
    fn dims_in(&mut self, rows: &mut Rows, batch: u64) -> Result<()> {
        if self.dim_map.0 == batch {
            return Ok(());
        }
        let mut map = Vec::with_capacity(self.dims.len());
        for d in &self.dims {
            let i = rows
                .custom_dim(&d.name, d.ty)
                .map_err(|_| self.corrupt("custom dimension of another type"))?;
            map.push(i);
        }
        self.dim_map = (batch, map);
        Ok(())
    }

    /// Appends the rows of the current record to `rows` (batch number `batch`: a batch
    /// that is not the last one given gets its strings interned afresh) and moves to
    /// the next record. Returns how many rows were appended.
    pub fn take(&mut self, rows: &mut Rows, batch: u64) -> Result<u64> {
        let Some((k, n)) = self.head else {
            return Ok(0);
        };
        self.dims_in(rows, batch)?;
        let visitor = self.sym(k, rows, batch)?;
        let mut ts = 0i64;
        for _ in 0..n {
            let flags = self.read_varint()?;
            let kind = self
                .map
                .get(self.pos)
                .filter(|_| self.pos < self.block.end)
                .and_then(|&b| EventType::ALL.get(b as usize).copied())
                .ok_or_else(|| self.corrupt("event type"))?;
            self.pos += 1;
            ts = ts.wrapping_add(unzigzag(self.read_varint()?));
            let mut row = Row::new(ts, visitor);
            row.kind = kind;
            if flags & F_VISIT_ID != 0 {
                let s = self.string()?;
                row.visit_id = self.sym(s, rows, batch)?;
            }
            for i in 0..row.ev.len() {
                if flags & (1 << (F_EV + i as u64)) != 0 {
                    let s = self.string()?;
                    row.ev[i] = self.sym(s, rows, batch)?;
                }
            }
            for i in 0..row.vis.len() {
                if flags & (1 << (F_VIS + i as u64)) != 0 {
                    let s = self.string()?;
                    row.vis[i] = self.sym(s, rows, batch)?;
                }
            }
            if flags & F_SITE != 0 {
                row.site_id = Some(unzigzag(self.read_varint()?));
            }
            if flags & F_EVENT_VALUE != 0 {
                row.event_value = Some(self.read_f64()?);
            }
            if flags & F_GOAL != 0 {
                row.goal_id = Some(unzigzag(self.read_varint()?));
            }
            if flags & F_REVENUE != 0 {
                row.revenue = Some(self.read_f64()?);
            }
            let start = rows.custom.len();
            if flags & F_CUSTOM != 0 {
                let count = self.read_varint()?;
                for _ in 0..count {
                    let d = self.read_varint()? as usize;
                    let dim = *self
                        .dim_map
                        .1
                        .get(d)
                        .ok_or_else(|| self.corrupt("custom dimension"))?;
                    let tag = self
                        .map
                        .get(self.pos)
                        .copied()
                        .filter(|_| self.pos < self.block.end)
                        .ok_or_else(|| self.corrupt("custom value"))?;
                    self.pos += 1;
                    let v = match tag {
                        0 => {
                            let s = self.string()?;
                            CVal::Str(self.sym(s, rows, batch)?)
                        }
                        1 => CVal::Num(self.read_f64()?),
                        _ => return Err(self.corrupt("custom value")),
                    };
                    rows.custom.push((dim, v));
                }
            }
            row.custom_start = start as u32;
            row.custom_len = (rows.custom.len() - start) as u32;
            rows.rows.push(row);
        }
        self.rows_read += n;
        self.advance()?;
        Ok(n)
    }
}

/// LEB128 at `*at` of `b`, before `end`; moves `*at` past it.
fn varint(b: &[u8], at: &mut usize, end: usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        if *at >= end {
            return None;
        }
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::{self, Mode};
    use crate::storage::sim::SimFs;

    fn spill_to(fs: &SimFs, at_bytes: usize) -> SpillTo {
        let vfs = fs.vfs();
        vfs.create_dir(std::path::Path::new("/db")).expect("mkdir");
        SpillTo {
            dir: vfs.open_dir(std::path::Path::new("/db")).expect("open"),
            next_run: Arc::new(AtomicU64::new(1)),
            at_bytes,
        }
    }

    fn push(rows: &mut Rows, json: &str) {
        let mut raw = Vec::new();
        parse::parse_json(json.as_bytes(), &mut raw).expect("json");
        parse::push_raw(&raw, Mode::Json, &Default::default(), rows, true).expect("row");
    }

    /// Every field survives a run, rows come back by visitor id, time and content, and
    /// a visitor's rows come back whole.
    #[test]
    fn rows_round_trip_through_a_run_in_run_order() {
        let fs = SimFs::new();
        let mut batch = Batch::new(Rows::default(), Some(spill_to(&fs, usize::MAX)));
        let lines = [
            r#"{"ts":5,"visitorId":"b","pageUrl":"/x","countryCode":"fr","siteId":-3}"#,
            r#"{"ts":1,"visitorId":"a","type":"goal","goalId":-7,"revenue":1.5,"k":"v","n":2.25}"#,
            r#"{"ts":5,"visitorId":"b","pageUrl":"/a","visitId":"q","eventValue":-0.5}"#,
            r#"{"ts":-9,"visitorId":"b","type":"event","eventCategory":"c","eventAction":"","city":"Zürich"}"#,
        ];
        for l in lines {
            push(&mut batch.rows, l);
        }
        batch.spill_now().expect("spill");
        assert_eq!(batch.rows.rows.len(), 0);
        assert_eq!(batch.runs().len(), 1);
        let (_, set) = batch.into_parts();
        let mut r = set.readers().expect("open").remove(0);
        let mut out = Rows::default();
        assert_eq!(r.head(), Some(b"a".as_slice()));
        assert_eq!(r.take(&mut out, 1).expect("a"), 1);
        assert_eq!(r.head(), Some(b"b".as_slice()));
        assert_eq!(r.take(&mut out, 1).expect("b"), 3);
        assert_eq!(r.head(), None);
        let s = |x: Sym| out.strings.get(x).to_string();
        let ts: Vec<i64> = out.rows.iter().map(|r| r.ts).collect();
        assert_eq!(ts, [1, -9, 5, 5]);
        let a = &out.rows[0];
        assert_eq!(
            (a.kind, a.goal_id, a.revenue),
            (EventType::Goal, Some(-7), Some(1.5))
        );
        let custom: Vec<(String, CVal)> = custom_of(&out, a)
            .iter()
            .map(|&(d, v)| (out.custom_names[d as usize].name.clone(), v))
            .collect();
        assert_eq!(custom.len(), 2);
        assert!(custom.contains(&("n".into(), CVal::Num(2.25))));
        assert!(
            matches!(custom.iter().find(|c| c.0 == "k"), Some((_, CVal::Str(v))) if s(*v) == "v")
        );
        let ev = &out.rows[1];
        assert_eq!(
            (s(ev.ev[2]), s(ev.ev[3]), s(ev.vis[2])),
            ("c".into(), "".into(), "Zürich".into())
        );
        // Ties at ts 5 in content order: "/a" before "/x".
        assert_eq!(
            (s(out.rows[2].ev[0]), s(out.rows[3].ev[0])),
            ("/a".into(), "/x".into())
        );
        assert_eq!(
            (s(out.rows[2].visit_id), out.rows[2].event_value),
            ("q".into(), Some(-0.5))
        );
        assert_eq!(
            (s(out.rows[3].vis[0]), out.rows[3].site_id),
            ("fr".into(), Some(-3))
        );
        drop(r);
        drop(set);
        assert!(fs.files().is_empty(), "the run set deletes its runs");
    }

    /// A flipped byte anywhere in a run, or a cut, is corruption naming the run.
    #[test]
    fn every_damaged_byte_of_a_run_is_corruption() {
        let fs = SimFs::new();
        let spill = spill_to(&fs, usize::MAX);
        let mut rows = Rows::default();
        for v in 0..20 {
            push(
                &mut rows,
                &format!(r#"{{"ts":{v},"visitorId":"v{}","pageUrl":"/p{v}"}}"#, v % 7),
            );
        }
        write_run(&*spill.dir, "tmp-run-1", &rows, 0..rows.rows.len()).expect("write");
        let good = spill.dir.read("tmp-run-1").expect("read");
        let read_all = |bytes: Vec<u8>| -> Result<u64> {
            let mut f = spill.dir.create("tmp-run-2").expect("create");
            f.write_all(&bytes).expect("write");
            let mut r = RunReader::open(spill.dir.clone(), "tmp-run-2")?;
            let mut out = Rows::default();
            let mut n = 0;
            while r.head().is_some() {
                n += r.take(&mut out, 1)?;
            }
            Ok(n)
        };
        assert_eq!(read_all(good.clone()).expect("intact"), 20);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            let e = read_all(bad).expect_err("flip detected");
            assert!(e.to_string().contains("tmp-run-2"), "{e}");
            assert_eq!(e.kind(), crate::ErrorKind::Corruption);
        }
        for cut in 0..good.len() {
            let e = read_all(good[..cut].to_vec()).expect_err("cut detected");
            assert_eq!(e.kind(), crate::ErrorKind::Corruption, "cut at {cut}: {e}");
        }
    }

    /// Rows from before the failed call stay (in a run of their own); the call's runs
    /// are deleted.
    #[test]
    fn rollback_deletes_only_the_calls_runs() {
        let fs = SimFs::new();
        let mut batch = Batch::new(Rows::default(), Some(spill_to(&fs, 1)));
        push(&mut batch.rows, r#"{"ts":1,"visitorId":"kept"}"#);
        batch.begin();
        push(&mut batch.rows, r#"{"ts":2,"visitorId":"gone"}"#);
        batch.maybe_spill().expect("spill");
        push(&mut batch.rows, r#"{"ts":3,"visitorId":"gone"}"#);
        batch.maybe_spill().expect("spill");
        push(&mut batch.rows, r#"{"ts":4,"visitorId":"gone"}"#);
        assert_eq!(batch.runs().len(), 3);
        batch.rollback();
        assert_eq!(
            (batch.len(), batch.runs().len(), fs.files().len()),
            (1, 1, 1)
        );
        drop(batch);
        assert!(fs.files().is_empty());
    }

    /// A spill that fails (disk full at any of its writes) leaves no run and every row
    /// in memory; the next spill writes them all.
    #[test]
    fn a_failed_spill_leaves_the_rows_in_memory_and_no_run() {
        use crate::storage::sim::{Fault, FaultError, FaultMode};
        for i in 0..8 {
            let fs = SimFs::new();
            let mut batch = Batch::new(Rows::default(), Some(spill_to(&fs, usize::MAX)));
            push(&mut batch.rows, r#"{"ts":1,"visitorId":"kept"}"#);
            batch.begin();
            for t in 0..50 {
                push(
                    &mut batch.rows,
                    &format!(r#"{{"ts":{t},"visitorId":"v{}"}}"#, t % 3),
                );
            }
            fs.inject(Fault {
                at: fs.ops() + i,
                error: FaultError::NoSpace,
                mode: FaultMode::Once,
            });
            if batch.spill_now().is_ok() {
                continue; // the fault fell past this spill's operations
            }
            assert_eq!(batch.rows.rows.len(), 51, "fault at {i}");
            assert!(batch.runs().is_empty(), "fault at {i}");
            assert!(
                fs.files().is_empty(),
                "fault at {i}: {:?}",
                fs.files().keys()
            );
            batch.spill_now().expect("the second spill");
            assert_eq!((batch.len(), batch.rows.rows.len()), (51, 0));
            batch.rollback();
            assert_eq!(
                batch.len(),
                1,
                "fault at {i}: the rows before the call stay"
            );
        }
    }

    #[test]
    fn event_types_are_their_own_positions() {
        for (i, t) in EventType::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }
}
