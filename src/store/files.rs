//! The files of one generation (the open index and body, the body's memory map, reading a
//! text and checking it), writing a new generation, and the store directory's housekeeping.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::commit::{self, Commit};
use super::format::{self, BatchWriter, Loc, Op, BODY_MAGIC, FILE_HEADER_LEN, INDEX_DATA_START};
use super::io::{self, StoreFile};
use super::*;
use crate::document::Document;
use crate::error::{Error, Result};

/// The open files of one generation.
pub(super) struct Files {
    pub(super) generation: u64,
    /// The generation in the body file's name (older than `generation` after the index
    /// alone was compacted).
    pub(super) body_generation: u64,
    /// The index's format version (a version-1 index has no commit records).
    pub(super) version: u32,
    /// Where the index's batches start.
    pub(super) data_start: u64,
    pub(super) index: StoreFile,
    pub(super) index_id: (u64, u64),
    /// How much of the index has been read (or written) by this handle.
    pub(super) index_len: u64,
    pub(super) body: StoreFile,
    pub(super) body_path: PathBuf,
    /// The body file's length as last seen.
    pub(super) body_len: u64,
    pub(super) map: Option<Mmap>,
    /// Where the next write cuts the index, and the index's length when that was decided
    /// (see `IndexScan::lost`).
    pub(super) cut_at: Option<(u64, u64)>,
}

impl Files {
    /// Maps the body file again once the unmapped tail is worth it (1 MiB, or an eighth of
    /// the mapping): texts in the tail are read with `pread` meanwhile, so a run of small
    /// appends (`cp` of many new documents through the mount) does not remap every time.
    pub(super) fn remap(&mut self) {
        let mapped = self.map.as_ref().map_or(0, |m| m.len() as u64);
        let tail = self.body_len.saturating_sub(mapped);
        if tail > 0 && (mapped == 0 || tail >= (1 << 20).max(mapped / 8)) {
            // SAFETY: the body file is only appended to while a generation is live; a failed
            // write cuts it back, under the exclusive lock, only to the length it had when
            // it took the lock, and maps are made under the lock: no map covers cut bytes,
            // and mapped bytes never change under us.
            self.map = unsafe { Mmap::map(self.body.file()) }.ok();
        }
    }

    /// Whether `index.dam` in `dir` is still the file these were loaded from (no other
    /// process switched generations since).
    pub(super) fn is_current(&self, dir: &Path) -> bool {
        std::fs::metadata(dir.join(INDEX_FILE)).is_ok_and(|m| (m.dev(), m.ino()) == self.index_id)
    }

    /// Reads a document's text, checking its checksum.
    pub(super) fn read(&self, id: &str, loc: Loc) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; loc.len as usize];
        match self.map.as_ref() {
            Some(m) if loc.end() <= m.len() as u64 => {
                buf.copy_from_slice(&m[loc.offset as usize..loc.end() as usize])
            }
            _ => self.body.read_exact_at(&mut buf, loc.offset).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    self.corrupt(loc.offset, format!("document {id:?} is cut short"))
                } else {
                    Error::io(format!("reading {}", self.body_path.display()), e)
                }
            })?,
        }
        self.check(id, loc, &buf)?;
        Ok(buf)
    }

    /// Calls `f` with a document's text straight from the mapping when it is mapped.
    pub(super) fn with_bytes<R>(
        &self,
        id: &str,
        loc: Loc,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        if let Some(m) = self.map.as_ref() {
            if loc.end() <= m.len() as u64 {
                let bytes = &m[loc.offset as usize..loc.end() as usize];
                self.check(id, loc, bytes)?;
                return Ok(f(bytes));
            }
        }
        let buf = self.read(id, loc)?;
        Ok(f(&buf))
    }

    pub(super) fn check(&self, id: &str, loc: Loc, bytes: &[u8]) -> Result<()> {
        if crc32fast::hash(bytes) != loc.crc {
            return Err(self.corrupt(loc.offset, format!("checksum mismatch in document {id:?}")));
        }
        Ok(())
    }

    pub(super) fn corrupt(&self, offset: u64, reason: String) -> Error {
        Error::Corrupt {
            file: self.body_path.clone(),
            offset,
            reason,
        }
    }
}

pub(super) fn io_at(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Error {
    let context = format!("{what} {}", path.display());
    move |e| Error::io(context, e)
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    io::sync_dir(dir).map_err(io_at(dir, "syncing"))
}

/// Writes a new generation's body and index (`index.dam.tmp`), fsyncs them and renames the
/// index into place: the one atomic step that switches the store to the new generation.
pub(super) struct GenerationWriter {
    pub(super) dir: PathBuf,
    pub(super) generation: u64,
    pub(super) body_path: PathBuf,
    pub(super) body: BufWriter<StoreFile>,
    pub(super) body_len: u64,
    pub(super) batch: BatchWriter,
}

impl GenerationWriter {
    pub(super) fn new(dir: &Path, generation: u64) -> Result<Self> {
        let body_path = dir.join(body_name(generation));
        let file = io::open(
            OpenOptions::new().write(true).create(true).truncate(true),
            &body_path,
        )
        .map_err(io_at(&body_path, "creating"))?;
        let mut body = BufWriter::with_capacity(1 << 20, file);
        body.write_all(&format::file_header(BODY_MAGIC, generation))
            .map_err(io_at(&body_path, "writing"))?;
        Ok(GenerationWriter {
            dir: dir.to_owned(),
            generation,
            body_path,
            body,
            body_len: FILE_HEADER_LEN,
            batch: BatchWriter::new(),
        })
    }

    pub(super) fn add(&mut self, id: &str, text: &[u8]) -> Result<()> {
        let loc = Loc {
            offset: self.body_len,
            len: text.len() as u32,
            crc: crc32fast::hash(text),
        };
        self.body
            .write_all(text)
            .map_err(io_at(&self.body_path, "writing"))?;
        self.body_len += text.len() as u64;
        self.batch.push(Op::Put { id, loc });
        Ok(())
    }

    pub(super) fn finish(self) -> Result<()> {
        let file = self.body.into_inner().map_err(|e| {
            Error::io(
                format!("writing {}", self.body_path.display()),
                e.into_error(),
            )
        })?;
        file.sync_all().map_err(io_at(&self.body_path, "syncing"))?;
        let batches = self.batch.finish(true);
        switch_index(
            &self.dir,
            self.generation,
            self.generation,
            batches,
            self.body_len,
        )
    }
}

/// Writes `index.dam.tmp` for `generation` naming the body `body_generation` (already
/// fsynced, `body_len` bytes long), fsyncs it and renames it over `index.dam`: the one
/// atomic step that switches the store to the new index.
pub(super) fn switch_index(
    dir: &Path,
    generation: u64,
    body_generation: u64,
    batches: Vec<u8>,
    body_len: u64,
) -> Result<()> {
    {
        let tmp = dir.join(INDEX_TMP);
        // Header, the first commit record (everything is durable once this file is renamed
        // into place), an empty second slot, then the batches.
        let mut index = vec![0u8; INDEX_DATA_START as usize];
        index[..FILE_HEADER_LEN as usize]
            .copy_from_slice(&format::index_header(generation, body_generation));
        let first = Commit {
            seq: 1,
            index_len: INDEX_DATA_START + batches.len() as u64,
            body_len,
        };
        let at = commit::COMMIT_SLOTS[1] as usize;
        index[at..at + commit::COMMIT_LEN].copy_from_slice(&commit::encode(&first, generation));
        index.extend(batches);
        let mut f = io::open(
            OpenOptions::new().write(true).create(true).truncate(true),
            &tmp,
        )
        .map_err(io_at(&tmp, "creating"))?;
        f.write_all(&index).map_err(io_at(&tmp, "writing"))?;
        f.sync_all().map_err(io_at(&tmp, "syncing"))?;
        sync_dir(dir)?;
        let index_path = dir.join(INDEX_FILE);
        io::rename(&tmp, &index_path).map_err(io_at(&index_path, "replacing"))?;
    }
    sync_dir(dir)
}

/// Creates a generation holding `docs` (used for a new store and by `clear`).
pub(super) fn create_generation(dir: &Path, generation: u64, docs: &[Document]) -> Result<()> {
    let mut w = GenerationWriter::new(dir, generation)?;
    for d in docs {
        w.add(d.id(), d.json().as_bytes())?;
    }
    w.finish()
}

/// A directory without an index becomes a new store only if it holds nothing but what a
/// store's own creation could have left: never litter (or later prune) someone's folder.
pub(super) fn refuse_foreign_dir(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(io_at(dir, "listing"))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // An empty body (header only) is what an interrupted creation leaves; one with
        // texts in it belongs to a store whose index is missing: never overwrite that.
        let empty_body = name.starts_with("body-")
            && name.ends_with(".dam")
            && entry.metadata().is_ok_and(|m| m.len() <= FILE_HEADER_LEN);
        let ours = name == LOCK_FILE || name == INDEX_TMP || empty_body;
        if !ours {
            return Err(Error::NotAStore {
                path: dir.to_owned(),
                reason: format!(
                    "it is not empty (it holds {name:?}) and has no {INDEX_FILE}{}",
                    jina_hint(dir)
                ),
            });
        }
    }
    Ok(())
}

/// What to say when a directory that is no damfs store is one of the original's (Jina's
/// `header.bin` + `body.bin`): how damfs takes such a store.
pub(crate) fn jina_hint(dir: &Path) -> String {
    if !(dir.join("header.bin").is_file() && dir.join("body.bin").is_file()) {
        return String::new();
    }
    let shown = dir.display();
    format!(
        "; it is a Jina DocumentArrayMemmap store: convert it with `damfs import NEW_STORE \
         {shown}`, or serve it as it is with `damfs mount {shown} MOUNTPOINT --read-only`"
    )
}

/// Removes what an interrupted prune or clear left: `index.dam.tmp` and bodies of other
/// generations than `current`, the one a valid `index.dam` was just loaded with (never the
/// one its header merely names: a damaged header would make the real body look like a
/// leftover). Called with the write lock held.
pub(super) fn cleanup_orphans(dir: &Path, current: u64) -> Result<()> {
    let keep = body_name(current);
    let entries = fs::read_dir(dir).map_err(io_at(dir, "listing"))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let orphan = name == INDEX_TMP
            || (name.starts_with("body-") && name.ends_with(".dam") && name != keep);
        if orphan {
            log::info!("{}: removing leftover {name}", dir.display());
            if let Err(e) = io::remove_file(&entry.path()) {
                log::warn!("{}: could not remove leftover {name}: {e}", dir.display());
            }
        }
    }
    Ok(())
}
