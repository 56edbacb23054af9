//! Running one scenario against both backends: a [`Place`] is where a store lives (a fresh
//! directory, or a fresh PostgreSQL database), and `both_backends!(scenario, ...)` makes a
//! test per scenario per backend (`memmap::scenario`, `postgres::scenario`). The PostgreSQL
//! ones skip with a message where the server binaries are missing.

use std::path::PathBuf;

use damfs::Store;

use super::mount::Mount;
use super::postgres;
use super::store::{doc_json, read_only, scratch, writable};

/// Where a test's store lives.
pub struct Place {
    /// The STORE argument: a directory or a URL.
    pub store: PathBuf,
    pub postgres: bool,
    _dir: Option<tempfile::TempDir>,
    /// The database (PostgreSQL only).
    pub db: Option<String>,
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
        })
    }

    /// A store at a URL of a server of the test's own.
    pub fn at_url(url: String, db: &str) -> Place {
        Place {
            store: PathBuf::from(url),
            postgres: true,
            _dir: None,
            db: Some(db.to_owned()),
        }
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
                        eprintln!("skipping: PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin)");
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
