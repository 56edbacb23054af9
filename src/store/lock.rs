//! The advisory lock that keeps writers of one store from interleaving.
//!
//! It is an `flock` on a `lock` file in the store directory (not on the data files, which
//! prune and clear replace). Writers hold it exclusively for each write; loading takes it
//! shared, so a reader never sees a half-written batch or a store being replaced.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;

pub struct LockFile {
    file: Arc<File>,
    /// The file's (device, inode), taken at open.
    identity: (u64, u64),
}

/// Releases the lock when dropped.
pub struct Guard {
    file: Arc<File>,
}

impl LockFile {
    pub fn open(path: &Path, create: bool) -> io::Result<Self> {
        // Without blocking, and only a regular file: opening a named pipe in its place
        // would wait for a writer forever.
        let file = super::io::open_file(
            OpenOptions::new()
                .read(true)
                .write(create)
                .create(create)
                .truncate(false)
                .custom_flags(libc::O_NONBLOCK),
            path,
        )?;
        let m = file.metadata()?;
        if !m.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is not a regular file",
            ));
        }
        Ok(LockFile {
            file: Arc::new(file),
            identity: (m.dev(), m.ino()),
        })
    }

    /// The lock file's (device, inode): the store directory's identity. prune and clear
    /// never replace this file, so another one at the store's path means the directory was
    /// removed or replaced.
    pub fn identity(&self) -> (u64, u64) {
        self.identity
    }

    pub fn exclusive(&self) -> io::Result<Guard> {
        flock(&self.file, libc::LOCK_EX)?;
        Ok(Guard {
            file: self.file.clone(),
        })
    }

    /// The exclusive lock if no other process holds the lock now; `None` if one does.
    pub fn try_exclusive(&self) -> io::Result<Option<Guard>> {
        match flock(&self.file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Guard {
                file: self.file.clone(),
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn shared(&self) -> io::Result<Guard> {
        flock(&self.file, libc::LOCK_SH)?;
        Ok(Guard {
            file: self.file.clone(),
        })
    }

    /// The shared lock if no process holds the exclusive one now; `None` if one does.
    pub fn try_shared(&self) -> io::Result<Option<Guard>> {
        match flock(&self.file, libc::LOCK_SH | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Guard {
                file: self.file.clone(),
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}
