//! Names and attributes: what a name resolves to, `lookup`/`forget`, `getattr`/`setattr`,
//! and the size and memory bounds that writes share.

use super::*;

impl Filesystem {
    // ---- names and attributes ----------------------------------------------------------

    pub(super) fn resolve(&self, st: &State, parent: Ino, name: &str) -> FsResult<Target> {
        match parent {
            ROOT_INO => Ok(match classify_root(name) {
                RootName::ById => Target::Fixed(BY_ID_INO),
                RootName::Stats => Target::Fixed(STATS_INO),
                RootName::Bulk(ino) => Target::Fixed(ino),
                RootName::Control(ino) => Target::Fixed(ino),
                // A position shows its document; past the end, the name can only be a
                // tool's temporary (vim's `4913` probe), which never shadows a document.
                RootName::Position(p) => match View::of(st).id_at(p) {
                    Some(id) => Target::Doc { id: id.to_owned() },
                    None => Self::temp_or_missing(st, ROOT_INO, name),
                },
                RootName::Other => Self::temp_or_missing(st, ROOT_INO, name),
            }),
            BY_ID_INO => Ok(if st.shows(name) {
                Target::Doc {
                    id: name.to_owned(),
                }
            } else {
                match st.nodes.temp(BY_ID_INO, name) {
                    Some(ino) => Target::Temp(ino),
                    None => Target::Missing,
                }
            }),
            _ if st.nodes.get(parent).is_some() || parent <= LAST_FIXED_INO => {
                Err(err(libc::ENOTDIR, "not a directory"))
            }
            _ => Err(err(libc::ENOENT, "no such directory")),
        }
    }

    fn temp_or_missing(st: &State, parent: Ino, name: &str) -> Target {
        match st.nodes.temp(parent, name) {
            Some(ino) => Target::Temp(ino),
            None => Target::Missing,
        }
    }

    pub(super) fn dir_attr(&self, ino: Ino) -> Attr {
        Attr {
            ino,
            size: 0,
            kind: Kind::Directory,
            perm: if self.config.read_only { 0o555 } else { 0o755 },
            nlink: if ino == ROOT_INO { 3 } else { 2 },
            uid: self.config.uid,
            gid: self.config.gid,
            atime: self.base_time.get(),
            mtime: self.base_time.get(),
            ctime: self.base_time.get(),
        }
    }

    pub(super) fn file_attr(
        &self,
        ino: Ino,
        size: u64,
        perm: u16,
        nlink: u32,
        mtime: SystemTime,
    ) -> Attr {
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

    pub(super) fn doc_perm(&self) -> u16 {
        if self.config.read_only {
            0o444
        } else {
            0o644
        }
    }

    pub(super) fn attr(&self, st: &State, ino: Ino) -> FsResult<Attr> {
        match ino {
            ROOT_INO | BY_ID_INO => return Ok(self.dir_attr(ino)),
            STATS_INO => {
                // Its counters change with every request, but it shows no change of its
                // own (a still time; on a read-write mount, where it is read with direct
                // I/O, size 0 as /proc's files have): tools that compare a file before and
                // after reading it (tar: "file changed as we read it") see a still file.
                // A read-only mount's readers go through the page cache, which needs the size.
                let size = if self.config.read_only {
                    self.render_stats(st).len() as u64
                } else {
                    0
                };
                return Ok(self.file_attr(ino, size, 0o444, 1, self.base_time.get()));
            }
            ALL_INO => {
                let size = self.all_lines_len(st)?;
                return Ok(self.file_attr(ino, size, 0o444, 1, st.last_touch));
            }
            APPEND_INO => {
                let perm = if self.config.read_only { 0o444 } else { 0o644 };
                return Ok(self.file_attr(ino, 0, perm, 1, self.base_time.get()));
            }
            _ => {}
        }
        if let Some(&(_, _, text)) = CONTROL_FILES.iter().find(|(_, i, _)| *i == ino) {
            return Ok(self.file_attr(
                ino,
                text.len() as u64,
                self.doc_perm(),
                1,
                self.base_time.get(),
            ));
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
                let mtime = st.mtimes.get(id).copied().unwrap_or(self.base_time.get());
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
                Ok(self.file_attr(ino, size, self.doc_perm(), 0, self.base_time.get()))
            }
        }
    }

    /// The entry for a resolved target, counting a lookup for dynamic nodes.
    pub(super) fn entry_for(&self, st: &mut State, target: &Target) -> FsResult<Entry> {
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
        match self.lookup_by(parent, name, 0)? {
            Lookup::Found(e) => Ok(e),
            Lookup::Missing { .. } => Err(err(
                libc::ENOENT,
                format!("{}: no such file", name.to_string_lossy()),
            )),
        }
    }

    /// `lookup` on behalf of process `pid` (0: unknown). A missing name comes back as
    /// `Missing`, which the kernel may cache for as long as names are cached: every way a
    /// name can appear other than the kernel's own create or rename of it bumps the name
    /// epoch (a document appended at a position someone found missing; `.append.jsonl`;
    /// other writers).
    ///
    /// A process that has just deleted a positional name and may create it again (see
    /// `recreate`) finds it missing, though the next document now shows there for everyone
    /// else: its `open(O_CREAT|O_EXCL)` then creates the name instead of failing with
    /// EEXIST. That answer is for it alone and never cached.
    pub fn lookup_by(&self, parent: Ino, name: &OsStr, pid: u32) -> FsResult<Lookup> {
        let name = name_of(name).map_err(|e| {
            if e.errno == libc::ENAMETOOLONG {
                e
            } else {
                err(libc::ENOENT, e.message)
            }
        })?;
        let mut st = self.lock();
        if parent == ROOT_INO && pid != 0 && !st.recent_deletes.is_empty() {
            let tgid = recreate::thread_group(pid);
            let now = std::time::Instant::now();
            if st
                .recent_deletes
                .claimable(parent, name, tgid, now)
                .is_some()
            {
                return Err(err(
                    libc::ENOENT,
                    format!("/{name}: just deleted by this process"),
                )
                .quietly());
            }
        }
        let mut target = self.resolve(&st, parent, name)?;
        if target == Target::Missing && !self.config.read_only {
            // Another process may have just added it (`damfs put STORE x && cat
            // MNT/by-id/x`): one look at the store (a stat of a memmap store's index, never
            // waiting for its lock) before the name is called missing and cached so.
            if matches!(st.store.refresh(false), Ok(true)) {
                self.sync_external(&mut st);
                target = self.resolve(&st, parent, name)?;
            }
        }
        if target == Target::Missing {
            let ttl = self.entry_ttl();
            if ttl > Duration::ZERO {
                if parent == ROOT_INO {
                    st.negative_positions = true;
                } else {
                    st.negative_ids = true;
                }
            }
            return Ok(Lookup::Missing { ttl });
        }
        Ok(Lookup::Found(self.entry_for(&mut st, &target)?))
    }

    /// The kernel dropped `nlookup` references to `ino`.
    pub fn forget(&self, ino: Ino, nlookup: u64) {
        if ino > LAST_FIXED_INO {
            self.lock().nodes.forget(ino, nlookup);
        }
    }

    /// `fh` is given for fstat(2) on an open file, and when the kernel refreshes a reader's
    /// attributes before a read: a writer then sees the size of what it has written so
    /// far, a reader the size and time of the snapshot it reads (so the kernel never reads
    /// its cached pages past the reader's text). Answers that differ from the document's
    /// own are not cached (TTL 0): the next plain `stat` asks again.
    pub fn getattr(&self, ino: Ino, fh: Option<u64>) -> FsResult<(Attr, Duration)> {
        let st = self.lock();
        let mut attr = self.attr(&st, ino)?;
        let own = (attr.size, attr.mtime);
        match fh.and_then(|fh| st.handles.get(fh)).map(|h| &h.kind) {
            Some(HandleKind::Doc { buf: Some(b), .. }) => attr.size = b.len() as u64,
            Some(HandleKind::Reader { text, mtime, .. }) => {
                attr.size = text.len() as u64;
                attr.mtime = *mtime;
                attr.ctime = *mtime;
                attr.atime = *mtime;
            }
            _ => {}
        }
        let ttl = if (attr.size, attr.mtime) == own {
            self.config.ttl
        } else {
            Duration::ZERO
        };
        Ok((attr, ttl))
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
                    if st.handles.has_uncommitted_writes(ino) {
                        st.set_mtimes.insert(ino, t);
                    }
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
                        if st.handles.is_open(ino) {
                            st.set_mtimes.insert(ino, m);
                        }
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

    pub(super) fn check_size(&self, size: u64, what: &str) -> FsResult<()> {
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
    pub(super) fn check_memory(
        config: &FsConfig,
        pending: u64,
        before: usize,
        after: u64,
    ) -> FsResult<()> {
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
    pub(super) fn doc_buffer<'a>(
        store: &Store,
        id: &str,
        buf: &'a mut Option<Vec<u8>>,
    ) -> FsResult<&'a mut Vec<u8>> {
        if buf.is_none() {
            *buf = Some(store.with_json(id, |b| b.to_vec())?);
        }
        Ok(buf.get_or_insert_with(Vec::new))
    }
}
