//! The fuser adapter: unpacks each kernel request, calls the filesystem core
//! ([`crate::fs::Filesystem`]), replies, and sends the cache invalidations the core asks for.
//! No namespace logic lives here; this module only translates
//! types (`convert`) and orders notifications (`channel`).

mod channel;
mod convert;

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    CopyFileRangeFlags, Errno, FileHandle, FopenFlags, INodeNo, InitFlags, IoctlFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, Version, WriteFlags,
};
use log::{debug, info, warn};

use crate::fs::{self, FsError, RequestCounts, SetAttr};
use channel::EPOCH_ABI;
pub use channel::{start_live_view, KernelChannel};
use convert::*;

/// Directory entries asked of the core per READDIR before we learn how many fit the
/// kernel's buffer (its size is not visible through fuser's reply type).
const INITIAL_DIR_BATCH: usize = 64;
const MAX_DIR_BATCH: usize = 4096;

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
            // Pages and cached listings are dropped by the kernel itself when it sees a new
            // mtime: how a read-only mount follows other writers (`refresh_all`).
            wanted.push(InitFlags::FUSE_AUTO_INVAL_DATA);
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
        }
        if config.kernel_abi() >= EPOCH_ABI {
            self.fs.enable_name_cache();
        } else if read_only {
            info!(
                "the kernel speaks FUSE {}.{}, without FUSE_NOTIFY_INC_EPOCH (7.44): this \
                 read-only mount shows the store as it was when mounted",
                config.kernel_abi().0,
                config.kernel_abi().1
            );
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
        // The only directories are fixed (/, /by-id).
        let e = self.fs.refuse_rmdir(parent.0, name);
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
