//! Control files, `.stats`, and keeping the kernel's caches true after the store changed
//! under every name (reload, clear, other writers).

use super::*;

impl Filesystem {
    // ---- control files -----------------------------------------------------------------

    pub(super) fn run_control(&self, st: &mut State, ino: Ino, data: &[u8]) -> FsResult<()> {
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
    pub(super) fn refresh_all(&self, st: &mut State) {
        for (id, ino) in st.nodes.all_docs() {
            if !st.store.contains(&id) {
                st.nodes.doc_deleted(&id);
            }
            st.inval(ino);
        }
    }

    /// A write through the store may have taken in other processes' changes (it catches up
    /// under the lock first): then every cached document may be stale.
    pub(super) fn sync_external(&self, st: &mut State) {
        let now = st.store.external_changes();
        if now != st.seen_external {
            st.seen_external = now;
            self.refresh_all(st);
        }
    }

    pub(super) fn render_stats(&self, st: &State) -> String {
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
