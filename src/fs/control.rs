//! Control files, `.stats`, and keeping the kernel's caches true after the store changed
//! under every name (reload, clear, other writers).

use super::*;

/// How long after taking in other writers' changes a read-only mount bumps the name epoch
/// again (see `Filesystem::refresh_all`): far longer than a reply takes to be parsed, well
/// inside the second within which other writers' changes must show.
const READDIRPLUS_REBUMP: Duration = Duration::from_millis(300);

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
                // `.reload` saves first: deletes held back for a re-create are part of that.
                st.apply_recent_deletes(true);
                st.store.reload()?;
                self.refresh_all(st);
            }
            SAVE_INO => {
                st.apply_recent_deletes(true);
                st.store.save()?
            }
            PRUNE_INO => {
                st.apply_recent_deletes(true);
                st.store.prune()?
            }
            CLEAR_INO => {
                st.store.clear()?;
                st.mtimes.clear();
                self.refresh_all(st);
            }
            _ => return Err(err(libc::EINVAL, "not a control file")),
        }
        Ok(())
    }

    /// After the store changed under every name (reload, clear, other writers' changes
    /// taken in): every cached name and attribute of a document may be stale. Names go
    /// with one epoch bump, attributes with a notification per known inode.
    ///
    /// A read-only mount's readers use the page cache and its directories are listed
    /// with readdirplus. So there every time shown moves on (the kernel, seeing a new
    /// mtime on its next look at the attributes, drops the file's pages or the directory's
    /// cached listing itself: FUSE_AUTO_INVAL_DATA), and the epoch is bumped once more a
    /// moment later: the kernel stamps a readdirplus entry with the epoch when it parses the
    /// reply, so an entry built before the first bump and parsed after it is dropped then.
    pub(super) fn refresh_all(&self, st: &mut State) {
        st.view_version += 1;
        for (id, ino) in st.nodes.all_docs() {
            // A file being written keeps its document's inode (the change is kept when it
            // is closed, see `commit_doc`); the others' become `Gone`.
            let gone = !st.store.contains(&id);
            if gone
                && !st
                    .nodes
                    .inodes_of(&id)
                    .iter()
                    .any(|&i| st.handles.has_uncommitted_writes(i))
            {
                st.nodes.doc_deleted(&id);
            }
            st.inval(ino);
        }
        if self.config.read_only {
            self.base_time.advance();
            st.inval(ROOT_INO);
            st.inval(BY_ID_INO);
            st.rebump_at = Some(std::time::Instant::now() + READDIRPLUS_REBUMP);
        }
        st.names_changed();
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
        let length = View::of(st).len();
        let v = serde_json::json!({
            "pid": std::process::id(),
            "store": self.config.shown_store.as_deref().unwrap_or(st.store.path()),
            "converted_copy": self.config.shown_store.as_ref().map(|_| st.store.path()),
            "read_only": self.config.read_only,
            "length": length,
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
            "names_cached": self.entry_ttl() > Duration::ZERO,
            "held_back_deletes": st.recent_deletes.ids().count(),
            "requests": self.requests.to_json(),
        });
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// What the kernel must drop before the current request is answered: every cached name
    /// (an epoch bump), and the attributes of some inodes (FUSE_NOTIFY_INVAL_INODE with a
    /// negative offset: attributes only). Neither takes a lock in the kernel, so neither
    /// can wait for a request this daemon has not answered yet. Pages need no notification:
    /// readers of a read-write mount use direct I/O.
    pub fn take_invalidations(&self) -> KernelNotes {
        if !self.notes_pending.load(Ordering::Acquire) {
            return KernelNotes::default();
        }
        let mut st = self.lock();
        st.notes_pending.store(false, Ordering::Release);
        std::mem::take(&mut st.notes)
    }

    /// Saves every dirty document (unmount, SIGTERM, fsyncdir). Deletes held back for a
    /// process that may create the name again are applied first (unless that process is
    /// already writing the new file): a delete before a save is durable after it.
    pub fn save(&self) -> FsResult<()> {
        let mut st = self.lock();
        st.apply_recent_deletes(true);
        Ok(st.store.save()?)
    }

    /// The live view's heartbeat (a read-write mount, every few milliseconds): takes in what
    /// other writers saved since the last look — one `stat` when nothing changed; never
    /// waiting for another writer's lock — and ends held-back deletes whose window passed.
    /// What the kernel must drop is then in `take_invalidations`.
    pub fn tick(&self) {
        // Without the epoch bump a read-only mount's cached names could not follow: it
        // stays the snapshot it was mounted as.
        if self.config.read_only && !self.names_cached.load(Ordering::Relaxed) {
            return;
        }
        let mut st = self.lock();
        if st.rebump_at.is_some_and(|t| t <= std::time::Instant::now()) {
            st.rebump_at = None;
            st.names_changed();
        }
        match st.store.refresh(false) {
            Ok(true) => self.sync_external(&mut st),
            Ok(false) => {}
            Err(e) => {
                let now = std::time::Instant::now();
                if !st
                    .last_refresh_error
                    .is_some_and(|t| now - t < Duration::from_secs(60))
                {
                    st.last_refresh_error = Some(now);
                    log::warn!("taking in other writers' changes failed (retrying): {e}");
                }
            }
        }
    }

    /// Ids of documents changed through the mount and not saved yet (what a failed final
    /// save loses).
    pub fn unsaved_ids(&self) -> Vec<String> {
        self.lock().store.unsaved_ids()
    }

    /// The `.stats` text (what `cat MNT/.stats` shows).
    pub fn stats_json(&self) -> String {
        let st = self.lock();
        self.render_stats(&st)
    }
}
