//! The filesystem core: the namespace a mount shows, open handles with their write buffers,
//! tools' temporary files, and validation at close. No fuser types here: every method is a
//! plain call returning `FsResult`, so tests drive it the way `sed -i` or vim would, without
//! a kernel. The `fuse` module adapts it to fuser.

mod error;
mod types;

use std::ffi::OsStr;
use std::time::Duration;

pub use error::{FsError, FsResult};
pub use types::*;

use crate::store::DocumentArrayMemmap;

/// A mounted store's filesystem.
pub struct Filesystem {
    config: FsConfig,
    _store: std::sync::Mutex<DocumentArrayMemmap>,
}

#[allow(unused_variables)]
impl Filesystem {
    pub fn new(store: DocumentArrayMemmap, config: FsConfig) -> Self {
        Filesystem {
            config,
            _store: std::sync::Mutex::new(store),
        }
    }

    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    /// Read-only mounts need no per-open state: the adapter may answer OPEN/OPENDIR with
    /// ENOSYS (zero-message open) and reads then arrive with fh 0.
    pub fn zero_message_open(&self) -> bool {
        self.config.read_only
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> FsResult<Entry> {
        todo!()
    }

    /// The kernel dropped `nlookup` references to `ino`.
    pub fn forget(&self, ino: Ino, nlookup: u64) {}

    pub fn getattr(&self, ino: Ino) -> FsResult<(Attr, Duration)> {
        todo!()
    }

    pub fn setattr(&self, ino: Ino, fh: Option<u64>, set: SetAttr) -> FsResult<(Attr, Duration)> {
        todo!()
    }

    /// `flags` are the open(2) flags (O_ACCMODE, O_TRUNC, O_APPEND, ...).
    pub fn open(&self, ino: Ino, flags: i32) -> FsResult<Opened> {
        todo!()
    }

    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> FsResult<(Entry, Opened)> {
        todo!()
    }

    /// `fh` 0 means "no handle" (zero-message open).
    pub fn read(&self, ino: Ino, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        todo!()
    }

    pub fn write(&self, ino: Ino, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        todo!()
    }

    /// close(2) of one descriptor: a handle that wrote is validated and committed here.
    pub fn flush(&self, ino: Ino, fh: u64) -> FsResult<()> {
        todo!()
    }

    /// The last descriptor of a handle is gone; errors cannot be reported any more.
    pub fn release(&self, ino: Ino, fh: u64) {}

    /// fsync(2): commits the handle's writes (validated), then saves the whole store.
    pub fn fsync(&self, ino: Ino, fh: u64) -> FsResult<()> {
        todo!()
    }

    pub fn unlink(&self, parent: Ino, name: &OsStr) -> FsResult<()> {
        todo!()
    }

    /// `flags` are renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE).
    pub fn rename(
        &self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        flags: u32,
    ) -> FsResult<()> {
        todo!()
    }

    /// mkdir, mknod (other than regular files), symlink, link: refused (EPERM, or EROFS).
    pub fn refuse_node(&self, parent: Ino, name: &OsStr) -> FsError {
        todo!()
    }

    pub fn opendir(&self, ino: Ino) -> FsResult<()> {
        todo!()
    }

    /// Entries from `offset` on (0 = the start), at most `max` of them. With `plus`, each
    /// entry except `.`/`..` carries attributes and counts as a lookup: the adapter must call
    /// `forget(ino, 1)` for every such entry it could not fit in its reply.
    pub fn readdir(
        &self,
        ino: Ino,
        offset: u64,
        plus: bool,
        max: usize,
    ) -> FsResult<Vec<DirEntry>> {
        todo!()
    }

    pub fn statfs(&self) -> StatFs {
        todo!()
    }

    /// Cache invalidations to send. `Inode` ones may be sent before replying; `Entry` ones
    /// after replying to a request that holds directory locks (unlink, rename, create).
    pub fn take_invalidations(&self) -> Vec<Invalidation> {
        Vec::new()
    }

    /// Saves every dirty document (unmount, SIGTERM).
    pub fn save(&self) -> FsResult<()> {
        todo!()
    }
}
