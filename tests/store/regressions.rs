//! One test per bug B1..B16 of the original (the README's table "The original's 16 known bugs"), the extra scenarios of
//! §8.5, and regressions for bugs found in damfs itself while writing this suite.
//! Every scenario checks what a reopened store holds, not only what memory shows.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use damfs::{Document, DocumentArrayMemmap, Error, Slice};
use serde_json::json;

use crate::support::store::*;

fn store_with(path: &Path, n: usize, pool: usize) -> DocumentArrayMemmap {
    let mut dam = open(path, pool);
    dam.extend((0..n).map(|i| doc(&format!("id_{i}"), &format!("text {i}"))))
        .unwrap();
    dam
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- B1..B16 ------------------------------------------------------------------------------

/// B1: int delete after an earlier delete must remove the right document on disk.
#[test]
fn b1_int_delete_after_delete() {
    for pool in [0, 2, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = store_with(dir.path(), 5, pool);
        dam.delete(1).unwrap();
        dam.delete(2).unwrap(); // logical 2 is id_3
        assert_eq!(ids(&dam), ["id_0", "id_2", "id_4"]);
        let dam = reopen(dam);
        assert_eq!(ids(&dam), ["id_0", "id_2", "id_4"]);
    }
}

/// B2: deleting the last document, then reopening and appending.
#[test]
fn b2_delete_last_then_reopen_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 3, 1000);
    dam.delete_by_id("id_2").unwrap();
    let mut dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_1"]);
    dam.append(doc("d", "dd")).unwrap();
    let mut dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_1", "d"]);
    // every document deleted, then reopened: an empty, working store
    dam.delete_slice(..).unwrap();
    let mut dam = reopen(dam);
    assert!(dam.is_empty());
    dam.append(doc("e", "ee")).unwrap();
    let dam = reopen(dam);
    assert_eq!(snapshot(&dam), [doc_pair("e", "ee")]);
}

fn doc_pair(id: &str, text: &str) -> (String, String) {
    let d = doc(id, text);
    (d.id().to_owned(), d.json().to_owned())
}

/// B3: int set after a delete must update the right document on disk.
#[test]
fn b3_int_set_after_delete() {
    for pool in [0, 1, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = store_with(dir.path(), 4, pool);
        dam.delete_by_id("id_0").unwrap();
        dam.set(0, doc("id_1", "NEW1")).unwrap();
        assert_eq!(dam.get(0).unwrap().text().unwrap(), "NEW1");
        let mut dam = reopen(dam);
        assert_eq!(dam.get_by_id("id_1").unwrap().text().unwrap(), "NEW1");
        assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
    }
}

/// B4: set by id after a delete must not disturb the int positions.
#[test]
fn b4_id_set_after_delete_keeps_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 4, 1000);
    dam.delete_by_id("id_0").unwrap();
    dam.set_by_id("id_2", doc("id_2", "NEW2")).unwrap();
    assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
    assert_eq!(dam.get(2).unwrap().id(), "id_3");
    assert_eq!(dam.get(1).unwrap().text().unwrap(), "NEW2");
    assert_eq!(dam.len(), 3);
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
}

/// B5: update, reopen, append must not overwrite the updated record.
#[test]
fn b5_update_reopen_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 1000);
    dam.extend([doc("a", "a"), doc("b", "b"), doc("c", "c")])
        .unwrap();
    dam.set_by_id("a", doc("a", "UPDATED a, longer than before"))
        .unwrap();
    let mut dam = reopen(dam);
    dam.append(doc("d", "d")).unwrap();
    let mut dam = reopen(dam);
    assert_eq!(
        dam.get_by_id("a").unwrap(),
        doc("a", "UPDATED a, longer than before")
    );
    assert_eq!(dam.get_by_id("d").unwrap(), doc("d", "d"));
    assert_eq!(ids(&dam), ["a", "b", "c", "d"]);
}

/// B6: negative indexes and pop.
#[test]
fn b6_negative_index_and_pop() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 5, 1000);
    dam.delete(-1).unwrap();
    assert_eq!(ids(&dam), ["id_0", "id_1", "id_2", "id_3"]);
    assert_eq!(dam.pop().unwrap(), doc("id_3", "text 3"));
    assert_eq!(dam.get(-1).unwrap().id(), "id_2");
    assert_eq!(dam.get(-3).unwrap().id(), "id_0");
    assert!(matches!(
        dam.get(-4),
        Err(Error::IndexOutOfRange { index: -4, len: 3 })
    ));
    dam.set(-2, doc("id_1", "via -2")).unwrap();
    dam.update(-3, |d| d.set("text", "via -3"))
        .unwrap()
        .unwrap();
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_1", "id_2"]);
    assert_eq!(texts(&dam), ["via -3", "via -2", "text 2"]);
}

/// B7: pool slots must not alias after a delete and a reload.
#[test]
fn b7_no_pool_aliasing_after_reload() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 2);
    dam.extend([doc("a", "a"), doc("b", "b"), doc("c", "c")])
        .unwrap();
    dam.delete_by_id("b").unwrap();
    dam.reload().unwrap();
    assert_eq!(dam.get_by_id("a").unwrap().id(), "a");
    assert_eq!(dam.get_by_id("c").unwrap().id(), "c");
    dam.append(doc("d", "d")).unwrap();
    assert_eq!(dam.get_by_id("c").unwrap(), doc("c", "c"));
    assert_eq!(dam.get_by_id("d").unwrap(), doc("d", "d"));
    assert_eq!(dam.get_by_id("a").unwrap(), doc("a", "a"));
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["a", "c", "d"]);
}

/// B8: clear empties the pool too: old ids are gone, and pooled dirty documents are not
/// written back later.
#[test]
fn b8_clear_empties_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 3, 1000);
    dam.update(0, |d| d.set("text", "dirty")).unwrap().unwrap();
    dam.get(1).unwrap();
    dam.clear().unwrap();
    assert!(matches!(dam.get_by_id("id_0"), Err(Error::NotFound(_))));
    assert!(matches!(dam.get(0), Err(Error::IndexOutOfRange { .. })));
    assert!(!dam.contains("id_0"));
    assert_eq!(dam.stats().pool_used, 0);
    dam.save().unwrap();
    let dam = reopen(dam);
    assert!(dam.is_empty());
}

/// B9: saving repeatedly with one dirty document writes it once; later saves write nothing.
/// Reading (get, iteration) never makes a document dirty (#3809).
#[test]
fn b9_repeated_save_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 10, 1000);
    dam.save().unwrap();
    let clean = file_sizes(dir.path());
    dam.save().unwrap();
    assert_eq!(
        file_sizes(dir.path()),
        clean,
        "a save with nothing to do wrote"
    );
    dam.update(3, |d| d.set("text", "changed"))
        .unwrap()
        .unwrap();
    dam.save().unwrap();
    let once = file_sizes(dir.path());
    assert!(once.1 > clean.1);
    for _ in 0..3 {
        dam.save().unwrap();
        assert_eq!(file_sizes(dir.path()), once);
    }
    for i in 0..10 {
        dam.get(i).unwrap();
        dam.update(i, |d| d.text()).unwrap();
    }
    assert_eq!(dam.iter().count(), 10);
    assert_eq!(dam.stats().pool_dirty, 0);
    dam.save().unwrap();
    drop(dam);
    assert_eq!(file_sizes(dir.path()), once, "reading or closing wrote");
    let dam = open(dir.path(), 1000);
    drop(dam);
    assert_eq!(file_sizes(dir.path()), once, "open + close wrote");
}

/// B10: reload with dirty documents saves them (the original silently dropped them).
#[test]
fn b10_reload_does_not_drop_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 3, 1000);
    dam.update_by_id("id_2", |d| d.set("text", "kept"))
        .unwrap()
        .unwrap();
    dam.reload().unwrap();
    assert_eq!(dam.get(2).unwrap().text().unwrap(), "kept");
    assert_eq!(read_store(dir.path())[2], doc_pair("id_2", "kept"));
}

/// B11: a pool of size 0 works for every operation and writes through.
#[test]
fn b11_pool_size_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 10, 0);
    dam.extend((10..20).map(|i| doc(&format!("id_{i}"), "more")))
        .unwrap();
    dam.set(0, doc("id_0", "set")).unwrap();
    dam.set_by_id("id_1", doc("id_1", "set_by_id")).unwrap();
    dam.update(2, |d| d.set("text", "updated"))
        .unwrap()
        .unwrap();
    dam.set(3, doc("renamed", "r")).unwrap();
    dam.delete(-1).unwrap();
    assert_eq!(dam.stats().pool_used, 0);
    assert_eq!(dam.stats().pool_dirty, 0);
    // written through: a fresh handle sees everything before any save
    assert_same(
        &read_store(dir.path()),
        &snapshot(&dam),
        "pool 0 did not write through",
    );
    let dam = reopen(dam);
    assert_eq!(dam.len(), 19);
    assert_eq!(texts(&dam)[..3], strs(&["set", "set_by_id", "updated"]));
}

/// B12: two handles appending without reloading must not overwrite each other.
#[test]
fn b12_two_writers_do_not_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 1000);
    let mut b = open(dir.path(), 1000);
    for i in 0..20 {
        a.append(doc(&format!("a{i}"), &format!("from a {i}")))
            .unwrap();
        b.append(doc(&format!("b{i}"), &format!("from b {i}")))
            .unwrap();
    }
    // a writer catches up with the other's entries when it writes
    assert_eq!(a.len(), 39);
    assert_eq!(b.len(), 40);
    a.save().unwrap();
    b.save().unwrap();
    let third = open_ro(dir.path());
    assert_eq!(third.len(), 40);
    let mut expected = Vec::new();
    for i in 0..20 {
        expected.push(doc_pair(&format!("a{i}"), &format!("from a {i}")));
        expected.push(doc_pair(&format!("b{i}"), &format!("from b {i}")));
    }
    assert_same(&snapshot(&third), &expected, "interleaved appends");
}

/// B13: prune leaves no temporary directory or file behind.
#[test]
fn b13_prune_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 50, 5);
    for i in 0..25 {
        dam.update(i, |d| d.set("text", "dirty")).unwrap().unwrap();
    }
    dam.delete_slice(Slice::step(3)).unwrap();
    let before = snapshot(&dam);
    for _ in 0..3 {
        dam.prune().unwrap();
        assert_no_leftovers(dir.path());
        assert_eq!(dam.stats().garbage_bytes, 0);
    }
    assert_same(&snapshot(&dam), &before, "prune changed documents");
    assert_same(&read_store(dir.path()), &before, "prune did not persist");
}

/// B14: ids are never truncated: 256 bytes is refused, 255-byte and unicode ids round-trip.
#[test]
fn b14_long_and_unicode_ids() {
    let long = "x".repeat(256);
    assert!(matches!(
        Document::from_value(json!({"id": long})),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        Document::from_json(format!("{{\"id\":\"{long}\"}}")),
        Err(Error::InvalidId { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 1000);
    let id255 = "é".repeat(127) + "x"; // 255 bytes, 128 characters
    assert_eq!(id255.len(), 255);
    let uni = "ünï😀";
    dam.extend([doc(&id255, "long"), doc(uni, "unicode"), doc("a", "a")])
        .unwrap();
    assert!(matches!(
        dam.rename("a", &long),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        dam.rename("a", "a/b"),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        dam.rename("a", ".a"),
        Err(Error::InvalidId { .. })
    ));
    let mut dam = reopen(dam);
    assert_eq!(dam.get_by_id(&id255).unwrap(), doc(&id255, "long"));
    assert_eq!(dam.get_by_id(uni).unwrap(), doc(uni, "unicode"));
    dam.rename("a", &"y".repeat(255)).unwrap();
    dam.prune().unwrap();
    let dam = reopen(dam);
    assert_eq!(ids(&dam), [id255, uni.to_owned(), "y".repeat(255)]);
}

/// Python's `slice.indices` (CPython's PySlice_AdjustIndices), in i128 so it cannot overflow.
fn py_slice(
    len: usize,
    start: Option<isize>,
    stop: Option<isize>,
    step: Option<isize>,
) -> Vec<usize> {
    let len = len as i128;
    let step = step.unwrap_or(1) as i128;
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let adjust = |v: Option<isize>, default: i128| match v {
        None => default,
        Some(v) => {
            let v = v as i128;
            if v < 0 {
                (v + len).max(lower)
            } else {
                v.min(upper)
            }
        }
    };
    let start = adjust(start, if step < 0 { upper } else { lower });
    let stop = adjust(stop, if step < 0 { lower } else { upper });
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

/// B15: slices follow Python, negative steps and extreme values included, for get and
/// delete (and deletes persist).
#[test]
fn b15_slices_follow_python() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 7, 1000);
    let all = snapshot(&dam);
    let bounds = [
        None,
        Some(isize::MIN),
        Some(-9),
        Some(-7),
        Some(-3),
        Some(-1),
        Some(0),
        Some(2),
        Some(6),
        Some(7),
        Some(100),
        Some(isize::MAX),
    ];
    let steps = [
        None,
        Some(1),
        Some(2),
        Some(5),
        Some(-1),
        Some(-2),
        Some(-3),
        Some(isize::MAX),
        Some(isize::MIN),
        Some(isize::MIN + 1),
    ];
    for &start in &bounds {
        for &stop in &bounds {
            for &step in &steps {
                let s = Slice::new(start, stop, step);
                let want: Vec<(String, String)> = py_slice(7, start, stop, step)
                    .into_iter()
                    .map(|i| all[i].clone())
                    .collect();
                let got: Vec<(String, String)> = dam
                    .get_slice(s)
                    .unwrap_or_else(|e| panic!("{s:?}: {e}"))
                    .into_iter()
                    .map(|d| (d.id().to_owned(), d.json().to_owned()))
                    .collect();
                assert_eq!(got, want, "{s:?}");
            }
        }
    }
    assert_eq!(
        ids(&dam).into_iter().rev().collect::<Vec<_>>(),
        dam.get_slice(Slice::step(-1))
            .unwrap()
            .iter()
            .map(|d| d.id().to_owned())
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        dam.get_slice(Slice::step(0)),
        Err(Error::ZeroStep)
    ));
    assert!(matches!(
        dam.delete_slice(Slice::step(0)),
        Err(Error::ZeroStep)
    ));
    dam.delete_slice(Slice::new(Some(-2), None, Some(-2)))
        .unwrap(); // 5, 3, 1
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_4", "id_6"]);
    dam.delete_slice(Slice::new(Some(2), Some(isize::MAX), Some(isize::MAX)))
        .unwrap(); // just 2
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_6"]);
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_6"]);
}

/// B16: a truncated body is a clear error naming the file and offset, never a phantom doc.
#[test]
fn b16_truncated_body_is_an_error_not_a_phantom() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 3, 1000);
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
    let mut dam = store_with(dir.path(), 3, 1000);
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

// ---- §8.5 extras --------------------------------------------------------------------------

/// Appending an existing id is DuplicateId, and a failing extend writes nothing at all.
#[test]
fn duplicate_ids_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 3, 1000);
    dam.save().unwrap();
    let sizes = file_sizes(dir.path());
    let before = snapshot(&dam);
    assert!(matches!(
        dam.append(doc("id_1", "again")),
        Err(Error::DuplicateId(id)) if id == "id_1"
    ));
    assert!(matches!(
        dam.extend([doc("new1", "n"), doc("id_2", "dup"), doc("new2", "n")]),
        Err(Error::DuplicateId(id)) if id == "id_2"
    ));
    assert!(matches!(
        dam.extend([doc("new1", "n"), doc("new1", "n twice")]),
        Err(Error::DuplicateId(id)) if id == "new1"
    ));
    assert!(matches!(
        dam.rename("id_0", "id_1"),
        Err(Error::DuplicateId(_))
    ));
    assert!(!dam.contains("new1") && !dam.contains("new2"));
    assert_same(
        &snapshot(&dam),
        &before,
        "a failed append changed the store",
    );
    assert_eq!(file_sizes(dir.path()), sizes, "a failed append wrote");
    // a deleted id can be used again
    dam.delete_by_id("id_1").unwrap();
    dam.append(doc("id_1", "back")).unwrap();
    let dam = reopen(dam);
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_1"]);
}

/// Builds a store where `saved` documents were saved (a durable batch) and then more
/// unsaved operations were written; returns the index bytes and body bytes at that point,
/// the length of the index up to the save, and what the saved state looks like.
/// (index bytes, body bytes, index length at the save, saved state)
type TornFixture = (Vec<u8>, Vec<u8>, usize, Vec<(String, String)>);

fn torn_fixture() -> TornFixture {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 4, 1000);
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
    let dam = store_with(dir.path(), 3, 1000);
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

/// Nested mutation: any change made through `update` persists (no hidden version counter).
#[test]
fn nested_changes_through_update_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 1000);
    dam.append(
        Document::from_value(json!({"id": "n", "tags": {"a": 1}, "chunks": [{"id": "c"}]}))
            .unwrap(),
    )
    .unwrap();
    dam.update_by_id("n", |d| {
        let mut tags = d.get("tags").unwrap();
        tags["k"] = json!("v");
        d.set("tags", tags)
    })
    .unwrap()
    .unwrap();
    let dam = reopen(dam);
    let d = open_ro(dam.path()).get_by_id("n").unwrap();
    assert_eq!(d.get("tags").unwrap(), json!({"a": 1, "k": "v"}));
    assert_eq!(d.get("chunks").unwrap(), json!([{"id": "c"}]));
}

/// Every kind of operation, then reopen equals memory, for several pool sizes.
#[test]
fn reopen_equals_memory_after_a_mixed_session() {
    for pool in [0, 1, 3, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = store_with(dir.path(), 12, pool);
        dam.delete(3).unwrap();
        dam.set(0, doc("id_0", "zero")).unwrap();
        dam.update(-1, |d| d.set("text", "last")).unwrap().unwrap();
        dam.rename("id_5", "five").unwrap();
        dam.move_onto("id_6", "id_7").unwrap();
        dam.delete_slice(Slice::new(None, None, Some(-4))).unwrap();
        dam.set(1, doc("new1", "one")).unwrap();
        dam.set_by_id("five", doc("five", "FIVE")).unwrap();
        let mut dam = reopen(dam);
        dam.prune().unwrap();
        let mut dam = reopen(dam);
        dam.append(doc("tail", "t")).unwrap();
        let dam = reopen(dam);
        assert!(dam.contains("tail") && dam.contains("five"));
    }
}

/// `move_onto`: the target keeps its position and gets the source's content.
#[test]
fn move_onto_keeps_the_targets_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = store_with(dir.path(), 4, 2);
    dam.update_by_id("id_3", |d| d.set("text", "dirty source"))
        .unwrap()
        .unwrap();
    dam.update_by_id("id_1", |d| d.set("text", "dirty target"))
        .unwrap()
        .unwrap();
    dam.move_onto("id_3", "id_1").unwrap();
    assert_eq!(ids(&dam), ["id_0", "id_1", "id_2"]);
    assert_eq!(dam.get_by_id("id_1").unwrap(), doc("id_1", "dirty source"));
    assert!(matches!(
        dam.move_onto("nope", "id_1"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        dam.move_onto("id_0", "nope"),
        Err(Error::NotFound(_))
    ));
    dam.move_onto("id_0", "id_0").unwrap();
    let dam = reopen(dam);
    assert_eq!(texts(&dam), ["text 0", "dirty source", "text 2"]);
}

/// A read-only handle reads, refuses every write, and writes nothing on drop.
#[test]
fn read_only_handle_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let dam = store_with(dir.path(), 3, 1000);
    drop(dam);
    let sizes = file_sizes(dir.path());
    let mut ro = open_ro(dir.path());
    assert!(matches!(ro.append(doc("x", "x")), Err(Error::ReadOnly)));
    assert!(matches!(ro.delete(0), Err(Error::ReadOnly)));
    assert!(matches!(ro.set(0, doc("id_0", "x")), Err(Error::ReadOnly)));
    assert!(matches!(
        ro.update(0, |d| d.set("text", "y")),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(ro.clear(), Err(Error::ReadOnly)));
    assert!(matches!(ro.prune(), Err(Error::ReadOnly)));
    assert!(matches!(ro.rename("id_0", "z"), Err(Error::ReadOnly)));
    ro.reload().unwrap();
    assert_eq!(ro.len(), 3);
    drop(ro);
    assert_eq!(file_sizes(dir.path()), sizes);
    let missing = dir.path().join("missing");
    assert!(DocumentArrayMemmap::open_with(
        &missing,
        damfs::Options {
            buffer_pool_size: 0,
            read_only: true
        }
    )
    .is_err());
    assert!(!missing.exists());
}

// ---- bugs found in damfs while writing this suite -----------------------------------------

/// Another handle prunes (new slot numbers) while this one has a full pool of dirty
/// documents; a read that evicts (and so writes, and so follows the new generation) must
/// not pool the document under a stale slot number — that made `get_by_id("e")` return
/// document "d".
#[test]
fn found_pool_slot_goes_stale_when_eviction_follows_a_prune() {
    let dir = tempfile::tempdir().unwrap();
    drop(store_with(dir.path(), 0, 1000));
    {
        let mut init = open(dir.path(), 1000);
        init.extend(["a", "b", "c", "d"].map(|i| doc(i, i)))
            .unwrap();
    }
    let mut a = open(dir.path(), 2);
    a.update_by_id("a", |d| d.set("text", "A's a"))
        .unwrap()
        .unwrap();
    a.update_by_id("b", |d| d.set("text", "A's b"))
        .unwrap()
        .unwrap();
    {
        let mut b = open(dir.path(), 1000);
        b.delete_by_id("c").unwrap();
        b.prune().unwrap();
        b.append(doc("e", "e")).unwrap();
    }
    assert_eq!(a.get_by_id("d").unwrap(), doc("d", "d"));
    assert_eq!(a.get_by_id("e").unwrap(), doc("e", "e"));
    assert_eq!(a.get_by_id("d").unwrap(), doc("d", "d"));
    a.update_by_id("e", |d| d.set("text", "A's e"))
        .unwrap()
        .unwrap();
    a.update_by_id("d", |d| d.set("text", "A's d"))
        .unwrap()
        .unwrap();
    let a = reopen(a);
    assert_eq!(
        snapshot(&a),
        [
            doc_pair("a", "A's a"),
            doc_pair("b", "A's b"),
            doc_pair("d", "A's d"),
            doc_pair("e", "A's e")
        ]
    );
}

/// Another handle deletes a document this handle changed but has not saved; this handle's
/// change is written back as a new document when it next writes. If that write then failed
/// (a duplicate id found only under the lock), the change was lost and the table pointed
/// past the end of the body.
#[test]
fn found_unsaved_change_lost_when_a_write_fails_after_catching_up() {
    let dir = tempfile::tempdir().unwrap();
    drop(store_with(dir.path(), 2, 1000));
    let mut a = open(dir.path(), 1000);
    a.update_by_id("id_0", |d| d.set("text", "A's change"))
        .unwrap()
        .unwrap();
    {
        let mut b = open(dir.path(), 1000);
        b.delete_by_id("id_0").unwrap();
        b.append(doc("z", "B's z")).unwrap();
    }
    assert!(matches!(
        a.append(doc("z", "A's z")),
        Err(Error::DuplicateId(_))
    ));
    assert_eq!(a.get_by_id("id_0").unwrap(), doc("id_0", "A's change"));
    assert_eq!(a.get_by_id("z").unwrap(), doc("z", "B's z"));
    let a = reopen(a);
    assert_eq!(
        snapshot(&a),
        [
            doc_pair("id_1", "text 1"),
            doc_pair("z", "B's z"),
            doc_pair("id_0", "A's change")
        ]
    );
}

/// Another handle deletes a document this handle changed, then re-creates the same id;
/// this handle's save must leave one document with that id (memory = disk).
#[test]
fn found_unsaved_change_to_a_recreated_id_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    drop(store_with(dir.path(), 2, 1000));
    let mut a = open(dir.path(), 1000);
    a.update_by_id("id_0", |d| d.set("text", "A's change"))
        .unwrap()
        .unwrap();
    {
        let mut b = open(dir.path(), 1000);
        b.delete_by_id("id_0").unwrap();
        b.append(doc("id_0", "B's new id_0")).unwrap();
    }
    a.save().unwrap();
    assert_eq!(a.len(), 2, "{:?}", ids(&a));
    let a = reopen(a);
    assert_eq!(ids(&a), ["id_1", "id_0"]);
    // last writer wins: A saved after B
    assert_eq!(texts(&a), ["text 1", "A's change"]);
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
