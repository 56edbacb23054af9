//! The FUSE floor: a minimal in-memory fuser 0.18 server that serves a store's documents under
//! damfs's names (`/0 … /N-1` and `/by-id/<id>`, one inode for both) with damfs's kernel
//! settings, so that `mount / floor` measures what damfs adds on top of FUSE itself.
//!
//! ```text
//! fuse_floor STORE_DIR MOUNTPOINT [--zero-open] [--readdirplus auto|always|off]
//!            [--threads N] [--ttl SECS] [--entry-ttl SECS] [--direct-io] [--rw]
//! ```
//!
//! Settings: FOPEN_KEEP_CACHE | FOPEN_NOFLUSH on open, entry/attr TTLs (60 s as damfs),
//! readdirplus, 4 threads with cloned fds, FUSE_ATOMIC_O_TRUNC, FUSE_PARALLEL_DIROPS,
//! max_background 64. Runs in the foreground until unmounted (`umount MOUNTPOINT`).
//!
//! - `--direct-io` opens files with FOPEN_DIRECT_IO | FOPEN_NOFLUSH instead (what damfs
//!   gives readers of a read-write mount);
//! - `--rw` mounts without MS_RDONLY, as a read-write damfs mount is (the kernel then drops
//!   a file's atime after each direct read, so the next fstat asks again); writes are
//!   still refused;
//! - `--zero-open` answers OPEN/OPENDIR with ENOSYS when the kernel offers
//!   FUSE_NO_OPEN_SUPPORT / FUSE_NO_OPENDIR_SUPPORT: the kernel then sends no OPEN/RELEASE
//!   at all; it also answers FLUSH with ENOSYS (else every close() still sends one, as files
//!   opened without an OPEN reply get FOPEN_KEEP_CACHE but not FOPEN_NOFLUSH).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use damfs::{DocumentArrayMemmap, Options};
use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, Request,
};

const ROOT: u64 = 1;
const BY_ID: u64 = 2;
const FIRST_DOC: u64 = 3;

#[derive(Clone, Copy, PartialEq)]
enum Plus {
    Off,
    Auto,
    Always,
}

struct Floor {
    ids: Vec<String>,
    texts: Vec<Vec<u8>>,
    by_id: HashMap<String, usize>,
    ttl: Duration,
    /// Name cache lifetime (defaults to `ttl`; damfs uses 0 on read-write mounts).
    entry_ttl: Duration,
    zero_open: bool,
    direct_io: bool,
    plus: Plus,
    no_open: AtomicBool,
    no_opendir: AtomicBool,
    uid: u32,
    gid: u32,
    time: SystemTime,
}

impl Floor {
    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, size, perm, nlink) = match ino {
            ROOT => (FileType::Directory, 0, 0o755, 3),
            BY_ID => (FileType::Directory, 0, 0o755, 2),
            _ => {
                let i = self.doc_of(ino)?;
                (FileType::RegularFile, self.texts[i].len() as u64, 0o644, 2)
            }
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            crtime: self.time,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn doc_of(&self, ino: u64) -> Option<usize> {
        let i = ino.checked_sub(FIRST_DOC)? as usize;
        (i < self.texts.len()).then_some(i)
    }

    fn lookup_name(&self, parent: u64, name: &str) -> Option<u64> {
        let i = match parent {
            ROOT if name == "by-id" => return Some(BY_ID),
            ROOT => {
                if name.len() > 1 && name.starts_with('0') {
                    return None;
                }
                name.parse::<usize>().ok()?
            }
            BY_ID => *self.by_id.get(name)?,
            _ => return None,
        };
        (i < self.texts.len()).then_some(FIRST_DOC + i as u64)
    }

    /// The entries of a directory from `offset` on: (ino, next offset, name, kind).
    fn entries(&self, dir: u64, offset: u64) -> Option<Vec<(u64, u64, String, FileType)>> {
        let fixed: &[(u64, &str, FileType)] = match dir {
            ROOT => &[
                (ROOT, ".", FileType::Directory),
                (ROOT, "..", FileType::Directory),
                (BY_ID, "by-id", FileType::Directory),
            ],
            BY_ID => &[
                (BY_ID, ".", FileType::Directory),
                (ROOT, "..", FileType::Directory),
            ],
            _ => return None,
        };
        let total = fixed.len() + self.ids.len();
        // One reply holds a few hundred entries; hand back at most 1024 per call.
        let end = (offset as usize + 1024).min(total);
        let mut out = Vec::with_capacity(end.saturating_sub(offset as usize));
        for k in offset as usize..end {
            let next = k as u64 + 1;
            if k < fixed.len() {
                let (ino, name, kind) = fixed[k];
                out.push((ino, next, name.to_owned(), kind));
            } else {
                let i = k - fixed.len();
                let name = if dir == ROOT {
                    i.to_string()
                } else {
                    self.ids[i].clone()
                };
                out.push((FIRST_DOC + i as u64, next, name, FileType::RegularFile));
            }
        }
        Some(out)
    }
}

impl Filesystem for Floor {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let caps = config.capabilities();
        let mut want = InitFlags::FUSE_ATOMIC_O_TRUNC | InitFlags::FUSE_PARALLEL_DIROPS;
        match self.plus {
            Plus::Off => {}
            Plus::Auto => want |= InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO,
            Plus::Always => want |= InitFlags::FUSE_DO_READDIRPLUS,
        }
        if let Err(missing) = config.add_capabilities(want & caps) {
            eprintln!("fuse_floor: kernel refused {missing:?}");
        }
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        if self.zero_open {
            self.no_open.store(
                caps.contains(InitFlags::FUSE_NO_OPEN_SUPPORT),
                Ordering::Relaxed,
            );
            self.no_opendir.store(
                caps.contains(InitFlags::FUSE_NO_OPENDIR_SUPPORT),
                Ordering::Relaxed,
            );
        }
        eprintln!(
            "fuse_floor: {} documents; zero-message open: {} / opendir: {}",
            self.texts.len(),
            self.no_open.load(Ordering::Relaxed),
            self.no_opendir.load(Ordering::Relaxed)
        );
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = name
            .to_str()
            .and_then(|n| self.lookup_name(parent.0, n))
            .and_then(|ino| self.attr(ino));
        match found {
            Some(attr) => reply.entry_with_ttls(&self.ttl, &self.entry_ttl, &attr, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino.0) {
            Some(attr) => reply.attr(&self.ttl, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if self.no_open.load(Ordering::Relaxed) {
            return reply.error(Errno::ENOSYS);
        }
        if self.doc_of(ino.0).is_none() {
            return reply.error(Errno::EISDIR);
        }
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let flags = if self.direct_io {
            FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NOFLUSH
        } else {
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_NOFLUSH
        };
        reply.opened(FileHandle(0), flags);
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.no_opendir.load(Ordering::Relaxed) {
            return reply.error(Errno::ENOSYS);
        }
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(i) = self.doc_of(ino.0) else {
            return reply.error(Errno::EISDIR);
        };
        let text = &self.texts[i];
        let start = (offset as usize).min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        reply.data(&text[start..end]);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // With zero-message open the kernel opens files without FOPEN_NOFLUSH (it defaults to
        // FOPEN_KEEP_CACHE only), so every close() would still send FLUSH; ENOSYS makes the
        // kernel stop sending FLUSH for good (fc->no_flush). Read-only data needs no flush.
        if self.zero_open {
            return reply.error(Errno::ENOSYS);
        }
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(entries) = self.entries(ino.0, offset) else {
            return reply.error(Errno::ENOTDIR);
        };
        for (ino, next, name, kind) in entries {
            if reply.add(INodeNo(ino), next, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(entries) = self.entries(ino.0, offset) else {
            return reply.error(Errno::ENOTDIR);
        };
        for (ino, next, name, _kind) in entries {
            let Some(attr) = self.attr(ino) else { continue };
            let ttl = self.ttl.min(self.entry_ttl); // one TTL for both in readdirplus
            if reply.add(INodeNo(ino), next, name, &ttl, &attr, Generation(0)) {
                break;
            }
        }
        reply.ok();
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("fuse_floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut pos = Vec::new();
    let (mut zero_open, mut plus, mut threads, mut ttl) = (false, Plus::Auto, 4usize, 60u64);
    let mut entry_ttl: Option<u64> = None;
    let (mut direct_io, mut rw) = (false, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--zero-open" => zero_open = true,
            "--direct-io" => direct_io = true,
            "--rw" => rw = true,
            "--readdirplus" => {
                plus = match args.next().as_deref() {
                    Some("auto") => Plus::Auto,
                    Some("always") => Plus::Always,
                    Some("off") => Plus::Off,
                    _ => return Err("--readdirplus auto|always|off".into()),
                }
            }
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--ttl" => ttl = args.next().ok_or("--ttl SECS")?.parse()?,
            "--entry-ttl" => entry_ttl = Some(args.next().ok_or("--entry-ttl SECS")?.parse()?),
            _ => pos.push(a),
        }
    }
    let [store, mountpoint] = <[String; 2]>::try_from(pos).map_err(|_| {
        "usage: fuse_floor STORE_DIR MOUNTPOINT [--zero-open] [--readdirplus auto|always|off] \
         [--threads N] [--ttl SECS] [--entry-ttl SECS] [--direct-io] [--rw]"
    })?;
    let dam = DocumentArrayMemmap::open_with(
        &store,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )?;
    let mut ids = Vec::with_capacity(dam.len());
    let mut texts = Vec::with_capacity(dam.len());
    for d in &dam {
        let d = d?;
        ids.push(d.id().to_owned());
        texts.push(d.into_json().into_bytes());
    }
    drop(dam);
    let by_id = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    let fs = Floor {
        ids,
        texts,
        by_id,
        ttl: Duration::from_secs(ttl),
        entry_ttl: Duration::from_secs(entry_ttl.unwrap_or(ttl)),
        zero_open,
        direct_io,
        plus,
        no_open: AtomicBool::new(false),
        no_opendir: AtomicBool::new(false),
        // SAFETY: getuid/getgid cannot fail.
        uid: unsafe { libc::getuid() },
        gid: unsafe { libc::getgid() },
        time: SystemTime::now(),
    };
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("fuse_floor".into()),
        MountOption::NoAtime,
    ];
    if !rw {
        config.mount_options.push(MountOption::RO);
    }
    config.n_threads = Some(threads);
    config.clone_fd = true;
    fuser::mount(fs, &mountpoint, &config)?;
    Ok(())
}
