//! Regression tests for issue 8's store defects (4, 5, 9, 10) and for the index compaction
//! that keeps opening a store with many deletes fast (defect 2). Faults are injected through
//! the store's I/O seam (`damfs::store::io::faults`).
//!
//! Memmap only: faults go through the memmap store's file I/O seam, and the index compaction
//! is of its index file.

use std::fs;

use damfs::store::io::faults::{self, Fault, Plan};
use damfs::{DocumentArrayMemmap, Error, Options, Slice};

use crate::support::store::*;

fn one_shot(at: u64, fault: Fault) -> Plan {
    Plan {
        at,
        fault,
        persistent: false,
    }
}

/// Defect 4: a dirty document whose id another process deleted is written back at the next
/// write. If that write fails, the document must still be there for the next one: at every
/// I/O call of the failing save, the change survives and the save after the fault writes it.
#[test]
fn an_orphaned_change_survives_a_failed_write() {
    for at in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let mut a = open(dir.path(), 10);
        a.extend((0..5).map(|i| doc(&format!("d{i}"), "old")))
            .unwrap();
        a.save().unwrap();
        a.set_by_id("d2", doc("d2", "changed by a")).unwrap();
        let mut b = open(dir.path(), 10);
        b.delete_by_id("d2").unwrap();
        b.save().unwrap();
        drop(b);
        faults::arm(one_shot(at, Fault::NoSpace));
        let first = a.save();
        faults::disarm();
        if first.is_err() {
            // Kept in the handle, or already written back before the failing call.
            assert!(
                a.unsaved_ids().contains(&"d2".to_owned()) || a.contains("d2"),
                "call {at}: the change was dropped"
            );
            a.save().unwrap();
        }
        drop(a);
        let on_disk = read_store(dir.path());
        assert!(
            on_disk.contains(&("d2".into(), doc("d2", "changed by a").into_json())),
            "call {at}: the change to d2 was lost: {on_disk:?}"
        );
    }
}

/// Defect 5: a clear that fails anywhere (before or after its switch) never leaves pool
/// entries of the old documents behind: a document made afterwards shows its own text,
/// and the handle agrees with the files once the fault is gone.
#[test]
fn a_failed_clear_leaves_no_stale_pool_entries() {
    for at in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = open(dir.path(), 10);
        dam.extend((0..5).map(|i| doc(&format!("old{i}"), "old text")))
            .unwrap();
        dam.save().unwrap();
        for i in 0..5 {
            dam.get(i).unwrap(); // pooled, keyed by slots 0..5
        }
        faults::arm(one_shot(at, Fault::Io));
        let cleared = dam.clear();
        faults::disarm();
        dam.save().unwrap();
        let after = snapshot(&dam);
        assert_same(
            &read_store(dir.path()),
            &after,
            &format!("call {at}: handle vs files"),
        );
        // Cleared, or (failed before the switch) untouched; never a mix.
        assert!(after.is_empty() || after.len() == 5, "call {at}: {after:?}");
        if cleared.is_ok() {
            assert!(
                after.is_empty(),
                "call {at}: clear returned but documents remain"
            );
        }
        dam.append(doc("new", "new text")).unwrap();
        let pos = dam.position_of("new").unwrap() as isize;
        assert_eq!(dam.get(pos).unwrap().json(), doc("new", "new text").json());
        assert_eq!(
            dam.get_by_id("new").unwrap().json(),
            doc("new", "new text").json()
        );
    }
}

/// Defect 9: a read-only open of a directory that is not a store is `NotAStore`, as the
/// writable open is.
#[test]
fn read_only_open_of_a_non_store_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let ro = Options {
        buffer_pool_size: 0,
        read_only: true,
    };
    assert!(matches!(
        DocumentArrayMemmap::open_with(dir.path(), ro),
        Err(Error::NotAStore { .. })
    ));
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = DocumentArrayMemmap::open_with(dir.path(), ro)
        .err()
        .unwrap();
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    assert!(matches!(
        DocumentArrayMemmap::open(dir.path()),
        Err(Error::NotAStore { .. })
    ));
    assert_eq!(store_files(dir.path()), ["notes.txt"]);
}

/// Defect 10: the store directory removed under a live handle. Saves and writes fail with
/// `StoreGone` saying so (never a durability that did not happen), and the unsaved change
/// stays in the handle, which can say what it holds.
#[test]
fn a_removed_store_fails_saves_and_keeps_unsaved_changes() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("store");
    let mut dam = open(&path, 10);
    dam.extend((0..3).map(|i| doc(&format!("d{i}"), "saved")))
        .unwrap();
    dam.save().unwrap();
    dam.set_by_id("d1", doc("d1", "unsaved")).unwrap();
    fs::remove_dir_all(&path).unwrap();
    for attempt in [dam.save(), dam.append(doc("new", "n")), dam.save()] {
        let err = attempt.expect_err("a write into a removed store succeeded");
        assert!(matches!(err, Error::StoreGone { .. }), "{err}");
        assert!(err.to_string().contains("removed"), "{err}");
    }
    assert_eq!(dam.unsaved_ids(), ["d1"]);
    assert_eq!(
        dam.get_by_id("d1").unwrap().json(),
        doc("d1", "unsaved").json()
    );
    // Even with nothing unsaved, a save never reports success over a store that is gone.
    let path2 = parent.path().join("store2");
    let mut clean = open(&path2, 10);
    clean.append(doc("x", "x")).unwrap();
    clean.save().unwrap();
    fs::remove_dir_all(&path2).unwrap();
    assert!(matches!(clean.save(), Err(Error::StoreGone { .. })));
    std::mem::forget(clean); // its drop would only log the same error
    std::mem::forget(dam);
}

/// Defect 10: the store directory replaced by another one (moved away, a new directory in
/// its place): writes fail saying so; once the original is moved back, the kept change is
/// saved.
#[test]
fn a_replaced_store_fails_until_the_original_is_back() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("store");
    let moved = parent.path().join("store.moved");
    let mut dam = open(&path, 10);
    dam.extend((0..3).map(|i| doc(&format!("d{i}"), "saved")))
        .unwrap();
    dam.save().unwrap();
    dam.set_by_id("d0", doc("d0", "kept")).unwrap();
    fs::rename(&path, &moved).unwrap();
    drop(open(&path, 10)); // someone makes a new, empty store at the same path
    let err = dam.save().unwrap_err();
    assert!(matches!(err, Error::StoreGone { unsaved: 1, .. }), "{err}");
    assert!(err.to_string().contains("replaced"), "{err}");
    assert_eq!(read_store(&path), []);
    fs::remove_dir_all(&path).unwrap();
    fs::rename(&moved, &path).unwrap();
    dam.save().unwrap();
    assert!(dam.unsaved_ids().is_empty());
    drop(dam);
    assert_eq!(texts(&open_ro(&path)), ["kept", "saved", "saved"]);
}

/// Defect 2: enough deletes compact the index (one PUT per live document, same body), so a
/// later open replays only live documents. Positions, ids, texts, unsaved changes and other
/// handles all stay right across it.
#[test]
fn many_deletes_compact_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 10);
    dam.extend((0..100_000).map(|i| doc(&format!("doc-{i:028}"), "t")))
        .unwrap();
    dam.save().unwrap();
    let mut other = open(dir.path(), 10);
    let before = fs::metadata(index_path(dir.path())).unwrap().len();
    dam.set_by_id(
        "doc-0000000000000000000000099999",
        doc("doc-0000000000000000000000099999", "unsaved change"),
    )
    .unwrap();
    dam.delete_slice(Slice::new(Some(0), Some(60_000), None))
        .unwrap();
    let after = fs::metadata(index_path(dir.path())).unwrap().len();
    assert!(
        after < before / 2,
        "no compaction: {before} -> {after} bytes"
    );
    assert_eq!(dam.len(), 40_000);
    assert_eq!(dam.id_at(0), Some("doc-0000000000000000000000060000"));
    assert_eq!(
        dam.position_of("doc-0000000000000000000000070000"),
        Some(10_000)
    );
    assert_eq!(dam.unsaved_ids(), ["doc-0000000000000000000000099999"]);
    // The other handle follows the compacted index at its next write.
    other.append(doc("from-other", "o")).unwrap();
    assert_eq!(other.len(), 40_001);
    assert_eq!(
        other.position_of("doc-0000000000000000000000060000"),
        Some(0)
    );
    drop(other);
    let mut dam = dam;
    assert!(dam.refresh(true).unwrap());
    assert_eq!(dam.len(), 40_001);
    let dam = reopen(dam);
    assert_eq!(
        dam.with_json("doc-0000000000000000000000099999", |b| b.to_vec())
            .unwrap(),
        doc("doc-0000000000000000000000099999", "unsaved change")
            .json()
            .as_bytes()
    );
    assert_no_leftovers(dir.path());
}
