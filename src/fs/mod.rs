//! The filesystem core: the namespace a mount shows, open handles with their write buffers,
//! tools' temporary files, and validation at close. No fuser types here: every method is a
//! plain call returning `FsResult`, so tests drive it the way `sed -i` or vim would, without
//! a kernel. The `fuse` module adapts it to fuser.
//!
//! ```text
//! /                  root: positions 0..N-1, by-id/, .stats and the control files
//! /<i>, /by-id/<id>  one inode per document (st_nlink 2)
//! anything else      a temporary file held in memory (sed's sedXXXXXX, vim's swap, …)
//! ```

mod attrs;
mod bulk;
mod control;
mod cookie;
mod error;
mod handles;
mod io;
mod names;
mod namespace;
mod nodes;
mod readdir;
mod recreate;
mod requests;
mod types;
mod view;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use error::{FsError, FsResult};
pub use namespace::looks_like_tool_temporary;
pub use requests::{Request, RequestCounts};
pub use types::*;

use crate::backend::Store;
use crate::document::Document;
use crate::error::Error as StoreError;
#[cfg(test)] // the core's own tests open memmap stores
use crate::store::DocumentArrayMemmap;
use handles::{Handle, HandleKind, Handles};
use namespace::{classify_root, RootName, CONTROL_FILES, NAME_MAX};
use nodes::{Node, NodeKind, Nodes, Temp};
use recreate::{RecentDelete, RecentDeletes, RECREATE_WINDOW};
use view::View;

fn err(errno: i32, message: impl Into<String>) -> FsError {
    FsError::new(errno, message)
}

/// What a name in a directory resolves to.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Root, by-id, .stats or a control file.
    Fixed(Ino),
    /// A document, by id.
    Doc {
        id: String,
    },
    Temp(Ino),
    Missing,
}

struct State {
    store: Store,
    nodes: Nodes,
    handles: Handles,
    /// What the kernel must be told before the current request is answered.
    notes: KernelNotes,
    /// Set when `notes` is not empty, so that most requests need not lock again to see
    /// that there is nothing to send.
    notes_pending: Arc<AtomicBool>,
    /// When documents changed through this mount (the others show the mount time).
    /// Strictly increasing (see `touch`): two versions never show the same mtime.
    mtimes: HashMap<String, SystemTime>,
    last_touch: SystemTime,
    /// Times set (`futimens`, as `cp -a` does before its close) on a file whose writes are
    /// not committed yet: the commit keeps them instead of taking its own time.
    set_mtimes: HashMap<Ino, SystemTime>,
    /// Bumped whenever what the mount shows changes (a document's text, a name, the
    /// order): `/.all.jsonl`'s size is computed once per version.
    view_version: u64,
    all_lines_len: std::cell::Cell<Option<(u64, u64)>>,
    /// Missing names were handed out for the kernel to cache, in `/` (positions past the
    /// end, which an append makes real) and in `/by-id/`: see `Filesystem::lookup_by`.
    negative_positions: bool,
    negative_ids: bool,
    /// Where reads of `/.all.jsonl` without a handle (zero-message open) are.
    shared_all_cursor: bulk::AllLinesCursor,
    /// The store's `external_changes()` when the kernel's caches were last brought in line.
    seen_external: u64,
    /// Bytes buffered by open document handles (bounded like the temporaries, separately,
    /// so that full temporaries never stop documents from being written).
    pending_bytes: u64,
    /// Documents deleted a moment ago, which the deleting process may create again (see
    /// `recreate`).
    recent_deletes: RecentDeletes,
    /// When taking in other writers' changes last failed (logged once a minute).
    last_refresh_error: Option<std::time::Instant>,
    /// When a read-only mount bumps the name epoch once more after taking in other
    /// writers' changes (see `Filesystem::refresh_all`).
    rebump_at: Option<std::time::Instant>,
}

/// Cache notifications for the kernel, collected while a request runs and sent by the
/// adapter before it replies (see [`Filesystem::take_invalidations`]).
#[derive(Default, Debug, PartialEq, Eq)]
pub struct KernelNotes {
    /// Names may be bound to other inodes now (a delete shifted positions, a rename moved
    /// an id): every cached name must be looked up again (FUSE_NOTIFY_INC_EPOCH).
    pub epoch: bool,
    /// Inodes whose cached attributes (size, mtime, link count) are stale.
    pub inodes: Vec<Ino>,
}

impl KernelNotes {
    pub fn is_empty(&self) -> bool {
        !self.epoch && self.inodes.is_empty()
    }
}

impl State {
    /// A document's content or size changed behind the kernel's back: its cached
    /// attributes are dropped (a notification that takes no lock, so it can never wait for
    /// a request). Its pages need nothing: on a read-write mount documents are read with
    /// direct I/O, from a snapshot taken at open.
    fn inval(&mut self, ino: Ino) {
        self.notes.inodes.push(ino);
        self.notes_pending.store(true, Ordering::Release);
    }

    /// Names changed meaning: the kernel must look every cached name up again. One atomic
    /// increment in the kernel, no lock: safe from any handler, and a daemon killed while
    /// it is sent still exits.
    fn names_changed(&mut self) {
        self.negative_positions = false;
        self.negative_ids = false;
        self.notes.epoch = true;
        self.notes_pending.store(true, Ordering::Release);
    }

    /// Documents were appended (not through a name the kernel created): positions past the
    /// old end that the kernel may remember as missing exist now, and with `by_name`
    /// (`.append.jsonl`) ids too.
    fn appended(&mut self, by_name: bool) {
        if self.negative_positions || (by_name && self.negative_ids) {
            self.names_changed();
        }
    }

    /// Document `id` changed through this mount: a new mtime, later than any before.
    fn touch(&mut self, id: &str) {
        let now = SystemTime::now().max(self.last_touch + Duration::from_nanos(1));
        self.last_touch = now;
        self.mtimes.insert(id.to_owned(), now);
        self.view_version += 1;
    }

    /// Document `id` was committed from inode `ino`: a time set on the file while it was
    /// being written wins over the commit's (see `set_mtimes`).
    fn keep_set_mtime(&mut self, ino: Ino, id: &str) {
        if let Some(t) = self.set_mtimes.remove(&ino) {
            self.mtimes.insert(id.to_owned(), t);
        }
    }

    /// A document is gone or took another id: forget its times.
    fn forget_times(&mut self, id: &str) {
        self.mtimes.remove(id);
        self.view_version += 1;
    }
}

/// A mounted store's filesystem.
pub struct Filesystem {
    config: FsConfig,
    /// The times shown for what has none of its own (directories, documents not changed
    /// through this mount): the mount time, until a read-only mount takes in other
    /// writers' changes — then the time it did, so the kernel, seeing a new mtime, drops
    /// its cached pages and listings itself (FUSE_AUTO_INVAL_DATA).
    base_time: BaseTime,
    state: Mutex<State>,
    notes_pending: Arc<AtomicBool>,
    /// The kernel may cache names on a read-write mount: it can be told to drop them all
    /// at once (FUSE_NOTIFY_INC_EPOCH, protocol 7.44). Set by the adapter at init.
    names_cached: AtomicBool,
    requests: Arc<RequestCounts>,
}

/// A time that only moves forward, readable without the state's lock.
struct BaseTime(std::sync::atomic::AtomicU64);

impl BaseTime {
    fn new(t: SystemTime) -> Self {
        BaseTime(std::sync::atomic::AtomicU64::new(Self::nanos(t)))
    }

    fn nanos(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn get(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Now, or a nanosecond after the last value if the clock says otherwise.
    fn advance(&self) {
        let now = Self::nanos(SystemTime::now());
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(now.max(t + 1))
            });
    }
}

/// `buf[offset..offset+size]`, clamped.
fn slice_of(buf: &[u8], offset: u64, size: u32) -> Vec<u8> {
    let start = (offset.min(buf.len() as u64)) as usize;
    let end = (offset.saturating_add(u64::from(size)).min(buf.len() as u64)) as usize;
    buf[start..end].to_vec()
}

fn name_of(name: &OsStr) -> FsResult<&str> {
    if name.len() > NAME_MAX {
        return Err(err(libc::ENAMETOOLONG, "name is longer than 255 bytes"));
    }
    name.to_str()
        .ok_or_else(|| err(libc::EINVAL, format!("name {name:?} is not UTF-8")))
}

/// Path of a document for messages.
fn doc_path(id: &str) -> String {
    format!("/by-id/{id}")
}

impl Filesystem {
    pub fn new(store: impl Into<Store>, config: FsConfig) -> Self {
        let store = store.into();
        let notes_pending = Arc::new(AtomicBool::new(false));
        let mounted_at = SystemTime::now();
        Filesystem {
            config,
            base_time: BaseTime::new(mounted_at),
            state: Mutex::new(State {
                store,
                nodes: Nodes::new(),
                handles: Handles::default(),
                notes: KernelNotes::default(),
                notes_pending: notes_pending.clone(),
                mtimes: HashMap::new(),
                set_mtimes: HashMap::new(),
                last_touch: mounted_at,
                view_version: 0,
                all_lines_len: std::cell::Cell::new(None),
                shared_all_cursor: Default::default(),
                negative_positions: false,
                negative_ids: false,
                seen_external: 0,
                pending_bytes: 0,
                recent_deletes: RecentDeletes::default(),
                last_refresh_error: None,
                rebump_at: None,
            }),
            notes_pending,
            names_cached: AtomicBool::new(false),
            requests: Arc::new(RequestCounts::default()),
        }
    }

    /// The counters the adapter bumps for every request (shown in `/.stats`).
    pub fn requests(&self) -> Arc<RequestCounts> {
        self.requests.clone()
    }

    /// The kernel can drop every cached name at once (FUSE_NOTIFY_INC_EPOCH): names of a
    /// read-write mount may then be cached for the full TTL.
    pub fn enable_name_cache(&self) {
        self.names_cached.store(true, Ordering::Relaxed);
    }

    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another request must not take the whole mount down with it.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync_external(&mut st);
        st.apply_recent_deletes(false);
        st
    }

    /// Read-only mounts need no per-open state: the adapter may answer OPEN/OPENDIR with
    /// ENOSYS (zero-message open) and reads then arrive with fh 0.
    pub fn zero_message_open(&self) -> bool {
        self.config.read_only
    }

    fn writable(&self) -> FsResult<()> {
        if self.config.read_only {
            Err(err(libc::EROFS, "the mount is read-only"))
        } else {
            Ok(())
        }
    }

    /// How long the kernel may keep a name → inode binding. A read-only mount never
    /// changes, so its names are cached. On a read-write mount positions shift on every
    /// delete and ids move on renames made through the other name; names are cached there
    /// only if every change that moves names can make the kernel drop them all at once, with
    /// FUSE_NOTIFY_INC_EPOCH (`State::names_changed`). Without it (kernels before protocol
    /// 7.44) every path walk asks again. Invalidating single names instead
    /// (FUSE_NOTIFY_INVAL_ENTRY) needs the directory's lock, which a request waiting for
    /// this daemon may hold: a daemon killed at that moment could never exit.
    fn entry_ttl(&self) -> Duration {
        if self.config.read_only || self.names_cached.load(Ordering::Relaxed) {
            self.config.ttl
        } else {
            Duration::ZERO
        }
    }
}

/// Writes `data` at `offset`, zero-filling any gap.
fn write_at(buf: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[start..end].copy_from_slice(data);
}

#[cfg(test)]
mod tests;
