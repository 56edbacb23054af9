//! The way back to the kernel: cache notifications (the name epoch, attributes), and the
//! live view thread that sends them when other writers changed the store.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fuser::{INodeNo, Notifier, Version};
use log::{debug, warn};

use crate::fs::{self, KernelNotes, RequestCounts};

/// FUSE_NOTIFY_INC_EPOCH (protocol 7.44): the notification's code.
const NOTIFY_INC_EPOCH: i32 = 8;
/// The protocol version that has it.
pub(super) const EPOCH_ABI: Version = Version(7, 44);

/// The way back to the kernel for cache notifications: fuser's notifier (attributes), and
/// the session's /dev/fuse descriptor for the epoch bump, which fuser 0.18 has no call for
/// (the kernel checks only the notification's code, not the protocol version we
/// announced). Both are set by the daemon once the session exists.
#[derive(Default)]
pub struct KernelChannel {
    notifier: OnceLock<Notifier>,
    device: OnceLock<OwnedFd>,
}

impl KernelChannel {
    /// Hands over the session's notifier and a duplicate of its /dev/fuse descriptor.
    pub fn connect(&self, notifier: Notifier, device: OwnedFd) {
        let _ = self.notifier.set(notifier);
        let _ = self.device.set(device);
    }

    /// Sends the core's notes. Neither notification takes a lock in the kernel: the epoch
    /// bump is one atomic increment, and an attribute invalidation (a negative offset) only
    /// takes the inode's spinlock. So a handler can send them inline, before its reply, and
    /// a daemon killed at any moment can always exit. (Name and page invalidations wait for
    /// directory and page locks that a request still waiting for this daemon may hold:
    /// damfs never sends them.)
    pub(super) fn send(&self, notes: &KernelNotes, counts: &RequestCounts) {
        if notes.epoch {
            match self.bump_epoch() {
                Ok(()) => counts.epoch_bumped(),
                Err(e) => warn!("telling the kernel to drop cached names failed: {e}"),
            }
        }
        let Some(n) = self.notifier.get() else {
            return;
        };
        for &ino in &notes.inodes {
            match n.inval_inode(INodeNo(ino), -1, 0) {
                Ok(()) => {}
                // Not cached (fuser already maps the kernel's ENOENT to Ok; be safe).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => debug!("invalidating inode {ino} failed: {e}"),
            }
        }
        counts.attrs_invalidated(notes.inodes.len());
    }

    /// Every cached name is stale from now on: a bare `fuse_out_header` with the
    /// notification's code in `error` and `unique` 0, written to /dev/fuse.
    fn bump_epoch(&self) -> io::Result<()> {
        let Some(fd) = self.device.get() else {
            return Ok(()); // not mounted yet: nothing can be cached
        };
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&16u32.to_ne_bytes());
        header[4..8].copy_from_slice(&NOTIFY_INC_EPOCH.to_ne_bytes());
        // SAFETY: writes 16 bytes from a local buffer to a descriptor we own.
        let n = unsafe { libc::write(fd.as_raw_fd(), header.as_ptr().cast(), header.len()) };
        if n == header.len() as isize {
            Ok(())
        } else if n < 0 {
            let e = io::Error::last_os_error();
            // The session is gone (unmounted): there is no cache left to drop.
            if e.raw_os_error() == Some(libc::ENODEV) {
                return Ok(());
            }
            Err(e)
        } else {
            Err(io::Error::other(format!("short write ({n} of 16 bytes)")))
        }
    }
}

/// How often the live view checks the store's files for other writers' changes.
const LIVE_VIEW_INTERVAL: Duration = Duration::from_millis(25);

/// Starts the thread that keeps a read-write mount current with other writers (another
/// mount, `damfs import`, a program using the library): it asks the core to take in what
/// changed on disk (one `stat` when nothing did) and sends the kernel what is stale now.
/// It also ends held-back deletes whose window passed. Runs until the process exits.
pub fn start_live_view(fs: Arc<fs::Filesystem>, channel: Arc<KernelChannel>) -> io::Result<()> {
    let counts = fs.requests();
    std::thread::Builder::new()
        .name("damfs-live".into())
        .spawn(move || loop {
            std::thread::sleep(LIVE_VIEW_INTERVAL);
            fs.tick();
            let notes = fs.take_invalidations();
            if !notes.is_empty() {
                channel.send(&notes, &counts);
            }
        })
        .map(|_| ())
}
