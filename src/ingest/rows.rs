//! The in-memory batch: rows with interned strings.
//!
//! Parsing produces [`Rows`]; sessionisation and the part writer consume them. Strings are
//! interned once per batch ([`Sym`], 0 = no value), so rows are small and copyable and a
//! dictionary is built per part from the symbols it uses.

use std::collections::HashMap;

use crate::error::RowError;
use crate::event::{Event, EventType, Value};
use crate::privacy::WriteRules;
use crate::schema::{self, CustomDim, CustomType, NVIS};

/// An interned string; 0 means "no value".
pub type Sym = u32;

/// String interner (one per batch).
///
/// Every string's text is kept once, in one buffer; the hash table holds only each
/// symbol and its hash. (A map from boxed strings held each text twice, in two
/// allocations of its own: most of a batch's string memory, and a cost per string.)
pub struct Interner {
    /// The symbols, by the hash of their text.
    table: hashbrown::HashTable<(u64, Sym)>,
    hasher: ahash::RandomState,
    /// Every symbol's text, one after the other.
    text: String,
    /// Where each symbol's text ends in `text`; symbol 0 (no value) is the empty text.
    ends: Vec<usize>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            table: hashbrown::HashTable::new(),
            hasher: ahash::RandomState::new(),
            text: String::new(),
            ends: vec![0],
        }
    }
}

impl Interner {
    /// Interns `s` and returns its symbol (never 0).
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = self.hasher.hash_one(s);
        let (text, ends) = (&self.text, &self.ends);
        let found = self
            .table
            .find(hash, |&(h, id)| h == hash && text_of(text, ends, id) == s);
        if let Some(&(_, id)) = found {
            return id;
        }
        self.text.push_str(s);
        self.ends.push(self.text.len());
        let id = (self.ends.len() - 1) as Sym;
        self.table.insert_unique(hash, (hash, id), |&(h, _)| h);
        id
    }

    /// The text of `sym` ("" for 0).
    pub fn get(&self, sym: Sym) -> &str {
        text_of(&self.text, &self.ends, sym)
    }

    /// Number of symbols, including the reserved 0.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Forgets every symbol, keeping the allocations (refilled next without fresh
    /// pages to fault in).
    pub fn clear(&mut self) {
        self.table.clear();
        self.text.clear();
        self.ends.truncate(1);
    }

    /// Heap bytes the interner holds, about.
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
            + self.ends.len() * std::mem::size_of::<usize>()
            + self.table.len() * (std::mem::size_of::<(u64, Sym)>() + 4)
    }

    /// Symbols of `other` mapped into `self` (index = other's symbol).
    pub fn absorb(&mut self, other: &Interner) -> Vec<Sym> {
        let mut map = Vec::with_capacity(other.len());
        map.push(0);
        for sym in 1..other.len() as Sym {
            map.push(self.intern(other.get(sym)));
        }
        map
    }
}

/// The text of symbol `sym` of an interner's `text` and `ends`.
fn text_of<'t>(text: &'t str, ends: &[usize], sym: Sym) -> &'t str {
    let sym = sym as usize;
    match (sym.checked_sub(1).and_then(|p| ends.get(p)), ends.get(sym)) {
        (Some(&start), Some(&end)) => text.get(start..end).unwrap_or(""),
        _ => "",
    }
}

/// A custom dimension value in a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CVal {
    /// Interned string.
    Str(Sym),
    /// Number.
    Num(f64),
}

/// One event, with strings interned.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Timestamp, Unix ms.
    pub ts: i64,
    /// Visitor id.
    pub visitor: Sym,
    /// Explicit visit id (0: none).
    pub visit_id: Sym,
    /// Row type.
    pub kind: EventType,
    /// Site id, if the row has one.
    pub site_id: Option<i64>,
    /// Event-level strings, in `EVENT_STRINGS` order.
    pub ev: [Sym; 5],
    /// Visit-level strings, in `VISIT_STRINGS` order.
    pub vis: [Sym; NVIS],
    /// Event value.
    pub event_value: Option<f64>,
    /// Goal id.
    pub goal_id: Option<i64>,
    /// Revenue.
    pub revenue: Option<f64>,
    /// Range into [`Rows::custom`].
    pub custom_start: u32,
    /// Number of custom values.
    pub custom_len: u32,
}

impl Row {
    /// A row with only a timestamp and a visitor.
    pub fn new(ts: i64, visitor: Sym) -> Row {
        Row {
            ts,
            visitor,
            visit_id: 0,
            kind: EventType::Pageview,
            site_id: None,
            ev: [0; 5],
            vis: [0; NVIS],
            event_value: None,
            goal_id: None,
            revenue: None,
            custom_start: 0,
            custom_len: 0,
        }
    }
}

/// A batch of rows and what they reference.
#[derive(Default)]
pub struct Rows {
    /// Interned strings of all rows.
    pub strings: Interner,
    /// The rows.
    pub rows: Vec<Row>,
    /// Custom values: (index into `custom_names`, value).
    pub custom: Vec<(u32, CVal)>,
    /// Custom dimension names of this batch (for a parser) or of the database (after merge).
    pub custom_names: Vec<CustomDim>,
    custom_index: HashMap<String, u32, ahash::RandomState>,
    /// Visits of a visitor that a retention purge removed, as far as the derived values
    /// of its remaining visits depend on them (read back from a part with the visitor).
    pub priors: HashMap<Sym, Prior, ahash::RandomState>,
    /// What enrichment derived from each distinct input of the batch.
    pub(crate) enrich: super::enrich::EnrichCache,
}

/// What a visitor's purged visits leave behind: enough for its remaining and later
/// visits to keep counting them (`visitCount`, `visitorType`, `daysSinceFirstVisit`,
/// `daysSinceLastVisit`), and nothing else of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prior {
    /// Visits removed.
    pub visits: u32,
    /// Start of the first of them, Unix ms.
    pub first_start: i64,
    /// Start of the last of them, Unix ms.
    pub last_start: i64,
    /// One of them had an order.
    pub any_order: bool,
}

impl Prior {
    /// `self` followed by a removed visit starting at `start` (with an order or not).
    pub fn then(self, start: i64, order: bool) -> Prior {
        Prior {
            visits: self.visits + 1,
            first_start: if self.visits == 0 {
                start
            } else {
                self.first_start.min(start)
            },
            last_start: if self.visits == 0 {
                start
            } else {
                self.last_start.max(start)
            },
            any_order: self.any_order || order,
        }
    }
}

/// Most custom dimensions a database may have. Custom dimensions are for named
/// properties; a key per id or per value (which is what a dimension count beyond this
/// means) would make every part's directory and every query's catalog huge.
pub const MAX_CUSTOM_DIMENSIONS: usize = 1000;

/// Why a custom value cannot be stored under its dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimError {
    /// The dimension exists with another type.
    Type {
        /// Its type.
        known: CustomType,
        /// The value's type.
        found: CustomType,
    },
    /// A new dimension would exceed [`MAX_CUSTOM_DIMENSIONS`].
    TooMany,
}

impl DimError {
    /// The row error's reason.
    pub fn reason(self) -> String {
        match self {
            DimError::Type { known, found } => format!(
                "expected a {} (the dimension's type), found a {}",
                known.name(),
                found.name()
            ),
            DimError::TooMany => format!(
                "a new custom dimension, but the database already has \
                 {MAX_CUSTOM_DIMENSIONS}, the most it may have (custom dimensions are \
                 for named properties; put ids and values in values, not in keys)"
            ),
        }
    }
}

/// The range of a row's custom values.
pub fn custom_of<'a>(rows: &'a Rows, r: &Row) -> &'a [(u32, CVal)] {
    let s = r.custom_start as usize;
    rows.custom.get(s..s + r.custom_len as usize).unwrap_or(&[])
}

impl Rows {
    /// A batch whose custom schema starts as `dims` (the database's).
    pub fn with_schema(dims: &[CustomDim]) -> Rows {
        let mut rows = Rows::default();
        for d in dims {
            rows.custom_index
                .insert(d.name.clone(), rows.custom_names.len() as u32);
            rows.custom_names.push(d.clone());
        }
        rows
    }

    /// Index of custom dimension `name`, registering it with type `ty` if new. Fails when
    /// the dimension exists with another type, or when a new one would exceed
    /// [`MAX_CUSTOM_DIMENSIONS`].
    pub fn custom_dim(&mut self, name: &str, ty: CustomType) -> Result<u32, DimError> {
        if let Some(&i) = self.custom_index.get(name) {
            let known = self.custom_names[i as usize].ty;
            return if known == ty {
                Ok(i)
            } else {
                Err(DimError::Type { known, found: ty })
            };
        }
        if self.custom_names.len() >= MAX_CUSTOM_DIMENSIONS {
            return Err(DimError::TooMany);
        }
        let i = self.custom_names.len() as u32;
        self.custom_names.push(CustomDim {
            name: name.to_string(),
            ty,
        });
        self.custom_index.insert(name.to_string(), i);
        Ok(i)
    }

    /// The type of custom dimension `name` in a batch whose types are settled (names
    /// are the keys of `custom_index`; not for a parser's batch).
    pub fn custom_type(&self, name: &str) -> Option<CustomType> {
        let i = *self.custom_index.get(name)?;
        self.custom_names.get(i as usize).map(|d| d.ty)
    }

    /// Index of custom dimension `name` with type `ty` in a parser's batch, where the same
    /// name may appear with both types (the database-wide rule is applied at merge).
    pub fn parser_dim(&mut self, name: &str, ty: CustomType) -> u32 {
        let key = match ty {
            CustomType::String => format!("s\0{name}"),
            CustomType::Number => format!("n\0{name}"),
        };
        if let Some(&i) = self.custom_index.get(&key) {
            return i;
        }
        let i = self.custom_names.len() as u32;
        self.custom_names.push(CustomDim {
            name: name.to_string(),
            ty,
        });
        self.custom_index.insert(key, i);
        i
    }

    /// Forgets the custom dimensions registered after the first `n` (those a rejected
    /// row introduced: a row that is not stored must not fix a dimension's type).
    pub fn forget_dims_since(&mut self, n: usize) {
        for d in self.custom_names.drain(n.min(self.custom_names.len())..) {
            self.custom_index.remove(&d.name);
        }
    }

    /// Heap bytes of the batch, about: what the memory budget counts of it. Rows are
    /// counted as filled, not as allocated: the allocation a spill leaves for the next
    /// rows would otherwise count as full at once (and a vector that doubles past the
    /// share grows by remapping, touching no more pages than it fills).
    pub fn heap_bytes(&self) -> usize {
        self.rows.len() * std::mem::size_of::<Row>()
            + self.custom.len() * std::mem::size_of::<(u32, CVal)>()
            + self.strings.heap_bytes()
            + self.enrich.heap_bytes()
    }

    /// Forgets every row and string, keeping the custom dimensions (their types are
    /// settled for the batch) and the rows' allocation (refilled next, without fresh
    /// pages to fault in). What is left after the rows were spilled.
    pub fn clear_rows(&mut self) {
        self.enrich.clear();
        self.priors.clear();
        self.rows.clear();
        self.custom.clear();
        self.strings.clear();
    }

    /// Like [`clear_rows`](Rows::clear_rows), and gives the rows' allocation back too:
    /// for a batch that takes no more rows.
    pub fn release_rows(&mut self) {
        self.enrich = Default::default();
        self.priors = HashMap::default();
        self.rows = Vec::new();
        self.custom = Vec::new();
        self.strings = Interner::default();
    }

    /// A batch with the custom dimensions of `self` and no rows.
    pub fn empty_like(&self) -> Rows {
        Rows::with_schema(&self.custom_names)
    }

    /// A point to [`rollback`](Rows::rollback) to.
    pub fn checkpoint(&self) -> (usize, usize, usize) {
        (self.rows.len(), self.custom.len(), self.custom_names.len())
    }

    /// Forgets rows and custom dimensions added since `cp` (interned strings stay). For
    /// a batch whose types are settled (not a parser's batch).
    pub fn rollback(&mut self, cp: (usize, usize, usize)) {
        self.rows.truncate(cp.0);
        self.custom.truncate(cp.1);
        self.forget_dims_since(cp.2);
    }

    /// Appends a typed event (API path), checking it like an input row and storing its
    /// values as `rules` say (an `ip` masked, for one).
    pub fn push_event(
        &mut self,
        e: &Event,
        rules: &WriteRules,
        file: &str,
        line: u64,
    ) -> Result<(), RowError> {
        let err = |field: &str, reason: String| RowError {
            file: file.into(),
            line,
            field: field.into(),
            reason,
        };
        if e.visitor_id.is_empty() {
            return Err(err("visitorId", "must not be empty".into()));
        }
        crate::event::check_ts(e.ts).map_err(|r| err("ts", r))?;
        if let Some(v) = &e.visit_id
            && v.is_empty()
        {
            return Err(err("visitId", "must not be empty".into()));
        }
        if e.event_value.is_some_and(|x| !x.is_finite()) {
            return Err(err("eventValue", "must be a finite number".into()));
        }
        if let Some(r) = e.revenue {
            crate::event::check_revenue(r).map_err(|why| err("revenue", why))?;
        }
        let mut row = Row::new(e.ts, self.strings.intern(&e.visitor_id));
        row.visit_id = e.visit_id.as_deref().map_or(0, |s| self.strings.intern(s));
        row.kind = e.kind;
        row.site_id = e.site_id;
        for (slot, v) in row.ev.iter_mut().zip(e.event_strings()) {
            *slot = v.map_or(0, |s| self.strings.intern(s));
        }
        for (i, (slot, v)) in row.vis.iter_mut().zip(e.visit_strings()).enumerate() {
            *slot = match v {
                None => 0,
                Some(s) => {
                    let field = crate::schema::VISIT_STRINGS[i];
                    let s =
                        crate::schema::stored_visit_string(i, s).map_err(|why| err(field, why))?;
                    self.strings.intern(
                        &rules
                            .stored_visit_string(i, s)
                            .map_err(|why| err(field, why))?,
                    )
                }
            };
        }
        for (i, x, field) in [
            (schema::LATITUDE, e.latitude, "latitude"),
            (schema::LONGITUDE, e.longitude, "longitude"),
        ] {
            if let Some(x) = x {
                let text = schema::coordinate(i, x).map_err(|why| err(field, why))?;
                row.vis[i] = self.strings.intern(&text);
            }
        }
        row.event_value = e.event_value;
        row.goal_id = e.goal_id;
        row.revenue = e.revenue;
        let (start, names_before) = (self.custom.len(), self.custom_names.len());
        let customs = (|| {
            for (name, v) in &e.custom {
                if crate::event::Field::lookup(name).is_some() {
                    return Err(err(
                        name,
                        "is a built-in field, not a custom dimension".into(),
                    ));
                }
                let (ty, val) = match v {
                    Value::Str(s) => (CustomType::String, CVal::Str(self.strings.intern(s))),
                    Value::Num(n) if n.is_finite() => (CustomType::Number, CVal::Num(*n)),
                    Value::Num(_) => return Err(err(name, "must be a finite number".into())),
                };
                let i = self
                    .custom_dim(name, ty)
                    .map_err(|e| err(name, e.reason()))?;
                self.custom.push((i, val));
            }
            Ok(())
        })();
        if let Err(e) = customs {
            // A refused row leaves nothing behind, not even the type of a new dimension.
            self.custom.truncate(start);
            self.forget_dims_since(names_before);
            return Err(e);
        }
        let request = super::enrich::Request {
            user_agent: e.user_agent.as_deref(),
            accept_language: e.accept_language.as_deref(),
            ip: e.ip.as_deref(),
            is_request: e.user_agent.is_some()
                || e.accept_language.is_some()
                || e.referrer_url.is_some(),
        };
        super::enrich::enrich_row(&mut row, &request, self, rules.enricher());
        row.custom_start = start as u32;
        row.custom_len = (self.custom.len() - start) as u32;
        self.rows.push(row);
        Ok(())
    }

    /// Moves the rows of `other` (a parser's batch) into `self`, remapping strings and
    /// custom dimensions in row order. A row whose custom value contradicts the type
    /// already fixed for its dimension is returned as an error via `on_error` (with its
    /// line from `lines`) and left out.
    pub fn absorb(
        &mut self,
        other: Rows,
        lines: &[u64],
        file: &str,
        on_error: &mut dyn FnMut(RowError) -> bool,
    ) -> bool {
        let map = self.strings.absorb(&other.strings);
        let m = |s: Sym| map.get(s as usize).copied().unwrap_or(0);
        self.rows.reserve(other.rows.len());
        for (k, r) in other.rows.iter().enumerate() {
            let (start, names_before) = (self.custom.len(), self.custom_names.len());
            let mut bad = None;
            for &(d, v) in custom_of(&other, r) {
                let Some(dim) = other.custom_names.get(d as usize) else {
                    continue;
                };
                let (ty, v) = match v {
                    CVal::Str(s) => (CustomType::String, CVal::Str(m(s))),
                    CVal::Num(n) => (CustomType::Number, CVal::Num(n)),
                };
                match self.custom_dim(&dim.name, ty) {
                    Ok(i) => self.custom.push((i, v)),
                    Err(e) => {
                        bad = Some((dim.name.clone(), e));
                        break;
                    }
                }
            }
            if let Some((name, why)) = bad {
                self.custom.truncate(start);
                self.forget_dims_since(names_before);
                let e = RowError {
                    file: file.into(),
                    line: lines.get(k).copied().unwrap_or(0),
                    field: name,
                    reason: why.reason(),
                };
                if !on_error(e) {
                    return false;
                }
                continue;
            }
            let mut row = *r;
            row.visitor = m(r.visitor);
            row.visit_id = m(r.visit_id);
            for s in row.ev.iter_mut().chain(row.vis.iter_mut()) {
                *s = m(*s);
            }
            row.custom_start = start as u32;
            row.custom_len = (self.custom.len() - start) as u32;
            self.rows.push(row);
        }
        true
    }
}
