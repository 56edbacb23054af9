//! The write path: pending bytes appended under the lock (body first, then the index batch),
//! saves (fsyncs and the commit record), and the buffer pool's write-behind.

use super::commit::{self, Commit};
use super::files::sync_dir;
use super::format::{self, BatchWriter, Loc, Op, LEGACY_VERSION};
use super::table::SlotNo;
use super::*;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::pool::Pool;

impl DocumentArrayMemmap {
    pub(super) fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Records durably that the index and the body are saved up to their current lengths:
    /// the next commit record goes into the other slot, then the index is fsynced again.
    /// Called after both files were fsynced.
    pub(super) fn write_commit(&mut self) -> Result<()> {
        let index_path = self.dir.join(INDEX_FILE);
        let last = commit::read(&self.files.index, &index_path, self.files.generation)?;
        let next = Commit {
            seq: last.seq + 1,
            index_len: self.files.index_len,
            body_len: self.files.body_len,
        };
        let at = commit::COMMIT_SLOTS[(next.seq % 2) as usize];
        self.files
            .index
            .write_all_at(&commit::encode(&next, self.files.generation), at)
            .map_err(|e| Error::io(format!("writing {}", index_path.display()), e))?;
        self.files
            .index
            .sync_data()
            .map_err(|e| Error::io(format!("syncing {}", index_path.display()), e))
    }

    /// Appends the pending bytes (body first, then the index batch) and, if `durable`,
    /// fsyncs both and records the commit, so that everything written so far survives a
    /// power cut and damage to it is never mistaken for a torn tail.
    pub(super) fn finish_write(&mut self, pending: Pending, durable: bool) -> Result<()> {
        let Pending {
            body,
            body_start,
            batch,
        } = pending;
        let wrote = !body.is_empty() || !batch.is_empty();
        let mut batch = batch;
        if durable && batch.is_empty() && self.files.version == LEGACY_VERSION {
            // Version 1 marks a save only with a DURABLE batch, so it needs one.
            batch.empty_batch();
        }
        if let Err(e) = self.write_body(&body, body_start) {
            self.cut_body(body_start);
            return Err(e);
        }
        if durable {
            if let Err(e) = self.files.body.sync_data() {
                self.cut_body(body_start);
                return Err(Error::io(
                    format!("syncing {}", self.files.body_path.display()),
                    e,
                ));
            }
        }
        let mut index_bytes = batch.finish(durable);
        if !index_bytes.is_empty() {
            let index_path = self.dir.join(INDEX_FILE);
            // Several batches of one change (a delete of very many ids) must become visible
            // together, also if a kill cuts the write short: the first one's magic goes
            // last (see `extend`). A save's last batch is DURABLE, and damage followed by a
            // durable batch reads as corruption, not as a torn tail: saves write at once.
            let magic = (!durable && format::first_batch_len(&index_bytes) < index_bytes.len())
                .then(|| format::withhold_magic(&mut index_bytes));
            let at = self.files.index_len;
            let written = self
                .files
                .index
                .write_all_at(&index_bytes, at)
                .and_then(|()| magic.map_or(Ok(()), |m| self.files.index.write_all_at(&m, at)));
            if let Err(e) = written {
                // Cut off what part of the batches did reach the file: a write that reports
                // failure must not take effect later, when some handle catches up.
                let _ = self.files.index.set_len(self.files.index_len);
                self.cut_body(body_start);
                return Err(Error::io(format!("writing {}", index_path.display()), e));
            }
            self.files.index_len += index_bytes.len() as u64;
        }
        if durable {
            if self.dir_unsynced {
                sync_dir(&self.dir)?;
                self.dir_unsynced = false;
            }
            let index_path = self.dir.join(INDEX_FILE);
            self.files
                .index
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {}", index_path.display()), e))?;
            if self.files.version != LEGACY_VERSION {
                self.write_commit()?;
            }
            self.unsynced = false;
        } else if wrote {
            self.unsynced = true;
        }
        self.files.remap();
        Ok(())
    }

    /// Makes room in the pool for `n` more documents, writing dirty ones that must leave.
    ///
    /// Writing brings this handle up to date with other writers, which can renumber every
    /// slot (their prune or clear) or remove some (their deletes). So after a write the
    /// leaving documents are chosen again, and callers holding a slot number must look it
    /// up again by id after calling this.
    pub(super) fn make_room(&mut self, n: usize) -> Result<()> {
        let cap = self.pool.capacity();
        loop {
            let used = self.pool.len();
            if cap == 0 || used + n <= cap {
                return Ok(());
            }
            // The common case (one document in, a clean one out) without collecting.
            if used + n == cap + 1 && self.pool.drop_lru_if_clean() {
                return Ok(());
            }
            let leaving = self.pool.oldest((used + n - cap).min(used));
            if leaving
                .iter()
                .all(|&s| self.pool.peek(&s).is_some_and(|e| !e.dirty))
            {
                for s in leaving {
                    self.pool.remove(&s);
                }
                return Ok(());
            }
            // Write the oldest dirty documents together, not one per eviction: they stay in
            // the pool, clean, and the next evictions cost nothing. The next round removes
            // the (now clean) leaving ones.
            let (n, scan) = (
                leaving.len().max(WRITE_BEHIND),
                4 * WRITE_BEHIND + leaving.len(),
            );
            self.write_dirty(|pool| pool.oldest_dirty(n, scan), false)?;
        }
    }

    /// Writes the given dirty pool documents (by slot) and marks them clean.
    /// `pick` chooses the slots once the lock is held and this handle has caught up with
    /// other writers (whose renames, deletes or prune may have changed ids and slots).
    pub(super) fn write_dirty(
        &mut self,
        pick: impl FnOnce(&Pool<SlotNo>) -> Vec<SlotNo>,
        durable: bool,
    ) -> Result<()> {
        let (_guard, mut pending) = self.begin_write()?;
        let docs: Vec<Document> = pick(&self.pool)
            .iter()
            .filter_map(|&s| {
                self.pool
                    .peek(&s)
                    .filter(|e| e.dirty)
                    .map(|e| e.doc.clone())
            })
            .collect();
        let mut placed = Vec::with_capacity(docs.len());
        for doc in &docs {
            let loc = pending.put(doc);
            placed.push((doc.id().to_owned(), loc));
        }
        self.finish_write(pending, durable)?;
        for (id, loc) in placed {
            match self.table.find(&id) {
                Some(slot) => {
                    self.table.set_loc(slot, loc);
                    self.pool.mark_clean(&slot);
                }
                None => {
                    self.table.push(&id, loc);
                }
            }
        }
        Ok(())
    }

    /// Gives back the body bytes a failed write appended after `to` (the body's length when
    /// this write took the lock): no index entry names them, and on a full disk they would
    /// hold the space the retry needs. Best effort: bytes left behind are only garbage.
    pub(super) fn cut_body(&mut self, to: u64) {
        if self.files.body_len > to {
            let _ = self.files.body.set_len(to);
            self.files.body_len = to;
        }
    }

    /// Appends body bytes at `at` (under the write lock).
    pub(super) fn write_body(&mut self, bytes: &[u8], at: u64) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.files
            .body
            .write_all_at(bytes, at)
            .map_err(|e| Error::io(format!("writing {}", self.files.body_path.display()), e))?;
        self.files.body_len = self.files.body_len.max(at + bytes.len() as u64);
        Ok(())
    }

    /// Stores new content for the existing document with `doc`'s id: into the pool as
    /// dirty, or through to disk when the pool has size 0.
    pub(super) fn replace_doc(&mut self, doc: Document) -> Result<()> {
        Self::check_len(&doc)?;
        if self.pool.capacity() == 0 {
            return self.write_through(doc);
        }
        let mut slot = self.slot_of(doc.id())?;
        if !self.pool.contains(&slot) {
            self.make_room(1)?;
            // make_room may have caught up with other writers: slot numbers may differ.
            slot = self.slot_of(doc.id())?;
        }
        match self.pool.put(slot, doc, true) {
            Ok(()) => Ok(()),
            Err(unplaced) => self.write_through(unplaced.doc),
        }
    }

    /// Writes a replacement straight to the files (a pool of 0, or a pool that could not
    /// take it).
    fn write_through(&mut self, doc: Document) -> Result<()> {
        let (_guard, mut pending) = self.begin_write()?;
        let slot = self.slot_of(doc.id())?;
        let loc = pending.put(&doc);
        self.finish_write(pending, false)?;
        self.table.set_loc(slot, loc);
        self.pool.remove(&slot);
        Ok(())
    }

    /// Lengths are 32-bit in the index: refuse a text that does not fit before writing it.
    pub(super) fn check_len(doc: &Document) -> Result<()> {
        if doc.json().len() > MAX_DOC_LEN {
            return Err(Error::InvalidDocument(format!(
                "document {:?} is larger than 4 GiB",
                doc.id()
            )));
        }
        Ok(())
    }

    /// Persists every dirty document and makes all writes so far durable (fsync). With
    /// nothing changed since the last save it writes nothing.
    pub fn save(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let dirty = self.pool.dirty_keys();
        if dirty.is_empty() && !self.unsynced && !self.dir_unsynced && self.orphans.is_empty() {
            // Nothing to write; but never report a save over files that are not the
            // store's any more (its directory removed or replaced).
            return self.check_store_identity();
        }
        if dirty.is_empty() {
            let (_guard, pending) = self.begin_write()?;
            self.finish_write(pending, true)?;
        } else {
            self.write_dirty(Pool::dirty_keys, true)?;
        }
        self.compact_index_if_worth_it()
    }

    /// The ids of the changes this handle holds that are not in the store's files yet:
    /// dirty documents in the pool, and dirty documents whose id another writer deleted
    /// (written back at the next write). What a failed save would lose were the handle
    /// dropped.
    pub fn unsaved_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .pool
            .dirty_keys()
            .into_iter()
            .filter_map(|s| self.pool.peek(&s).map(|e| e.doc.id().to_owned()))
            .collect();
        ids.extend(self.orphans.iter().map(|d| d.id().to_owned()));
        ids
    }

    /// Whether appends, deletes or renames were written to the files since the last save
    /// (durable after a kill -9, not yet after a power cut).
    pub fn has_unsynced_writes(&self) -> bool {
        self.unsynced
    }
}

/// Bytes waiting to be appended under the write lock.
pub(super) struct Pending {
    pub(super) body: Vec<u8>,
    pub(super) body_start: u64,
    pub(super) batch: BatchWriter,
}

impl Pending {
    pub(super) fn add_text(&mut self, text: &str) -> Loc {
        let loc = Loc {
            offset: self.body_start + self.body.len() as u64,
            len: text.len() as u32,
            crc: crc32fast::hash(text.as_bytes()),
        };
        self.body.extend_from_slice(text.as_bytes());
        loc
    }

    pub(super) fn put(&mut self, doc: &Document) -> Loc {
        let loc = self.add_text(doc.json());
        self.batch.push(Op::Put { id: doc.id(), loc });
        loc
    }
}
