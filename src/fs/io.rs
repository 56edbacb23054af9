//! Open, read, write, close: document handles buffer their writes and are validated at
//! close (`flush`) or `fsync`; new files in `/by-id/` become documents there.

use super::*;

impl Filesystem {
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
            ALL_INO => {
                if writing || trunc {
                    return Err(err(libc::EACCES, "/.all.jsonl is read-only"));
                }
                let opened = Opened {
                    direct_io: true,
                    noflush: true,
                    ..Opened::default()
                };
                (HandleKind::AllLines(Default::default()), opened)
            }
            APPEND_INO => {
                // Read, it is empty (what it appends is read in the documents): tools that
                // read every file of the mount (`grep -r`, `cp -r`, `tar c`) must not fail.
                let opened = Opened {
                    direct_io: true,
                    ..Opened::default()
                };
                (HandleKind::Append { buf: Vec::new() }, opened)
            }
            _ if ino <= CLEAR_INO => (
                HandleKind::Control { ran: false },
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
                        let id = id.clone();
                        self.open_doc(st, &id, writing, trunc)?
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
                    // ESTALE: the kernel looks the name up again and retries the open
                    // once (so `> by-id/x` creates x anew, where ENOENT would fail it).
                    NodeKind::Gone(_) => {
                        return Err(err(libc::ESTALE, "the document was deleted").quietly());
                    }
                }
            }
        };
        let fh = st.handles.insert(Handle { ino, kind });
        st.nodes.opened(ino);
        Ok(Opened { fh, ..opened })
    }

    /// Opens document `id`.
    fn open_doc(
        &self,
        st: &mut State,
        id: &str,
        writing: bool,
        trunc: bool,
    ) -> FsResult<(HandleKind, Opened)> {
        if !st.store.contains(id) {
            // Deleted by another writer a moment ago: ESTALE makes the kernel look the
            // name up again and retry (see `open`).
            return Err(err(libc::ESTALE, format!("{} was deleted", doc_path(id))).quietly());
        }
        if self.config.read_only {
            // Nothing changes on a read-only mount: the page cache is always right.
            let kind = HandleKind::Doc {
                buf: None,
                dirty: false,
            };
            let opened = Opened {
                keep_cache: true,
                noflush: true,
                ..Opened::default()
            };
            return Ok((kind, opened));
        }
        if !writing {
            return self.open_reader(st, id);
        }
        // Writers bypass the page cache: nobody may see bytes that are not committed.
        let kind = HandleKind::Doc {
            buf: trunc.then(Vec::new),
            dirty: trunc,
        };
        let opened = Opened {
            direct_io: true,
            ..Opened::default()
        };
        Ok((kind, opened))
    }

    /// A reader on a read-write mount reads a snapshot: the text as of its open, whole,
    /// whatever writers do meanwhile, served with direct I/O. (Through the page cache the
    /// kernel bounds reads by the size it believes, which a writer changes under every
    /// reader: its O_TRUNC makes it 0, its writes grow it; a reader could then read an empty,
    /// cut or zero-padded text — `tests/mount/concurrency.rs` caught exactly that with
    /// cached readers.) `mmap` still works: the kernel maps direct-I/O files through the
    /// page cache (FUSE_DIRECT_IO_ALLOW_MMAP), filled from the mapping reader's snapshot.
    fn open_reader(&self, st: &mut State, id: &str) -> FsResult<(HandleKind, Opened)> {
        let mtime = st.mtimes.get(id).copied().unwrap_or(self.base_time.get());
        let text = st.store.with_json(id, |b| Arc::<[u8]>::from(b))?;
        let opened = Opened {
            direct_io: true,
            noflush: true,
            ..Opened::default()
        };
        Ok((HandleKind::Reader { text, mtime }, opened))
    }

    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> FsResult<(Entry, Opened)> {
        self.create_by(parent, name, mode, flags, 0)
    }

    /// `create` on behalf of process `pid` (0: unknown): if that process deleted this very
    /// name a moment ago, the new file reinstates the document (see `recreate`).
    pub fn create_by(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
        pid: u32,
    ) -> FsResult<(Entry, Opened)> {
        self.writable()?;
        let name = name_of(name)?;
        let mut st = self.lock();
        let reinstates = if pid != 0 && !st.recent_deletes.is_empty() {
            let tgid = recreate::thread_group(pid);
            let now = std::time::Instant::now();
            st.recent_deletes
                .claimable(parent, name, tgid, now)
                .map(str::to_owned)
        } else {
            None
        };
        if reinstates.is_none() {
            st.apply_recent_deletes(true);
        }
        let candidate = match (parent, &reinstates) {
            (ROOT_INO | BY_ID_INO, Some(_)) => false,
            (ROOT_INO, None) => match classify_root(name) {
                RootName::Other => false,
                // Past the end a positional name is a temporary (vim probes with `4913`);
                // it gives way when a document reaches that position.
                RootName::Position(p) if p >= View::of(&st).len() => false,
                _ => return Err(err(libc::EEXIST, format!("/{name} exists"))),
            },
            (BY_ID_INO, None) => {
                if st.shows(name) {
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
                let limit = self.config.max_temp_files;
                if st.nodes.temp_count() >= limit {
                    return Err(err(
                        libc::ENOSPC,
                        format!(
                            "{name}: {limit} temporary files exist already (the bound); \
                             remove some"
                        ),
                    ));
                }
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
        if let Some(id) = &reinstates {
            log::debug!("{name}: created again by the process that deleted it: reinstates {id}");
            st.recent_deletes.claim(id, ino);
        }
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
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(Handle {
            kind: HandleKind::AllLines(cursor),
            ..
        }) = st.handles.get_mut(fh)
        {
            let mut c = std::mem::take(cursor);
            let r = Self::read_all_lines(st, &mut c, offset, size);
            if let Some(Handle {
                kind: HandleKind::AllLines(cursor),
                ..
            }) = st.handles.get_mut(fh)
            {
                *cursor = c;
            }
            return r;
        }
        match ino {
            ALL_INO => {
                // No handle: a zero-message open on a read-only mount. The kernel reads the
                // file ahead in order, so one cursor for all such reads serves it in one pass.
                let mut c = std::mem::take(&mut st.shared_all_cursor);
                let r = Self::read_all_lines(st, &mut c, offset, size);
                st.shared_all_cursor = c;
                return r;
            }
            APPEND_INO => return Ok(Vec::new()),
            _ => {}
        }
        if let Some(h) = st.handles.get(fh) {
            match &h.kind {
                HandleKind::Doc { buf: Some(b), .. } => return Ok(slice_of(b, offset, size)),
                HandleKind::Reader { text, .. } => return Ok(slice_of(text, offset, size)),
                HandleKind::Stats { text } => return Ok(slice_of(text, offset, size)),
                _ => {}
            }
        }
        match ino {
            ROOT_INO | BY_ID_INO => return Err(err(libc::EISDIR, "is a directory")),
            STATS_INO => return Ok(slice_of(self.render_stats(st).as_bytes(), offset, size)),
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
            ALL_INO => return Err(err(libc::EACCES, "/.all.jsonl is read-only")),
            APPEND_INO => {
                let limit = self.config.max_temp_bytes;
                let pending = st.pending_bytes;
                let Some(Handle {
                    kind: HandleKind::Append { buf },
                    ..
                }) = st.handles.get_mut(fh)
                else {
                    return Err(err(libc::EBADF, "write without an open handle"));
                };
                let before = buf.len();
                let grows = (end as usize).saturating_sub(before) as u64;
                if pending + grows > limit {
                    return Err(err(
                        libc::ENOSPC,
                        format!("pending writes would exceed their {limit} byte bound"),
                    ));
                }
                write_at(buf, offset, data);
                st.pending_bytes += (buf.len() - before) as u64;
                return Ok(data.len() as u32);
            }
            _ if ino <= CLEAR_INO => {
                let ran = matches!(
                    st.handles.get(fh).map(|h| &h.kind),
                    Some(HandleKind::Control { ran: true })
                );
                // The newline of a `1` written on its own (`{ printf 1; echo; } > .save`).
                if ran && data.iter().all(u8::is_ascii_whitespace) {
                    return Ok(data.len() as u32);
                }
                self.run_control(st, ino, data)?;
                if let Some(Handle {
                    kind: HandleKind::Control { ran },
                    ..
                }) = st.handles.get_mut(fh)
                {
                    *ran = true;
                }
                return Ok(data.len() as u32);
            }
            _ => {}
        }
        // A write after a time was set is a change of its own: it takes the commit's time.
        st.set_mtimes.remove(&ino);
        let id = match st.nodes.get(ino).map(|n| &n.kind) {
            Some(NodeKind::Doc(id)) => Some(id.clone()),
            Some(NodeKind::Temp(_)) => None,
            Some(NodeKind::Gone(_)) => {
                return Err(err(
                    libc::ENOENT,
                    "the document was deleted while open: this write is lost",
                )
                .loudly())
            }
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
    pub(super) fn commit_doc(&self, st: &mut State, ino: Ino, fh: u64) -> FsResult<()> {
        let Some(NodeKind::Doc(id)) = st.nodes.get(ino).map(|n| &n.kind) else {
            return Err(err(
                libc::ENOENT,
                "the document was deleted while open: what was written to it is lost",
            )
            .loudly());
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
            .and_then(|doc| {
                if st.store.contains(&id) {
                    return Ok(st.store.set_by_id(&id, doc)?);
                }
                // Another writer deleted it while this file was being written (taken in
                // meanwhile): the change is kept, as the document's new version at the end,
                // as a change in the pool is when a save meets the same delete.
                log::info!(
                    "{}: deleted by another writer while it was written here: added again at the end",
                    doc_path(&id)
                );
                st.store.append(doc)?;
                st.names_changed();
                Ok(())
            });
        // Either way the kernel may hold pages or a size that are not the document's.
        for i in st.nodes.inodes_of(&id) {
            st.inval(i);
        }
        result?;
        st.touch(&id);
        st.keep_set_mtime(ino, &id);
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
    pub(super) fn settle_candidate(&self, st: &mut State, ino: Ino) -> FsResult<()> {
        if let Some(id) = st.recent_deletes.claimed_by(ino).map(str::to_owned) {
            return self.reinstate(st, ino, &id);
        }
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
                if let Err(e) = st.store.append(doc) {
                    // Refused by the store (another writer took the id a moment ago, or a
                    // PostgreSQL server is down): the file goes when closed, as an invalid
                    // one does, rather than stay under a document's name as no document.
                    set_temp(st, true, true);
                    return Err(e.into());
                }
                st.nodes.make_doc(ino, &name);
                st.handles.temp_became_doc(ino);
                st.shadow_temp_at_end();
                st.appended(false);
                st.touch(&name);
                st.keep_set_mtime(ino, &name);
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

    /// A file created again by the process that deleted document `id` a moment ago was
    /// closed after writing: valid content for `id` replaces the document at its old
    /// position, and the file becomes it.
    fn reinstate(&self, st: &mut State, ino: Ino, id: &str) -> FsResult<()> {
        let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = st.nodes.get(ino)
        else {
            return Ok(());
        };
        let written_len = t.data.len();
        let text = std::str::from_utf8(&t.data)
            .map_err(|_| err(libc::EINVAL, format!("{}: not UTF-8 text", doc_path(id))))?;
        let doc = Document::from_json_for_id(text, id).map_err(|e| {
            err(
                libc::EINVAL,
                format!("{}: not a valid document for it: {e}", doc_path(id)),
            )
        })?;
        let id_added = doc.json().len() != written_len;
        st.store.set_by_id(id, doc)?;
        st.recent_deletes.take(id);
        st.nodes.make_doc(ino, id);
        st.handles.temp_became_doc(ino);
        st.touch(id);
        st.keep_set_mtime(ino, id);
        if id_added {
            st.inval(ino);
        }
        // The document shows again at its position: names after it moved back.
        st.names_changed();
        Ok(())
    }

    /// close(2) of one descriptor: a handle that wrote is validated and committed here.
    pub fn flush(&self, ino: Ino, fh: u64) -> FsResult<()> {
        let mut st = self.lock();
        let st = &mut *st;
        match st.handles.get(fh).map(|h| &h.kind) {
            Some(HandleKind::Doc { dirty: true, .. }) => self.commit_doc(st, ino, fh),
            Some(HandleKind::Append { .. }) => self.commit_append(st, fh),
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
        if let HandleKind::Append { buf } = &h.kind {
            st.pending_bytes -= buf.len() as u64;
            if !buf.iter().all(u8::is_ascii_whitespace) {
                log::warn!(
                    "/.append.jsonl: closed with lines that were never appended (see the \
                     error above); they are discarded"
                );
            }
        }
        let last_handle = st.nodes.get(ino).is_some_and(|n| n.open == 1);
        if last_handle {
            st.set_mtimes.remove(&ino);
            if let Some(id) = st.recent_deletes.claimed_by(ino).map(str::to_owned) {
                // Created again but never made a valid document: the delete stands.
                log::warn!(
                    "{}: deleted, then created again by the same process, but never closed \
                     with a valid document for it: it stays deleted",
                    doc_path(&id)
                );
                st.recent_deletes.take(&id);
                st.apply_delete(&id);
                st.nodes.unlink_temp(ino);
            }
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
            Some(HandleKind::Append { .. }) => self.commit_append(st, fh)?,
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
        st.apply_recent_deletes(true);
        st.store.save()?;
        Ok(())
    }
}
