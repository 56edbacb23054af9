//! The public changes: append and extend, set and update, rename and move, delete and pop,
//! clear and prune. Each checks what it can against the order first (so bad input changes
//! nothing), then runs as one write transaction; the table's unique id is the last word on
//! duplicates between handles.

use std::collections::HashSet;
use std::io::Write;

use super::write::{copy_escape, len_of, TxError};
use super::*;
use crate::document::Document;
use crate::store::Slice;

/// COPY bytes sent per write call.
const COPY_CHUNK: usize = 1 << 20;

impl PgStore {
    pub fn append(&mut self, doc: Document) -> Result<()> {
        self.extend(std::iter::once(doc))
    }

    /// Appends documents in order (one COPY in one transaction). Every id is checked (new,
    /// and not repeated) before anything is written: on error nothing changes.
    pub fn extend(&mut self, docs: impl IntoIterator<Item = Document>) -> Result<()> {
        self.writable()?;
        let docs: Vec<Document> = docs.into_iter().collect();
        if docs.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.check_new(&docs) {
            // This handle's order may be behind: the id may be gone from the table (the
            // memmap store checks under its lock, after catching up). Catch up, check again.
            if !matches!(e, Error::DuplicateId(_)) {
                return Err(e);
            }
            self.catch_up()?;
            self.check_new(&docs)?;
        }
        let count = docs.len();
        self.extend_stream(count, &mut docs.into_iter().map(Ok))
    }

    /// Appends `count` documents from a stream, in one COPY in one transaction that holds
    /// about a megabyte of them at a time: an import's write, so that a failure or a crash
    /// part-way leaves none of them. The caller has checked that the ids are new and
    /// distinct (the table's unique index still has the last word); an `Err` from the
    /// stream, or a stream of another length than `count`, ends it with nothing written.
    pub fn extend_stream(
        &mut self,
        count: usize,
        docs: &mut dyn Iterator<Item = Result<Document>>,
    ) -> Result<()> {
        self.writable()?;
        let table = self.names.docs.clone();
        let cap = self.pool.capacity();
        let miscount = |n: usize| {
            TxError::Store(Error::InvalidDocument(format!(
                "the input changed while it was written: {count} documents checked, {n} or more                  to write"
            )))
        };
        let (first, entries, tail) = self.write("appending documents", |tx, head| {
            let first = head.take_ranks(count);
            let mut w = tx.copy_in(&format!("COPY {table} (rank, id, len, body) FROM STDIN"))?;
            let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
            let mut entries: Vec<(Box<str>, u32)> = Vec::with_capacity(count);
            // The last documents end in the pool, as if each had been appended in turn.
            let mut tail = std::collections::VecDeque::with_capacity(cap + 1);
            for d in docs {
                // Leaving without `finish` aborts the COPY, and the transaction with it.
                let d = d.map_err(TxError::Store)?;
                if entries.len() == count {
                    return Err(miscount(count + 1));
                }
                let len = len_of(&d)?;
                buf.extend_from_slice((first + entries.len() as i64).to_string().as_bytes());
                buf.push(b'\t');
                copy_escape(&mut buf, d.id());
                buf.push(b'\t');
                buf.extend_from_slice(len.to_string().as_bytes());
                buf.push(b'\t');
                copy_escape(&mut buf, d.json());
                buf.push(b'\n');
                if buf.len() >= COPY_CHUNK {
                    if let Err(e) = w.write_all(&buf) {
                        return Err(w.finish().err().map_or_else(|| copy_io(e), TxError::Db));
                    }
                    buf.clear();
                }
                entries.push((d.id().into(), d.json().len() as u32));
                if cap > 0 {
                    tail.push_back(d);
                    if tail.len() > cap {
                        tail.pop_front();
                    }
                }
            }
            if entries.len() != count {
                return Err(miscount(entries.len()));
            }
            if let Err(e) = w.write_all(&buf) {
                return Err(w.finish().err().map_or_else(|| copy_io(e), TxError::Db));
            }
            w.finish()?;
            if count > 0 {
                head.touched.push((first, first + count as i64 - 1));
            }
            Ok((first, entries, tail))
        })?;
        self.order.reserve(entries.len());
        for (i, (id, len)) in entries.iter().enumerate() {
            self.order.insert(first + i as i64, id, *len);
        }
        self.catch_up_after_write();
        for d in tail {
            self.pool_put(d, false)?;
        }
        Ok(())
    }

    /// Checks that every id is new and given once, and every text fits.
    fn check_new(&self, docs: &[Document]) -> Result<()> {
        let mut seen = HashSet::with_capacity(docs.len());
        for d in docs {
            if self.contains(d.id()) || !seen.insert(d.id()) {
                return Err(Error::DuplicateId(d.id().to_owned()));
            }
            len_of(d).map_err(|e| e.into_error("checking documents"))?;
        }
        Ok(())
    }

    /// Replaces the document at `index`: with the same id in place (through the pool), with
    /// a new id the document at `index` takes it.
    pub fn set(&mut self, index: isize, doc: Document) -> Result<()> {
        self.writable()?;
        let old_id = self.id_of(index)?;
        if doc.id() == old_id {
            return self.replace_doc(doc);
        }
        self.rename_with(&old_id, doc)
    }

    pub fn set_by_id(&mut self, id: &str, doc: Document) -> Result<()> {
        self.writable()?;
        doc.expect_id(id)?;
        if !self.contains(id) {
            return Err(Error::NotFound(id.to_owned()));
        }
        self.replace_doc(doc)
    }

    fn replace_doc(&mut self, doc: Document) -> Result<()> {
        len_of(&doc).map_err(|e| e.into_error("checking a document"))?;
        self.readahead.borrow_mut().clear();
        self.pool_put(doc, true)
    }

    pub fn update<R>(&mut self, index: isize, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        let id = self.id_of(index)?;
        self.update_by_id(&id, f)
    }

    pub fn update_by_id<R>(&mut self, id: &str, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        self.writable()?;
        let (r, changed) = self.fetch(id)?.edited(f)?;
        if let Some(doc) = changed {
            self.replace_doc(doc)?;
        }
        Ok(r)
    }

    /// Gives the document `from` the id `to` (its JSON's `"id"` rewritten), keeping its
    /// position. `to` must be new.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.writable()?;
        if !self.contains(from) {
            return Err(Error::NotFound(from.to_owned()));
        }
        if from == to {
            return Ok(());
        }
        let doc = self.peek_doc(from)?.with_id(to)?;
        self.rename_with(from, doc)
    }

    fn rename_with(&mut self, from: &str, doc: Document) -> Result<()> {
        len_of(&doc).map_err(|e| e.into_error("checking a document"))?;
        if self.contains(doc.id()) {
            // Maybe only in this handle's order (another handle deleted it): look again.
            self.catch_up()?;
            if self.contains(doc.id()) {
                return Err(Error::DuplicateId(doc.id().to_owned()));
            }
            if !self.contains(from) {
                return Err(Error::NotFound(from.to_owned()));
            }
        }
        let table = self.names.docs.clone();
        let rank = self.write("renaming a document", |tx, head| {
            let row = tx.query_opt(
                &format!(
                    "UPDATE {table} SET id = $2, body = $3, len = $4 WHERE id = $1 RETURNING rank"
                ),
                &[&from, &doc.id(), &doc.json(), &len_of(&doc)?],
            )?;
            let Some(row) = row else {
                return Err(Error::NotFound(from.to_owned()).into());
            };
            let rank: i64 = row.try_get(0)?;
            head.touch(vec![rank]);
            Ok(rank)
        })?;
        self.order.set_row(rank, doc.id(), doc.json().len() as u32);
        self.pool.remove(from);
        self.catch_up_after_write();
        self.pool_put(doc, false)
    }

    /// Moves document `from` onto the existing document `onto`: `onto` gets `from`'s content
    /// (its id rewritten) at `onto`'s position, and `from` is deleted, in one transaction.
    pub fn move_onto(&mut self, from: &str, onto: &str) -> Result<()> {
        self.writable()?;
        for id in [from, onto] {
            if !self.contains(id) {
                return Err(Error::NotFound(id.to_owned()));
            }
        }
        if from == onto {
            return Ok(());
        }
        let doc = self.peek_doc(from)?.with_id(onto)?;
        let table = self.names.docs.clone();
        let (src, dst) = self.write("moving a document onto another", |tx, head| {
            let src = tx.query_opt(
                &format!("DELETE FROM {table} WHERE id = $1 RETURNING rank"),
                &[&from],
            )?;
            let dst = tx.query_opt(
                &format!("UPDATE {table} SET body = $2, len = $3 WHERE id = $1 RETURNING rank"),
                &[&onto, &doc.json(), &len_of(&doc)?],
            )?;
            let (Some(src), Some(dst)) = (src, dst) else {
                return Err(Error::NotFound(format!("{from} or {onto}")).into());
            };
            let (src, dst): (i64, i64) = (src.try_get(0)?, dst.try_get(0)?);
            head.touch(vec![src, dst]);
            Ok((src, dst))
        })?;
        self.order.remove_rank(src);
        self.order.set_len(dst, doc.json().len() as u32);
        self.pool.remove(from);
        self.pool.remove(onto);
        self.catch_up_after_write();
        Ok(())
    }

    /// Deletes documents by id in one transaction (those another handle deleted already
    /// are simply gone).
    fn delete_ids(&mut self, ids: Vec<String>) -> Result<()> {
        self.writable()?;
        if ids.is_empty() {
            return Ok(());
        }
        let table = self.names.docs.clone();
        let ranks = self.write("deleting documents", |tx, head| {
            let rows = tx.query(
                &format!("DELETE FROM {table} WHERE id = ANY($1) RETURNING rank"),
                &[&ids],
            )?;
            let ranks = rows
                .iter()
                .map(|r| r.try_get::<_, i64>(0))
                .collect::<Result<Vec<_>, _>>()?;
            head.touch(ranks.clone());
            Ok(ranks)
        })?;
        // By id as well: an unsaved change kept after another handle deleted its row has no
        // row to delete, only its place in this order.
        let positions: Vec<usize> = ranks
            .iter()
            .filter_map(|&r| self.order.position_of_rank(r))
            .chain(ids.iter().filter_map(|id| self.order.find(id)))
            .collect();
        self.order.remove_positions(&positions);
        for id in &ids {
            self.pool.remove(id.as_str());
        }
        self.catch_up_after_write();
        Ok(())
    }

    pub fn delete(&mut self, index: isize) -> Result<()> {
        let id = self.id_of(index)?;
        self.delete_ids(vec![id])
    }

    pub fn delete_by_id(&mut self, id: &str) -> Result<()> {
        if !self.contains(id) {
            return Err(Error::NotFound(id.to_owned()));
        }
        self.delete_ids(vec![id.to_owned()])
    }

    pub fn delete_slice(&mut self, slice: impl Into<Slice>) -> Result<()> {
        let positions = slice.into().indices(self.len())?;
        let ids: HashSet<String> = positions
            .into_iter()
            .map(|p| self.id_of(p as isize))
            .collect::<Result<_>>()?;
        self.delete_ids(ids.into_iter().collect())
    }

    pub fn pop(&mut self) -> Result<Document> {
        let doc = self.get(-1)?;
        self.delete(-1)?;
        Ok(doc)
    }

    /// Deletes every document (of every handle: other handles re-read an empty order).
    pub fn clear(&mut self) -> Result<()> {
        self.writable()?;
        let names = self.names.clone();
        self.write("clearing the store", |tx, head| {
            tx.execute(&format!("DELETE FROM {}", names.docs), &[])?;
            // The feed before a clear is of no use to anyone: they all re-read.
            tx.execute(&format!("DELETE FROM {}", names.changes), &[])?;
            tx.execute(
                &format!(
                    "UPDATE {} SET feed_start = version WHERE one = 1",
                    names.head
                ),
                &[],
            )?;
            head.reset = true;
            Ok(())
        })?;
        self.order = Order::new();
        self.pool.clear();
        Ok(())
    }

    /// Saves, then gives back what PostgreSQL can: the change feed is cut (handles behind it
    /// re-read the whole order) and the tables are vacuumed (where the engine has VACUUM).
    /// Like the memmap store's prune, which rewrites the store as it is, it takes in the other
    /// handles' changes first (keeping the pool).
    pub fn prune(&mut self) -> Result<()> {
        self.writable()?;
        self.save()?;
        self.resync_if_lost()?;
        self.catch_up()?;
        let names = self.names.clone();
        let cut = {
            let mut client = self.client()?;
            (|| -> Result<(), postgres::Error> {
                let mut tx = client.transaction()?;
                let row = tx.query_one(
                    &format!(
                        "UPDATE {} SET feed_start = version + 1 WHERE one = 1 RETURNING feed_start",
                        names.head
                    ),
                    &[],
                )?;
                let start: i64 = row.try_get(0)?;
                tx.execute(
                    &format!("DELETE FROM {} WHERE version < $1", names.changes),
                    &[&start],
                )?;
                tx.commit()
            })()
        };
        cut.map_err(|e| self.failed("cutting the change feed", e))?;
        let vacuum = {
            // One statement per call: several in one go form a transaction block, in which
            // VACUUM refuses to run.
            let mut client = self.client()?;
            client
                .batch_execute(&format!("VACUUM {}", names.docs))
                .and_then(|()| client.batch_execute(&format!("VACUUM {}", names.changes)))
        };
        if let Err(e) = vacuum {
            if is_connection_error(&e) {
                return Err(self.failed("vacuuming", e));
            }
            log::info!("prune: the engine did not vacuum ({e}); its own garbage collection reclaims the space");
        }
        Ok(())
    }
}

fn copy_io(e: std::io::Error) -> TxError {
    TxError::Store(Error::Io {
        context: "PostgreSQL: sending documents (COPY)".to_owned(),
        source: e,
    })
}
