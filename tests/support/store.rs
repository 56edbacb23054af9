//! Memmap stores on disk: documents to put in, handles to open, what a store holds and
//! which files it has.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use damfs::{Document, DocumentArrayMemmap, Options, Store};
use serde_json::json;

/// A scratch directory for one test, under Cargo's target dir.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("damfs-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("creating a scratch directory under the target dir")
}

/// A document `{"id": id, "text": text}`.
pub fn doc(id: &str, text: &str) -> Document {
    Document::from_value(json!({ "id": id, "text": text })).unwrap()
}

/// The JSON text of test document `i` (id `doc<i>`).
pub fn doc_json(i: usize) -> String {
    format!(r#"{{"id":"doc{i}","text":"text of document {i}"}}"#)
}

/// The documents `make_store(_, n)` writes, as `read_store` gives them back.
pub fn expected_docs(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("doc{i}"), doc_json(i))).collect()
}

/// Creates (or extends) a store at `path` with documents `doc0..doc<n-1>`, saved.
pub fn make_store(path: &Path, n: usize) {
    let mut dam = DocumentArrayMemmap::open(path).expect("opening the test store");
    let docs = (0..n).map(|i| Document::from_json(doc_json(i)).expect("valid test document"));
    dam.extend(docs).expect("adding test documents");
    dam.save().expect("saving the test store");
}

/// A writable memmap store at `path` with `id_<i>` / `text <i>` for i in 0..n, unsaved.
pub fn with_docs(path: &Path, n: usize, pool: usize) -> DocumentArrayMemmap {
    let mut dam = open(path, pool);
    dam.extend(numbered_docs(n)).unwrap();
    dam
}

/// Documents `id_<i>` with text `text <i>`, for i in 0..n.
pub fn numbered_docs(n: usize) -> impl Iterator<Item = Document> {
    (0..n).map(|i| doc(&format!("id_{i}"), &format!("text {i}")))
}

/// The `(id, json)` of `doc(id, text)`: what a store gives back for it.
pub fn doc_pair(id: &str, text: &str) -> (String, String) {
    let d = doc(id, text);
    (d.id().to_owned(), d.json().to_owned())
}

/// The options of a writable handle with a pool of `pool` documents.
pub fn writable(pool: usize) -> Options {
    Options {
        buffer_pool_size: pool,
        read_only: false,
    }
}

/// The options of a read-only handle without a pool: it reads what is on disk right now.
pub fn read_only() -> Options {
    Options {
        buffer_pool_size: 0,
        read_only: true,
    }
}

/// Opens (creating) a writable store with the given pool size.
pub fn open(path: &Path, pool: usize) -> DocumentArrayMemmap {
    DocumentArrayMemmap::open_with(path, writable(pool)).unwrap()
}

/// Opens a read-only handle (pool 0): what is on disk right now.
pub fn open_ro(path: &Path) -> DocumentArrayMemmap {
    DocumentArrayMemmap::open_with(path, read_only()).unwrap()
}

/// A handle on documents in order: the memmap store, or a store on either backend.
pub trait Documents {
    fn each_id(&self) -> Box<dyn Iterator<Item = &str> + '_>;
    fn each_doc(&self) -> Box<dyn Iterator<Item = damfs::Result<Document>> + '_>;
}

impl Documents for DocumentArrayMemmap {
    fn each_id(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.ids())
    }
    fn each_doc(&self) -> Box<dyn Iterator<Item = damfs::Result<Document>> + '_> {
        Box::new(self.iter())
    }
}

impl Documents for Store {
    fn each_id(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        self.ids()
    }
    fn each_doc(&self) -> Box<dyn Iterator<Item = damfs::Result<Document>> + '_> {
        self.iter()
    }
}

/// The ids, in order, as this handle sees them.
pub fn ids(store: &impl Documents) -> Vec<String> {
    store.each_id().map(str::to_owned).collect()
}

/// `(id, json)` of every document, in order, as this handle sees them.
pub fn snapshot(store: &impl Documents) -> Vec<(String, String)> {
    store
        .each_doc()
        .map(|d| {
            let d = d.unwrap();
            (d.id().to_owned(), d.json().to_owned())
        })
        .collect()
}

/// Every document of the store at `path`, in order, as (id, JSON text): what a fresh
/// read-only handle sees on disk.
pub fn read_store(path: &Path) -> Vec<(String, String)> {
    let dam =
        DocumentArrayMemmap::open_with(path, read_only()).expect("opening the store read-only");
    snapshot(&dam)
}

/// The `text` field of every document, in order ("" where there is none).
pub fn texts(store: &impl Documents) -> Vec<String> {
    store
        .each_doc()
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

/// Every file of a store directory and its bytes: to show that a refused command wrote
/// nothing.
pub fn store_bytes(path: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(path)
        .expect("listing the store")
        .map(|e| {
            let e = e.expect("a directory entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).expect("reading a store file"))
        })
        .collect()
}

/// Asserts that the store directory holds exactly index.dam, one body and the lock file.
pub fn assert_no_leftovers(path: &Path) {
    let files = store_files(path);
    assert_eq!(files.len(), 3, "leftover files: {files:?}");
    assert!(files.contains(&"index.dam".to_owned()), "{files:?}");
    assert!(files.contains(&"lock".to_owned()), "{files:?}");
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
