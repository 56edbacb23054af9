//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use damfs::{Document, DocumentArrayMemmap, Options};
use serde_json::json;

/// A document `{"id": id, "text": text}`.
pub fn doc(id: &str, text: &str) -> Document {
    Document::from_value(json!({ "id": id, "text": text })).unwrap()
}

/// Opens (creating) a writable store with the given pool size.
pub fn open(path: &Path, pool: usize) -> DocumentArrayMemmap {
    DocumentArrayMemmap::open_with(
        path,
        Options {
            buffer_pool_size: pool,
            read_only: false,
        },
    )
    .unwrap()
}

/// Opens a read-only handle (pool 0): what is on disk right now.
pub fn open_ro(path: &Path) -> DocumentArrayMemmap {
    DocumentArrayMemmap::open_with(
        path,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .unwrap()
}

pub fn ids(dam: &DocumentArrayMemmap) -> Vec<String> {
    dam.ids().map(str::to_owned).collect()
}

/// `(id, json)` of every document, in order, as this handle sees them.
pub fn snapshot(dam: &DocumentArrayMemmap) -> Vec<(String, String)> {
    dam.iter()
        .map(|d| {
            let d = d.unwrap();
            (d.id().to_owned(), d.json().to_owned())
        })
        .collect()
}

/// What a fresh read-only handle sees on disk.
pub fn disk(path: &Path) -> Vec<(String, String)> {
    snapshot(&open_ro(path))
}

pub fn texts(dam: &DocumentArrayMemmap) -> Vec<String> {
    dam.iter()
        .map(|d| d.unwrap().text().unwrap_or_default())
        .collect()
}

/// The current body file (`body-<gen>.dam`).
pub fn body_path(path: &Path) -> PathBuf {
    let bodies: Vec<PathBuf> = fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("body-") && n.ends_with(".dam")
        })
        .collect();
    assert_eq!(bodies.len(), 1, "expected one body file: {bodies:?}");
    bodies.into_iter().next().unwrap()
}

pub fn index_path(path: &Path) -> PathBuf {
    path.join("index.dam")
}

/// Real sizes of (index.dam, body) on disk.
pub fn file_sizes(path: &Path) -> (u64, u64) {
    (
        fs::metadata(index_path(path)).unwrap().len(),
        fs::metadata(body_path(path)).unwrap().len(),
    )
}

/// Names of the files in the store directory, sorted.
pub fn store_files(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts that the store directory holds exactly index.dam, one body and the lock file.
pub fn assert_no_leftovers(path: &Path) {
    let files = store_files(path);
    assert_eq!(files.len(), 3, "leftover files: {files:?}");
    assert!(files.contains(&"index.dam".to_owned()), "{files:?}");
    assert!(files.contains(&"lock".to_owned()), "{files:?}");
}

/// A tiny deterministic PRNG (xorshift64*), so a parent and a child process can replay the
/// same random choices from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Asserts two `(id, json)` lists are equal, reporting only the first difference.
#[track_caller]
pub fn assert_same(found: &[(String, String)], expected: &[(String, String)], what: &str) {
    if found == expected {
        return;
    }
    let first = found
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(found.len().min(expected.len()));
    panic!(
        "{what}: lengths {} vs {} (expected); first difference at {first}: {:?} vs {:?}",
        found.len(),
        expected.len(),
        found.get(first),
        expected.get(first)
    );
}

/// Closes the handle (which saves) and opens the store again: the reopened store must show
/// exactly what the handle showed. Returns the new handle (same pool size).
#[track_caller]
pub fn reopen(dam: DocumentArrayMemmap) -> DocumentArrayMemmap {
    let before = snapshot(&dam);
    let path = dam.path().to_owned();
    let pool = dam.stats().pool_size;
    drop(dam);
    let again = open(&path, pool);
    assert_same(&snapshot(&again), &before, "reopen differs from memory");
    again
}
