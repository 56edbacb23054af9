//! Directories: `opendir`, `readdir` and `statfs`.

use super::*;

impl Filesystem {
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
}
