//! The public changes: append and extend, set and update, rename and move, delete and pop.

use std::collections::{HashSet, VecDeque};

use super::files::*;
use super::format::{self, BatchWriter, Loc, Op};
use super::*;
use crate::document::Document;
use crate::error::{Error, Result};

impl DocumentArrayMemmap {
    /// Appends one document. Its id must be new ([`Error::DuplicateId`] otherwise).
    pub fn append(&mut self, doc: Document) -> Result<()> {
        self.extend(std::iter::once(doc))
    }

    /// Appends documents in order. Every id is checked (new, and not repeated) before
    /// anything is written: on error nothing changes.
    pub fn extend(&mut self, docs: impl IntoIterator<Item = Document>) -> Result<()> {
        self.try_extend(docs.into_iter().map(Ok))
    }

    /// [`extend`](Self::extend) from documents that may fail to come (parsed as they
    /// stream in): the first `Err` ends it with that error, and nothing is appended. One
    /// call is one write: however many documents, a crash (even kill -9) leaves all of
    /// them or none.
    pub fn try_extend(&mut self, docs: impl IntoIterator<Item = Result<Document>>) -> Result<()> {
        self.writable()?;
        let mut docs = docs.into_iter().peekable();
        if docs.peek().is_none() {
            return Ok(());
        }
        self.table.reserve(docs.size_hint().0, 0);
        let cap = self.pool.capacity();
        // The last `cap` documents end in the pool, as if each had been appended in turn.
        let mut tail: VecDeque<Document> = VecDeque::new();
        {
            let (_guard, pending) = self.begin_write()?;
            // Streamed: texts are written in chunks as they come and each id is checked
            // against the table as it is added; the index entries that make them visible
            // are written only at the end. On error the table is rolled back, the index is
            // untouched, and the texts already written are unreferenced garbage.
            let mark = self.table.mark();
            let index_len = self.files.index_len;
            let mut body = pending.body;
            let body_start = pending.body_start;
            let mut body_at = body_start;
            let result = (|| -> Result<()> {
                for doc in docs {
                    let doc = doc?;
                    if doc.json().len() > MAX_DOC_LEN {
                        return Err(Error::InvalidDocument(format!(
                            "document {:?} is larger than 4 GiB",
                            doc.id()
                        )));
                    }
                    let loc = Loc {
                        offset: body_at + body.len() as u64,
                        len: doc.json().len() as u32,
                        crc: crc32fast::hash(doc.json().as_bytes()),
                    };
                    if !self.table.push_new(doc.id(), loc) {
                        return Err(Error::DuplicateId(doc.id().to_owned()));
                    }
                    if body.is_empty() && doc.json().len() >= EXTEND_CHUNK {
                        // A large text goes out as it is, not copied into the buffer first.
                        self.write_body(doc.json().as_bytes(), body_at)?;
                        body_at += doc.json().len() as u64;
                    } else {
                        body.extend_from_slice(doc.json().as_bytes());
                    }
                    if body.len() >= EXTEND_CHUNK {
                        self.write_body(&body, body_at)?;
                        body_at += body.len() as u64;
                        body.clear();
                    }
                    if cap > 0 {
                        if tail.len() == cap {
                            tail.pop_front();
                        }
                        tail.push_back(doc);
                    }
                }
                self.write_body(&body, body_at)?;
                drop(body);
                // The index entries go out about 1 MiB at a time, so memory stays flat
                // however many documents come. Nobody sees them before the last one is
                // written: other handles load or catch up only under the lock we hold.
                // A crash between two of these writes must not leave the first ones (a
                // part of the documents): with more than one, the first batch goes out
                // without its magic, which is written last. Until then every batch of
                // this call reads as one torn tail (none is DURABLE), dropped on open.
                let index_path = self.dir.join(INDEX_FILE);
                let mut at = index_len;
                let mut batch = BatchWriter::new();
                let mut entries = self.table.since(&mark).peekable();
                let mut withheld_magic = None;
                while entries.peek().is_some() {
                    for (id, loc) in entries.by_ref() {
                        batch.push(Op::Put { id, loc });
                        if batch.len() >= EXTEND_CHUNK {
                            break;
                        }
                    }
                    let mut bytes = std::mem::take(&mut batch).finish(false);
                    if at == index_len && entries.peek().is_some() {
                        withheld_magic = Some(format::withhold_magic(&mut bytes));
                    }
                    self.files
                        .index
                        .write_all_at(&bytes, at)
                        .map_err(io_at(&index_path, "writing"))?;
                    at += bytes.len() as u64;
                }
                if let Some(magic) = withheld_magic {
                    self.files
                        .index
                        .write_all_at(&magic, index_len)
                        .map_err(io_at(&index_path, "writing"))?;
                }
                self.files.index_len = at;
                Ok(())
            })();
            if let Err(e) = result {
                self.table.rollback(mark);
                // A partly written index tail would be read as torn; cut it off now, and
                // the texts nothing names any more.
                let _ = self.files.index.set_len(index_len);
                self.files.index_len = index_len;
                self.cut_body(body_start);
                return Err(e);
            }
            self.unsynced = true;
            self.files.remap();
        }
        self.make_room(tail.len())?;
        for doc in tail {
            if let Some(slot) = self.table.find(doc.id()) {
                self.pool.put_clean(slot, doc);
            }
        }
        Ok(())
    }

    /// Replaces the document at `index`. With the same id the content changes in place
    /// (through the pool); with a new id the document at `index` takes that id
    /// ([`Error::DuplicateId`] if another document has it).
    pub fn set(&mut self, index: isize, doc: Document) -> Result<()> {
        self.writable()?;
        let pos = self.resolve(index)?;
        let slot = self.slot_at(pos)?;
        let old_id = self.table.id(slot).to_owned();
        if doc.id() == old_id {
            return self.replace_doc(doc);
        }
        self.rename_with(&old_id, doc)
    }

    /// Replaces the document with this id; `doc` must carry the same id
    /// ([`Error::IdMismatch`]) and the id must exist ([`Error::NotFound`]).
    pub fn set_by_id(&mut self, id: &str, doc: Document) -> Result<()> {
        self.writable()?;
        doc.expect_id(id)?;
        self.slot_of(id)?;
        self.replace_doc(doc)
    }

    /// Changes a document in place through a closure (`dam[0].text = 'goodbye'`): the change
    /// is kept in the pool and marked dirty if the text changed. Changing the id is refused.
    pub fn update<R>(&mut self, index: isize, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        let pos = self.resolve(index)?;
        let id = self.table.id(self.slot_at(pos)?).to_owned();
        self.update_by_id(&id, f)
    }

    /// [`update`](Self::update) by id.
    pub fn update_by_id<R>(&mut self, id: &str, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        self.writable()?;
        let slot = self.slot_of(id)?;
        let (r, changed) = self.fetch(slot)?.edited(f)?;
        if let Some(doc) = changed {
            self.replace_doc(doc)?;
        }
        Ok(r)
    }

    /// Gives the document `from` the id `to` (its JSON's `"id"` is rewritten); its position
    /// is kept. `to` must be new.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.writable()?;
        let slot = self.slot_of(from)?;
        if from == to {
            return Ok(()); // as `mv a a`: nothing to do
        }
        let doc = self.peek_slot(slot)?.with_id(to)?;
        self.rename_with(from, doc)
    }

    /// The document at id `from` becomes `doc` (a new id), keeping its position.
    pub(super) fn rename_with(&mut self, from: &str, doc: Document) -> Result<()> {
        self.rename_now(from, doc)?;
        self.compact_index_if_worth_it()
    }

    fn rename_now(&mut self, from: &str, doc: Document) -> Result<()> {
        Self::check_len(&doc)?;
        if self.table.find(doc.id()).is_some() {
            return Err(Error::DuplicateId(doc.id().to_owned()));
        }
        let (_guard, mut pending) = self.begin_write()?;
        let slot = self.slot_of(from)?;
        if self.table.find(doc.id()).is_some() {
            return Err(Error::DuplicateId(doc.id().to_owned()));
        }
        pending.batch.push(Op::Rename { from, to: doc.id() });
        let loc = pending.put(&doc);
        self.finish_write(pending, false)?;
        self.table.rename(slot, doc.id());
        self.table.set_loc(slot, loc);
        if self.pool.remove(&slot).is_some() {
            self.pool.put_clean(slot, doc);
        }
        Ok(())
    }

    /// Moves document `from` onto the existing document `onto`: `onto` gets `from`'s
    /// content (with its id rewritten to `onto`) at `onto`'s position, and `from` is
    /// deleted — in one atomic index batch (what `mv a b` does on the mount).
    pub fn move_onto(&mut self, from: &str, onto: &str) -> Result<()> {
        self.move_onto_now(from, onto)?;
        self.compact_index_if_worth_it()
    }

    fn move_onto_now(&mut self, from: &str, onto: &str) -> Result<()> {
        self.writable()?;
        if from == onto {
            self.slot_of(from)?;
            return Ok(());
        }
        let src = self.slot_of(from)?;
        self.slot_of(onto)?;
        let doc = self.peek_slot(src)?.with_id(onto)?;
        Self::check_len(&doc)?;
        let (_guard, mut pending) = self.begin_write()?;
        let src = self.slot_of(from)?;
        let dst = self.slot_of(onto)?;
        let loc = pending.put(&doc);
        pending.batch.push(Op::Delete { id: from });
        self.finish_write(pending, false)?;
        self.table.set_loc(dst, loc);
        self.pool.remove(&dst);
        self.pool.remove(&src);
        self.table.remove_slot(src);
        Ok(())
    }

    /// Deletes the documents at the given positions (deduplicated) in one batch, then
    /// compacts the index if deletes left enough garbage in it.
    pub(super) fn delete_positions(&mut self, positions: Vec<usize>) -> Result<()> {
        self.delete_positions_now(positions)?;
        self.compact_index_if_worth_it()
    }

    fn delete_positions_now(&mut self, positions: Vec<usize>) -> Result<()> {
        self.writable()?;
        let ids: Vec<String> = positions
            .iter()
            .map(|&p| Ok(self.table.id(self.slot_at(p)?).to_owned()))
            .collect::<Result<HashSet<_>>>()?
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let (_guard, mut pending) = self.begin_write()?;
        let live: Vec<&String> = ids.iter().filter(|id| self.contains(id)).collect();
        for id in &live {
            pending.batch.push(Op::Delete { id });
        }
        self.finish_write(pending, false)?;
        let mut positions = Vec::with_capacity(live.len());
        for id in live {
            if let Some(slot) = self.table.find(id) {
                self.pool.remove(&slot);
                if let Some(p) = self.table.position(slot) {
                    positions.push(p);
                }
            }
        }
        self.table.remove_positions(&positions);
        Ok(())
    }

    /// Deletes the document at `index` (negative counts from the end).
    pub fn delete(&mut self, index: isize) -> Result<()> {
        let pos = self.resolve(index)?;
        self.delete_positions(vec![pos])
    }

    /// Deletes the document with this id.
    pub fn delete_by_id(&mut self, id: &str) -> Result<()> {
        let slot = self.slot_of(id)?;
        let pos = self
            .table
            .position(slot)
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        self.delete_positions(vec![pos])
    }

    /// Deletes the documents with these ids, in one write: all of them, or (an id missing,
    /// [`Error::NotFound`]) none.
    pub fn delete_ids<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        let positions = ids
            .iter()
            .map(|id| {
                let id = id.as_ref();
                let slot = self.slot_of(id)?;
                self.table
                    .position(slot)
                    .ok_or_else(|| Error::NotFound(id.to_owned()))
            })
            .collect::<Result<Vec<usize>>>()?;
        self.delete_positions(positions)
    }

    /// Deletes the documents a slice selects.
    pub fn delete_slice(&mut self, slice: impl Into<Slice>) -> Result<()> {
        let positions = slice.into().indices(self.len())?;
        self.delete_positions(positions)
    }

    /// Removes and returns the last document.
    pub fn pop(&mut self) -> Result<Document> {
        let doc = self.get(-1)?;
        self.delete(-1)?;
        Ok(doc)
    }
}
