//! Catching up with other handles through the change feed, and the watcher thread that
//! tells a mount's live view, cheaply, that there is something to catch up with.
//!
//! Each write recorded the ranks it touched under its version. A handle at version `v`
//! reads, in one snapshot, the head and the feed after `v` (skipping its own versions),
//! re-reads the current rows of the touched ranks and puts them in its order in place of
//! what it had there. That is correct whatever happened in between: the table is the truth
//! and the rows are read in the same snapshot as the head. A clear (a reset entry), or a feed
//! cut by prune past `v`, makes it re-read the whole order instead.
//!
//! The watcher holds its own connection: with `LISTEN` (PostgreSQL) it wakes on each
//! writer's `NOTIFY` and reads the head's version; without (engines that lack it) it polls
//! the head every 100 ms. Either way it also polls once a second, in case a wake-up is lost.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::*;

/// Without LISTEN: how often the watcher polls the head.
const POLL: Duration = Duration::from_millis(100);
/// With LISTEN: the longest wait between two looks at the head.
const LISTEN_WAIT: Duration = Duration::from_secs(1);
/// After a failed connection: how long the watcher waits before trying again.
const RETRY: Duration = Duration::from_millis(250);

/// The watcher thread's handle; dropping it stops the thread (within a second).
pub struct Watcher {
    latest: Arc<AtomicI64>,
    /// Whether the watcher's last look at the head succeeded (the server is reachable).
    reachable: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Watcher {
    fn start(config: postgres::Config, names: &Names, notify: bool) -> std::io::Result<Watcher> {
        let latest = Arc::new(AtomicI64::new(-1));
        let reachable = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Seen {
            latest: latest.clone(),
            reachable: reachable.clone(),
            stop: stop.clone(),
        };
        let head_sql = format!("SELECT version FROM {} WHERE one = 1", names.head);
        let channel = channel_of(names);
        std::thread::Builder::new()
            .name("damfs-pg-watch".into())
            .spawn(move || watch(config, &head_sql, &channel, notify, &seen))?;
        Ok(Watcher {
            latest,
            reachable,
            stop,
        })
    }
}

/// What the watcher thread shares with its handle.
struct Seen {
    latest: Arc<AtomicI64>,
    reachable: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

fn watch(config: postgres::Config, head_sql: &str, channel: &str, notify: bool, seen: &Seen) {
    let mut client: Option<Client> = None;
    while !seen.stop.load(Ordering::Acquire) {
        let c = match client.as_mut() {
            Some(c) => c,
            None => match config.connect(NoTls) {
                Ok(mut c) => {
                    if notify {
                        if let Err(e) = c.batch_execute(&format!("LISTEN {channel}")) {
                            log::debug!("watcher: LISTEN failed, polling instead: {e}");
                        }
                    }
                    client.insert(c)
                }
                Err(e) => {
                    log::debug!("watcher: cannot connect (retrying): {e}");
                    seen.reachable.store(false, Ordering::Release);
                    std::thread::sleep(RETRY);
                    continue;
                }
            },
        };
        match c
            .query_one(head_sql, &[])
            .and_then(|r| r.try_get::<_, i64>(0))
        {
            Ok(v) => {
                seen.latest.store(v, Ordering::Release);
                seen.reachable.store(true, Ordering::Release);
            }
            Err(e) => {
                log::debug!("watcher: reading the head failed (reconnecting): {e}");
                seen.reachable.store(false, Ordering::Release);
                client = None;
                std::thread::sleep(RETRY);
                continue;
            }
        }
        if notify {
            let lost = {
                let mut notes = c.notifications();
                let first = notes.timeout_iter(LISTEN_WAIT).next();
                match first {
                    Ok(_) => {
                        // Take every wake-up already here: one look at the head serves all.
                        while let Ok(Some(_)) = notes.iter().next() {}
                        false
                    }
                    Err(_) => true,
                }
            };
            if lost {
                client = None;
            }
        } else {
            std::thread::sleep(POLL);
        }
    }
}

/// What one catch-up read: the head's version, and either the touched rows or "re-read all".
enum CatchUp {
    Nothing,
    /// A row that is not a document's ([`order::checked_row`]): nothing is taken in.
    Damaged(String),
    Everything,
    Rows {
        version: i64,
        ranges: Vec<(i64, i64)>,
        rows: Vec<(i64, String, u32)>,
    },
}

impl PgStore {
    /// Whether other handles committed changes this handle has not taken in. Cheap (no
    /// round trip): it asks the watcher thread, which it starts on first use.
    pub fn changed_on_disk(&self) -> Result<bool> {
        let watcher = match self.watcher.get() {
            Some(w) => w,
            None => {
                let w = Watcher::start(self.url.config(), &self.names, self.notify)
                    .map_err(|e| Error::io("starting the change feed watcher", e))?;
                self.watcher.get_or_init(|| w)
            }
        };
        if self.lost.get() {
            // Re-read the order once the server answers again (never block the live view
            // on connection attempts to a server that is down).
            return Ok(watcher.reachable.load(Ordering::Acquire));
        }
        let latest = watcher.latest.load(Ordering::Acquire);
        // Some version up to `latest` is another handle's unless all of them are our own.
        let own = self.own_versions.iter().filter(|&&v| v <= latest).count() as i64;
        Ok(latest - self.version > own)
    }

    /// Takes in what other handles committed since this one last looked, keeping this
    /// handle's unsaved changes in the pool. Returns whether anything was taken in.
    ///
    /// With `wait`, it reads the feed on the server (one round trip), so everything another
    /// handle committed before the call is taken in, as on the memmap store: the watcher
    /// thread hears of a commit only a moment later (and not at all before it has started).
    /// Without, it asks the watcher first (no round trip when nothing changed), for pollers.
    pub fn refresh(&mut self, wait: bool) -> Result<bool> {
        if !wait && !self.changed_on_disk()? {
            return Ok(false);
        }
        self.catch_up()
    }

    /// Reads the feed after this handle's version and applies it (see the module docs).
    pub(super) fn catch_up(&mut self) -> Result<bool> {
        if self.resync_if_lost()? {
            return Ok(true);
        }
        let names = self.names.clone();
        let (from, own) = (self.version, self.own_versions.clone());
        let read = self.read_with("reading the change feed", |c| {
            snapshot::read_in(c, self.read_only, |c| read_feed(c, &names, from, &own))
        })?;
        match read {
            CatchUp::Nothing => Ok(false),
            CatchUp::Damaged(why) => Err(backend_error("reading the change feed", why)),
            CatchUp::Everything => {
                self.load_order()?;
                self.external_changes += 1;
                Ok(true)
            }
            CatchUp::Rows {
                version,
                ranges,
                rows,
            } => {
                let any = !ranges.is_empty();
                // This handle's unsaved changes to rows another handle changed: (rank, id).
                let mut orphans: Vec<(i64, String)> = Vec::new();
                for (lo, hi) in ranges {
                    let gone: Vec<usize> = self.order.ranks_in(lo, hi).collect();
                    for &p in &gone {
                        if let (Some(id), Some(rank)) = (self.order.id_at(p), self.order.rank_at(p))
                        {
                            if self.pool.peek(id).is_some_and(|e| e.dirty) {
                                orphans.push((rank, id.to_owned()));
                            }
                            self.pool.forget_clean(id);
                        }
                    }
                    self.order.remove_positions(&gone);
                }
                for (rank, id, len) in rows {
                    // An id can only be at one rank: drop a stale copy elsewhere.
                    if let Some(p) = self.order.find(&id) {
                        if let Some(r) = self.order.rank_at(p) {
                            self.order.remove_rank(r);
                        }
                    }
                    self.pool.forget_clean(id.as_str());
                    self.order.insert(rank, &id, len);
                }
                self.keep_orphans(orphans);
                self.version = version;
                self.own_versions.retain(|&v| v > version);
                self.readahead.borrow_mut().clear();
                if any {
                    self.external_changes += 1;
                }
                Ok(any)
            }
        }
    }
}

/// Ranks from here on are a handle's own, for unsaved changes whose rows another handle
/// deleted: above any rank a table will hand out, so they stay at the end.
const ORPHAN_RANKS: i64 = 1 << 62;

impl PgStore {
    /// What becomes of this handle's unsaved changes to rows another handle changed, as on
    /// the memmap store (whose pool follows a document's slot): a change to a row renamed
    /// follows it to its new id; a change to a row deleted stays at the end of the order,
    /// still shown, and the next save writes it as a new document at the end (`write_docs`).
    fn keep_orphans(&mut self, orphans: Vec<(i64, String)>) {
        for (rank, id) in orphans {
            if self.order.find(&id).is_some() || self.follow_rename(rank, &id) {
                continue;
            }
            let Some(len) = self.pool.peek(id.as_str()).map(|e| e.doc.json().len()) else {
                continue;
            };
            let last = self.order.len().checked_sub(1);
            let rank = last
                .and_then(|p| self.order.rank_at(p))
                .map_or(ORPHAN_RANKS, |r| (r + 1).max(ORPHAN_RANKS));
            self.order.insert(rank, &id, len as u32);
        }
    }

    /// Moves the unsaved change of `id` to the id the row at `rank` has now, if another
    /// handle renamed it (ranks are never reused) and this handle has no change of that id.
    fn follow_rename(&mut self, rank: i64, id: &str) -> bool {
        let Some(new_id) = self
            .order
            .position_of_rank(rank)
            .and_then(|p| self.order.id_at(p))
            .map(str::to_owned)
        else {
            return false;
        };
        if self.pool.peek(new_id.as_str()).is_some_and(|e| e.dirty) {
            return false;
        }
        let Some(doc) = self.pool.peek(id).and_then(|e| e.doc.with_id(&new_id).ok()) else {
            return false;
        };
        let Some(entry) = self.pool.remove(id) else {
            return false;
        };
        // A place was just freed, so the put finds room; should it not, the change is kept
        // under its old id (that place is free again), as a deleted row's change.
        match self.pool.put(new_id.as_str().into(), doc, true) {
            Ok(()) => true,
            Err(_) => {
                if self.pool.put(id.into(), entry.doc, true).is_err() {
                    log::error!("{}: no room in the pool for {id:?}", self.shown.display());
                }
                false
            }
        }
    }

    /// After a write of this handle that followed other handles' writes (its version was
    /// not the next one), takes theirs in too: a writer sees the others' changes when it
    /// writes, as on the memmap store (which re-reads under its lock). The write itself is
    /// committed and applied whatever happens here; a failed catch-up is retried by the
    /// next one.
    pub(super) fn catch_up_after_write(&mut self) {
        if self.own_versions.is_empty() {
            return;
        }
        if let Err(e) = self.catch_up() {
            log::debug!("{}: catching up after a write: {e}", self.shown.display());
        }
    }
}

/// What changed after version `from` (run in one snapshot: [`snapshot::read_in`]).
fn read_feed(
    tx: &mut Client,
    names: &Names,
    from: i64,
    own: &[i64],
) -> Result<CatchUp, postgres::Error> {
    let head = tx.query_one(
        &format!(
            "SELECT version, feed_start FROM {} WHERE one = 1",
            names.head
        ),
        &[],
    )?;
    let (version, feed_start): (i64, i64) = (head.try_get(0)?, head.try_get(1)?);
    if version <= from {
        return Ok(CatchUp::Nothing);
    }
    if feed_start > from + 1 {
        return Ok(CatchUp::Everything);
    }
    let mut ranges = Vec::new();
    let mut feed = tx.query_raw(
        &format!(
            "SELECT version, lo, hi, reset FROM {} WHERE version > $1 AND version <= $2",
            names.changes
        ),
        [&from as &(dyn postgres::types::ToSql + Sync), &version],
    )?;
    while let Some(row) = feed.next()? {
        let v: i64 = row.try_get(0)?;
        if own.contains(&v) {
            continue;
        }
        if row.try_get::<_, bool>(3)? {
            drop(feed);
            return Ok(CatchUp::Everything);
        }
        ranges.push((row.try_get::<_, i64>(1)?, row.try_get::<_, i64>(2)?));
    }
    drop(feed);
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some((_, h)) if *h + 1 >= lo => *h = (*h).max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let mut rows = Vec::new();
    if !merged.is_empty() {
        let (lo, hi): (Vec<i64>, Vec<i64>) = merged.iter().copied().unzip();
        let mut found = tx.query_raw(
            &format!(
                "SELECT t.rank, t.id, t.len FROM {} AS t \
                 JOIN unnest($1::bigint[], $2::bigint[]) AS r(lo, hi) \
                 ON t.rank BETWEEN r.lo AND r.hi ORDER BY t.rank",
                names.docs
            ),
            [&lo as &(dyn postgres::types::ToSql + Sync), &hi],
        )?;
        while let Some(row) = found.next()? {
            let (rank, id, len): (i64, String, i32) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            match order::checked_row(rank, &id, len) {
                Ok(len) => rows.push((rank, id, len)),
                Err(why) => return Ok(CatchUp::Damaged(why)),
            }
        }
    }
    Ok(CatchUp::Rows {
        version,
        ranges: merged,
        rows,
    })
}
