//! Plain data types of the filesystem core (no fuser types: the adapter converts).

use std::time::{Duration, SystemTime};

/// An inode number.
pub type Ino = u64;

pub const ROOT_INO: Ino = 1;
pub const BY_ID_INO: Ino = 2;
pub const STATS_INO: Ino = 3;
pub const RELOAD_INO: Ino = 4;
pub const SAVE_INO: Ino = 5;
pub const PRUNE_INO: Ino = 6;
pub const CLEAR_INO: Ino = 7;
/// `/.all.jsonl`: every document as one JSON line, in order (read-only).
pub const ALL_INO: Ino = 8;
/// `/.append.jsonl`: JSON Lines written here are appended at close, all or nothing.
pub const APPEND_INO: Ino = 9;
/// Inode numbers up to this one are the fixed nodes above.
pub const LAST_FIXED_INO: Ino = APPEND_INO;

/// Kind of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
}

/// What `stat` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub size: u64,
    pub kind: Kind,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Attr {
    /// 512-byte blocks, as `du` counts them.
    pub fn blocks(&self) -> u64 {
        self.size.div_ceil(512)
    }
}

/// A positive lookup: the node's attributes and how long the kernel may cache them.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub attr: Attr,
    /// How long the name → inode binding may be cached.
    pub entry_ttl: Duration,
    /// How long the attributes may be cached.
    pub attr_ttl: Duration,
}

/// What a name resolves to, for the kernel.
#[derive(Clone, Copy, Debug)]
pub enum Lookup {
    Found(Entry),
    /// No such name; the kernel may remember that for `ttl`.
    Missing {
        ttl: Duration,
    },
}

/// What `open`/`create` hand back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The kernel may keep cached pages (we invalidate them when content changes).
    pub keep_cache: bool,
    /// Reads and writes bypass the page cache (control files, whose content is generated).
    pub direct_io: bool,
    /// No FLUSH is needed on close (read-only handles).
    pub noflush: bool,
}

/// One directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// Offset of the NEXT entry (what readdir passes back to continue after this one).
    pub next_offset: u64,
    pub name: String,
    pub kind: Kind,
    pub ino: Ino,
    /// Filled by `readdirplus` (and counted as a lookup for every name but `.` and `..`).
    pub entry: Option<Entry>,
}

/// Which attributes a `setattr` changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
}

/// What `statfs` shows.
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// Settings of a mount.
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub read_only: bool,
    /// Owner shown for every node (the mounting user).
    pub uid: u32,
    pub gid: u32,
    /// Largest document or temporary file, in bytes (EFBIG past it).
    pub max_doc_size: u64,
    /// Largest total size of all temporary files, in bytes (ENOSPC past it).
    pub max_temp_bytes: u64,
    /// Most temporary files at once (ENOSPC past it): empty ones cost memory too.
    pub max_temp_files: usize,
    /// Cache lifetime of names and attributes that are invalidated precisely.
    pub ttl: Duration,
    /// The store as the user named it, where the mount serves a converted copy of it (a
    /// Jina store): `/.stats` shows it as `store`, and the copy as `converted_copy`.
    pub shown_store: Option<std::path::PathBuf>,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            read_only: false,
            // SAFETY: getuid/getgid cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            max_doc_size: 64 << 20,
            max_temp_bytes: 256 << 20,
            max_temp_files: 100_000,
            ttl: Duration::from_secs(60),
            shown_store: None,
        }
    }
}
