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
mod control;
mod error;
mod handles;
mod io;
mod names;
mod namespace;
mod nodes;
mod readdir;
mod types;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use error::{FsError, FsResult};
pub use namespace::looks_like_tool_temporary;
pub use types::*;

use crate::document::Document;
use crate::error::Error as StoreError;
use crate::store::DocumentArrayMemmap;
use handles::{Handle, HandleKind, Handles};
use namespace::{classify_root, RootName, CONTROL_FILES, NAME_MAX};
use nodes::{Node, NodeKind, Nodes, Temp};

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
    store: DocumentArrayMemmap,
    nodes: Nodes,
    handles: Handles,
    /// Inodes whose attributes the kernel must drop (see `take_invalidations`).
    invals: Vec<Ino>,
    /// Set when `invals` is not empty, so that most requests need not lock again to see
    /// that there is nothing to send.
    invals_pending: Arc<AtomicBool>,
    /// When documents changed through this mount (the others show the mount time).
    mtimes: HashMap<String, SystemTime>,
    /// The store's `external_changes()` when the kernel's caches were last brought in line.
    seen_external: u64,
    /// Bytes buffered by open document handles (bounded like the temporaries, separately,
    /// so that full temporaries never stop documents from being written).
    pending_bytes: u64,
}

impl State {
    /// A document's content or size changed behind the kernel's back: its cached
    /// attributes are dropped (a notification that takes no lock, so it can never wait for
    /// a request). Its pages need nothing: on a read-write mount documents are read with
    /// direct I/O, from a snapshot taken at open.
    fn inval(&mut self, ino: Ino) {
        self.invals.push(ino);
        self.invals_pending.store(true, Ordering::Release);
    }
}

/// A mounted store's filesystem.
pub struct Filesystem {
    config: FsConfig,
    mounted_at: SystemTime,
    state: Mutex<State>,
    invals_pending: Arc<AtomicBool>,
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
    pub fn new(store: DocumentArrayMemmap, config: FsConfig) -> Self {
        let invals_pending = Arc::new(AtomicBool::new(false));
        Filesystem {
            config,
            mounted_at: SystemTime::now(),
            state: Mutex::new(State {
                store,
                nodes: Nodes::new(),
                handles: Handles::default(),
                invals: Vec::new(),
                invals_pending: invals_pending.clone(),
                mtimes: HashMap::new(),
                seen_external: 0,
                pending_bytes: 0,
            }),
            invals_pending,
        }
    }

    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another request must not take the whole mount down with it.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync_external(&mut st);
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

    /// How long the kernel may keep a name → inode binding. On a read-write mount: not at
    /// all. Positions shift on every delete, and ids move on renames made through the other
    /// name, so every path walk asks again (one LOOKUP, answered from memory). The
    /// alternative, invalidating names with FUSE_NOTIFY_INVAL_ENTRY, needs the directory's
    /// lock, which a request waiting for this daemon may hold: a daemon killed at that
    /// moment could never exit and would hang every process using the mount. A read-only
    /// mount never changes, so its names are cached.
    fn entry_ttl(&self) -> Duration {
        if self.config.read_only {
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
