//! Reading: lengths, lookups both ways between ids and positions, documents by index, id
//! or slice (through the buffer pool or around it), iteration, and figures.

use super::format::FILE_HEADER_LEN;
use super::table::SlotNo;
use super::*;
use crate::document::Document;
use crate::error::{Error, Result};

impl DocumentArrayMemmap {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Is there a document with this id?
    pub fn contains(&self, id: &str) -> bool {
        self.table.find(id).is_some()
    }

    /// The id of the document at `pos` (0-based, non-negative).
    pub fn id_at(&self, pos: usize) -> Option<&str> {
        self.table.at(pos).map(|s| self.table.id(s))
    }

    /// The position of a document (O(log n)).
    pub fn position_of(&self, id: &str) -> Option<usize> {
        self.table.find(id).and_then(|s| self.table.position(s))
    }

    /// Ids in position order.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.table.live_slots().map(|s| self.table.id(s))
    }

    /// The length in bytes of a document's current text (pool first, then disk).
    pub fn json_len(&self, id: &str) -> Option<u64> {
        let slot = self.table.find(id)?;
        Some(match self.pool.peek(&slot) {
            Some(e) => e.doc.json().len() as u64,
            None => u64::from(self.table.loc(slot).len),
        })
    }

    /// Calls `f` with a document's current text without copying it and without touching the
    /// pool's LRU order (what the mount's reads use).
    pub fn with_json<R>(&self, id: &str, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let slot = self
            .table
            .find(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        match self.pool.peek(&slot) {
            Some(e) => Ok(f(e.doc.json().as_bytes())),
            None => self.files.with_bytes(id, self.table.loc(slot), f),
        }
    }

    /// Physical size: bytes of the store's files.
    pub fn physical_size(&self) -> u64 {
        self.files.index_len + self.files.body_len
    }

    /// Figures about the store.
    /// What the live documents' index entries take: one PUT each in batches of ~1 MiB, as
    /// prune would write them.
    pub(super) fn live_index_bytes(&self) -> u64 {
        if self.table.len() == 0 {
            return 0;
        }
        let entries = self.table.len() as u64 * 18 + self.table.live_id_bytes();
        entries + 16 * (entries / (1 << 20) + 1)
    }

    /// Index bytes beyond what the live documents need (what compacting it would save).
    pub(super) fn index_garbage(&self) -> u64 {
        self.files
            .index_len
            .saturating_sub(self.files.data_start + self.live_index_bytes())
    }

    pub fn stats(&self) -> Stats {
        let index_garbage = self.index_garbage();
        let body_garbage = self
            .files
            .body_len
            .saturating_sub(FILE_HEADER_LEN + self.table.live_body_bytes());
        Stats {
            length: self.len(),
            pool_size: self.pool.capacity(),
            pool_used: self.pool.len(),
            pool_dirty: self.pool.dirty_count() + self.orphans.len(),
            bytes: self.physical_size(),
            index_bytes: self.files.index_len,
            body_bytes: self.files.body_len,
            garbage_bytes: index_garbage + body_garbage,
            format_version: self.files.version,
            generation: self.files.generation,
            table_bytes: self.table.heap_bytes(),
        }
    }

    pub(super) fn resolve(&self, index: isize) -> Result<usize> {
        slice::position(index, self.table.len())
    }

    /// The slot at a position that [`resolve`](Self::resolve) or a slice checked.
    pub(super) fn slot_at(&self, pos: usize) -> Result<SlotNo> {
        self.table.at(pos).ok_or(Error::IndexOutOfRange {
            index: pos as isize,
            len: self.table.len(),
        })
    }

    pub(super) fn slot_of(&self, id: &str) -> Result<SlotNo> {
        self.table
            .find(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Reads a document from disk (not through the pool).
    pub(super) fn read_disk(&self, slot: SlotNo) -> Result<Document> {
        let id = self.table.id(slot);
        let loc = self.table.loc(slot);
        // Straight from the mapping into the document's one allocation.
        self.files
            .with_bytes(id, loc, |bytes| match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Document::from_trusted(id, text)),
                Err(_) => Err(self
                    .files
                    .corrupt(loc.offset, format!("document {id:?} is not UTF-8"))),
            })?
    }

    /// Reads a document without touching the pool.
    pub(super) fn peek_slot(&self, slot: SlotNo) -> Result<Document> {
        match self.pool.peek(&slot) {
            Some(e) => Ok(e.doc.clone()),
            None => self.read_disk(slot),
        }
    }

    /// Reads a document through the pool (it becomes the most recently used).
    pub(super) fn fetch(&mut self, slot: SlotNo) -> Result<Document> {
        if let Some(e) = self.pool.get(&slot) {
            return Ok(e.doc.clone());
        }
        let doc = self.read_disk(slot)?;
        if self.pool.is_full() && self.pool.lru_is_clean() {
            // The common miss: the new document takes the clean least-recently-used one's
            // place (and its list node: no allocation, no write).
            self.pool.put_clean(slot, doc.clone());
            return Ok(doc);
        }
        if self.pool.capacity() > 0 {
            let loc = self.table.loc(slot);
            self.make_room(1)?;
            // make_room may have caught up with other writers (a prune renumbers slots, a
            // delete removes one, a write moves a text): pool the document only under the
            // slot that has this id now, and only if it still has the text we read.
            match self.table.find(doc.id()) {
                Some(now) if now == slot && self.table.loc(now) == loc => {
                    self.pool.put_clean(slot, doc.clone());
                }
                Some(now) if !self.pool.contains(&now) => {
                    let fresh = self.read_disk(now)?;
                    self.pool.put_clean(now, fresh.clone());
                    return Ok(fresh);
                }
                Some(now) => {
                    if let Some(e) = self.pool.get(&now) {
                        return Ok(e.doc.clone());
                    }
                }
                None => {}
            }
        }
        Ok(doc)
    }

    /// The document at `index` (negative counts from the end).
    pub fn get(&mut self, index: isize) -> Result<Document> {
        let pos = self.resolve(index)?;
        let slot = self.slot_at(pos)?;
        self.fetch(slot)
    }

    /// The document with this id.
    pub fn get_by_id(&mut self, id: &str) -> Result<Document> {
        let slot = self.slot_of(id)?;
        self.fetch(slot)
    }

    /// The documents a slice selects, in slice order.
    pub fn get_slice(&mut self, slice: impl Into<Slice>) -> Result<Vec<Document>> {
        let positions = slice.into().indices(self.len())?;
        positions
            .into_iter()
            .map(|p| self.peek_slot(self.slot_at(p)?))
            .collect()
    }

    /// Iterates the documents in order. Reads do not disturb the buffer pool.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            store: self,
            next_slot: 0,
            left: self.len(),
        }
    }

    /// All documents, in order.
    pub fn to_vec(&self) -> Result<Vec<Document>> {
        self.iter().collect()
    }
}

/// Iterator over a store's documents, in order.
pub struct Iter<'a> {
    store: &'a DocumentArrayMemmap,
    /// The next slot to look at (slots are in position order; dead ones are skipped).
    next_slot: SlotNo,
    left: usize,
}

impl Iterator for Iter<'_> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Self::Item> {
        let slot = self.store.table.slots_from(self.next_slot).next()?;
        self.next_slot = slot + 1;
        self.left = self.left.saturating_sub(1);
        Some(self.store.peek_slot(slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a> IntoIterator for &'a DocumentArrayMemmap {
    type Item = Result<Document>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
