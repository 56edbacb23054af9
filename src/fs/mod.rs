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

mod error;
mod handles;
mod namespace;
mod nodes;
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

    // ---- names and attributes ----------------------------------------------------------

    fn resolve(&self, st: &State, parent: Ino, name: &str) -> FsResult<Target> {
        match parent {
            ROOT_INO => Ok(match classify_root(name) {
                RootName::ById => Target::Fixed(BY_ID_INO),
                RootName::Stats => Target::Fixed(STATS_INO),
                RootName::Control(ino) => Target::Fixed(ino),
                RootName::Position(p) => match st.store.id_at(p) {
                    Some(id) => Target::Doc { id: id.to_owned() },
                    None => Target::Missing,
                },
                RootName::Other => match st.nodes.temp(ROOT_INO, name) {
                    Some(ino) => Target::Temp(ino),
                    None => Target::Missing,
                },
            }),
            BY_ID_INO => Ok(if st.store.contains(name) {
                Target::Doc {
                    id: name.to_owned(),
                }
            } else {
                match st.nodes.temp(BY_ID_INO, name) {
                    Some(ino) => Target::Temp(ino),
                    None => Target::Missing,
                }
            }),
            _ if st.nodes.get(parent).is_some() || parent <= CLEAR_INO => {
                Err(err(libc::ENOTDIR, "not a directory"))
            }
            _ => Err(err(libc::ENOENT, "no such directory")),
        }
    }

    fn dir_attr(&self, ino: Ino) -> Attr {
        Attr {
            ino,
            size: 0,
            kind: Kind::Directory,
            perm: if self.config.read_only { 0o555 } else { 0o755 },
            nlink: if ino == ROOT_INO { 3 } else { 2 },
            uid: self.config.uid,
            gid: self.config.gid,
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
        }
    }

    fn file_attr(&self, ino: Ino, size: u64, perm: u16, nlink: u32, mtime: SystemTime) -> Attr {
        Attr {
            ino,
            size,
            kind: Kind::File,
            perm,
            nlink,
            uid: self.config.uid,
            gid: self.config.gid,
            atime: mtime,
            mtime,
            ctime: mtime,
        }
    }

    fn doc_perm(&self) -> u16 {
        if self.config.read_only {
            0o444
        } else {
            0o644
        }
    }

    fn attr(&self, st: &State, ino: Ino) -> FsResult<Attr> {
        match ino {
            ROOT_INO | BY_ID_INO => return Ok(self.dir_attr(ino)),
            STATS_INO => {
                let size = self.render_stats(st).len() as u64;
                return Ok(self.file_attr(ino, size, 0o444, 1, SystemTime::now()));
            }
            _ => {}
        }
        if let Some(&(_, _, text)) = CONTROL_FILES.iter().find(|(_, i, _)| *i == ino) {
            return Ok(self.file_attr(ino, text.len() as u64, self.doc_perm(), 1, self.mounted_at));
        }
        let node = st
            .nodes
            .get(ino)
            .ok_or_else(|| err(libc::ENOENT, format!("inode {ino} is not known")))?;
        match &node.kind {
            NodeKind::Doc(id) => {
                let size = st
                    .store
                    .json_len(id)
                    .ok_or_else(|| err(libc::ENOENT, format!("{} was deleted", doc_path(id))))?;
                let mtime = st.mtimes.get(id).copied().unwrap_or(self.mounted_at);
                let nlink = if st.nodes.doc_ino(id) == Some(ino) {
                    2
                } else {
                    1
                };
                Ok(self.file_attr(ino, size, self.doc_perm(), nlink, mtime))
            }
            NodeKind::Temp(t) => Ok(Attr {
                ino,
                size: t.data.len() as u64,
                kind: Kind::File,
                perm: (t.mode & 0o7777) as u16,
                nlink: u32::from(t.place.is_some()),
                uid: t.uid,
                gid: t.gid,
                atime: t.atime,
                mtime: t.mtime,
                ctime: t.ctime,
            }),
            NodeKind::Gone(text) => {
                let size = text.as_ref().map_or(0, |t| t.len() as u64);
                Ok(self.file_attr(ino, size, self.doc_perm(), 0, self.mounted_at))
            }
        }
    }

    /// The entry for a resolved target, counting a lookup for dynamic nodes.
    fn entry_for(&self, st: &mut State, target: &Target) -> FsResult<Entry> {
        let ino = match target {
            Target::Fixed(ino) => *ino,
            Target::Doc { id } => {
                let ino = st.nodes.doc(id);
                st.nodes.looked_up(ino);
                ino
            }
            Target::Temp(ino) => {
                st.nodes.looked_up(*ino);
                *ino
            }
            Target::Missing => return Err(err(libc::ENOENT, "no such file")),
        };
        Ok(Entry {
            attr: self.attr(st, ino)?,
            entry_ttl: self.entry_ttl(),
            attr_ttl: self.config.ttl,
        })
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> FsResult<Entry> {
        let name = name_of(name).map_err(|e| {
            if e.errno == libc::ENAMETOOLONG {
                e
            } else {
                err(libc::ENOENT, e.message)
            }
        })?;
        let mut st = self.lock();
        let target = self.resolve(&st, parent, name)?;
        if target == Target::Missing {
            return Err(err(libc::ENOENT, format!("{name}: no such file")));
        }
        self.entry_for(&mut st, &target)
    }

    /// The kernel dropped `nlookup` references to `ino`.
    pub fn forget(&self, ino: Ino, nlookup: u64) {
        if ino > CLEAR_INO {
            self.lock().nodes.forget(ino, nlookup);
        }
    }

    /// `fh` is given for fstat(2) on an open file: a writer then sees the size of what it
    /// has written so far.
    pub fn getattr(&self, ino: Ino, fh: Option<u64>) -> FsResult<(Attr, Duration)> {
        let st = self.lock();
        let mut attr = self.attr(&st, ino)?;
        if let Some(Handle {
            kind: HandleKind::Doc { buf: Some(b), .. },
            ..
        }) = fh.and_then(|fh| st.handles.get(fh))
        {
            attr.size = b.len() as u64;
            return Ok((attr, Duration::ZERO));
        }
        Ok((attr, self.config.ttl))
    }

    pub fn setattr(&self, ino: Ino, fh: Option<u64>, set: SetAttr) -> FsResult<(Attr, Duration)> {
        self.writable()?;
        let mut st = self.lock();
        let st = &mut *st;
        let now = SystemTime::now();
        let kind = st.nodes.get(ino).map(|n| match &n.kind {
            NodeKind::Doc(id) => Some(id.clone()),
            _ => None,
        });
        match kind {
            Some(Some(id)) => {
                if let Some(size) = set.size {
                    self.check_size(size, &id)?;
                    let handle = fh.and_then(|fh| st.handles.get_mut(fh));
                    match handle {
                        Some(Handle {
                            kind: HandleKind::Doc { buf, dirty },
                            ..
                        }) => {
                            let before = buf.as_ref().map_or(0, Vec::len);
                            Self::check_memory(&self.config, st.pending_bytes, before, size)?;
                            let b = Self::doc_buffer(&st.store, &id, buf)?;
                            b.resize(size as usize, 0);
                            *dirty = true;
                            st.pending_bytes = st.pending_bytes + size - before as u64;
                        }
                        _ => {
                            if st.store.json_len(&id) != Some(size) {
                                return Err(err(
                                    libc::EINVAL,
                                    format!(
                                        "{}: a document can only be truncated through an open \
                                         file (it would not be valid JSON)",
                                        doc_path(&id)
                                    ),
                                ));
                            }
                        }
                    }
                }
                if let Some(t) = set.mtime {
                    st.mtimes.insert(id, t);
                }
            }
            Some(None) => {
                let limit = self.config.max_temp_bytes;
                let used = st.nodes.temp_bytes;
                if let Some(Node {
                    kind: NodeKind::Temp(t),
                    ..
                }) = st.nodes.get_mut(ino)
                {
                    let before = t.data.len();
                    if let Some(size) = set.size {
                        if size > self.config.max_doc_size {
                            return Err(err(libc::EFBIG, "file would exceed --max-doc-size"));
                        }
                        if size as usize > before && used + size - before as u64 > limit {
                            return Err(err(libc::ENOSPC, "temporary files are full"));
                        }
                        t.data.resize(size as usize, 0);
                        t.mtime = now;
                    }
                    if let Some(m) = set.mode {
                        t.mode = m & 0o7777;
                    }
                    if let Some(u) = set.uid {
                        t.uid = u;
                    }
                    if let Some(g) = set.gid {
                        t.gid = g;
                    }
                    if let Some(a) = set.atime {
                        t.atime = a;
                    }
                    if let Some(m) = set.mtime {
                        t.mtime = m;
                    }
                    t.ctime = now;
                    let after = t.data.len();
                    st.nodes.temp_data_changed(before, after);
                }
            }
            // Directories, .stats and control files: nothing to change; a truncation that
            // comes with `echo 1 > .prune` is harmless.
            None => {}
        }
        Ok((self.attr(st, ino)?, self.config.ttl))
    }

    fn check_size(&self, size: u64, what: &str) -> FsResult<()> {
        if size > self.config.max_doc_size {
            return Err(err(
                libc::EFBIG,
                format!(
                    "{what}: larger than the {} byte limit (--max-doc-size)",
                    self.config.max_doc_size
                ),
            ));
        }
        Ok(())
    }

    /// Write buffers of open documents are bounded too (ENOSPC past `max_temp_bytes`, counted
    /// apart from the temporaries): memory stays bounded however many files are open.
    fn check_memory(config: &FsConfig, pending: u64, before: usize, after: u64) -> FsResult<()> {
        let growth = after.saturating_sub(before as u64);
        if pending + growth > config.max_temp_bytes {
            return Err(err(
                libc::ENOSPC,
                format!(
                    "pending writes of open documents would exceed their {} byte bound",
                    config.max_temp_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A document handle's buffer, filled with the current content on first use.
    fn doc_buffer<'a>(
        store: &DocumentArrayMemmap,
        id: &str,
        buf: &'a mut Option<Vec<u8>>,
    ) -> FsResult<&'a mut Vec<u8>> {
        if buf.is_none() {
            *buf = Some(store.with_json(id, |b| b.to_vec())?);
        }
        Ok(buf.get_or_insert_with(Vec::new))
    }

    // ---- open, read, write, close ------------------------------------------------------

    /// `flags` are the open(2) flags (O_ACCMODE, O_TRUNC, O_APPEND, ...).
    pub fn open(&self, ino: Ino, flags: i32) -> FsResult<Opened> {
        let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let trunc = flags & libc::O_TRUNC != 0;
        if writing || trunc {
            self.writable()?;
        }
        let mut st = self.lock();
        let st = &mut *st;
        let (kind, opened) = match ino {
            ROOT_INO | BY_ID_INO => (HandleKind::Dir, Opened::default()),
            STATS_INO => {
                if writing {
                    return Err(err(libc::EACCES, "/.stats is read-only"));
                }
                let text = self.render_stats(st).into_bytes();
                (
                    HandleKind::Stats { text },
                    Opened {
                        direct_io: true,
                        ..Opened::default()
                    },
                )
            }
            _ if ino <= CLEAR_INO => (
                HandleKind::Control,
                Opened {
                    direct_io: true,
                    ..Opened::default()
                },
            ),
            _ => {
                let node = st
                    .nodes
                    .get_mut(ino)
                    .ok_or_else(|| err(libc::ENOENT, format!("inode {ino} is not known")))?;
                match &mut node.kind {
                    NodeKind::Doc(id) => {
                        if !st.store.contains(id) {
                            return Err(err(libc::ENOENT, format!("{} was deleted", doc_path(id))));
                        }
                        if !writing && self.config.read_only {
                            // Nothing changes on a read-only mount: the page cache is safe.
                            (
                                HandleKind::Doc {
                                    buf: None,
                                    dirty: false,
                                },
                                Opened {
                                    keep_cache: true,
                                    noflush: true,
                                    ..Opened::default()
                                },
                            )
                        } else if !writing {
                            // Readers get the text as of now, bypassing the page cache: the
                            // kernel's view of the size changes under them while writers
                            // work (O_TRUNC zeroes it, direct writes grow it), so cached
                            // reads could be empty, cut short or padded.
                            let text = st.store.with_json(id, |b| Arc::<[u8]>::from(b))?;
                            (
                                HandleKind::Reader { text },
                                Opened {
                                    direct_io: true,
                                    noflush: true,
                                    ..Opened::default()
                                },
                            )
                        } else {
                            // Writers bypass the page cache too: nobody may see bytes that
                            // are not committed.
                            (
                                HandleKind::Doc {
                                    buf: trunc.then(Vec::new),
                                    dirty: trunc,
                                },
                                Opened {
                                    direct_io: true,
                                    ..Opened::default()
                                },
                            )
                        }
                    }
                    NodeKind::Temp(t) => {
                        // Truncating an empty file changes nothing: no reason to settle it.
                        let cut = trunc && !t.data.is_empty();
                        if cut {
                            let before = t.data.len();
                            t.data.clear();
                            t.mtime = SystemTime::now();
                            st.nodes.temp_data_changed(before, 0);
                        }
                        (
                            HandleKind::Temp { wrote: cut },
                            Opened {
                                keep_cache: true,
                                ..Opened::default()
                            },
                        )
                    }
                    NodeKind::Gone(_) => {
                        return Err(err(libc::ENOENT, "the document was deleted"));
                    }
                }
            }
        };
        let fh = st.handles.insert(Handle { ino, kind });
        st.nodes.opened(ino);
        Ok(Opened { fh, ..opened })
    }

    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> FsResult<(Entry, Opened)> {
        self.writable()?;
        let name = name_of(name)?;
        let mut st = self.lock();
        let candidate = match parent {
            ROOT_INO => match classify_root(name) {
                RootName::Other => false,
                RootName::Position(p) if p >= st.store.len() => {
                    return Err(err(
                        libc::EPERM,
                        format!(
                            "/{name}: new documents are created in /by-id/ (a new file named \
                             like a position would collide with a future document)"
                        ),
                    ))
                }
                _ => return Err(err(libc::EEXIST, format!("/{name} exists"))),
            },
            BY_ID_INO => {
                if st.store.contains(name) {
                    return Err(err(libc::EEXIST, format!("{} exists", doc_path(name))));
                }
                !looks_like_tool_temporary(name)
            }
            _ => return Err(err(libc::ENOTDIR, "not a directory")),
        };
        let ino = match st.nodes.temp(parent, name) {
            Some(ino) if flags & libc::O_EXCL != 0 => {
                let _ = ino;
                return Err(err(libc::EEXIST, format!("{name} exists")));
            }
            Some(ino) => ino,
            None => {
                let now = SystemTime::now();
                st.nodes.add_temp(Temp {
                    place: Some((parent, name.to_owned())),
                    data: Vec::new(),
                    mode: mode & 0o7777,
                    uid: self.config.uid,
                    gid: self.config.gid,
                    atime: now,
                    mtime: now,
                    ctime: now,
                    candidate,
                    rejected: false,
                })
            }
        };
        st.nodes.looked_up(ino);
        let entry = Entry {
            attr: self.attr(&st, ino)?,
            entry_ttl: self.entry_ttl(),
            attr_ttl: self.config.ttl,
        };
        drop(st);
        let opened = match self.open(ino, flags & !libc::O_EXCL) {
            Ok(o) => o,
            Err(e) => {
                self.forget(ino, 1);
                return Err(e);
            }
        };
        Ok((entry, opened))
    }

    /// `fh` 0 means "no handle" (zero-message open).
    pub fn read(&self, ino: Ino, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let st = self.lock();
        if let Some(h) = st.handles.get(fh) {
            match &h.kind {
                HandleKind::Doc { buf: Some(b), .. } => return Ok(slice_of(b, offset, size)),
                HandleKind::Reader { text } => return Ok(slice_of(text, offset, size)),
                HandleKind::Stats { text } => return Ok(slice_of(text, offset, size)),
                _ => {}
            }
        }
        match ino {
            ROOT_INO | BY_ID_INO => return Err(err(libc::EISDIR, "is a directory")),
            STATS_INO => return Ok(slice_of(self.render_stats(&st).as_bytes(), offset, size)),
            _ => {}
        }
        if let Some(&(_, _, text)) = CONTROL_FILES.iter().find(|(_, i, _)| *i == ino) {
            return Ok(slice_of(text.as_bytes(), offset, size));
        }
        match st.nodes.get(ino).map(|n| &n.kind) {
            Some(NodeKind::Doc(id)) => Ok(st.store.with_json(id, |b| slice_of(b, offset, size))?),
            Some(NodeKind::Temp(t)) => Ok(slice_of(&t.data, offset, size)),
            Some(NodeKind::Gone(Some(text))) => Ok(slice_of(text, offset, size)),
            Some(NodeKind::Gone(None)) => Err(err(libc::ENOENT, "the document was deleted")),
            None => Err(err(libc::ENOENT, format!("inode {ino} is not known"))),
        }
    }

    pub fn write(&self, ino: Ino, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        self.writable()?;
        let end = offset.saturating_add(data.len() as u64);
        let mut st = self.lock();
        let st = &mut *st;
        match ino {
            ROOT_INO | BY_ID_INO => return Err(err(libc::EISDIR, "is a directory")),
            STATS_INO => return Err(err(libc::EACCES, "/.stats is read-only")),
            _ if ino <= CLEAR_INO => {
                self.run_control(st, ino, data)?;
                return Ok(data.len() as u32);
            }
            _ => {}
        }
        let id = match st.nodes.get(ino).map(|n| &n.kind) {
            Some(NodeKind::Doc(id)) => Some(id.clone()),
            Some(NodeKind::Temp(_)) => None,
            Some(NodeKind::Gone(_)) => return Err(err(libc::ENOENT, "the document was deleted")),
            None => return Err(err(libc::ENOENT, format!("inode {ino} is not known"))),
        };
        if let Some(id) = id {
            self.check_size(end, &doc_path(&id))?;
            let Some(Handle {
                kind: HandleKind::Doc { buf, dirty },
                ..
            }) = st.handles.get_mut(fh)
            else {
                return Err(err(libc::EBADF, "write without an open document handle"));
            };
            let before = buf.as_ref().map_or(0, Vec::len);
            let base = match buf {
                Some(b) => b.len() as u64,
                None => st.store.json_len(&id).unwrap_or(0),
            };
            Self::check_memory(&self.config, st.pending_bytes, before, base.max(end))?;
            let b = Self::doc_buffer(&st.store, &id, buf)?;
            write_at(b, offset, data);
            *dirty = true;
            let after = b.len();
            st.pending_bytes = st.pending_bytes + after as u64 - before as u64;
            return Ok(data.len() as u32);
        }
        self.check_size(end, "temporary file")?;
        let used = st.nodes.temp_bytes;
        let limit = self.config.max_temp_bytes;
        let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = st.nodes.get_mut(ino)
        else {
            return Err(err(libc::ENOENT, "no such file"));
        };
        let before = t.data.len();
        let growth = (end as usize).saturating_sub(before) as u64;
        if used + growth > limit {
            return Err(err(
                libc::ENOSPC,
                format!("temporary files would exceed their {limit} byte bound"),
            ));
        }
        write_at(&mut t.data, offset, data);
        t.mtime = SystemTime::now();
        let after = t.data.len();
        st.nodes.temp_data_changed(before, after);
        if let Some(Handle {
            kind: HandleKind::Temp { wrote },
            ..
        }) = st.handles.get_mut(fh)
        {
            *wrote = true;
        }
        Ok(data.len() as u32)
    }

    /// Validates a document handle's buffer and puts it in the store.
    fn commit_doc(&self, st: &mut State, ino: Ino, fh: u64) -> FsResult<()> {
        let Some(NodeKind::Doc(id)) = st.nodes.get(ino).map(|n| &n.kind) else {
            return Err(err(libc::ENOENT, "the document was deleted"));
        };
        let id = id.clone();
        let Some(Handle {
            kind:
                HandleKind::Doc {
                    buf: Some(buf),
                    dirty: true,
                },
            ..
        }) = st.handles.get(fh)
        else {
            return Ok(());
        };
        if buf.is_empty() {
            // bash flushes `> file` before it writes; the release logs if it stays empty.
            return Err(err(
                libc::EINVAL,
                format!("{}: empty, not a document (yet)", doc_path(&id)),
            )
            .quietly());
        }
        let result = std::str::from_utf8(buf)
            .map_err(|_| err(libc::EINVAL, format!("{}: not UTF-8 text", doc_path(&id))))
            .and_then(|text| {
                Document::from_json_for_id(text, &id).map_err(|e| {
                    err(
                        libc::EINVAL,
                        format!(
                            "{}: not a valid document, left unchanged: {e}",
                            doc_path(&id)
                        ),
                    )
                })
            })
            .and_then(|doc| Ok(st.store.set_by_id(&id, doc)?));
        // Either way the kernel may hold pages or a size that are not the document's.
        for i in st.nodes.inodes_of(&id) {
            st.inval(i);
        }
        result?;
        st.mtimes.insert(id, SystemTime::now());
        if let Some(Handle {
            kind: HandleKind::Doc { dirty, .. },
            ..
        }) = st.handles.get_mut(fh)
        {
            *dirty = false;
        }
        Ok(())
    }

    /// A file created in `/by-id/` was closed after writing: valid JSON whose id is absent
    /// or its name makes it a new document; JSON naming another existing document keeps it
    /// a temporary (a pending replacement: what `sed -i` and `jq … > tmp` make).
    fn settle_candidate(&self, st: &mut State, ino: Ino) -> FsResult<()> {
        let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = st.nodes.get(ino)
        else {
            return Ok(());
        };
        let Some((BY_ID_INO, name)) = t.place.clone() else {
            return Ok(());
        };
        if !t.candidate {
            // A name like a tool's temporary stays one, unless its JSON says, in so many
            // words, that it is this document (`"id"` equal to the name): then the user is
            // making a document called `tmp1` or `draft~`, and it must not vanish at unmount.
            let named_so = std::str::from_utf8(&t.data)
                .ok()
                .and_then(|text| Document::from_json(text).ok())
                .is_some_and(|d| d.id() == name);
            if !named_so {
                return Ok(());
            }
        }
        let written_len = t.data.len();
        let verdict = match std::str::from_utf8(&t.data) {
            Err(_) => Err(err(
                libc::EINVAL,
                format!("{}: a new document must be UTF-8 JSON", doc_path(&name)),
            )),
            Ok(text) => match Document::from_json_for_id(text, &name) {
                Ok(doc) => Ok(Some(doc)),
                Err(StoreError::IdMismatch { found, .. }) if st.store.contains(&found) => Ok(None),
                Err(StoreError::IdMismatch { found, .. }) => Err(err(
                    libc::EINVAL,
                    format!(
                        "{}: its \"id\" names document {found:?}, which does not exist",
                        doc_path(&name)
                    ),
                )),
                Err(e) => Err(err(
                    libc::EINVAL,
                    format!("{}: not a valid document: {e}", doc_path(&name)),
                )),
            },
        };
        let set_temp = |st: &mut State, candidate: bool, rejected: bool| {
            if let Some(Node {
                kind: NodeKind::Temp(t),
                ..
            }) = st.nodes.get_mut(ino)
            {
                t.candidate = candidate;
                t.rejected = rejected;
            }
        };
        match verdict {
            Ok(Some(doc)) => {
                // The kernel cached what was written; only an added id makes that stale.
                let id_added = doc.json().len() != written_len;
                st.store.append(doc)?;
                st.nodes.make_doc(ino, &name);
                st.handles.temp_became_doc(ino);
                st.mtimes.insert(name, SystemTime::now());
                if id_added {
                    st.inval(ino);
                }
                Ok(())
            }
            Ok(None) => {
                set_temp(st, false, false);
                Ok(())
            }
            Err(e) => {
                set_temp(st, true, true);
                Err(e)
            }
        }
    }

    /// close(2) of one descriptor: a handle that wrote is validated and committed here.
    pub fn flush(&self, ino: Ino, fh: u64) -> FsResult<()> {
        let mut st = self.lock();
        let st = &mut *st;
        match st.handles.get(fh).map(|h| &h.kind) {
            Some(HandleKind::Doc { dirty: true, .. }) => self.commit_doc(st, ino, fh),
            Some(HandleKind::Temp { wrote: true }) => {
                let r = self.settle_candidate(st, ino);
                if let Some(Handle {
                    kind: HandleKind::Temp { wrote },
                    ..
                }) = st.handles.get_mut(fh)
                {
                    *wrote = r.is_err();
                }
                r
            }
            _ => Ok(()),
        }
    }

    /// The last descriptor of a handle is gone; errors cannot be reported any more.
    pub fn release(&self, ino: Ino, fh: u64) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(h) = st.handles.remove(fh) else {
            return;
        };
        if let HandleKind::Doc { buf: Some(b), .. } = &h.kind {
            st.pending_bytes -= b.len() as u64;
        }
        if let HandleKind::Doc { dirty: true, .. } = h.kind {
            if let Some(NodeKind::Doc(id)) = st.nodes.get(ino).map(|n| &n.kind) {
                log::warn!(
                    "{}: closed with changes that never formed a valid document; they are \
                     discarded and the document is unchanged",
                    doc_path(id)
                );
            }
            st.inval(ino);
        }
        let orphan = match st.nodes.get(ino) {
            Some(Node {
                kind: NodeKind::Temp(t),
                open: 1,
                ..
            }) if t.candidate && t.rejected => t.place.clone(),
            _ => None,
        };
        if let Some((_, name)) = orphan {
            log::warn!(
                "{}: never became a valid document; removed",
                doc_path(&name)
            );
            st.nodes.unlink_temp(ino);
        }
        st.nodes.closed(ino);
    }

    /// fsync(2): commits the handle's writes (validated), then saves the whole store.
    pub fn fsync(&self, ino: Ino, fh: u64) -> FsResult<()> {
        if self.config.read_only {
            return Ok(());
        }
        let mut st = self.lock();
        let st = &mut *st;
        match st.handles.get(fh).map(|h| &h.kind) {
            Some(HandleKind::Doc { dirty: true, .. }) => self.commit_doc(st, ino, fh)?,
            // A new document being written in /by-id/: it becomes one now, so that this
            // fsync makes it durable (not only the close after it).
            Some(HandleKind::Temp { wrote: true }) => {
                let settled = self.settle_candidate(st, ino);
                if let Some(Handle {
                    kind: HandleKind::Temp { wrote },
                    ..
                }) = st.handles.get_mut(fh)
                {
                    *wrote = settled.is_err();
                }
                settled?;
            }
            _ => {}
        }
        st.store.save()?;
        Ok(())
    }

    // ---- namespace changes -------------------------------------------------------------

    pub fn unlink(&self, parent: Ino, name: &OsStr) -> FsResult<()> {
        self.writable()?;
        let name = name_of(name)?;
        let mut st = self.lock();
        let st = &mut *st;
        match self.resolve(st, parent, name)? {
            Target::Fixed(BY_ID_INO) => Err(err(libc::EISDIR, "/by-id is a directory")),
            Target::Fixed(_) => Err(err(libc::EPERM, format!("/{name} cannot be removed"))),
            Target::Doc { id, .. } => {
                let last = if st.nodes.is_open(&id) {
                    Some(st.store.with_json(&id, |b| Arc::<[u8]>::from(b))?)
                } else {
                    None
                };
                st.store.delete_by_id(&id)?;
                let inos = st.nodes.doc_deleted(&id);
                if let Some(text) = last {
                    st.nodes.keep_text(&inos, text);
                }
                for ino in inos {
                    st.inval(ino);
                }
                st.mtimes.remove(&id);
                Ok(())
            }
            Target::Temp(ino) => {
                st.nodes.unlink_temp(ino);
                Ok(())
            }
            Target::Missing => Err(err(libc::ENOENT, format!("{name}: no such file"))),
        }
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
        self.writable()?;
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(err(
                libc::EINVAL,
                "only RENAME_NOREPLACE is supported (not exchange or whiteout)",
            ));
        }
        let name = name_of(name)?;
        let newname = name_of(newname)?;
        let mut st = self.lock();
        let st = &mut *st;
        let src = self.resolve(st, parent, name)?;
        let dst = self.resolve(st, newparent, newname)?;
        if flags & libc::RENAME_NOREPLACE != 0 && dst != Target::Missing {
            return Err(err(libc::EEXIST, format!("{newname} exists")));
        }
        match (src, dst) {
            (Target::Missing, _) => Err(err(libc::ENOENT, format!("{name}: no such file"))),
            (Target::Fixed(_), _) | (_, Target::Fixed(_)) => Err(err(
                libc::EPERM,
                "directories and control files cannot be renamed or replaced",
            )),
            (Target::Temp(t), Target::Doc { id, .. }) => {
                self.temp_onto_doc(st, t, &id)?;
                Ok(())
            }
            (Target::Temp(t), dst @ (Target::Temp(_) | Target::Missing)) => {
                if dst == Target::Temp(t) {
                    return Ok(());
                }
                if newparent == ROOT_INO && matches!(classify_root(newname), RootName::Position(_))
                {
                    return Err(err(
                        libc::EPERM,
                        format!("/{newname}: new documents are created in /by-id/"),
                    ));
                }
                // Replaces a temporary of that name, if any.
                st.nodes.move_temp(t, (newparent, newname.to_owned()));
                if let Some(Node {
                    kind: NodeKind::Temp(temp),
                    ..
                }) = st.nodes.get_mut(t)
                {
                    temp.candidate = newparent == BY_ID_INO && !looks_like_tool_temporary(newname);
                    temp.rejected = false;
                }
                // A renamed-in file that already holds a valid document becomes one; any
                // other content simply stays a temporary file under its new name.
                let _ = self.settle_candidate(st, t);
                if let Some(Node {
                    kind: NodeKind::Temp(temp),
                    ..
                }) = st.nodes.get_mut(t)
                {
                    temp.rejected = false;
                }
                Ok(())
            }
            (Target::Doc { id: sid, .. }, Target::Doc { id: did, .. }) => {
                if sid == did {
                    return Ok(()); // two names of one inode: nothing to do, as POSIX says
                }
                st.store.move_onto(&sid, &did)?;
                let src_ino = st.nodes.doc(&sid);
                let old = st.nodes.take_over(src_ino, &did);
                st.nodes.forget_id(&sid, src_ino);
                st.mtimes.remove(&sid);
                st.mtimes.insert(did.clone(), SystemTime::now());
                st.inval(src_ino);
                if let Some(o) = old {
                    st.inval(o);
                }
                Ok(())
            }
            (Target::Doc { id: sid, .. }, dst @ (Target::Missing | Target::Temp(_))) => {
                if newparent != BY_ID_INO {
                    return Err(err(
                        libc::EPERM,
                        format!(
                            "{}: a document keeps a document name; rename it inside /by-id/",
                            doc_path(&sid)
                        ),
                    ));
                }
                // Editors back up by renaming `x` to `x~` and writing a new `x`; a document
                // must not become a stray document named like a backup or swap file (and
                // its replacement land at the end). Refused, they back up by copying.
                if looks_like_tool_temporary(newname) {
                    return Err(err(
                        libc::EPERM,
                        format!(
                            "{}: a document cannot take a temporary file's name ({newname:?})",
                            doc_path(&sid)
                        ),
                    ));
                }
                st.store.rename(&sid, newname)?;
                // Only once the rename took: a failed one must not lose the temporary.
                if let Target::Temp(t2) = dst {
                    st.nodes.unlink_temp(t2);
                }
                for ino in st.nodes.doc_renamed(&sid, newname) {
                    st.inval(ino);
                }
                st.mtimes.remove(&sid);
                st.mtimes.insert(newname.to_owned(), SystemTime::now());
                Ok(())
            }
        }
    }

    /// A temporary renamed onto a document replaces it in place (validated).
    fn temp_onto_doc(&self, st: &mut State, t: Ino, id: &str) -> FsResult<()> {
        let Some(Node {
            kind: NodeKind::Temp(temp),
            ..
        }) = st.nodes.get(t)
        else {
            return Err(err(libc::ENOENT, "no such file"));
        };
        let text = std::str::from_utf8(&temp.data).map_err(|_| {
            err(
                libc::EINVAL,
                format!("cannot replace {}: not UTF-8 text", doc_path(id)),
            )
        })?;
        let doc = Document::from_json_for_id(text, id).map_err(|e| {
            err(
                libc::EINVAL,
                format!(
                    "cannot replace {}: not a valid document for it: {e}",
                    doc_path(id)
                ),
            )
        })?;
        st.store.set_by_id(id, doc)?;
        st.nodes.make_doc(t, id);
        st.handles.temp_became_doc(t);
        st.mtimes.insert(id.to_owned(), SystemTime::now());
        for i in st.nodes.inodes_of(id) {
            st.inval(i);
        }
        Ok(())
    }

    /// mkdir, mknod (other than regular files), symlink, link: refused (EPERM, or EROFS).
    pub fn refuse_node(&self, _parent: Ino, name: &OsStr) -> FsError {
        if self.config.read_only {
            return err(libc::EROFS, "the mount is read-only");
        }
        err(
            libc::EPERM,
            format!(
                "{}: only regular files can be created here (documents in /by-id/, \
                 temporary files anywhere)",
                name.to_string_lossy()
            ),
        )
    }

    // ---- directories -------------------------------------------------------------------

    pub fn opendir(&self, ino: Ino) -> FsResult<()> {
        match ino {
            ROOT_INO | BY_ID_INO => Ok(()),
            _ if ino <= CLEAR_INO || self.lock().nodes.get(ino).is_some() => {
                Err(err(libc::ENOTDIR, "not a directory"))
            }
            _ => Err(err(libc::ENOENT, format!("inode {ino} is not known"))),
        }
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
        let fixed: &[(&str, Ino, Kind)] = match ino {
            ROOT_INO => &[
                (".", ROOT_INO, Kind::Directory),
                ("..", ROOT_INO, Kind::Directory),
                ("by-id", BY_ID_INO, Kind::Directory),
                (".stats", STATS_INO, Kind::File),
                (".reload", RELOAD_INO, Kind::File),
                (".save", SAVE_INO, Kind::File),
                (".prune", PRUNE_INO, Kind::File),
                (".clear", CLEAR_INO, Kind::File),
            ],
            BY_ID_INO => &[
                (".", BY_ID_INO, Kind::Directory),
                ("..", ROOT_INO, Kind::Directory),
            ],
            _ => {
                return Err(self
                    .opendir(ino)
                    .err()
                    .unwrap_or_else(|| err(libc::ENOTDIR, "not a directory")))
            }
        };
        let mut st = self.lock();
        let st = &mut *st;
        let ndocs = st.store.len();
        let temps = st.nodes.temps_in(ino);
        let total = fixed.len() + ndocs + temps.len();
        let mut out = Vec::new();
        let mut i = offset as usize;
        while i < total && out.len() < max {
            let (name, node_ino, kind, entry) = if i < fixed.len() {
                let (name, fino, kind) = fixed[i];
                let entry = if plus {
                    Some(Entry {
                        attr: self.attr(st, fino)?,
                        entry_ttl: self.entry_ttl(),
                        attr_ttl: self.config.ttl,
                    })
                } else {
                    None
                };
                (name.to_owned(), fino, kind, entry)
            } else if i < fixed.len() + ndocs {
                let pos = i - fixed.len();
                let Some(id) = st.store.id_at(pos) else { break };
                let id = id.to_owned();
                let name = if ino == ROOT_INO {
                    pos.to_string()
                } else {
                    id.clone()
                };
                let doc_ino;
                let entry = if plus {
                    let target = Target::Doc { id };
                    let e = self.entry_for(st, &target)?;
                    doc_ino = e.attr.ino;
                    Some(e)
                } else {
                    // Plain readdir is not a lookup: report the inode number without
                    // adding a node the kernel will never forget.
                    doc_ino = st
                        .nodes
                        .doc_ino(&id)
                        .unwrap_or_else(|| nodes::doc_ino_of(&id));
                    None
                };
                (name, doc_ino, Kind::File, entry)
            } else {
                let (tino, name) = temps[i - fixed.len() - ndocs].clone();
                let entry = if plus {
                    Some(self.entry_for(st, &Target::Temp(tino))?)
                } else {
                    None
                };
                (name, tino, Kind::File, entry)
            };
            i += 1;
            out.push(DirEntry {
                next_offset: i as u64,
                name,
                kind,
                ino: node_ino,
                entry,
            });
        }
        Ok(out)
    }

    pub fn statfs(&self) -> StatFs {
        let st = self.lock();
        let files = st.store.len() as u64;
        let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
        let path = std::ffi::CString::new(st.store.path().as_os_str().as_encoded_bytes()).ok();
        // SAFETY: statvfs writes into the struct we own; the path is NUL-terminated.
        let ok = path
            .map(|p| unsafe { libc::statvfs(p.as_ptr(), &mut sv) } == 0)
            .unwrap_or(false);
        let (blocks, bfree, bavail, bsize) = if ok {
            (
                sv.f_blocks as u64,
                sv.f_bfree as u64,
                sv.f_bavail as u64,
                sv.f_frsize as u32,
            )
        } else {
            (0, 0, 0, 4096)
        };
        StatFs {
            blocks,
            bfree,
            bavail,
            // Total = used + free, as df -i expects.
            files: files + u64::from(u32::MAX),
            ffree: u64::from(u32::MAX),
            bsize,
            namelen: NAME_MAX as u32,
            frsize: bsize,
        }
    }

    // ---- control files -----------------------------------------------------------------

    fn run_control(&self, st: &mut State, ino: Ino, data: &[u8]) -> FsResult<()> {
        let name = CONTROL_FILES
            .iter()
            .find(|(_, i, _)| *i == ino)
            .map_or("?", |(n, _, _)| *n);
        let text = std::str::from_utf8(data).unwrap_or("").trim();
        if text != "1" {
            return Err(err(
                libc::EINVAL,
                format!(
                    "/{name}: write 1 to run it (got {:?})",
                    String::from_utf8_lossy(data)
                ),
            ));
        }
        log::info!("/{name}: running");
        match ino {
            RELOAD_INO => {
                st.store.reload()?;
                self.refresh_all(st);
            }
            SAVE_INO => st.store.save()?,
            PRUNE_INO => st.store.prune()?,
            CLEAR_INO => {
                st.store.clear()?;
                st.mtimes.clear();
                self.refresh_all(st);
            }
            _ => return Err(err(libc::EINVAL, "not a control file")),
        }
        Ok(())
    }

    /// After the store changed under every name (reload, clear): drop what the kernel may
    /// have cached about documents.
    fn refresh_all(&self, st: &mut State) {
        for (id, ino) in st.nodes.all_docs() {
            if !st.store.contains(&id) {
                st.nodes.doc_deleted(&id);
            }
            st.inval(ino);
        }
    }

    /// A write through the store may have taken in other processes' changes (it catches up
    /// under the lock first): then every cached document may be stale.
    fn sync_external(&self, st: &mut State) {
        let now = st.store.external_changes();
        if now != st.seen_external {
            st.seen_external = now;
            self.refresh_all(st);
        }
    }

    fn render_stats(&self, st: &State) -> String {
        let s = st.store.stats();
        let v = serde_json::json!({
            "pid": std::process::id(),
            "store": st.store.path(),
            "read_only": self.config.read_only,
            "length": s.length,
            "pool_size": s.pool_size,
            "pool_used": s.pool_used,
            "pool_dirty": s.pool_dirty,
            "bytes": s.bytes,
            "garbage_bytes": s.garbage_bytes,
            "format_version": s.format_version,
            "generation": s.generation,
            "table_bytes": s.table_bytes,
            "temporary_files": st.nodes.temp_count(),
            "temporary_bytes": st.nodes.temp_bytes,
            "pending_write_bytes": st.pending_bytes,
            "open_handles": st.handles.len(),
        });
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// Inodes whose cached attributes the kernel must drop (FUSE_NOTIFY_INVAL_INODE with a
    /// negative offset: attributes only, a notification that takes no lock and so never
    /// waits for a request). Pages need nothing: readers of a read-write mount use direct I/O.
    pub fn take_invalidations(&self) -> Vec<Ino> {
        if !self.invals_pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut st = self.lock();
        st.invals_pending.store(false, Ordering::Release);
        std::mem::take(&mut st.invals)
    }

    /// Saves every dirty document (unmount, SIGTERM).
    pub fn save(&self) -> FsResult<()> {
        Ok(self.lock().store.save()?)
    }

    /// The `.stats` text (what `cat MNT/.stats` shows).
    pub fn stats_json(&self) -> String {
        let st = self.lock();
        self.render_stats(&st)
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
