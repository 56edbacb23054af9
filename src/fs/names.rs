//! Namespace changes: `unlink`, `rename` (one function per case) and the refused node kinds.

use super::*;

impl Filesystem {
    // ---- namespace changes -------------------------------------------------------------

    pub fn unlink(&self, parent: Ino, name: &OsStr) -> FsResult<()> {
        self.unlink_by(parent, name, 0)
    }

    /// `unlink` on behalf of process `pid` (0: unknown). A document leaves the view at
    /// once; with a known process its delete is held back for a moment, in case the same
    /// process creates the name again (see `recreate`).
    pub fn unlink_by(&self, parent: Ino, name: &OsStr, pid: u32) -> FsResult<()> {
        self.writable()?;
        let name = name_of(name)?;
        let mut st = self.lock();
        let st = &mut *st;
        st.apply_recent_deletes(true);
        match self.resolve(st, parent, name)? {
            Target::Fixed(BY_ID_INO) => Err(err(libc::EISDIR, "/by-id is a directory")),
            Target::Fixed(_) => Err(err(libc::EPERM, format!("/{name} cannot be removed"))),
            Target::Doc { id, .. } => {
                let last = if st.nodes.is_open(&id) {
                    Some(st.store.with_json(&id, |b| Arc::<[u8]>::from(b))?)
                } else {
                    None
                };
                if pid == 0 {
                    st.store.delete_by_id(&id)?;
                } else {
                    // The delete is made a moment later: a server that is down fails it now.
                    st.store.check_reachable()?;
                    st.recent_deletes.add(RecentDelete {
                        id: id.clone(),
                        parent,
                        name: name.to_owned(),
                        tgid: recreate::thread_group(pid),
                        deadline: std::time::Instant::now() + RECREATE_WINDOW,
                        claimed_by: None,
                    });
                }
                let inos = st.nodes.doc_deleted(&id);
                if let Some(text) = last {
                    st.nodes.keep_text(&inos, text);
                }
                for ino in inos {
                    st.inval(ino);
                }
                st.forget_times(&id);
                st.names_changed();
                Ok(())
            }
            Target::Temp(ino) => {
                if let Some(id) = st.recent_deletes.claimed_by(ino).map(str::to_owned) {
                    // The file that was reinstating a document is removed: the delete stands.
                    st.recent_deletes.take(&id);
                    st.apply_delete(&id);
                }
                st.nodes.unlink_temp(ino);
                Ok(())
            }
            Target::Missing => Err(err(libc::ENOENT, format!("{name}: no such file")).quietly()),
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
        st.apply_recent_deletes(true);
        let src = self.resolve(st, parent, name)?;
        let dst = self.resolve(st, newparent, newname)?;
        if flags & libc::RENAME_NOREPLACE != 0 && dst != Target::Missing {
            return Err(err(libc::EEXIST, format!("{newname} exists")));
        }
        if let Target::Temp(t) = src {
            if let Some(id) = st.recent_deletes.claimed_by(t).map(str::to_owned) {
                // A file reinstating a document moves away: it is an ordinary file again,
                // and the delete it would have undone stands.
                st.recent_deletes.take(&id);
                st.apply_delete(&id);
            }
        }
        match (src, dst) {
            (Target::Missing, _) => Err(err(libc::ENOENT, format!("{name}: no such file"))),
            (Target::Fixed(_), _) | (_, Target::Fixed(_)) => Err(err(
                libc::EPERM,
                "directories and control files cannot be renamed or replaced",
            )),
            (Target::Temp(t), Target::Doc { id, .. }) => {
                self.temp_onto_doc(st, t, &id)?;
                // The kernel now binds the document's name to the temporary's inode (an
                // alias): names are looked up again, and find the document's own inode.
                st.names_changed();
                Ok(())
            }
            (Target::Temp(t), dst @ (Target::Temp(_) | Target::Missing)) => {
                if dst == Target::Temp(t) {
                    return Ok(());
                }
                self.temp_to_free_name(st, t, newparent, newname)
            }
            (Target::Doc { id: sid, .. }, Target::Doc { id: did, .. }) => {
                if sid == did {
                    return Ok(()); // two names of one inode: nothing to do, as POSIX says
                }
                self.doc_onto_doc(st, &sid, &did)
            }
            (Target::Doc { id: sid, .. }, dst @ (Target::Missing | Target::Temp(_))) => {
                self.doc_to_new_id(st, &sid, newparent, newname, dst)
            }
        }
    }

    /// A temporary moves to a name that is free or another temporary's (which it replaces).
    /// Moved into `/by-id/` under a document-like name with a valid document in it, it
    /// becomes that document; any other content stays a temporary under its new name.
    fn temp_to_free_name(
        &self,
        st: &mut State,
        t: Ino,
        newparent: Ino,
        newname: &str,
    ) -> FsResult<()> {
        if newparent == ROOT_INO && matches!(classify_root(newname), RootName::Position(_)) {
            return Err(err(
                libc::EPERM,
                format!("/{newname}: new documents are created in /by-id/"),
            ));
        }
        let Some(Node {
            kind: NodeKind::Temp(temp),
            ..
        }) = st.nodes.get(t)
        else {
            return Err(err(libc::ENOENT, "no such file"));
        };
        let (old_place, old_candidate) = (temp.place.clone(), temp.candidate);
        let (empty, mtime) = (temp.data.is_empty(), temp.mtime);
        st.nodes.move_temp(t, (newparent, newname.to_owned()));
        let candidate = newparent == BY_ID_INO && !looks_like_tool_temporary(newname);
        set_candidate(st, t, candidate);
        // Invalid content in a file still open (or still empty) is no error here: it is a
        // document in the making, judged at its close. A finished file (rsync's and mv's
        // temporaries are closed before the rename) that cannot become the document it is
        // now named as would look saved and be gone at unmount: EINVAL, as for a temporary
        // renamed onto a document. Failing to store a valid document is an error too; either
        // way the rename must not have happened.
        if let Err(e) = self.settle_candidate(st, t) {
            let finished = !empty && !st.handles.is_open(t);
            if e.errno != libc::EINVAL || finished {
                if let Some(place) = old_place {
                    st.nodes.move_temp(t, place);
                }
                set_candidate(st, t, old_candidate);
                return Err(e);
            }
        }
        // A rename that left it a temporary does not mark it as failed (only a failed
        // close removes a new document in the making).
        match st.nodes.get_mut(t) {
            Some(Node {
                kind: NodeKind::Temp(temp),
                ..
            }) => temp.rejected = false,
            Some(Node {
                kind: NodeKind::Doc(id),
                ..
            }) => {
                let id = id.clone();
                keep_mtime(st, &id, mtime);
            }
            _ => {}
        }
        Ok(())
    }

    /// `mv by-id/a by-id/b` onto an existing `b`: `a` takes `b`'s position (and the
    /// kernel binds `b` to `a`'s inode); `a`'s position is removed.
    fn doc_onto_doc(&self, st: &mut State, sid: &str, did: &str) -> FsResult<()> {
        st.store.move_onto(sid, did)?;
        let src_ino = st.nodes.doc(sid);
        let old = st.nodes.take_over(src_ino, did);
        st.nodes.forget_id(sid, src_ino);
        st.forget_times(sid);
        st.touch(did);
        st.inval(src_ino);
        if let Some(o) = old {
            st.inval(o);
        }
        st.names_changed();
        Ok(())
    }

    /// `mv by-id/a by-id/b` onto a free name (or a temporary's): the document's id
    /// changes, its position stays.
    fn doc_to_new_id(
        &self,
        st: &mut State,
        sid: &str,
        newparent: Ino,
        newname: &str,
        dst: Target,
    ) -> FsResult<()> {
        if newparent != BY_ID_INO {
            return Err(err(
                libc::EPERM,
                format!(
                    "{}: a document keeps a document name; rename it inside /by-id/",
                    doc_path(sid)
                ),
            ));
        }
        // Editors back up by renaming `x` to `x~` and writing a new `x`; a document must
        // not become a stray document named like a backup or swap file (and its
        // replacement land at the end). Refused, they back up by copying.
        if looks_like_tool_temporary(newname) {
            return Err(err(
                libc::EPERM,
                format!(
                    "{}: a document cannot take a temporary file's name ({newname:?})",
                    doc_path(sid)
                ),
            ));
        }
        st.store.rename(sid, newname)?;
        // Only once the rename took: a failed one must not lose the temporary.
        if let Target::Temp(t2) = dst {
            st.nodes.unlink_temp(t2);
        }
        for ino in st.nodes.doc_renamed(sid, newname) {
            st.inval(ino);
        }
        st.forget_times(sid);
        st.touch(newname);
        st.names_changed();
        Ok(())
    }

    /// A temporary renamed onto a document replaces it in place (validated).
    pub(super) fn temp_onto_doc(&self, st: &mut State, t: Ino, id: &str) -> FsResult<()> {
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
        let mtime = temp.mtime;
        st.store.set_by_id(id, doc)?;
        st.nodes.make_doc(t, id);
        st.handles.temp_became_doc(t);
        st.touch(id);
        keep_mtime(st, id, mtime);
        for i in st.nodes.inodes_of(id) {
            st.inval(i);
        }
        Ok(())
    }

    /// rmdir: the only directories, `/` and `/by-id`, are fixed (EPERM, or EROFS).
    pub fn refuse_rmdir(&self, _parent: Ino, name: &OsStr) -> FsError {
        if self.config.read_only {
            return err(libc::EROFS, "the mount is read-only");
        }
        err(
            libc::EPERM,
            format!(
                "{}: the mount's directories cannot be removed (remove documents with rm)",
                name.to_string_lossy()
            ),
        )
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
}

/// Whether a temporary is a new document in the making (and not one that failed to be).
fn set_candidate(st: &mut State, t: Ino, candidate: bool) {
    if let Some(Node {
        kind: NodeKind::Temp(temp),
        ..
    }) = st.nodes.get_mut(t)
    {
        temp.candidate = candidate;
        temp.rejected = false;
    }
}

/// A rename keeps the file's mtime, as on any POSIX filesystem: the time the temporary was
/// written, or the one a tool gave it (rsync -a sets the source's before renaming, and then
/// finds the document up to date the next time). The kernel's cached attributes and pages of
/// the document are invalidated by the caller either way.
fn keep_mtime(st: &mut State, id: &str, mtime: std::time::SystemTime) {
    st.mtimes.insert(id.to_owned(), mtime);
}
