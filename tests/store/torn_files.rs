//! The memmap store's files, damaged or cut: B16 of the original (a truncated or damaged
//! body is a clear error, never a phantom document), torn index tails and garbage after the
//! last batch (a crash mid-write), bad headers, and a foreign directory left alone. Memmap
//! only: these are about the store's files on disk (PostgreSQL keeps its own pages; its
//! errors are tests/postgres/errors.rs).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use damfs::{DocumentArrayMemmap, Error};

use crate::support::store::*;

/// B16: a truncated body is a clear error naming the file and offset, never a phantom doc.
#[test]
fn b16_truncated_body_is_an_error_not_a_phantom() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = with_docs(dir.path(), 3, 1000);
    dam.save().unwrap();
    drop(dam);
    let body = body_path(dir.path());
    let len = fs::metadata(&body).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&body)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let err = DocumentArrayMemmap::open(dir.path()).expect_err("opened a truncated store");
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(msg.contains("body-") && msg.contains("offset"), "{msg}");
    // and cut to nothing but its header
    OpenOptions::new()
        .write(true)
        .open(&body)
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = DocumentArrayMemmap::open(dir.path()).expect_err("opened");
    assert!(err.to_string().contains("body-"), "{err}");
}

/// B16, the other half: a damaged byte in a document's text is detected when it is read
/// (checksum), named with file and offset; the other documents are unharmed.
#[test]
fn b16_damaged_body_bytes_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = with_docs(dir.path(), 3, 1000);
    dam.save().unwrap();
    drop(dam);
    let body = body_path(dir.path());
    let bytes = fs::read(&body).unwrap();
    let at = bytes.windows(6).position(|w| w == b"text 1").unwrap();
    let mut f = OpenOptions::new().write(true).open(&body).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"T", at as u64).unwrap();
    f.flush().unwrap();
    let mut dam = open(dir.path(), 1000);
    assert_eq!(dam.len(), 3);
    let err = dam.get(1).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("body-") && err.to_string().contains("offset"));
    assert_eq!(dam.get(0).unwrap(), doc("id_0", "text 0"));
    assert_eq!(dam.get(2).unwrap(), doc("id_2", "text 2"));
    let results: Vec<_> = dam.iter().collect();
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    // a damaged document can still be replaced or deleted
    dam.set(1, doc("id_1", "repaired")).unwrap();
    let dam = reopen(dam);
    assert_eq!(texts(&dam), ["text 0", "repaired", "text 2"]);
}

/// Builds a store where `saved` documents were saved (a durable batch) and then more
/// unsaved operations were written; returns the index bytes and body bytes at that point,
/// the length of the index up to the save, and what the saved state looks like.
/// (index bytes, body bytes, index length at the save, saved state)
type TornFixture = (Vec<u8>, Vec<u8>, usize, Vec<(String, String)>);

fn torn_fixture() -> TornFixture {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = with_docs(dir.path(), 4, 1000);
    dam.save().unwrap();
    let saved = snapshot(&dam);
    let saved_len = fs::metadata(index_path(dir.path())).unwrap().len() as usize;
    dam.append(doc("unsaved", "u")).unwrap();
    dam.delete(0).unwrap();
    dam.set(1, doc("other", "renamed")).unwrap();
    let index = fs::read(index_path(dir.path())).unwrap();
    let body = fs::read(body_path(dir.path())).unwrap();
    let body_name = body_path(dir.path());
    assert!(body_name.ends_with("body-1.dam"));
    std::mem::forget(dam); // do not let drop write anything more
    (index, body, saved_len, saved)
}

fn write_store(path: &Path, index: &[u8], body: &[u8]) {
    fs::write(path.join("index.dam"), index).unwrap();
    fs::write(path.join("body-1.dam"), body).unwrap();
    fs::write(path.join("lock"), b"").unwrap();
}

/// A torn index tail (a crash mid-write): cut the index at every byte after the last save;
/// the store opens with the tail dropped and each saved document intact, and the next
/// write cuts the tail off for good.
#[test]
fn torn_index_tail_is_dropped_at_every_cut() {
    let (index, body, saved_len, saved) = torn_fixture();
    assert!(index.len() > saved_len);
    for cut in saved_len..index.len() {
        let dir = tempfile::tempdir().unwrap();
        write_store(dir.path(), &index[..cut], &body);
        let dam = open_ro(dir.path());
        let seen = snapshot(&dam);
        drop(dam);
        // every saved document is intact; whole batches after it may or may not apply
        assert!(seen.len() >= 3, "cut {cut}: {seen:?}");
        if cut == saved_len {
            assert_same(&seen, &saved, "cut at the save");
        }
        for (id, json) in &seen {
            if let Some((_, j)) = saved.iter().find(|(i, _)| i == id) {
                assert_eq!(json, j, "cut {cut}: {id} changed");
            }
        }
        let mut dam = open(dir.path(), 1000);
        let seen = snapshot(&dam);
        dam.append(doc("after", "crash")).unwrap();
        let mut expected = seen.clone();
        expected.push(doc_pair("after", "crash"));
        let dam = reopen(dam);
        assert_same(&snapshot(&dam), &expected, &format!("cut {cut}"));
    }
}

/// Garbage after the last batch (a torn write of random bytes) is dropped the same way.
#[test]
fn garbage_appended_to_the_index_is_dropped() {
    let (index, body, saved_len, saved) = torn_fixture();
    for garbage in [
        &b"\0"[..],
        b"BTCH",
        b"BTCH\x01\0\0\0\xff\xff\0\0",
        &[0xa5; 300],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = index[..saved_len].to_vec();
        bytes.extend_from_slice(garbage);
        write_store(dir.path(), &bytes, &body);
        let mut dam = open(dir.path(), 1000);
        assert_same(&snapshot(&dam), &saved, "garbage tail");
        dam.append(doc("after", "garbage")).unwrap();
        let dam = reopen(dam);
        assert_eq!(dam.len(), 5);
    }
}

/// Damage followed by valid batches is not a torn tail: a clear error naming index.dam
/// and the offset, never a silently shortened store.
#[test]
fn damage_before_saved_batches_is_an_error() {
    let (index, body, saved_len, _) = torn_fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = index.clone();
    bytes[saved_len + 20] ^= 0xff; // inside the first unsaved batch's payload
                                   // ... followed by a save: an empty DURABLE batch (flags 1, length 0, CRC of nothing 0).
    bytes.extend_from_slice(b"BTCH");
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    write_store(dir.path(), &bytes, &body);
    let err = DocumentArrayMemmap::open(dir.path()).expect_err("opened");
    let msg = err.to_string();
    assert!(
        msg.contains("index.dam") && msg.contains(&format!("offset {saved_len}")),
        "{msg}"
    );
}

/// Damage followed only by unsaved batches is what a power cut leaves (a later page written,
/// an earlier one lost): the store opens, the unsaved tail is dropped, saved documents stay.
#[test]
fn damage_among_unsaved_batches_is_a_torn_tail() {
    let (index, body, saved_len, saved) = torn_fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = index.clone();
    bytes[saved_len + 20] ^= 0xff;
    write_store(dir.path(), &bytes, &body);
    let dam = DocumentArrayMemmap::open(dir.path()).unwrap();
    assert_eq!(snapshot(&dam), saved);
}

/// A bad file header or an unknown version is a clear error.
#[test]
fn bad_headers_are_clear_errors() {
    let (index, body, _, _) = torn_fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut bad = index.clone();
    bad[8] = 99;
    write_store(dir.path(), &bad, &body);
    assert!(matches!(
        DocumentArrayMemmap::open(dir.path()),
        Err(Error::UnsupportedVersion { found: 99, .. })
    ));
    let mut bad = index.clone();
    bad[0] = b'X';
    write_store(dir.path(), &bad, &body);
    let err = DocumentArrayMemmap::open(dir.path()).err().unwrap();
    assert!(err.to_string().contains("index.dam"), "{err}");
    write_store(dir.path(), &index[..20], &body);
    assert!(DocumentArrayMemmap::open(dir.path()).is_err());
}

/// Garbage at the end of the body (a crash between writing a text and its index entry)
/// is harmless: later writes go after it.
#[test]
fn garbage_at_the_end_of_the_body_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let dam = with_docs(dir.path(), 3, 1000);
    let expected = snapshot(&dam);
    drop(dam);
    let mut f = OpenOptions::new()
        .append(true)
        .open(body_path(dir.path()))
        .unwrap();
    f.write_all(b"{\"id\":\"phantom\",\"text\":\"never indexed\"}")
        .unwrap();
    drop(f);
    let mut dam = open(dir.path(), 1000);
    assert_same(&snapshot(&dam), &expected, "garbage body tail");
    assert!(!dam.contains("phantom"));
    dam.append(doc("next", "n")).unwrap();
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_1", "id_2", "next"]);
}

/// Opening a directory that holds other files and no index is refused, and nothing is
/// written into it (a typo in a path must not turn someone's folder into a store).
#[test]
fn a_foreign_directory_is_not_turned_into_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = DocumentArrayMemmap::open(dir.path()).unwrap_err();
    assert!(matches!(err, damfs::Error::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
}
