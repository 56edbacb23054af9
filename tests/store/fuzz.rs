//! Long property runs standing in for coverage-guided fuzzing (no nightly toolchain here):
//! opening a store made of arbitrary bytes, or of a real store's files with arbitrary edits,
//! and parsing arbitrary text as a document. Never a panic; a store that opens reads back
//! without panicking, and a writable open followed by a write and a reopen agrees with
//! itself. Every result is an error or a consistent store.
//!
//! CI: 256 cases each. Long runs: `PROPTEST_CASES=20000 cargo test --release --test
//! store fuzz::` (figures in the README).
//!
//! Memmap only: arbitrary bytes as the store's files (PostgreSQL's rows are typed, and the
//! documents' parsing, the third property, is the same code for both).

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use damfs::{Document, DocumentArrayMemmap, Options};
use proptest::prelude::*;

use crate::support::properties;
use crate::support::store::*;

/// A real store's files (index, body) with history: replaced, deleted, renamed documents,
/// a prune's new generation, then more changes.
fn real_store() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = open(dir.path(), 2);
        dam.extend((0..12).map(|i| doc(&format!("d{i}"), &format!("t{i}"))))
            .unwrap();
        dam.save().unwrap();
        dam.prune().unwrap();
        dam.set_by_id("d1", doc("d1", "replaced")).unwrap();
        dam.delete_by_id("d4").unwrap();
        dam.rename("d5", "five").unwrap();
        dam.save().unwrap();
        dam.append(doc("tail", "unsaved")).unwrap();
        let files = (
            fs::read(index_path(dir.path())).unwrap(),
            fs::read(body_path(dir.path())).unwrap(),
        );
        std::mem::forget(dam);
        files
    })
}

/// Writes a store directory from raw files (the body named after generation 2, the real
/// store's after its prune, and 1, so either header finds one).
fn write_store(dir: &Path, index: &[u8], body: &[u8]) {
    fs::write(dir.join("index.dam"), index).unwrap();
    fs::write(dir.join("body-1.dam"), body).unwrap();
    fs::write(dir.join("body-2.dam"), body).unwrap();
    fs::write(dir.join("lock"), b"").unwrap();
}

/// Opens read-only and reads everything; then writable, appends, saves, and checks that a
/// reopen shows what the handle showed. Errors are fine; panics and inconsistency are not.
fn exercise(dir: &Path) {
    let ro = Options {
        buffer_pool_size: 0,
        read_only: true,
    };
    if let Ok(dam) = DocumentArrayMemmap::open_with(dir, ro) {
        let _ = dam.stats();
        for d in dam.iter() {
            let _ = d.map(|d| d.json().len());
        }
    }
    if let Ok(mut dam) = DocumentArrayMemmap::open(dir) {
        let readable = dam.iter().all(|d| d.is_ok());
        if readable && dam.append(doc("fuzz-new", "x")).is_ok() && dam.save().is_ok() {
            let before = snapshot(&dam);
            drop(dam);
            if let Ok(again) = DocumentArrayMemmap::open(dir) {
                assert_same(&snapshot(&again), &before, "reopen after a write");
            }
        }
    }
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    // (offset, kind: 0 set / 1 xor / 2 truncate, value)
    prop::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 1..6)
}

fn edit(bytes: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for &(at, kind, v) in edits {
        if b.is_empty() {
            break;
        }
        let at = at % b.len();
        match kind {
            0 => b[at] = v,
            1 => b[at] ^= v.max(1),
            _ => b.truncate(at),
        }
    }
    b
}

proptest! {
    // 256 cases, or `PROPTEST_CASES`.
    #![proptest_config(properties::config(256))]

    /// Arbitrary bytes after a valid index header (and arbitrary body bytes).
    #[test]
    fn open_of_arbitrary_bytes(tail in prop::collection::vec(any::<u8>(), 0..3000),
                               body in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let (index, real_body) = real_store();
        let mut bytes = index[..index.len().min(32)].to_vec();
        bytes.extend_from_slice(&tail);
        let mut b = real_body[..32].to_vec();
        b.extend_from_slice(&body);
        write_store(dir.path(), &bytes, &b);
        exercise(dir.path());
    }

    /// A real store's files with a few random edits and cuts.
    #[test]
    fn open_of_an_edited_real_store(index_edits in edits(), body_edits in edits(),
                                    which in 0u8..3) {
        let dir = tempfile::tempdir().unwrap();
        let (index, body) = real_store();
        let index = if which != 1 { edit(index, &index_edits) } else { index.clone() };
        let body = if which != 0 { edit(body, &body_edits) } else { body.clone() };
        write_store(dir.path(), &index, &body);
        exercise(dir.path());
    }

    /// Arbitrary text as a document: an error, or a document whose id follows the rules
    /// and whose text is kept byte for byte.
    #[test]
    fn document_from_arbitrary_text(
        text in r#"\PC{0,80}|\{"id":"[^"]{0,20}"[^}]{0,40}\}"#
    ) {
        if let Ok(d) = Document::from_json(text.clone()) {
            prop_assert!(damfs::validate_id(d.id()).is_ok());
            if text.contains(r#""id""#) {
                prop_assert_eq!(d.json(), text.as_str());
            }
        }
    }
}
