//! Catching up with other writers: before each write (under the exclusive lock), and on
//! demand for the mount's live view (`changed_on_disk`, `refresh`), a handle takes in what
//! other processes appended to the index, or follows the new generation their prune or
//! clear made, keeping its own unsaved changes; `reload` saves and re-reads.

use std::fs::{self};
use std::os::unix::fs::MetadataExt;

use super::commit::{self};
use super::format::{self, BatchWriter, Loc, Op, LEGACY_VERSION};
use super::lock::Guard;
use super::write::Pending;
use super::*;
use crate::document::Document;
use crate::error::{Error, Result};

impl DocumentArrayMemmap {
    /// How many times this handle has taken in other processes' changes without a
    /// [`reload`](Self::reload) (it does so before each write, under the lock). A cache of
    /// documents above the store drops what it holds when this changes.
    pub fn external_changes(&self) -> u64 {
        self.external_changes
    }

    /// Whether other processes changed the store's files since this handle last read them
    /// (appended to the index, or switched to a new generation by prune or clear). One
    /// `stat`, no lock: cheap enough to ask many times a second.
    pub fn changed_on_disk(&self) -> Result<bool> {
        let index_path = self.dir.join(INDEX_FILE);
        let meta = fs::metadata(&index_path)
            .map_err(|e| Error::io(format!("reading {}", index_path.display()), e))?;
        Ok((meta.dev(), meta.ino()) != self.files.index_id || meta.len() != self.files.index_len)
    }

    /// Takes in what other processes wrote since this handle last looked, the way a write
    /// does before it writes (their appends, replacements, deletes, renames, prunes and
    /// clears), keeping this handle's unsaved changes in the pool: unlike
    /// [`reload`](Self::reload) it saves nothing. Returns whether anything was taken in;
    /// [`external_changes`](Self::external_changes) counts it too.
    ///
    /// With `wait == false` it gives up (returns `Ok(false)`) when another process holds
    /// the store's lock, so a poller never stalls behind a long prune.
    pub fn refresh(&mut self, wait: bool) -> Result<bool> {
        if !self.changed_on_disk()? {
            return Ok(false);
        }
        let before = self.external_changes;
        if self.read_only {
            let guard = if wait {
                self.lock.shared().map(Some)
            } else {
                self.lock.try_shared()
            };
            let Some(_g) = guard.map_err(|e| Error::io("locking the store", e))? else {
                return Ok(false); // a writer is at work: look again later
            };
            let (files, table) = load(&self.dir, false)?;
            self.files = files;
            self.table = table;
            self.pool.clear();
            self.external_changes += 1;
            return Ok(true);
        }
        let guard = if wait {
            self.lock.exclusive()
        } else {
            match self.lock.try_exclusive() {
                Ok(Some(g)) => Ok(g),
                Ok(None) => return Ok(false),
                Err(e) => Err(e),
            }
        }
        .map_err(|e| Error::io("locking the store", e))?;
        let (_guard, _pending) = self.begin_write_locked(guard)?;
        Ok(self.external_changes != before)
    }

    /// Takes the write lock and brings this handle up to date with the files: follows a new
    /// generation made by another process's prune/clear, applies other writers' entries,
    /// and cuts a torn index tail. Returns the guard and a pending write positioned at the
    /// body's end.
    pub(super) fn begin_write(&mut self) -> Result<(Guard, Pending)> {
        self.writable()?;
        let guard = self
            .lock
            .exclusive()
            .map_err(|e| Error::io("locking the store", e))?;
        self.begin_write_locked(guard)
    }

    /// Fails with [`Error::StoreGone`] when the files at the store's path are not the ones
    /// this handle holds any more: the directory (or its lock file) was removed, or another
    /// directory was put in its place. A write must not go on then: it would land in files
    /// nobody will ever read, and a save would report durability that did not happen. The
    /// handle keeps its unsaved documents; once the same directory is back (moved back
    /// into place), writes work again.
    pub(super) fn check_store_identity(&self) -> Result<()> {
        let lock_path = self.dir.join(LOCK_FILE);
        let gone = |reason: String| Error::StoreGone {
            path: self.dir.clone(),
            reason,
            unsaved: self.unsaved_ids().len(),
        };
        let held = self.lock.identity();
        match fs::metadata(&lock_path) {
            Ok(m) if (m.dev(), m.ino()) == held => Ok(()),
            Ok(_) => Err(gone(
                "the directory at its path is another one (the store was replaced)".into(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(gone("it was removed (its lock file is gone)".into()))
            }
            Err(e) => Err(Error::io(format!("reading {}", lock_path.display()), e)),
        }
    }

    /// [`begin_write`](Self::begin_write) with the exclusive lock already taken.
    pub(super) fn begin_write_locked(&mut self, guard: Guard) -> Result<(Guard, Pending)> {
        self.check_store_identity()?;
        let index_path = self.dir.join(INDEX_FILE);
        let meta = fs::metadata(&index_path)
            .map_err(|e| Error::io(format!("reading {}", index_path.display()), e))?;
        if (meta.dev(), meta.ino()) != self.files.index_id {
            self.follow_new_generation()?;
        } else {
            let mut file_len = meta.len();
            if let Some((cut, seen)) = self.files.cut_at {
                // Unsaved batches whose texts a crash lost: cut them off before anything is
                // written after them (a later save would make them look saved). Only if
                // nobody wrote since this handle loaded: a writer that did cut first. Kept
                // until the cut succeeded.
                if file_len == seen {
                    self.files.index.set_len(cut).map_err(|e| {
                        Error::io(format!("truncating {}", index_path.display()), e)
                    })?;
                    file_len = cut;
                }
                self.files.cut_at = None;
            }
            self.catch_up(file_len)?;
        }
        let body_start = self
            .files
            .body
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", self.files.body_path.display()), e))?
            .len();
        self.files.body_len = body_start;
        let new_pending = |body_start| Pending {
            body: Vec::new(),
            body_start,
            batch: BatchWriter::new(),
        };
        if !self.orphans.is_empty() {
            // Dirty documents that another writer deleted (or whose store it replaced) are
            // written back now, in a write of their own: the caller may still fail and drop
            // its pending write, and these changes must not be lost with it. They stay in
            // `self.orphans` until that write succeeded, so a failed one is retried.
            let mut pending = new_pending(body_start);
            let locs: Vec<Loc> = self.orphans.iter().map(|d| pending.put(d)).collect();
            self.finish_write(pending, false)?;
            let orphans = std::mem::take(&mut self.orphans);
            for (doc, loc) in orphans.iter().zip(locs) {
                // The other writer may have created the id again: then ours replaces it.
                match self.table.find(doc.id()) {
                    Some(slot) => {
                        self.table.set_loc(slot, loc);
                        self.pool.remove(&slot);
                    }
                    None => {
                        self.table.push(doc.id(), loc);
                    }
                }
            }
        }
        let pending = new_pending(self.files.body_len);
        Ok((guard, pending))
    }

    /// Another process replaced the store (prune or clear): load the new files, keeping this
    /// handle's unsaved changes. Dirty documents whose ids no longer exist become orphans.
    pub(super) fn follow_new_generation(&mut self) -> Result<()> {
        // Load first: if that fails, the pool (and its unsaved changes) is left as it was.
        let (files, table) = load(&self.dir, true)?;
        self.external_changes += 1;
        let dirty: Vec<Document> = self
            .pool
            .drain()
            .into_iter()
            .filter(|(_, e)| e.dirty)
            .map(|(_, e)| e.doc)
            .collect();
        self.files = files;
        self.table = table;
        for doc in dirty {
            match self.table.find(doc.id()) {
                Some(slot) => {
                    if let Err(unplaced) = self.pool.put(slot, doc, true) {
                        self.orphans.push(unplaced.doc);
                    }
                }
                None => self.orphans.push(doc),
            }
        }
        Ok(())
    }

    /// Applies entries other writers appended since this handle last read the index.
    /// Dirty documents whose ids they deleted become orphans.
    pub(super) fn catch_up(&mut self, file_len: u64) -> Result<()> {
        let from = self.files.index_len;
        if file_len == from {
            return Ok(());
        }
        let index_path = self.dir.join(INDEX_FILE);
        let mut bytes = vec![0u8; file_len.saturating_sub(from) as usize];
        self.files
            .index
            .read_exact_at(&mut bytes, from)
            .map_err(|e| Error::io(format!("reading {}", index_path.display()), e))?;
        self.external_changes += 1;
        let committed = self.committed_index_len()?;
        let (table, pool) = (&mut self.table, &mut self.pool);
        // Collected here and kept even if the scan fails half-way: the pool has let go of
        // them by then.
        let mut orphans = Vec::new();
        // Other writers append texts before the entries naming them: nothing to verify.
        let scan = format::scan_index(
            &index_path,
            &bytes,
            from,
            committed,
            |_| true,
            |op, _| {
                match op {
                    Op::Put { id, loc } => match table.find(id) {
                        Some(slot) => {
                            table.set_loc(slot, loc);
                            if pool.peek(&slot).is_some_and(|e| !e.dirty) {
                                pool.remove(&slot);
                            }
                        }
                        None => {
                            table.push(id, loc);
                        }
                    },
                    Op::Delete { id } => {
                        if let Some(slot) = table.find(id) {
                            if let Some(e) = pool.remove(&slot) {
                                if e.dirty {
                                    orphans.push(e.doc);
                                }
                            }
                            table.remove_slot(slot);
                        }
                    }
                    Op::Rename { from, to } => {
                        if let Some(slot) = table.find(from) {
                            if let Some(other) = table.find(to) {
                                pool.remove(&other);
                                table.remove_slot(other);
                            }
                            table.rename(slot, to);
                            if let Some(e) = pool.remove(&slot) {
                                if e.dirty {
                                    match e.doc.with_id(to) {
                                        Ok(doc) => {
                                            if let Err(unplaced) = pool.put(slot, doc, true) {
                                                orphans.push(unplaced.doc);
                                            }
                                        }
                                        Err(_) => orphans.push(e.doc),
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(())
            },
        );
        self.orphans.append(&mut orphans);
        let scan = scan?;
        if let Some((at, n)) = scan.torn {
            log::warn!(
                "{}: dropping a torn tail of {n} bytes at offset {at}",
                index_path.display()
            );
            self.files
                .index
                .set_len(scan.valid_len)
                .map_err(|e| Error::io(format!("truncating {}", index_path.display()), e))?;
        }
        self.files.index_len = scan.valid_len;
        Ok(())
    }

    /// How much of the index the latest save made durable (read under the lock: another
    /// writer may have saved since). A version-1 index records none.
    pub(super) fn committed_index_len(&self) -> Result<u64> {
        if self.files.version == LEGACY_VERSION {
            return Ok(self.files.data_start);
        }
        let index_path = self.dir.join(INDEX_FILE);
        Ok(commit::read(&self.files.index, &index_path, self.files.generation)?.index_len)
    }

    /// Re-reads the store from disk (other processes' saved changes, prunes, clears).
    /// Unsaved changes of this handle are saved first, never dropped.
    pub fn reload(&mut self) -> Result<()> {
        self.save()?;
        let _g = self
            .lock
            .shared()
            .map_err(|e| Error::io("locking the store", e))?;
        let (files, table) = load(&self.dir, !self.read_only)?;
        self.files = files;
        self.table = table;
        self.pool.clear();
        Ok(())
    }
}
