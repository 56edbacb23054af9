//! Namespace changes: `unlink`, `rename` (one function per case) and the refused node kinds.

use super::*;

impl Filesystem {
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
}
