//! The fuser adapter: unpacks each kernel request, calls the filesystem core
//! ([`crate::fs::Filesystem`]), replies, and sends the cache invalidations the core asks for.
//! No namespace logic lives here; this file only translates types and orders notifications.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{
    CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo,
    InitFlags, IoctlFlags, KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl,
    ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, Version,
    WriteFlags,
};
use log::{debug, info, warn};

use crate::fs::{self, Attr, FsError, KernelNotes, Kind, RequestCounts, SetAttr};

/// Directory entries asked of the core per READDIR before we learn how many fit the
/// kernel's buffer (its size is not visible through fuser's reply type).
const INITIAL_DIR_BATCH: usize = 64;
const MAX_DIR_BATCH: usize = 4096;

/// FUSE_NOTIFY_INC_EPOCH (protocol 7.44): the notification's code.
const NOTIFY_INC_EPOCH: i32 = 8;
/// The protocol version that has it.
const EPOCH_ABI: Version = Version(7, 44);

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
    fn send(&self, notes: &KernelNotes, counts: &RequestCounts) {
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

/// The `fuser::Filesystem` implementation over the filesystem core.
pub struct FuseAdapter {
    fs: Arc<fs::Filesystem>,
    channel: Arc<KernelChannel>,
    counts: Arc<RequestCounts>,
    /// The kernel accepted zero-message open (read-only mounts): OPEN/OPENDIR get ENOSYS.
    no_open: AtomicBool,
    no_opendir: AtomicBool,
    /// How many entries to ask the core for, per READDIR / READDIRPLUS (learned).
    dir_batch: [AtomicUsize; 2],
}

impl FuseAdapter {
    pub fn new(fs: Arc<fs::Filesystem>) -> io::Result<Self> {
        Ok(FuseAdapter {
            counts: fs.requests(),
            fs,
            channel: Arc::new(KernelChannel::default()),
            no_open: AtomicBool::new(false),
            no_opendir: AtomicBool::new(false),
            dir_batch: [
                AtomicUsize::new(INITIAL_DIR_BATCH),
                AtomicUsize::new(INITIAL_DIR_BATCH),
            ],
        })
    }

    /// Where the daemon connects the session's notifier and descriptor once the session
    /// exists (the adapter is moved into the session before either can be made).
    pub fn channel(&self) -> Arc<KernelChannel> {
        self.channel.clone()
    }

    /// Logs a failed request and gives the errno to reply with.
    fn fail(&self, op: &str, req: &Request, ino: u64, e: &FsError) -> Errno {
        if e.is_quiet() {
            debug!("{op} ino {ino} pid {}: {e}", req.pid());
        } else {
            warn!(
                "{op} ino {ino} pid {} ({}): {e}",
                req.pid(),
                comm(req.pid())
            );
        }
        Errno::from_i32(e.errno)
    }

    /// Sends the core's pending notes, then replies: the requester must not see its
    /// change done before the kernel's caches say so.
    fn finish(&self, reply: impl FnOnce()) {
        let notes = self.fs.take_invalidations();
        if !notes.is_empty() {
            self.channel.send(&notes, &self.counts);
        }
        reply();
    }

    fn count(&self, kind: fs::Request) {
        self.counts.count(kind);
    }

    fn readdir_into(
        &self,
        req: &Request,
        ino: INodeNo,
        offset: u64,
        plus: bool,
        mut add: impl FnMut(&fs::DirEntry, Option<&fs::Entry>) -> bool,
    ) -> Result<(), Errno> {
        let batch = &self.dir_batch[plus as usize];
        let want = batch.load(Ordering::Relaxed);
        let entries = match self.fs.readdir(ino.0, offset, plus, want) {
            Ok(v) => v,
            Err(e) => {
                return Err(self.fail(if plus { "readdirplus" } else { "readdir" }, req, ino.0, &e))
            }
        };
        let got = entries.len();
        let mut added = 0;
        let mut full = false;
        for e in &entries {
            let is_dot = e.name == "." || e.name == "..";
            if full {
                // Counted as a lookup by the core, but the kernel never saw it.
                if plus && e.entry.is_some() && !is_dot {
                    self.fs.forget(e.ino, 1);
                }
                continue;
            }
            let looked_up;
            let entry = if plus && !is_dot && e.entry.is_none() {
                // The core should have filled it; look it up so the kernel's count matches.
                looked_up = self.fs.lookup(ino.0, OsStr::new(&e.name)).ok();
                if looked_up.is_none() {
                    continue;
                }
                looked_up.as_ref()
            } else {
                e.entry.as_ref()
            };
            if add(e, entry) {
                full = true;
                if plus && entry.is_some() && !is_dot {
                    self.fs.forget(e.ino, 1);
                }
            } else {
                added += 1;
            }
        }
        if full {
            // One more than fitted, so a larger kernel buffer is noticed next time.
            batch.store((added + 1).clamp(8, MAX_DIR_BATCH), Ordering::Relaxed);
        } else if got == want {
            batch.store((want * 2).min(MAX_DIR_BATCH), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The process name of a request's pid, for log lines ("sed", "vim").
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Directory => FileType::Directory,
        Kind::File => FileType::RegularFile,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.blocks(),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// The attributes of a negative entry (node id 0): the kernel reads none of them.
fn negative_attr() -> FileAttr {
    let mut a = dot_attr(0);
    a.kind = FileType::RegularFile;
    a.nlink = 0;
    a
}

/// Attributes for `.` and `..` in READDIRPLUS: the kernel skips these names (no lookup is
/// counted), but fuser needs an attr to encode the entry.
fn dot_attr(ino: u64) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: FileType::Directory,
        perm: 0o755,
        nlink: 2,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn fopen_flags(o: &fs::Opened) -> FopenFlags {
    let mut f = FopenFlags::empty();
    if o.keep_cache {
        f |= FopenFlags::FOPEN_KEEP_CACHE;
    }
    if o.direct_io {
        f |= FopenFlags::FOPEN_DIRECT_IO;
    }
    if o.noflush {
        f |= FopenFlags::FOPEN_NOFLUSH;
    }
    f
}

fn system_time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

const GEN: Generation = Generation(0);

impl fuser::Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let caps = config.capabilities();
        let read_only = self.fs.zero_message_open();
        // Each wanted capability alone: one the kernel lacks must not drop the others.
        let mut wanted = vec![
            // O_TRUNC arrives in OPEN, tied to the handle (not as a handle-less SETATTR).
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            // Lookups in one directory need not wait for each other.
            InitFlags::FUSE_PARALLEL_DIROPS,
        ];
        if read_only {
            // `ls -l` gets names and attributes in one round trip. Not on a read-write
            // mount: the kernel stamps readdirplus entries with the name epoch when it
            // parses the reply, so an entry built just before a bump could stay cached,
            // stale. There each name is looked up once, then cached.
            wanted.push(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO);
        } else {
            // Readers and writers of a read-write mount use direct I/O; this lets the
            // kernel map such files anyway (through the page cache, filled by the mapping
            // reader's reads), so mmap works (Python's mmap, ripgrep, parsers).
            wanted.push(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP);
        }
        for flags in wanted {
            if let Err(missing) = config.add_capabilities(flags) {
                info!("kernel lacks FUSE capability {missing:?}");
            }
        }
        if read_only {
            // Read-only mounts keep no per-open state: answering OPEN/OPENDIR with ENOSYS
            // makes the kernel stop sending OPEN, FLUSH and RELEASE altogether.
            if caps.contains(InitFlags::FUSE_NO_OPEN_SUPPORT) {
                self.no_open.store(true, Ordering::Relaxed);
            }
            if caps.contains(InitFlags::FUSE_NO_OPENDIR_SUPPORT) {
                self.no_opendir.store(true, Ordering::Relaxed);
            }
        } else if config.kernel_abi() >= EPOCH_ABI {
            self.fs.enable_name_cache();
        } else {
            let Version(major, minor) = config.kernel_abi();
            info!(
                "the kernel speaks FUSE {major}.{minor}, without FUSE_NOTIFY_INC_EPOCH (7.44): \
                 names are not cached on this read-write mount (each path walk asks damfs)"
            );
        }
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.count(fs::Request::Lookup);
        let r = self.fs.lookup_by(parent.0, name, req.pid());
        self.finish(|| match r {
            Ok(fs::Lookup::Found(e)) => {
                reply.entry_with_ttls(&e.attr_ttl, &e.entry_ttl, &file_attr(&e.attr), GEN)
            }
            // Node id 0: a negative entry the kernel caches for `ttl` (0: not at all).
            Ok(fs::Lookup::Missing { ttl }) => {
                reply.entry_with_ttls(&Duration::ZERO, &ttl, &negative_attr(), GEN)
            }
            Err(e) => reply.error(self.fail("lookup", req, parent.0, &e)),
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.count(fs::Request::Forget);
        // Forgetting changes nothing the kernel caches: no invalidations to collect.
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        self.count(fs::Request::Getattr);
        let r = self.fs.getattr(ino.0, fh.map(|f| f.0));
        self.finish(|| match r {
            Ok((a, ttl)) => reply.attr(&ttl, &file_attr(&a)),
            Err(e) => reply.error(self.fail("getattr", req, ino.0, &e)),
        });
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.count(fs::Request::Setattr);
        let set = SetAttr {
            size,
            mode,
            uid,
            gid,
            atime: atime.map(system_time),
            mtime: mtime.map(system_time),
        };
        let r = self.fs.setattr(ino.0, fh.map(|f| f.0), set);
        self.finish(|| match r {
            Ok((a, ttl)) => reply.attr(&ttl, &file_attr(&a)),
            Err(e) => reply.error(self.fail("setattr", req, ino.0, &e)),
        });
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        self.count(fs::Request::Create);
        if mode & libc::S_IFMT != libc::S_IFREG {
            let e = self.fs.refuse_node(parent.0, name);
            self.finish(|| reply.error(self.fail("mknod", req, parent.0, &e)));
            return;
        }
        // A regular file: create it and close the handle at once.
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        let r = self
            .fs
            .create_by(parent.0, name, mode, flags, req.pid())
            .map(|(entry, opened)| {
                self.fs.release(entry.attr.ino, opened.fh);
                entry
            });
        self.finish(|| match r {
            Ok(e) => reply.entry_with_ttls(&e.attr_ttl, &e.entry_ttl, &file_attr(&e.attr), GEN),
            Err(e) => reply.error(self.fail("mknod", req, parent.0, &e)),
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        self.count(fs::Request::Other);
        let e = self.fs.refuse_node(parent.0, name);
        self.finish(|| reply.error(self.fail("mkdir", req, parent.0, &e)));
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.count(fs::Request::Unlink);
        let r = self.fs.unlink_by(parent.0, name, req.pid());
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("unlink", req, parent.0, &e)),
        });
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.count(fs::Request::Other);
        // The only directories are fixed (/, /by-id): refused like mkdir.
        let e = self.fs.refuse_node(parent.0, name);
        self.finish(|| reply.error(self.fail("rmdir", req, parent.0, &e)));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        self.count(fs::Request::Other);
        let e = self.fs.refuse_node(parent.0, link_name);
        self.finish(|| reply.error(self.fail("symlink", req, parent.0, &e)));
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.count(fs::Request::Rename);
        let r = self
            .fs
            .rename(parent.0, name, newparent.0, newname, flags.bits());
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("rename", req, parent.0, &e)),
        });
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.count(fs::Request::Other);
        let e = self.fs.refuse_node(newparent.0, newname);
        self.finish(|| reply.error(self.fail("link", req, ino.0, &e)));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.count(fs::Request::Open);
        if self.no_open.load(Ordering::Relaxed) {
            reply.error(Errno::ENOSYS);
            return;
        }
        let r = self.fs.open(ino.0, flags.0);
        self.finish(|| match r {
            Ok(o) => reply.opened(FileHandle(o.fh), fopen_flags(&o)),
            Err(e) => reply.error(self.fail("open", req, ino.0, &e)),
        });
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.count(fs::Request::Read);
        let r = self.fs.read(ino.0, fh.0, offset, size);
        self.finish(|| match r {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(self.fail("read", req, ino.0, &e)),
        });
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.count(fs::Request::Write);
        let r = self.fs.write(ino.0, fh.0, offset, data);
        self.finish(|| match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(self.fail("write", req, ino.0, &e)),
        });
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.count(fs::Request::Flush);
        if self.fs.zero_message_open() {
            // Nothing to commit on a read-only mount. The kernel still sends FLUSH on every
            // close after a zero-message open; ENOSYS makes it stop for good.
            reply.error(Errno::ENOSYS);
            return;
        }
        let r = self.fs.flush(ino.0, fh.0);
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("flush", req, ino.0, &e)),
        });
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.count(fs::Request::Release);
        self.fs.release(ino.0, fh.0);
        self.finish(|| reply.ok());
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.count(fs::Request::Fsync);
        let r = self.fs.fsync(ino.0, fh.0);
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("fsync", req, ino.0, &e)),
        });
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.count(fs::Request::Opendir);
        if self.no_opendir.load(Ordering::Relaxed) {
            reply.error(Errno::ENOSYS);
            return;
        }
        let r = self.fs.opendir(ino.0);
        self.finish(|| match r {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(self.fail("opendir", req, ino.0, &e)),
        });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.count(fs::Request::Readdir);
        let r = self.readdir_into(req, ino, offset, false, |e, _| {
            reply.add(INodeNo(e.ino), e.next_offset, file_type(e.kind), &e.name)
        });
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        });
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.count(fs::Request::Readdirplus);
        let r = self.readdir_into(req, ino, offset, true, |e, entry| match entry {
            // One TTL for both in fuser 0.18's readdirplus: the shorter one is safe.
            Some(en) => reply.add(
                INodeNo(e.ino),
                e.next_offset,
                &e.name,
                &en.entry_ttl.min(en.attr_ttl),
                &file_attr(&en.attr),
                GEN,
            ),
            None => reply.add(
                INodeNo(e.ino),
                e.next_offset,
                &e.name,
                &Duration::ZERO,
                &dot_attr(e.ino),
                GEN,
            ),
        });
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        });
    }

    fn fsyncdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.count(fs::Request::Fsync);
        // Tools fsync the directory after a rename to make it durable: save the store.
        let r = self.fs.save();
        self.finish(|| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("fsyncdir", req, ino.0, &e)),
        });
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.count(fs::Request::Statfs);
        let s = self.fs.statfs();
        self.finish(|| {
            reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            )
        });
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.count(fs::Request::Create);
        let r = self.fs.create_by(parent.0, name, mode, flags, req.pid());
        self.finish(|| match r {
            Ok((e, o)) => reply.created(
                &e.entry_ttl.min(e.attr_ttl),
                &file_attr(&e.attr),
                GEN,
                FileHandle(o.fh),
                fopen_flags(&o),
            ),
            Err(e) => reply.error(self.fail("create", req, parent.0, &e)),
        });
    }

    // No extended attributes: ENOSYS once and the kernel stops asking (and skips the
    // security.capability probe before every write).
    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    // Kernel fallbacks exist for these: ENOSYS without a log line.
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: ReplyLseek,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EOPNOTSUPP);
    }
}
