//! Running one scenario against both backends: a [`Place`] is where a store lives (a fresh
//! directory, or a fresh PostgreSQL database), and `both_backends!(scenario, ...)` makes a
//! test per scenario per backend (`memmap::scenario`, `postgres::scenario`). The PostgreSQL
//! ones skip with a message where the server binaries are missing (and fail under
//! `DAMFS_REQUIRE_POSTGRES`, as in CI).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use damfs::Store;

use super::mount::Mount;
use super::postgres;
use super::store::{
    assert_same, doc_json, file_sizes, numbered_docs, read_only, scratch, snapshot, writable,
};

/// Where a test's store lives.
pub struct Place {
    /// The STORE argument: a directory or a URL.
    pub store: PathBuf,
    pub postgres: bool,
    _dir: Option<tempfile::TempDir>,
    /// The database (PostgreSQL only).
    pub db: Option<String>,
    /// The store's table (PostgreSQL only).
    table: String,
    /// The database was made for this place alone: dropped with it (each is ~7.5 MB).
    owns_db: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let (true, Some(db), Some(server)) = (self.owns_db, &self.db, postgres::shared()) {
            // FORCE: a watcher thread of a dropped handle may not have hung up yet.
            server.try_sql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
        }
    }
}

impl Place {
    /// A fresh directory under the target dir.
    pub fn memmap() -> Option<Place> {
        let dir = scratch();
        Some(Place {
            store: dir.path().join("store"),
            postgres: false,
            _dir: Some(dir),
            db: None,
            table: String::new(),
            owns_db: false,
        })
    }

    /// A fresh database on the test binary's server (`None`: PostgreSQL is not installed).
    pub fn postgres() -> Option<Place> {
        let server = postgres::shared()?;
        let db = server.fresh_db();
        Some(Place {
            store: PathBuf::from(server.url_for(&db, "damfs")),
            postgres: true,
            _dir: None,
            db: Some(db),
            table: "damfs".to_owned(),
            owns_db: true,
        })
    }

    /// A fresh table in one database the test binary shares (`None`: PostgreSQL is not
    /// installed): cheaper than a database each, for property tests' many cases.
    pub fn postgres_table() -> Option<Place> {
        static DB: OnceLock<String> = OnceLock::new();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server = postgres::shared()?;
        let db = DB.get_or_init(|| server.fresh_db());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let table = format!("case{n}");
        Some(Place {
            store: PathBuf::from(server.url_for(db, &table)),
            postgres: true,
            _dir: None,
            db: Some(db.clone()),
            table,
            owns_db: false,
        })
    }

    /// A store at a URL of a server of the test's own.
    pub fn at_url(url: String, db: &str) -> Place {
        Place {
            store: PathBuf::from(url),
            postgres: true,
            _dir: None,
            db: Some(db.to_owned()),
            table: "damfs".to_owned(),
            owns_db: false,
        }
    }

    /// A writable handle with `id_<i>` / `text <i>` for i in 0..n (unsaved).
    pub fn with_docs(&self, n: usize, pool: usize) -> Store {
        let mut s = self.open(pool);
        s.extend(numbered_docs(n)).unwrap();
        s
    }

    /// Another fresh place on the same backend (a different store).
    pub fn another(&self) -> Place {
        let other = if self.postgres {
            Place::postgres()
        } else {
            Place::memmap()
        };
        other.expect("the backend was there a moment ago")
    }

    /// Runs `sql` on a PostgreSQL place's database with `psql`; `{t}` names the store's
    /// table. Its output, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        let db = self.db.as_deref().expect("a PostgreSQL place");
        let server = postgres::shared().expect("the shared server");
        server.psql(db, &sql.replace("{t}", &self.table))
    }

    /// What the store has written so far, to show that a call wrote nothing: the sizes of the
    /// memmap store's index and body files, or the PostgreSQL store's change feed version
    /// (every write bumps it) and its rows' transaction ids (a rewritten row gets a new one).
    pub fn written(&self) -> String {
        if self.postgres {
            self.psql(
                "SELECT (SELECT version FROM {t}_head), \
                 (SELECT string_agg(xmin::text, ',' ORDER BY rank) FROM {t})",
            )
        } else {
            format!("{:?}", file_sizes(&self.store))
        }
    }

    /// A mark of what the store's texts are now, for [`bytes_written_since`](Self::bytes_written_since).
    pub fn texts_mark(&self) -> TextsMark {
        if self.postgres {
            TextsMark::Rows(
                self.rows()
                    .into_iter()
                    .map(|(id, xmin, _)| (id, xmin))
                    .collect(),
            )
        } else {
            TextsMark::Body(file_sizes(&self.store).1)
        }
    }

    /// The bytes of texts written since `mark`: what the memmap store's body grew by, or the
    /// lengths of the PostgreSQL rows added or rewritten since (a new transaction id).
    pub fn bytes_written_since(&self, mark: &TextsMark) -> u64 {
        match mark {
            TextsMark::Body(before) => file_sizes(&self.store).1 - before,
            TextsMark::Rows(before) => self
                .rows()
                .into_iter()
                .filter(|(id, xmin, _)| before.get(id) != Some(xmin))
                .map(|(_, _, len)| len)
                .sum(),
        }
    }

    /// `(id, xmin, len)` of every row of a PostgreSQL place's table.
    fn rows(&self) -> Vec<(String, String, u64)> {
        let out = self.psql("SELECT id, xmin, len FROM {t}");
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut f = l.rsplitn(3, '|');
                let len = f.next().unwrap().parse().unwrap();
                let xmin = f.next().unwrap().to_owned();
                (f.next().unwrap().to_owned(), xmin, len)
            })
            .collect()
    }

    /// The STORE argument as a string (for the command line).
    pub fn arg(&self) -> String {
        self.store.to_string_lossy().into_owned()
    }

    pub fn open(&self, pool: usize) -> Store {
        Store::open_with(&self.store, writable(pool)).unwrap()
    }

    pub fn open_ro(&self) -> Store {
        Store::open_with(&self.store, read_only()).unwrap()
    }

    /// `(id, json)` of every document, as a fresh read-only handle sees them (one snapshot on
    /// both backends, whatever other writers do meanwhile).
    pub fn contents(&self) -> Vec<(String, String)> {
        let store = self.open_ro();
        store
            .iter()
            .map(|d| {
                let d = d.expect("reading the store");
                (d.id().to_owned(), d.json().to_owned())
            })
            .collect()
    }
}

/// What a store's texts were at one moment: [`Place::texts_mark`].
pub enum TextsMark {
    /// The memmap store's body size.
    Body(u64),
    /// PostgreSQL: each row's id and transaction id.
    Rows(std::collections::HashMap<String, String>),
}

/// Closes the handle (which saves) and opens the store again: the reopened store must show
/// exactly what the handle showed. Returns the new handle (same pool size).
#[track_caller]
pub fn reopen(place: &Place, store: Store) -> Store {
    let before = snapshot(&store);
    let pool = store.stats().pool_size;
    drop(store);
    let again = place.open(pool);
    assert_same(&snapshot(&again), &before, "reopen differs from memory");
    again
}

/// Waits (up to 5 s) until `store` reports changes by other handles: at once on the memmap
/// store, which looks at its files; PostgreSQL's watcher thread hears of them a moment after
/// they are committed.
#[track_caller]
pub fn wait_for_changes(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.changed_on_disk().unwrap() {
        assert!(Instant::now() < deadline, "no change seen within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Opens a fresh handle (while others are still open) and checks it shows `expected`.
#[track_caller]
pub fn assert_reopens_as(place: &Place, expected: &[(String, String)]) {
    let again = place.open(1000);
    assert_same(&snapshot(&again), expected, "a fresh handle differs");
}

/// Makes `memmap::NAME` and `postgres::NAME` tests that run `NAME(&Place)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memmap {
            $(
                #[test]
                fn $name() {
                    let place = $crate::support::place::Place::memmap().unwrap();
                    super::$name(&place);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(place) = $crate::support::place::Place::postgres() else {
                        $crate::support::postgres::skip_without_server();
                        return;
                    };
                    super::$name(&place);
                }
            )*
        }
    };
}

/// `n` test documents (`doc<i>`, as `doc_json`), saved into the place's store.
pub fn fill(place: &Place, n: usize) {
    let mut s = place.open(0);
    let docs = (0..n).map(|i| damfs::Document::from_json(doc_json(i)).unwrap());
    s.extend(docs).unwrap();
    s.save().unwrap();
}

/// A mount of the place's store (with `n` documents put in first), logging to
/// `store.damfs.log` in its scratch directory. A second mount of the same store is
/// `mount(place, 0, ..)`, or [`Mount::second_mount`].
pub fn mount(place: &Place, n: usize, args: &[&str]) -> Mount {
    if n > 0 {
        fill(place, n);
    }
    Mount::of_store(place.store.clone(), args)
}
