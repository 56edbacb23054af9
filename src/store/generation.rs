//! New generations: `clear` and `prune` write new files beside the old ones and switch to
//! them with one atomic rename.

use std::fs::{self};
use std::io::{self};

use super::files::*;
use super::pool::{self};
use super::table::SlotNo;
use super::*;
use crate::error::{Error, Result};

impl DocumentArrayMemmap {
    /// Removes every document, on disk and in the pool.
    pub fn clear(&mut self) -> Result<()> {
        let (_guard, _pending) = self.begin_write()?;
        let generation = self.files.generation + 1;
        create_generation(&self.dir, generation, &[])?;
        self.finish_generation()?;
        self.pool.clear();
        Ok(())
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
            let mut writer = GenerationWriter::new(&dir, generation)?;
            for &slot in &order {
                let id = self.table.id(slot);
                match self.pool.peek(slot) {
                    Some(e) => writer.add(id, e.doc.json().as_bytes())?,
                    None => {
                        let loc = self.table.loc(slot);
                        self.files.with_bytes(id, loc, |b| writer.add(id, b))??;
                    }
                }
            }
            writer.finish()?;
        }
        // Pool entries are all clean in the new generation; re-key them by new slot.
        let pooled: Vec<(SlotNo, pool::Entry)> = self.pool.drain();
        self.finish_generation()?;
        let new_slot: std::collections::HashMap<SlotNo, SlotNo> = order
            .iter()
            .enumerate()
            .map(|(pos, &old)| (old, pos as SlotNo))
            .collect();
        for (old, e) in pooled {
            if let Some(&s) = new_slot.get(&old) {
                self.pool.put(s, e.doc, false);
            }
        }
        Ok(())
    }

    /// After a new generation's files are in place: load them and remove the old body.
    pub(super) fn finish_generation(&mut self) -> Result<()> {
        let (files, table) = load(&self.dir, true)?;
        let old_body = std::mem::replace(&mut self.files, files).body_path;
        self.table = table;
        self.unsynced = false;
        if let Err(e) = fs::remove_file(&old_body) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(Error::io(format!("removing {}", old_body.display()), e));
            }
        }
        cleanup_orphans(&self.dir)
    }
}
