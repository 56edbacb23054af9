//! Reading: lengths, lookups both ways between ids and positions (all in memory), documents
//! by index, id or slice (from the pool, else from the table), iteration in batches, figures.

use std::collections::HashMap;

use super::*;
use crate::document::Document;
use crate::store::{Slice, Stats};

/// Rows fetched per round trip when reading in order (iteration, and `with_json` on
/// consecutive positions: a mount's `.all.jsonl`, `damfs export`).
const BATCH: i64 = 256;

/// Texts fetched ahead of a sequential reader, by id. Cleared on every change.
#[derive(Default)]
pub struct ReadAhead {
    /// The position of the last text read from the table.
    last_pos: Option<usize>,
    texts: HashMap<String, String>,
    /// The last text read on its own: the kernel reads a big file in several calls.
    last: Option<(String, String)>,
}

impl ReadAhead {
    pub fn clear(&mut self) {
        self.last_pos = None;
        self.texts.clear();
        self.last = None;
    }
}

impl PgStore {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.len() == 0
    }

    pub fn contains(&self, id: &str) -> bool {
        self.order.find(id).is_some()
    }

    pub fn id_at(&self, pos: usize) -> Option<&str> {
        self.order.id_at(pos)
    }

    pub fn position_of(&self, id: &str) -> Option<usize> {
        self.order.find(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.order.ids()
    }

    /// The length in bytes of a document's current text (pool first, then the order).
    pub fn json_len(&self, id: &str) -> Option<u64> {
        let pos = self.order.find(id)?;
        Some(match self.pool.peek(id) {
            Some(e) => e.doc.json().len() as u64,
            None => u64::from(self.order.len_at(pos)?),
        })
    }

    /// Texts of the rows with ranks in `lo..=hi`, by id.
    fn fetch_range(&self, lo: i64, hi: i64) -> Result<HashMap<String, String>> {
        let sql = format!(
            "SELECT id, body FROM {} WHERE rank BETWEEN $1 AND $2",
            self.names.docs
        );
        let rows = self.read_with("reading documents", |c| c.query(&sql, &[&lo, &hi]))?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| self.failed("reading documents", e))
    }

    /// One text from the table.
    fn fetch_one(&self, id: &str) -> Result<String> {
        let sql = format!("SELECT body FROM {} WHERE id = $1", self.names.docs);
        let row = self.read_with(&format!("reading document {id:?}"), |c| {
            c.query_opt(&sql, &[&id])
        })?;
        match row {
            Some(r) => r
                .try_get(0)
                .map_err(|e| self.failed(&format!("reading document {id:?}"), e)),
            // Deleted by another handle since this one last caught up.
            None => Err(Error::NotFound(id.to_owned())),
        }
    }

    /// Calls `f` with a document's current text (what the mount's reads use). Reading
    /// consecutive positions fetches the following texts ahead in one round trip.
    pub fn with_json<R>(&self, id: &str, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let pos = self
            .order
            .find(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        if let Some(e) = self.pool.peek(id) {
            return Ok(f(e.doc.json().as_bytes()));
        }
        let mut ra = self.readahead.borrow_mut();
        if ra.texts.contains_key(id) {
            ra.last_pos = Some(pos);
            let text = ra.texts.get(id).map_or(&[][..], |t| t.as_bytes());
            return Ok(f(text));
        }
        if let Some((_, text)) = ra.last.as_ref().filter(|(last, _)| last == id) {
            return Ok(f(text.as_bytes()));
        }
        let sequential = ra.last_pos.is_some_and(|p| p + 1 == pos);
        ra.last_pos = Some(pos);
        if sequential {
            let lo = self.order.rank_at(pos).unwrap_or(0);
            let hi = self
                .order
                .rank_at((pos + BATCH as usize - 1).min(self.order.len() - 1))
                .unwrap_or(lo);
            drop(ra);
            let texts = self.fetch_range(lo, hi)?;
            let mut ra = self.readahead.borrow_mut();
            ra.texts = texts;
            return match ra.texts.get(id) {
                Some(text) => Ok(f(text.as_bytes())),
                None => Err(Error::NotFound(id.to_owned())),
            };
        }
        drop(ra);
        let text = self.fetch_one(id)?;
        let r = f(text.as_bytes());
        self.readahead.borrow_mut().last = Some((id.to_owned(), text));
        Ok(r)
    }

    /// Reads a document without touching the pool's order.
    pub(super) fn peek_doc(&self, id: &str) -> Result<Document> {
        if let Some(e) = self.pool.peek(id) {
            return Ok(e.doc.clone());
        }
        self.with_json(id, |b| {
            // The table's column is TEXT: always UTF-8.
            Document::from_trusted(id, std::str::from_utf8(b).unwrap_or_default())
        })
    }

    /// Reads a document through the pool (it becomes the most recently used).
    pub(super) fn fetch(&mut self, id: &str) -> Result<Document> {
        if self.order.find(id).is_none() {
            return Err(Error::NotFound(id.to_owned()));
        }
        if let Some(e) = self.pool.get(id) {
            return Ok(e.doc.clone());
        }
        let doc = Document::from_trusted(id, &self.fetch_one(id)?);
        self.pool_put(doc.clone(), false)?;
        Ok(doc)
    }

    pub(super) fn resolve(&self, index: isize) -> Result<usize> {
        crate::store::position(index, self.order.len())
    }

    pub(super) fn id_of(&self, index: isize) -> Result<String> {
        let pos = self.resolve(index)?;
        self.order
            .id_at(pos)
            .map(str::to_owned)
            .ok_or(Error::IndexOutOfRange {
                index,
                len: self.order.len(),
            })
    }

    /// The document at `index` (negative counts from the end).
    pub fn get(&mut self, index: isize) -> Result<Document> {
        let id = self.id_of(index)?;
        self.fetch(&id)
    }

    pub fn get_by_id(&mut self, id: &str) -> Result<Document> {
        self.fetch(id)
    }

    /// The documents a slice selects, in slice order.
    pub fn get_slice(&mut self, slice: impl Into<Slice>) -> Result<Vec<Document>> {
        let positions = slice.into().indices(self.len())?;
        positions
            .into_iter()
            .map(|p| self.peek_doc(&self.id_of(p as isize)?))
            .collect()
    }

    /// Iterates the documents in order, fetching them in batches; the pool is not disturbed.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            store: self,
            next: 0,
            batch: HashMap::new(),
        }
    }

    pub fn to_vec(&self) -> Result<Vec<Document>> {
        self.iter().collect()
    }

    fn size_query(&self, sql: &str) -> u64 {
        // `{t}` is the table as a regclass literal (quoted inside), `{raw}` its catalog name.
        let sql = sql
            .replace("{t}", &self.names.docs)
            .replace("{raw}", &self.names.table);
        // A figure the engine cannot give is 0; a connection cut while idle is made again
        // (as `read_with` does), so the first `.stats` after a restart has the figures.
        let mut row = None;
        for _attempt in 0..2 {
            let reused = self.client.borrow().is_some();
            let Ok(mut client) = self.client() else {
                return 0;
            };
            match snapshot::tolerant(&mut client, self.read_only, |c| c.query_one(&sql, &[])) {
                Ok(r) => row = Some(r),
                Err(e) if is_connection_error(&e) => {
                    drop(client);
                    if reused {
                        self.reconnect_after(&e);
                        continue;
                    }
                    self.failed("reading the store's sizes", e);
                }
                Err(_) => {}
            }
            break;
        }
        row.and_then(|r| r.try_get::<_, i64>(0).ok())
            .map_or(0, |n| n.max(0) as u64)
    }

    /// Bytes of the table and its indexes (0 where the engine has no size functions).
    pub fn physical_size(&self) -> u64 {
        self.size_query("SELECT pg_total_relation_size('{t}')")
    }

    /// Figures about the store. `generation` is the change feed's version; `format_version`
    /// the schema's; `garbage_bytes` PostgreSQL's estimate of dead rows' bytes.
    pub fn stats(&self) -> Stats {
        let index_bytes = self.size_query("SELECT pg_indexes_size('{t}')");
        let body_bytes = self.size_query("SELECT pg_table_size('{t}')");
        let garbage_bytes = self.size_query(
            "SELECT (coalesce(n_dead_tup, 0) * pg_table_size('{t}') \
             / greatest(coalesce(n_live_tup, 0) + coalesce(n_dead_tup, 0), 1))::bigint \
             FROM pg_stat_user_tables WHERE relname = '{raw}' AND schemaname = current_schema()",
        );
        Stats {
            length: self.len(),
            pool_size: self.pool.capacity(),
            pool_used: self.pool.len(),
            pool_dirty: self.pool.dirty_count(),
            bytes: index_bytes + body_bytes,
            index_bytes,
            body_bytes,
            garbage_bytes,
            format_version: schema::SCHEMA_VERSION as u32,
            generation: self.version.max(0) as u64,
            table_bytes: self.order.heap_bytes(),
        }
    }
}

/// Iterator over a PostgreSQL store's documents, in order.
pub struct Iter<'a> {
    store: &'a PgStore,
    next: usize,
    batch: HashMap<String, String>,
}

impl Iterator for Iter<'_> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Self::Item> {
        let store = self.store;
        let id = store.order.id_at(self.next)?;
        let pos = self.next;
        self.next += 1;
        if let Some(e) = store.pool.peek(id) {
            return Some(Ok(e.doc.clone()));
        }
        if !self.batch.contains_key(id) {
            let lo = store.order.rank_at(pos)?;
            let last = (pos + BATCH as usize - 1).min(store.order.len() - 1);
            let hi = store.order.rank_at(last)?;
            match store.fetch_range(lo, hi) {
                Ok(b) => self.batch = b,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(match self.batch.remove(id) {
            Some(text) => Ok(Document::from_trusted(id, &text)),
            None => Err(Error::NotFound(id.to_owned())),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.store.len().saturating_sub(self.next);
        (left, Some(left))
    }
}
