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

mod commit;
mod format;
mod lock;
mod pool;
mod ranks;
mod slice;
mod table;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use format::FORMAT_VERSION;
pub use slice::Slice;

use crate::document::Document;
use crate::error::{Error, Result};
use commit::Commit;
use format::{
    BatchWriter, Header, Loc, Op, BODY_MAGIC, FILE_HEADER_LEN, INDEX_DATA_START, INDEX_MAGIC,
    LEGACY_VERSION,
};
use lock::{Guard, LockFile};
use pool::Pool;
use table::{SlotNo, Table};

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

/// The open files of one generation.
struct Files {
    generation: u64,
    /// The index's format version (a version-1 index has no commit records).
    version: u32,
    /// Where the index's batches start.
    data_start: u64,
    index: File,
    index_id: (u64, u64),
    /// How much of the index has been read (or written) by this handle.
    index_len: u64,
    body: File,
    body_path: PathBuf,
    /// The body file's length as last seen.
    body_len: u64,
    map: Option<Mmap>,
}

impl Files {
    /// Maps the body file again once the unmapped tail is worth it (1 MiB, or an eighth of
    /// the mapping): texts in the tail are read with `pread` meanwhile, so a run of small
    /// appends (`cp` of many new documents through the mount) does not remap every time.
    fn remap(&mut self) {
        let mapped = self.map.as_ref().map_or(0, |m| m.len() as u64);
        let tail = self.body_len.saturating_sub(mapped);
        if tail > 0 && (mapped == 0 || tail >= (1 << 20).max(mapped / 8)) {
            // SAFETY: the body file is only ever appended to (never truncated or rewritten
            // while a generation is live), so mapped bytes never change under us.
            self.map = unsafe { Mmap::map(&self.body) }.ok();
        }
    }

    /// Reads a document's text, checking its checksum.
    fn read(&self, id: &str, loc: Loc) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; loc.len as usize];
        match self.map.as_ref() {
            Some(m) if loc.end() <= m.len() as u64 => {
                buf.copy_from_slice(&m[loc.offset as usize..loc.end() as usize])
            }
            _ => self.body.read_exact_at(&mut buf, loc.offset).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
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
    fn with_bytes<R>(&self, id: &str, loc: Loc, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
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

    fn check(&self, id: &str, loc: Loc, bytes: &[u8]) -> Result<()> {
        if crc32fast::hash(bytes) != loc.crc {
            return Err(self.corrupt(loc.offset, format!("checksum mismatch in document {id:?}")));
        }
        Ok(())
    }

    fn corrupt(&self, offset: u64, reason: String) -> Error {
        Error::Corrupt {
            file: self.body_path.clone(),
            offset,
            reason,
        }
    }
}

/// Bytes waiting to be appended under the write lock.
struct Pending {
    body: Vec<u8>,
    body_start: u64,
    batch: BatchWriter,
}

impl Pending {
    fn add_text(&mut self, text: &str) -> Loc {
        let loc = Loc {
            offset: self.body_start + self.body.len() as u64,
            len: text.len() as u32,
            crc: crc32fast::hash(text.as_bytes()),
        };
        self.body.extend_from_slice(text.as_bytes());
        loc
    }

    fn put(&mut self, doc: &Document) -> Loc {
        let loc = self.add_text(doc.json());
        self.batch.push(Op::Put { id: doc.id(), loc });
        loc
    }
}

/// A store of JSON documents on disk. See the [module docs](self).
pub struct DocumentArrayMemmap {
    dir: PathBuf,
    read_only: bool,
    lock: LockFile,
    files: Files,
    table: Table,
    pool: Pool,
    /// Something was written since the last fsync.
    unsynced: bool,
    /// Counts the times this handle took in other processes' changes on its own (catching
    /// up before a write, following a new generation), so that a cache above it (the mount)
    /// knows to drop what it holds.
    external_changes: u64,
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
        if !opts.read_only {
            fs::create_dir_all(path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        }
        let dir = path
            .canonicalize()
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        if !opts.read_only && !dir.join(INDEX_FILE).exists() {
            refuse_foreign_dir(&dir)?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = match LockFile::open(&lock_path, !opts.read_only) {
            Ok(l) => l,
            Err(e) if opts.read_only && e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::io(
                    format!("{} is not a damfs store", dir.display()),
                    e,
                ))
            }
            Err(e) => return Err(Error::io(format!("opening {}", lock_path.display()), e)),
        };
        if !opts.read_only {
            let _g = lock
                .exclusive()
                .map_err(|e| Error::io("locking the store", e))?;
            if !dir.join(INDEX_FILE).exists() {
                create_generation(&dir, 1, &[])?;
            }
            cleanup_orphans(&dir)?;
        }
        let (files, table) = {
            let _g = lock
                .shared()
                .map_err(|e| Error::io("locking the store", e))?;
            load(&dir, !opts.read_only)?
        };
        let mut dam = DocumentArrayMemmap {
            dir,
            read_only: opts.read_only,
            lock,
            files,
            table,
            pool: Pool::new(opts.buffer_pool_size),
            unsynced: false,
            external_changes: 0,
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
        Some(match self.pool.peek(slot) {
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
        match self.pool.peek(slot) {
            Some(e) => Ok(f(e.doc.json().as_bytes())),
            None => self.files.with_bytes(id, self.table.loc(slot), f),
        }
    }

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
            let _g = self
                .lock
                .shared()
                .map_err(|e| Error::io("locking the store", e))?;
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

    /// Physical size: bytes of the store's files.
    pub fn physical_size(&self) -> u64 {
        self.files.index_len + self.files.body_len
    }

    /// Figures about the store.
    pub fn stats(&self) -> Stats {
        let live_index = if self.table.len() == 0 {
            0
        } else {
            // One PUT per document in batches of ~1 MiB, as prune would write them.
            let entries = self.table.len() as u64 * 18 + self.table.live_id_bytes();
            entries + 16 * (entries / (1 << 20) + 1)
        };
        let index_garbage = self
            .files
            .index_len
            .saturating_sub(self.files.data_start + live_index);
        let body_garbage = self
            .files
            .body_len
            .saturating_sub(FILE_HEADER_LEN + self.table.live_body_bytes());
        Stats {
            length: self.len(),
            pool_size: self.pool.capacity(),
            pool_used: self.pool.len(),
            pool_dirty: self.pool.dirty_count(),
            bytes: self.physical_size(),
            index_bytes: self.files.index_len,
            body_bytes: self.files.body_len,
            garbage_bytes: index_garbage + body_garbage,
            format_version: self.files.version,
            generation: self.files.generation,
            table_bytes: self.table.heap_bytes(),
        }
    }

    // ---- reading ------------------------------------------------------------------------

    fn resolve(&self, index: isize) -> Result<usize> {
        let len = self.table.len();
        let pos = if index < 0 {
            index + len as isize
        } else {
            index
        };
        if pos < 0 || pos as usize >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        Ok(pos as usize)
    }

    /// The slot at a position that [`resolve`](Self::resolve) or a slice checked.
    fn slot_at(&self, pos: usize) -> Result<SlotNo> {
        self.table.at(pos).ok_or(Error::IndexOutOfRange {
            index: pos as isize,
            len: self.table.len(),
        })
    }

    fn slot_of(&self, id: &str) -> Result<SlotNo> {
        self.table
            .find(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Reads a document from disk (not through the pool).
    fn read_disk(&self, slot: SlotNo) -> Result<Document> {
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
    fn peek_slot(&self, slot: SlotNo) -> Result<Document> {
        match self.pool.peek(slot) {
            Some(e) => Ok(e.doc.clone()),
            None => self.read_disk(slot),
        }
    }

    /// Reads a document through the pool (it becomes the most recently used).
    fn fetch(&mut self, slot: SlotNo) -> Result<Document> {
        if let Some(e) = self.pool.get(slot) {
            return Ok(e.doc.clone());
        }
        let doc = self.read_disk(slot)?;
        if self.pool.is_full() && self.pool.lru_is_clean() {
            // The common miss: the new document takes the clean least-recently-used one's
            // place (and its list node: no allocation, no write).
            self.pool.put(slot, doc.clone(), false);
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
                    self.pool.put(slot, doc.clone(), false);
                }
                Some(now) if !self.pool.contains(now) => {
                    let fresh = self.read_disk(now)?;
                    self.pool.put(now, fresh.clone(), false);
                    return Ok(fresh);
                }
                Some(now) => {
                    if let Some(e) = self.pool.get(now) {
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

    // ---- writing ------------------------------------------------------------------------

    fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Takes the write lock and brings this handle up to date with the files: follows a new
    /// generation made by another process's prune/clear, applies other writers' entries,
    /// and cuts a torn index tail. Returns the guard and a pending write positioned at the
    /// body's end.
    fn begin_write(&mut self) -> Result<(Guard, Pending)> {
        self.writable()?;
        let guard = self
            .lock
            .exclusive()
            .map_err(|e| Error::io("locking the store", e))?;
        self.begin_write_locked(guard)
    }

    /// [`begin_write`](Self::begin_write) with the exclusive lock already taken.
    fn begin_write_locked(&mut self, guard: Guard) -> Result<(Guard, Pending)> {
        let index_path = self.dir.join(INDEX_FILE);
        let meta = fs::metadata(&index_path)
            .map_err(|e| Error::io(format!("reading {}", index_path.display()), e))?;
        let mut orphans = Vec::new();
        if (meta.dev(), meta.ino()) != self.files.index_id {
            orphans = self.follow_new_generation()?;
        } else {
            self.catch_up(meta.len(), &mut orphans)?;
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
        if !orphans.is_empty() {
            // Dirty documents that another writer deleted (or whose store it replaced) are
            // written back now, in a write of their own: the caller may still fail and drop
            // its pending write, and these changes must not be lost with it.
            let mut pending = new_pending(body_start);
            let locs: Vec<Loc> = orphans.iter().map(|d| pending.put(d)).collect();
            self.finish_write(pending, false)?;
            for (doc, loc) in orphans.iter().zip(locs) {
                // The other writer may have created the id again: then ours replaces it.
                match self.table.find(doc.id()) {
                    Some(slot) => {
                        self.table.set_loc(slot, loc);
                        self.pool.remove(slot);
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
    /// handle's unsaved changes. Returns dirty documents whose ids no longer exist.
    fn follow_new_generation(&mut self) -> Result<Vec<Document>> {
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
        let mut orphans = Vec::new();
        for doc in dirty {
            match self.table.find(doc.id()) {
                Some(slot) => {
                    self.pool.put(slot, doc, true);
                }
                None => orphans.push(doc),
            }
        }
        Ok(orphans)
    }

    /// Applies entries other writers appended since this handle last read the index.
    fn catch_up(&mut self, file_len: u64, orphans: &mut Vec<Document>) -> Result<()> {
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
        let scan = format::scan_index(&index_path, &bytes, from, committed, |op, _| {
            match op {
                Op::Put { id, loc } => match table.find(id) {
                    Some(slot) => {
                        table.set_loc(slot, loc);
                        if pool.peek(slot).is_some_and(|e| !e.dirty) {
                            pool.remove(slot);
                        }
                    }
                    None => {
                        table.push(id, loc);
                    }
                },
                Op::Delete { id } => {
                    if let Some(slot) = table.find(id) {
                        if let Some(e) = pool.remove(slot) {
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
                            pool.remove(other);
                            table.remove_slot(other);
                        }
                        table.rename(slot, to);
                        if let Some(e) = pool.remove(slot) {
                            if e.dirty {
                                if let Ok(doc) = e.doc.with_id(to) {
                                    pool.put(slot, doc, true);
                                }
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
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
    fn committed_index_len(&self) -> Result<u64> {
        if self.files.version == LEGACY_VERSION {
            return Ok(self.files.data_start);
        }
        let index_path = self.dir.join(INDEX_FILE);
        Ok(commit::read(&self.files.index, &index_path, self.files.generation)?.index_len)
    }

    /// Records durably that the index and the body are saved up to their current lengths:
    /// the next commit record goes into the other slot, then the index is fsynced again.
    /// Called after both files were fsynced.
    fn write_commit(&mut self) -> Result<()> {
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
    fn finish_write(&mut self, pending: Pending, durable: bool) -> Result<()> {
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
        self.write_body(&body, body_start)?;
        if durable {
            self.files
                .body
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {}", self.files.body_path.display()), e))?;
        }
        let index_bytes = batch.finish(durable);
        if !index_bytes.is_empty() {
            let index_path = self.dir.join(INDEX_FILE);
            if let Err(e) = self
                .files
                .index
                .write_all_at(&index_bytes, self.files.index_len)
            {
                // Cut off what part of the batches did reach the file: a write that reports
                // failure must not take effect later, when some handle catches up.
                let _ = self.files.index.set_len(self.files.index_len);
                return Err(Error::io(format!("writing {}", index_path.display()), e));
            }
            self.files.index_len += index_bytes.len() as u64;
        }
        if durable {
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
    fn make_room(&mut self, n: usize) -> Result<()> {
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
                .all(|&s| self.pool.peek(s).is_some_and(|e| !e.dirty))
            {
                for s in leaving {
                    self.pool.remove(s);
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
    fn write_dirty(
        &mut self,
        pick: impl FnOnce(&Pool) -> Vec<SlotNo>,
        durable: bool,
    ) -> Result<()> {
        let (_guard, mut pending) = self.begin_write()?;
        let docs: Vec<Document> = pick(&self.pool)
            .iter()
            .filter_map(|&s| self.pool.peek(s).filter(|e| e.dirty).map(|e| e.doc.clone()))
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
                    self.pool.mark_clean(slot);
                }
                None => {
                    self.table.push(&id, loc);
                }
            }
        }
        Ok(())
    }

    /// Stores new content for the existing document with `doc`'s id: into the pool as
    /// dirty, or through to disk when the pool has size 0.
    fn replace_doc(&mut self, doc: Document) -> Result<()> {
        Self::check_len(&doc)?;
        if self.pool.capacity() == 0 {
            let (_guard, mut pending) = self.begin_write()?;
            let slot = self.slot_of(doc.id())?;
            let loc = pending.put(&doc);
            self.finish_write(pending, false)?;
            self.table.set_loc(slot, loc);
            return Ok(());
        }
        let mut slot = self.slot_of(doc.id())?;
        if !self.pool.contains(slot) {
            self.make_room(1)?;
            // make_room may have caught up with other writers: slot numbers may differ.
            slot = self.slot_of(doc.id())?;
        }
        self.pool.put(slot, doc, true);
        Ok(())
    }

    /// Lengths are 32-bit in the index: refuse a text that does not fit before writing it.
    fn check_len(doc: &Document) -> Result<()> {
        if doc.json().len() > MAX_DOC_LEN {
            return Err(Error::InvalidDocument(format!(
                "document {:?} is larger than 4 GiB",
                doc.id()
            )));
        }
        Ok(())
    }

    /// Appends one document. Its id must be new ([`Error::DuplicateId`] otherwise).
    pub fn append(&mut self, doc: Document) -> Result<()> {
        self.extend(std::iter::once(doc))
    }

    /// Appends documents in order. Every id is checked (new, and not repeated) before
    /// anything is written: on error nothing changes.
    pub fn extend(&mut self, docs: impl IntoIterator<Item = Document>) -> Result<()> {
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
            let mut body_at = pending.body_start;
            let result = (|| -> Result<()> {
                for doc in docs {
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
                    body.extend_from_slice(doc.json().as_bytes());
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
                let index_path = self.dir.join(INDEX_FILE);
                let mut at = index_len;
                let mut batch = BatchWriter::new();
                let mut entries = self.table.since(&mark).peekable();
                while entries.peek().is_some() {
                    for (id, loc) in entries.by_ref() {
                        batch.push(Op::Put { id, loc });
                        if batch.len() >= EXTEND_CHUNK {
                            break;
                        }
                    }
                    let bytes = std::mem::take(&mut batch).finish(false);
                    self.files
                        .index
                        .write_all_at(&bytes, at)
                        .map_err(io_at(&index_path, "writing"))?;
                    at += bytes.len() as u64;
                }
                self.files.index_len = at;
                Ok(())
            })();
            if let Err(e) = result {
                self.table.rollback(mark);
                // A partly written index tail would be read as torn; cut it off now.
                let _ = self.files.index.set_len(index_len);
                self.files.index_len = index_len;
                return Err(e);
            }
            self.unsynced = true;
            self.files.remap();
        }
        self.make_room(tail.len())?;
        for doc in tail {
            if let Some(slot) = self.table.find(doc.id()) {
                self.pool.put(slot, doc, false);
            }
        }
        Ok(())
    }

    /// Appends body bytes at `at` (under the write lock).
    fn write_body(&mut self, bytes: &[u8], at: u64) -> Result<()> {
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
        if doc.id() != id {
            return Err(Error::IdMismatch {
                expected: id.to_owned(),
                found: doc.id().to_owned(),
            });
        }
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
        let before = self.fetch(slot)?;
        let mut doc = before.clone();
        let r = f(&mut doc);
        if doc.id() != before.id() {
            return Err(Error::IdMismatch {
                expected: before.id().to_owned(),
                found: doc.id().to_owned(),
            });
        }
        if doc.json() != before.json() {
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
    fn rename_with(&mut self, from: &str, doc: Document) -> Result<()> {
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
        if self.pool.remove(slot).is_some() {
            self.pool.put(slot, doc, false);
        }
        Ok(())
    }

    /// Moves document `from` onto the existing document `onto`: `onto` gets `from`'s
    /// content (with its id rewritten to `onto`) at `onto`'s position, and `from` is
    /// deleted — in one atomic index batch (what `mv a b` does on the mount).
    pub fn move_onto(&mut self, from: &str, onto: &str) -> Result<()> {
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
        self.pool.remove(dst);
        self.pool.remove(src);
        self.table.remove_slot(src);
        Ok(())
    }

    /// Deletes the documents at the given positions (deduplicated) in one batch.
    fn delete_positions(&mut self, positions: Vec<usize>) -> Result<()> {
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
                self.pool.remove(slot);
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

    /// Persists every dirty document and makes all writes so far durable (fsync). With
    /// nothing changed since the last save it writes nothing.
    pub fn save(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let dirty = self.pool.dirty_slots();
        if dirty.is_empty() && !self.unsynced {
            return Ok(());
        }
        if dirty.is_empty() {
            let (_guard, pending) = self.begin_write()?;
            return self.finish_write(pending, true);
        }
        self.write_dirty(Pool::dirty_slots, true)
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
    fn finish_generation(&mut self) -> Result<()> {
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

impl Drop for DocumentArrayMemmap {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            log::error!("{}: could not save on close: {e}", self.dir.display());
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

// ---- files -------------------------------------------------------------------------------

fn io_at(path: &Path, what: &str) -> impl FnOnce(io::Error) -> Error {
    let context = format!("{what} {}", path.display());
    move |e| Error::io(context, e)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir, "syncing"))
}

/// Writes a new generation's body and index (`index.dam.tmp`), fsyncs them and renames the
/// index into place: the one atomic step that switches the store to the new generation.
struct GenerationWriter {
    dir: PathBuf,
    generation: u64,
    body_path: PathBuf,
    body: BufWriter<File>,
    body_len: u64,
    batch: BatchWriter,
}

impl GenerationWriter {
    fn new(dir: &Path, generation: u64) -> Result<Self> {
        let body_path = dir.join(body_name(generation));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&body_path)
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

    fn add(&mut self, id: &str, text: &[u8]) -> Result<()> {
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

    fn finish(self) -> Result<()> {
        let file = self.body.into_inner().map_err(|e| {
            Error::io(
                format!("writing {}", self.body_path.display()),
                e.into_error(),
            )
        })?;
        file.sync_all().map_err(io_at(&self.body_path, "syncing"))?;
        let generation = self.generation;
        let tmp = self.dir.join(INDEX_TMP);
        let batches = self.batch.finish(true);
        // Header, the first commit record (everything is durable once this file is renamed
        // into place), an empty second slot, then the batches.
        let mut index = vec![0u8; INDEX_DATA_START as usize];
        index[..FILE_HEADER_LEN as usize]
            .copy_from_slice(&format::file_header(INDEX_MAGIC, generation));
        let first = Commit {
            seq: 1,
            index_len: INDEX_DATA_START + batches.len() as u64,
            body_len: self.body_len,
        };
        let at = commit::COMMIT_SLOTS[1] as usize;
        index[at..at + commit::COMMIT_LEN].copy_from_slice(&commit::encode(&first, generation));
        index.extend(batches);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_at(&tmp, "creating"))?;
        f.write_all(&index).map_err(io_at(&tmp, "writing"))?;
        f.sync_all().map_err(io_at(&tmp, "syncing"))?;
        sync_dir(&self.dir)?;
        let index_path = self.dir.join(INDEX_FILE);
        fs::rename(&tmp, &index_path).map_err(io_at(&index_path, "replacing"))?;
        sync_dir(&self.dir)
    }
}

/// Creates a generation holding `docs` (used for a new store and by `clear`).
fn create_generation(dir: &Path, generation: u64, docs: &[Document]) -> Result<()> {
    let mut w = GenerationWriter::new(dir, generation)?;
    for d in docs {
        w.add(d.id(), d.json().as_bytes())?;
    }
    w.finish()
}

/// A directory without an index becomes a new store only if it holds nothing but what a
/// store's own creation could have left: never litter (or later prune) someone's folder.
fn refuse_foreign_dir(dir: &Path) -> Result<()> {
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
                reason: format!("it is not empty (it holds {name:?}) and has no {INDEX_FILE}"),
            });
        }
    }
    Ok(())
}

/// Removes what an interrupted prune or clear left: `index.dam.tmp` and bodies of other
/// generations. Called with the write lock held.
fn cleanup_orphans(dir: &Path) -> Result<()> {
    let index_path = dir.join(INDEX_FILE);
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    let current = File::open(&index_path)
        .and_then(|f| f.read_exact_at(&mut header, 0))
        .ok()
        .and_then(|()| format::read_file_header(&index_path, &header, INDEX_MAGIC).ok())
        .map(|h| h.generation);
    let Some(current) = current else {
        return Ok(()); // never delete anything when the current generation is unclear
    };
    let keep = body_name(current);
    let entries = fs::read_dir(dir).map_err(io_at(dir, "listing"))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let orphan = name == INDEX_TMP
            || (name.starts_with("body-") && name.ends_with(".dam") && name != keep);
        if orphan {
            log::info!("{}: removing leftover {name}", dir.display());
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Loads the current generation: opens its files and replays the index into a table.
/// Called with the lock held (shared or exclusive).
fn load(dir: &Path, writable: bool) -> Result<(Files, Table)> {
    let index_path = dir.join(INDEX_FILE);
    let index = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(&index_path)
        .map_err(io_at(&index_path, "opening"))?;
    let meta = index.metadata().map_err(io_at(&index_path, "reading"))?;
    // SAFETY: the index is only appended to, or cut back past a torn tail under the
    // exclusive lock, which this caller's lock excludes while the map is alive.
    let index_map = if meta.len() > 0 {
        // Populated: the whole index is read now, in large sequential reads, instead of
        // one page fault at a time while it is parsed.
        Some(
            unsafe { memmap2::MmapOptions::new().populate().map(&index) }
                .map_err(io_at(&index_path, "mapping"))?,
        )
    } else {
        None
    };
    let index_bytes: &[u8] = index_map.as_deref().unwrap_or(&[]);
    let index_header: Header = format::read_file_header(&index_path, index_bytes, INDEX_MAGIC)?;
    let generation = index_header.generation;
    let data_start = index_header.index_data_start();
    if (index_bytes.len() as u64) < data_start {
        return Err(Error::Corrupt {
            file: index_path,
            offset: index_bytes.len() as u64,
            reason: format!("file is shorter than its {data_start}-byte header"),
        });
    }
    // What the latest save made durable; a version-1 index does not say.
    let committed = if index_header.version == LEGACY_VERSION {
        None
    } else {
        Some(commit::latest(&index_path, index_bytes, generation)?)
    };

    let body_path = dir.join(body_name(generation));
    let body = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(&body_path)
        .map_err(io_at(&body_path, "opening"))?;
    let body_len = body.metadata().map_err(io_at(&body_path, "reading"))?.len();
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    body.read_exact_at(&mut header, 0)
        .map_err(|_| Error::Corrupt {
            file: body_path.clone(),
            offset: 0,
            reason: "file is shorter than its 32-byte header".into(),
        })?;
    let body_generation = format::read_file_header(&body_path, &header, BODY_MAGIC)?.generation;
    if body_generation != generation {
        return Err(Error::Corrupt {
            file: body_path,
            offset: 16,
            reason: format!(
                "generation {body_generation} does not match index generation {generation}"
            ),
        });
    }
    if let Some(c) = committed.filter(|c| c.body_len > body_len) {
        return Err(Error::Corrupt {
            file: body_path,
            offset: body_len,
            reason: format!(
                "file is truncated: a save made it durable up to offset {}",
                c.body_len
            ),
        });
    }
    let mut files = Files {
        generation,
        version: index_header.version,
        data_start,
        index,
        index_id: (meta.dev(), meta.ino()),
        index_len: 0,
        body,
        body_path: body_path.clone(),
        body_len,
        map: None,
    };
    files.remap();

    let mut table = Table::for_replay();
    let batches = &index_bytes[data_start as usize..];
    let (docs, id_bytes) = format::estimate(batches);
    table.reserve(docs, id_bytes);
    let committed_index = committed.map_or(data_start, |c| c.index_len);
    let scan = format::scan_index(
        &index_path,
        batches,
        data_start,
        committed_index,
        |op, durable| {
            match op {
                Op::Put { id, loc } => {
                    if loc.end() > body_len || loc.offset < FILE_HEADER_LEN {
                        if durable {
                            return Err(Error::Corrupt {
                                file: body_path.clone(),
                                offset: body_len,
                                reason: format!(
                                    "file is truncated: document {id:?} needs bytes up to {}",
                                    loc.end()
                                ),
                            });
                        }
                        log::warn!(
                            "{}: dropping unsaved change to {id:?} whose text was lost in a crash",
                            dir.display()
                        );
                        return Ok(());
                    }
                    if !durable && files.with_bytes(id, loc, |_| ()).is_err() {
                        log::warn!(
                            "{}: dropping unsaved change to {id:?} whose text was torn in a crash",
                            dir.display()
                        );
                        return Ok(());
                    }
                    table.apply_put(id, loc);
                }
                Op::Delete { id } => table.apply_delete(id),
                Op::Rename { from, to } => table.apply_rename(from, to),
            }
            Ok(())
        },
    )?;
    if let Some((at, n)) = scan.torn {
        // Cut off by the next write, under the exclusive lock (readers may map it now).
        log::warn!(
            "{}: ignoring a torn tail of {n} bytes at offset {at} (left by a crash)",
            index_path.display()
        );
    }
    files.index_len = scan.valid_len;
    // Deleted documents' slots go, and the estimate's spare room is given back.
    table.finish_replay();
    Ok((files, table))
}
