//! The PostgreSQL backend: a store kept in a table of a PostgreSQL database (or of an engine
//! that speaks its protocol), with the semantics of the memmap store (README, "Store semantics").
//!
//! A handle holds what the memmap store's does: the order (for each position its row's rank,
//! its text's length and its id: [`order`]) and the buffer pool ([`pool`]). Texts are read
//! from the table when they are not pooled. Appends, renames and deletes are committed at
//! once; replaced texts wait in the pool until [`save`](PgStore::save), which writes them all
//! in one transaction. Other handles' committed changes arrive through the change feed
//! ([`feed`]): each write records the ranks it touched under a new version; a handle takes
//! in the versions it has not seen by re-reading those ranks.
//!
//! The code, by concern: `url` addresses and passwords; `schema` the tables; `error` error
//! mapping; `order` the memory (with the pool, `crate::pool`, which both backends share); `read` reads; `snapshot` the read-only handle's
//! one snapshot; `write` the write transaction and saves; `edit` the public changes; `feed`
//! catching up and the watcher thread.

mod edit;
mod error;
mod feed;
mod order;
mod read;
pub mod schema;
mod snapshot;
pub mod url;
mod write;

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use postgres::{Client, NoTls};

pub use url::{is_url, mistyped_url, redact_text, PgUrl};
pub use write::MAX_TEXT;

use crate::error::{Error, Result};
use crate::pool::Pool;
use crate::store::Options;
use error::{backend_error, db_error, is_connection_error};
use feed::Watcher;
use order::Order;
use read::ReadAhead;
use schema::Names;

/// A store in a PostgreSQL table. See the [module docs](self).
pub struct PgStore {
    url: PgUrl,
    /// The URL without its password, as a path (what [`path`](Self::path) gives).
    shown: PathBuf,
    names: Names,
    read_only: bool,
    /// The connection; `None` after it was lost (made again on next use).
    client: RefCell<Option<Client>>,
    /// A connection was lost since the order was last known to match the table: the next
    /// change or catch-up re-reads the order first (a write's outcome may be unknown).
    lost: Cell<bool>,
    order: Order,
    /// The buffer pool, by id.
    pool: Pool<Box<str>>,
    /// The change feed version the order reflects.
    version: i64,
    /// Versions this handle wrote above `version` (already applied to the order; skipped
    /// when catching up).
    own_versions: Vec<i64>,
    /// Whether the engine has `pg_notify` (a wake-up for other handles' watchers).
    notify: bool,
    external_changes: u64,
    /// Watches the head for other writers' versions; started by the first `changed_on_disk`.
    watcher: OnceLock<Watcher>,
    readahead: RefCell<ReadAhead>,
}

/// The NOTIFY channel of a store's table.
fn channel_of(names: &Names) -> String {
    format!("damfs_{}", names.table)
}

impl PgStore {
    /// Opens the store at a `postgresql://` URL, creating its tables if needed (unless
    /// read-only: then a database without them is [`Error::NotAStore`]).
    pub fn open_with(url: &str, opts: Options) -> Result<Self> {
        let url = PgUrl::parse(url).map_err(|reason| Error::NotAStore {
            path: PathBuf::from("the PostgreSQL URL"),
            reason,
        })?;
        let shown = PathBuf::from(url.redacted());
        let names = Names::new(&url.table);
        let mut store = PgStore {
            shown,
            names,
            read_only: opts.read_only,
            client: RefCell::new(None),
            lost: Cell::new(false),
            order: Order::new(),
            pool: Pool::new(opts.buffer_pool_size),
            version: 0,
            own_versions: Vec::new(),
            notify: false,
            external_changes: 0,
            watcher: OnceLock::new(),
            readahead: RefCell::new(ReadAhead::default()),
            url,
        };
        {
            let what = store.shown.display().to_string();
            let mut client = store.client()?;
            schema::ensure(&mut client, &store.names, opts.read_only, &what)?;
            // LISTEN/NOTIFY is PostgreSQL's own; engines without it are polled instead.
            let notify = client
                .batch_execute("SELECT pg_notify('damfs_probe', '')")
                .is_ok();
            drop(client);
            store.notify = notify;
        }
        store.load_order()?;
        Ok(store)
    }

    /// The store's URL without its password.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection, made (again) if there is none.
    fn client(&self) -> Result<RefMut<'_, Client>> {
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
            self.lost.set(true);
        }
        if slot.is_none() {
            let client = self.url.config().connect(NoTls).map_err(|e| {
                let what = format!("connecting to {}", self.shown.display());
                // The client's own words for this are "invalid configuration: password missing".
                let says = |text: String| text.contains("password missing");
                if e.as_db_error().is_none()
                    && (says(e.to_string())
                        || std::error::Error::source(&e).is_some_and(|s| says(s.to_string())))
                {
                    return backend_error(
                        &what,
                        "the server asks for a password, and none was given (in the URL, \
                         PGPASSWORD or ~/.pgpass)",
                    );
                }
                db_error(&what, e)
            })?;
            *slot = Some(client);
        }
        RefMut::filter_map(slot, Option::as_mut)
            .map_err(|_| backend_error("connecting", "no connection"))
    }

    /// Runs reads on the connection, mapping a failure with `context`. A connection that was
    /// open before this call may have been cut while idle (the server restarted): its first
    /// statement fails at once. Reads are then run once more on a new connection, so the first
    /// call after the server is back succeeds (README, "Errors").
    fn read_with<R>(
        &self,
        context: &str,
        mut read: impl FnMut(&mut Client) -> Result<R, postgres::Error>,
    ) -> Result<R> {
        let reused = self.client.borrow().is_some();
        let first = {
            let mut client = self.client()?;
            read(&mut client)
        };
        match first {
            Err(e) if reused && is_connection_error(&e) => {
                self.reconnect_after(&e);
                let again = {
                    let mut client = self.client()?;
                    read(&mut client)
                };
                again.map_err(|e| self.failed(context, e))
            }
            other => other.map_err(|e| self.failed(context, e)),
        }
    }

    /// Drops a connection found cut when it was used again (nothing was done on it). A
    /// read-only handle's snapshot went with it: its order is re-read on next use.
    fn reconnect_after(&self, e: &postgres::Error) {
        log::info!(
            "{}: the connection to the server was cut ({e}); connecting again",
            self.shown.display()
        );
        self.client.borrow_mut().take();
        if self.read_only {
            self.lost.set(true);
        }
    }

    /// Maps a failed statement's error, dropping the connection when it is gone. A read-only
    /// handle's snapshot is ended by a failed statement: its order is re-read on next use.
    fn failed(&self, context: &str, e: postgres::Error) -> Error {
        if is_connection_error(&e) {
            self.client.borrow_mut().take();
            self.lost.set(true);
        } else if self.read_only {
            if let Some(client) = self.client.borrow_mut().as_mut() {
                snapshot::end(client);
            }
            self.lost.set(true);
        }
        db_error(context, e)
    }

    /// Re-reads the whole order from the table (one consistent snapshot), keeping the pool's
    /// dirty documents.
    fn load_order(&mut self) -> Result<()> {
        let what = format!("reading the order of {}", self.names.table);
        let docs = self.names.docs.clone();
        let head = self.names.head.clone();
        let (version, order) = self
            .read_with(&what, |c| {
                snapshot::read_in(c, self.read_only, |c| read_order(c, &docs, &head))
            })?
            .map_err(|why| backend_error(&what, why))?;
        self.order = order;
        self.version = version;
        self.own_versions.clear();
        self.pool.clear_clean();
        self.readahead.borrow_mut().clear();
        self.lost.set(false);
        Ok(())
    }

    /// Re-reads the order if a connection was lost since it was last known good.
    fn resync_if_lost(&mut self) -> Result<bool> {
        if !self.lost.get() {
            return Ok(false);
        }
        self.load_order()?;
        self.external_changes += 1;
        Ok(true)
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Re-reads the store from the table (other handles' changes, clears). Unsaved changes
    /// of this handle are saved first, never dropped.
    pub fn reload(&mut self) -> Result<()> {
        self.save()?;
        self.load_order()
    }

    /// Makes sure the server answers (one round trip): for a change the caller makes only a
    /// moment later (the mount holds a delete back a moment), which must fail now, at the
    /// syscall, if the server is down.
    pub fn check_reachable(&self) -> Result<()> {
        self.read_with("reaching the server", |c| c.batch_execute(""))
    }

    /// How many times this handle took in other handles' changes on its own.
    pub fn external_changes(&self) -> u64 {
        self.external_changes
    }
}

/// The whole order and the version it is at (run in one snapshot: [`snapshot::read_in`]);
/// inside, why a row is not a document's ([`order::checked_row`]).
type Loaded = Result<(i64, Order), String>;

fn read_order(tx: &mut Client, docs: &str, head: &str) -> Result<Loaded, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    let version: i64 = tx
        .query_one(&format!("SELECT version FROM {head} WHERE one = 1"), &[])?
        .try_get(0)?;
    let count: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {docs}"), &[])?
        .try_get(0)?;
    let mut order = Order::new();
    order.reserve(usize::try_from(count).unwrap_or(0));
    let mut rows = tx.query_raw(
        &format!("SELECT rank, id, len FROM {docs} ORDER BY rank"),
        std::iter::empty::<i64>(),
    )?;
    while let Some(row) = rows.next()? {
        let rank: i64 = row.try_get(0)?;
        let id: &str = row.try_get(1)?;
        let len: i32 = row.try_get(2)?;
        match order::checked_row(rank, id, len) {
            Ok(len) => order.insert(rank, id, len),
            Err(why) => return Ok(Err(why)),
        }
    }
    drop(rows);
    order.shrink();
    Ok(Ok((version, order)))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            log::error!("{}: could not save on close: {e}", self.shown.display());
        }
    }
}

impl PartialEq for PgStore {
    /// Two handles are equal when they are on the same table of the same database (whoever
    /// they connect as).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.url, &other.url);
        (&a.host, a.port, &a.dbname, &a.table) == (&b.host, b.port, &b.dbname, &b.table)
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<DocumentArrayMemmap (length={}) at {}>",
            self.order.len(),
            self.shown.display()
        )
    }
}
