//! New generations: `clear` and `prune` write new files beside the old ones, and the index
//! compaction writes a new index over the same body; each switches with one atomic rename.

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;

use super::files::*;
use super::format::{BatchWriter, Op};
use super::io;
use super::table::SlotNo;
use super::*;
use crate::error::{Error, Result};

/// The index is compacted once its garbage (entries of deleted, renamed and replaced
/// documents, and the deletes themselves) is half its live entries and at least this big.
const COMPACT_MIN_GARBAGE: u64 = 4 << 20;

impl DocumentArrayMemmap {
    /// Removes every document, on disk and in the pool.
    pub fn clear(&mut self) -> Result<()> {
        let (_guard, _pending) = self.begin_write()?;
        let generation = self.files.generation + 1;
        let made = create_generation(&self.dir, generation, &[]);
        if made.is_err() && !self.switched()? {
            self.discard_new_files(Some(generation));
            return made;
        }
        // The switch is done (even if fsyncing the directory after it failed): whatever
        // happens next, no pool entry may outlive it (they are keyed by the old table's
        // slots), and this handle must show the new files.
        self.pool.clear();
        self.orphans.clear();
        self.note_switch_error(&made);
        self.finish_generation()?;
        made
    }

    /// A switch that failed before its rename leaves `index.dam.tmp` and (prune, clear) a
    /// partial new body: remove them now, since on a full disk they hold the very space a
    /// retry needs (a writable open would remove them too).
    fn discard_new_files(&self, new_body_generation: Option<u64>) {
        let mut leftovers = vec![self.dir.join(INDEX_TMP)];
        leftovers.extend(new_body_generation.map(|g| self.dir.join(body_name(g))));
        for path in leftovers {
            if let Err(e) = io::remove_file(&path) {
                if e.kind() != ErrorKind::NotFound {
                    log::warn!("could not remove {}: {e}", path.display());
                }
            }
        }
    }

    /// Whether `index.dam` is another file than the one this handle holds: a switch it
    /// attempted happened although the call reported an error (the directory fsync after
    /// the rename failed).
    fn switched(&self) -> Result<bool> {
        let index_path = self.dir.join(INDEX_FILE);
        let meta = std::fs::metadata(&index_path)
            .map_err(|e| Error::io(format!("reading {}", index_path.display()), e))?;
        Ok((meta.dev(), meta.ino()) != self.files.index_id)
    }

    /// A switch that took place but reported an error (from after its rename) may not be
    /// durable yet: the next save fsyncs the store directory too.
    fn note_switch_error(&mut self, made: &Result<()>) {
        if made.is_err() {
            self.unsynced = true;
            self.dir_unsynced = true;
        }
    }

    /// Rewrites the store with only its live documents, in order, into a new generation;
    /// crash-safe (the old store stays complete until one atomic rename) and leaves no
    /// temporary files.
    pub fn prune(&mut self) -> Result<()> {
        let (_guard, pending) = self.begin_write()?;
        self.finish_write(pending, false)?;
        let generation = self.files.generation + 1;
        // Stream the texts: only ids and lengths are collected, not the documents.
        let order: Vec<SlotNo> = self.table.live_slots().collect();
        let dir = self.dir.clone();
        {
            let made = (|| {
                let mut writer = GenerationWriter::new(&dir, generation)?;
                for &slot in &order {
                    let id = self.table.id(slot);
                    match self.pool.peek(&slot) {
                        Some(e) => writer.add(id, e.doc.json().as_bytes())?,
                        None => {
                            let loc = self.table.loc(slot);
                            self.files.with_bytes(id, loc, |b| writer.add(id, b))??;
                        }
                    }
                }
                writer.finish()
            })();
            if made.is_err() && !self.switched()? {
                self.discard_new_files(Some(generation));
                return made;
            }
            // The pool's texts (dirty ones too) are in the new generation: they are all
            // clean there, under the slot of their position.
            self.note_switch_error(&made);
            self.finish_generation()?;
            self.rekey_pool(|_, _| false);
            made
        }
    }

    /// Rewrites `index.dam` with one PUT per live document, in order, over the same body, so
    /// that opening the store replays live documents only. Runs when deletes (and renames
    /// and replacements) have left enough garbage in the index that the rewrite costs less
    /// than half what made it: amortised O(1) per delete.
    pub(super) fn compact_index_if_worth_it(&mut self) -> Result<()> {
        let garbage = self.index_garbage();
        if self.read_only
            || self.files.version == format::LEGACY_VERSION
            || garbage < COMPACT_MIN_GARBAGE
            || garbage * 2 < self.live_index_bytes()
        {
            return Ok(());
        }
        self.compact_index()
    }

    /// Rewrites `index.dam` with one entry per live document (the body is kept as it is),
    /// so that opening the store replays only live documents. Writes and deletes do this on
    /// their own once the index holds enough garbage; it is crash-safe like `prune` (a new
    /// file renamed over the old one) and makes everything written so far durable.
    pub fn compact_index(&mut self) -> Result<()> {
        let (_guard, pending) = self.begin_write()?;
        self.finish_write(pending, false)?;
        // The new index names the body's texts as saved: they must be on disk first.
        self.files
            .body
            .sync_data()
            .map_err(|e| Error::io(format!("syncing {}", self.files.body_path.display()), e))?;
        let mut batch = BatchWriter::new();
        for slot in self.table.live_slots() {
            batch.push(Op::Put {
                id: self.table.id(slot),
                loc: self.table.loc(slot),
            });
        }
        let made = switch_index(
            &self.dir,
            self.files.generation + 1,
            self.files.body_generation,
            batch.finish(true),
            self.files.body_len,
        );
        if made.is_err() && !self.switched()? {
            self.discard_new_files(None);
            return made;
        }
        self.note_switch_error(&made);
        let (files, table) = match load(&self.dir, true) {
            Ok(loaded) => loaded,
            Err(e) => {
                // Switched but not loaded: the next write follows the new index.
                self.unsynced = true;
                return Err(e);
            }
        };
        self.files = files;
        self.table = table;
        self.unsynced = made.is_err();
        // Same documents, new slots: the pool keeps what it holds, dirty or not.
        self.rekey_pool(|_, dirty| dirty);
        made
    }

    /// Puts the pool's documents back under their ids' slots in the current table.
    /// `dirty(doc, was_dirty)` says whether each stays dirty.
    fn rekey_pool(&mut self, dirty: impl Fn(&crate::Document, bool) -> bool) {
        for (_, e) in self.pool.drain() {
            let keep_dirty = dirty(&e.doc, e.dirty);
            match self.table.find(e.doc.id()) {
                Some(slot) => {
                    if let Err(evicted) = self.pool.put(slot, e.doc, keep_dirty) {
                        // The pool held these very documents, so they fit; should one not,
                        // it is written at the next write rather than dropped.
                        self.orphans.push(evicted.doc);
                    }
                }
                None if keep_dirty => self.orphans.push(e.doc),
                None => {}
            }
        }
    }

    /// After a new generation's files are in place: load them and remove the old body.
    /// The switch has happened by then, so failing to tidy up is only a warning: the next
    /// writable open removes what is left.
    pub(super) fn finish_generation(&mut self) -> Result<()> {
        let (files, table) = match load(&self.dir, true) {
            Ok(loaded) => loaded,
            Err(e) => {
                // The switch happened but this handle still holds the old files: the next
                // write (a save included) follows the new generation, as after another
                // process's prune.
                self.unsynced = true;
                return Err(e);
            }
        };
        let old_body = std::mem::replace(&mut self.files, files).body_path;
        self.table = table;
        self.unsynced = false;
        if old_body != self.files.body_path {
            if let Err(e) = io::remove_file(&old_body) {
                if e.kind() != ErrorKind::NotFound {
                    log::warn!("could not remove {}: {e}", old_body.display());
                }
            }
        }
        if let Err(e) = cleanup_orphans(&self.dir, self.files.body_generation) {
            log::warn!("{}: could not remove leftovers: {e}", self.dir.display());
        }
        Ok(())
    }
}
