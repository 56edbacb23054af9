//! `DocumentArrayMemmap`: a large array of JSON documents kept on disk, with only a compact
//! lookup table and an LRU buffer pool in memory.
//!
//! A store is a directory:
//!
//! ```text
//! index.dam        the index: a log of batches of PUT/DELETE/RENAME entries (see `format`)
//! body-<gen>.dam   the documents' JSON texts, appended
//! lock             the advisory lock file
//! ```
//!
//! Appends, deletes and renames are written through at once (not fsynced); replacing a
//! document's content goes to the buffer pool and reaches disk when it leaves the pool, on
//! [`save`](DocumentArrayMemmap::save) (which fsyncs), or when the handle is dropped.
//! [`prune`](DocumentArrayMemmap::prune) and [`clear`](DocumentArrayMemmap::clear) start a new
//! generation: new files are written beside the old ones, fsynced, and `index.dam` is renamed
//! over in one atomic step.
//!
//! The code, by concern: `mod.rs` the handle and opening; `read` lookups and documents;
//! `edit` the public changes; `write` the write path, saves and the pool's write-behind;
//! `sync` catching up with other writers; `generation` prune and clear. Below them, the
//! memmap backend: `files` and `load` (one generation's files), `format` and `commit` (the
//! bytes on disk), `table` and `ranks` (the lookup table), `pool`, `lock`.

mod commit;
mod edit;
mod files;
mod format;
mod generation;
#[doc(hidden)] // public for the fault campaign only (`io::faults`)
pub mod io;
mod load;
mod lock;
mod ranks;
mod read;
mod slice;
mod sync;
mod table;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};

pub use format::FORMAT_VERSION;
pub use read::Iter;
#[cfg(feature = "postgres")]
pub(crate) use slice::position;
pub use slice::Slice;

use crate::document::Document;
use crate::error::{Error, Result};
use files::{cleanup_orphans, create_generation, refuse_foreign_dir, Files};
use format::LEGACY_VERSION;
use load::load;
use lock::LockFile;
use table::{SlotNo, Table};

use crate::pool::Pool;

const INDEX_FILE: &str = "index.dam";
const INDEX_TMP: &str = "index.dam.tmp";
const LOCK_FILE: &str = "lock";

fn body_name(generation: u64) -> String {
    format!("body-{generation}.dam")
}

/// How to open a store.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Documents kept in the LRU buffer pool (0: write every change through).
    pub buffer_pool_size: usize,
    /// Open without creating anything; every write fails with [`Error::ReadOnly`].
    pub read_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            buffer_pool_size: 1000,
            read_only: false,
        }
    }
}

/// Figures about a store (what `damfs stat` prints).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stats {
    pub length: usize,
    pub pool_size: usize,
    pub pool_used: usize,
    pub pool_dirty: usize,
    /// Bytes of the store's files on disk.
    pub bytes: u64,
    pub index_bytes: u64,
    pub body_bytes: u64,
    /// Bytes that `prune` would reclaim.
    pub garbage_bytes: u64,
    pub format_version: u32,
    pub generation: u64,
    /// Heap bytes of the in-memory lookup table.
    pub table_bytes: usize,
}

/// A store of JSON documents on disk. See the [module docs](self).
pub struct DocumentArrayMemmap {
    dir: PathBuf,
    read_only: bool,
    lock: LockFile,
    files: Files,
    table: Table,
    pool: Pool<SlotNo>,
    /// Something was written since the last fsync.
    unsynced: bool,
    /// Counts the times this handle took in other processes' changes on its own (catching
    /// up before a write, following a new generation), so that a cache above it (the mount)
    /// knows to drop what it holds.
    external_changes: u64,
    /// Dirty documents that left the pool without being written: their id was deleted (or
    /// their store replaced) by another writer. Written back as new documents at the next
    /// write, and kept here until that write succeeds.
    orphans: Vec<Document>,
    /// A switch to new files reported an error after its rename: the next save fsyncs the
    /// store directory as well.
    dir_unsynced: bool,
}

/// Body bytes `extend` buffers before writing them.
const EXTEND_CHUNK: usize = 1 << 20;

/// How many dirty documents an eviction writes at once (see `make_room`).
const WRITE_BEHIND: usize = 64;

/// Largest document text, in bytes (lengths are 32-bit in the index).
pub const MAX_DOC_LEN: usize = u32::MAX as usize;

impl DocumentArrayMemmap {
    /// Opens the store at `path`, creating it if needed, with a pool of 1000 documents.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Opens the store at `path` with the given options.
    pub fn open_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        let path = path.as_ref();
        if std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::NotAStore {
                path: path.to_owned(),
                reason: "it is a file, not a directory".into(),
            });
        }
        if !opts.read_only {
            io::create_dir_all(path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        }
        let dir = path
            .canonicalize()
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        if !opts.read_only && !dir.join(INDEX_FILE).exists() {
            refuse_foreign_dir(&dir)?;
        }
        let lock_path = dir.join(LOCK_FILE);
        if opts.read_only {
            // A read-only open creates nothing: without a lock file and an index this is
            // no store (the same error as the writable open's).
            let missing = match (lock_path.exists(), dir.join(INDEX_FILE).exists()) {
                (true, true) => None,
                (false, true) => Some(format!("it has no {LOCK_FILE} file")),
                (true, false) => Some(format!("it has no {INDEX_FILE}")),
                (false, false) => Some(format!("it has no {INDEX_FILE} and no {LOCK_FILE} file")),
            };
            if let Some(reason) = missing {
                return Err(Error::NotAStore {
                    reason: reason + &files::jina_hint(&dir),
                    path: dir,
                });
            }
        }
        let lock = LockFile::open(&lock_path, !opts.read_only)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        if !opts.read_only {
            let _g = lock
                .exclusive()
                .map_err(|e| Error::io("locking the store", e))?;
            if !dir.join(INDEX_FILE).exists() {
                create_generation(&dir, 1, &[])?;
            }
        }
        let (files, table) = {
            let _g = lock
                .shared()
                .map_err(|e| Error::io("locking the store", e))?;
            load(&dir, !opts.read_only)?
        };
        if !opts.read_only {
            // Leftovers are known only once the current generation loaded: remove them
            // unless another process switched generations meanwhile (its open or switch
            // tidies up after itself).
            let _g = lock
                .exclusive()
                .map_err(|e| Error::io("locking the store", e))?;
            if files.is_current(&dir) {
                cleanup_orphans(&dir, files.body_generation)?;
            }
        }
        let mut dam = DocumentArrayMemmap {
            dir,
            read_only: opts.read_only,
            lock,
            files,
            table,
            pool: Pool::new(opts.buffer_pool_size),
            unsynced: false,
            external_changes: 0,
            orphans: Vec::new(),
            dir_unsynced: false,
        };
        if !opts.read_only && dam.files.version == LEGACY_VERSION {
            // Version 1 records no commit: writing into it would keep saved data that a
            // truncation can silently drop. A prune rewrites it as the current version, with
            // the same documents in the same order, crash-safe.
            log::info!(
                "{}: upgrading the store from format version {LEGACY_VERSION} to {FORMAT_VERSION}",
                dam.dir.display()
            );
            dam.prune()?;
        }
        Ok(dam)
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

impl Drop for DocumentArrayMemmap {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            log::error!("{}: could not save on close: {e}", self.dir.display());
            let lost = self.unsaved_ids();
            if !lost.is_empty() {
                // Say what goes with the handle: these changes exist nowhere else.
                let shown: Vec<&str> = lost.iter().take(20).map(String::as_str).collect();
                log::error!(
                    "{}: {} unsaved document(s) lost on close: {}{}",
                    self.dir.display(),
                    lost.len(),
                    shown.join(", "),
                    if lost.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                );
            }
        }
    }
}

impl PartialEq for DocumentArrayMemmap {
    /// Two handles are equal when they are on the same store directory.
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl fmt::Debug for DocumentArrayMemmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<DocumentArrayMemmap (length={}) at {}>",
            self.len(),
            self.dir.display()
        )
    }
}
