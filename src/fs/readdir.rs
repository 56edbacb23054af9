//! Directories: `opendir`, `readdir` and `statfs`.

use super::cookie::{Cookie, Cursor};
use super::*;

impl Filesystem {
    // ---- directories -------------------------------------------------------------------

    pub fn opendir(&self, ino: Ino) -> FsResult<()> {
        match ino {
            ROOT_INO | BY_ID_INO => Ok(()),
            _ if ino <= LAST_FIXED_INO || self.lock().nodes.get(ino).is_some() => {
                Err(err(libc::ENOTDIR, "not a directory"))
            }
            _ => Err(err(libc::ENOENT, format!("inode {ino} is not known"))),
        }
    }

    /// Entries from `offset` on (0 = the start, else the `next_offset` of an entry returned
    /// before), at most `max` of them. With `plus`, each entry except `.`/`..` carries
    /// attributes and counts as a lookup: the adapter must call `forget(ino, 1)` for every
    /// such entry it could not fit in its reply.
    ///
    /// Offsets are cookies that name the next entry, not list indices (see `Cookie`): a
    /// listing read in several batches returns every entry that was neither added nor
    /// removed meanwhile exactly once, though deletes shift positions between batches.
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
                (".all.jsonl", ALL_INO, Kind::File),
                (".append.jsonl", APPEND_INO, Kind::File),
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
        let view = View::of(st);
        let ndocs = view.len();
        let ids: Vec<String>;
        let temps: Vec<(Ino, String)> = st
            .nodes
            .temps_in(ino)
            .into_iter()
            // A temporary named like a position a document has reached gives way to it.
            .filter(|(_, name)| {
                ino != ROOT_INO
                    || !matches!(classify_root(name), RootName::Position(p) if p < ndocs)
            })
            .collect();
        let by_id = ino == BY_ID_INO;
        let mut at = Cookie::resume(offset, fixed.len(), by_id, &view, &temps);
        // The ids of this batch (and of the entry after it, for its cookie), read before
        // `entry_for` needs the state mutably.
        {
            let first = match at {
                Cursor::Doc(p) => p,
                _ => 0,
            };
            let last = first.saturating_add(max).saturating_add(1).min(ndocs);
            ids = (first..last)
                .filter_map(|p| view.id_at(p).map(str::to_owned))
                .collect();
        }
        let first_doc = match at {
            Cursor::Doc(p) => p,
            _ => 0,
        };
        let id_at =
            |pos: usize| -> Option<&String> { pos.checked_sub(first_doc).and_then(|i| ids.get(i)) };
        let mut out = Vec::new();
        while out.len() < max {
            let (name, node_ino, kind, entry) = match at {
                Cursor::End => break,
                Cursor::Fixed(i) => {
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
                }
                Cursor::Doc(pos) => {
                    let Some(id) = id_at(pos).cloned() else { break };
                    let name = if ino == ROOT_INO {
                        pos.to_string()
                    } else {
                        id.clone()
                    };
                    let doc_ino;
                    let entry = if plus {
                        let e = self.entry_for(st, &Target::Doc { id })?;
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
                }
                Cursor::Temp(i) => {
                    let (tino, name) = temps[i].clone();
                    let entry = if plus {
                        Some(self.entry_for(st, &Target::Temp(tino))?)
                    } else {
                        None
                    };
                    (name, tino, Kind::File, entry)
                }
            };
            at = at.next(fixed.len(), ndocs, temps.len());
            let next_offset = Cookie::of(at, by_id, |p| id_at(p).map(String::as_str), &temps);
            out.push(DirEntry {
                next_offset,
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
