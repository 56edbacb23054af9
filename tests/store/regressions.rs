//! One test per bug B1..B15 of the original (the README's table "The original's 16 known
//! bugs"; B16, about damaged files, is in torn_files.rs), the extra scenarios of §8.5, and
//! regressions for bugs found in damfs itself while writing this suite. Every scenario checks
//! what a reopened store holds, not only what memory shows, and runs on both backends.

use damfs::{Document, Error, Slice};
use serde_json::json;

use crate::support::both_backends;
use crate::support::place::{reopen, Place};
use crate::support::store::*;

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- B1..B16 ------------------------------------------------------------------------------

/// B1: int delete after an earlier delete must remove the right document on disk.
fn b1_int_delete_after_delete(place: &Place) {
    for pool in [0, 2, 1000] {
        let place = &place.another();
        let mut dam = place.with_docs(5, pool);
        dam.delete(1).unwrap();
        dam.delete(2).unwrap(); // logical 2 is id_3
        assert_eq!(ids(&dam), ["id_0", "id_2", "id_4"]);
        let dam = reopen(place, dam);
        assert_eq!(ids(&dam), ["id_0", "id_2", "id_4"]);
    }
}

/// B2: deleting the last document, then reopening and appending.
fn b2_delete_last_then_reopen_and_append(place: &Place) {
    let mut dam = place.with_docs(3, 1000);
    dam.delete_by_id("id_2").unwrap();
    let mut dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_0", "id_1"]);
    dam.append(doc("d", "dd")).unwrap();
    let mut dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_0", "id_1", "d"]);
    // every document deleted, then reopened: an empty, working store
    dam.delete_slice(..).unwrap();
    let mut dam = reopen(place, dam);
    assert!(dam.is_empty());
    dam.append(doc("e", "ee")).unwrap();
    let dam = reopen(place, dam);
    assert_eq!(snapshot(&dam), [doc_pair("e", "ee")]);
}

/// B3: int set after a delete must update the right document on disk.
fn b3_int_set_after_delete(place: &Place) {
    for pool in [0, 1, 1000] {
        let place = &place.another();
        let mut dam = place.with_docs(4, pool);
        dam.delete_by_id("id_0").unwrap();
        dam.set(0, doc("id_1", "NEW1")).unwrap();
        assert_eq!(dam.get(0).unwrap().text().unwrap(), "NEW1");
        let mut dam = reopen(place, dam);
        assert_eq!(dam.get_by_id("id_1").unwrap().text().unwrap(), "NEW1");
        assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
    }
}

/// B4: set by id after a delete must not disturb the int positions.
fn b4_id_set_after_delete_keeps_positions(place: &Place) {
    let mut dam = place.with_docs(4, 1000);
    dam.delete_by_id("id_0").unwrap();
    dam.set_by_id("id_2", doc("id_2", "NEW2")).unwrap();
    assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
    assert_eq!(dam.get(2).unwrap().id(), "id_3");
    assert_eq!(dam.get(1).unwrap().text().unwrap(), "NEW2");
    assert_eq!(dam.len(), 3);
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_1", "id_2", "id_3"]);
}

/// B5: update, reopen, append must not overwrite the updated record.
fn b5_update_reopen_append(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend([doc("a", "a"), doc("b", "b"), doc("c", "c")])
        .unwrap();
    dam.set_by_id("a", doc("a", "UPDATED a, longer than before"))
        .unwrap();
    let mut dam = reopen(place, dam);
    dam.append(doc("d", "d")).unwrap();
    let mut dam = reopen(place, dam);
    assert_eq!(
        dam.get_by_id("a").unwrap(),
        doc("a", "UPDATED a, longer than before")
    );
    assert_eq!(dam.get_by_id("d").unwrap(), doc("d", "d"));
    assert_eq!(ids(&dam), ["a", "b", "c", "d"]);
}

/// B6: negative indexes and pop.
fn b6_negative_index_and_pop(place: &Place) {
    let mut dam = place.with_docs(5, 1000);
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
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_0", "id_1", "id_2"]);
    assert_eq!(texts(&dam), ["via -3", "via -2", "text 2"]);
}

/// B7: pool slots must not alias after a delete and a reload.
fn b7_no_pool_aliasing_after_reload(place: &Place) {
    let mut dam = place.open(2);
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
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["a", "c", "d"]);
}

/// B8: clear empties the pool too: old ids are gone, and pooled dirty documents are not
/// written back later.
fn b8_clear_empties_the_pool(place: &Place) {
    let mut dam = place.with_docs(3, 1000);
    dam.update(0, |d| d.set("text", "dirty")).unwrap().unwrap();
    dam.get(1).unwrap();
    dam.clear().unwrap();
    assert!(matches!(dam.get_by_id("id_0"), Err(Error::NotFound(_))));
    assert!(matches!(dam.get(0), Err(Error::IndexOutOfRange { .. })));
    assert!(!dam.contains("id_0"));
    assert_eq!(dam.stats().pool_used, 0);
    dam.save().unwrap();
    let dam = reopen(place, dam);
    assert!(dam.is_empty());
}

/// B9: saving repeatedly with one dirty document writes it once; later saves write nothing.
/// Reading (get, iteration) never makes a document dirty (#3809).
fn b9_repeated_save_writes_nothing(place: &Place) {
    let mut dam = place.with_docs(10, 1000);
    dam.save().unwrap();
    let clean = place.written();
    dam.save().unwrap();
    assert_eq!(place.written(), clean, "a save with nothing to do wrote");
    dam.update(3, |d| d.set("text", "changed"))
        .unwrap()
        .unwrap();
    dam.save().unwrap();
    let once = place.written();
    assert_ne!(once, clean, "the save of a change wrote nothing");
    for _ in 0..3 {
        dam.save().unwrap();
        assert_eq!(place.written(), once);
    }
    for i in 0..10 {
        dam.get(i).unwrap();
        dam.update(i, |d| d.text()).unwrap();
    }
    assert_eq!(dam.iter().count(), 10);
    assert_eq!(dam.stats().pool_dirty, 0);
    dam.save().unwrap();
    drop(dam);
    assert_eq!(place.written(), once, "reading or closing wrote");
    let dam = place.open(1000);
    drop(dam);
    assert_eq!(place.written(), once, "open + close wrote");
}

/// B10: reload with dirty documents saves them (the original silently dropped them).
fn b10_reload_does_not_drop_changes(place: &Place) {
    let mut dam = place.with_docs(3, 1000);
    dam.update_by_id("id_2", |d| d.set("text", "kept"))
        .unwrap()
        .unwrap();
    dam.reload().unwrap();
    assert_eq!(dam.get(2).unwrap().text().unwrap(), "kept");
    assert_eq!(place.contents()[2], doc_pair("id_2", "kept"));
}

/// B11: a pool of size 0 works for every operation and writes through.
fn b11_pool_size_zero(place: &Place) {
    let mut dam = place.with_docs(10, 0);
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
        &place.contents(),
        &snapshot(&dam),
        "pool 0 did not write through",
    );
    let dam = reopen(place, dam);
    assert_eq!(dam.len(), 19);
    assert_eq!(texts(&dam)[..3], strs(&["set", "set_by_id", "updated"]));
}

/// B12: two handles appending without reloading must not overwrite each other.
fn b12_two_writers_do_not_overwrite_each_other(place: &Place) {
    let mut a = place.open(1000);
    let mut b = place.open(1000);
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
    let third = place.open_ro();
    assert_eq!(third.len(), 40);
    let mut expected = Vec::new();
    for i in 0..20 {
        expected.push(doc_pair(&format!("a{i}"), &format!("from a {i}")));
        expected.push(doc_pair(&format!("b{i}"), &format!("from b {i}")));
    }
    assert_same(&snapshot(&third), &expected, "interleaved appends");
}

/// B13: prune leaves no temporary directory or file behind (memmap; PostgreSQL's prune works
/// in place, and its garbage figure is the engine's estimate of dead rows, not zero at once).
fn b13_prune_leaves_no_temporary_files(place: &Place) {
    let mut dam = place.with_docs(50, 5);
    for i in 0..25 {
        dam.update(i, |d| d.set("text", "dirty")).unwrap().unwrap();
    }
    dam.delete_slice(Slice::step(3)).unwrap();
    let before = snapshot(&dam);
    for _ in 0..3 {
        dam.prune().unwrap();
        if !place.postgres {
            assert_no_leftovers(&place.store);
            assert_eq!(dam.stats().garbage_bytes, 0);
        }
    }
    assert_same(&snapshot(&dam), &before, "prune changed documents");
    assert_same(&place.contents(), &before, "prune did not persist");
}

/// B14: ids are never truncated: 256 bytes is refused, 255-byte and unicode ids round-trip.
fn b14_long_and_unicode_ids(place: &Place) {
    let long = "x".repeat(256);
    assert!(matches!(
        Document::from_value(json!({"id": long})),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        Document::from_json(format!("{{\"id\":\"{long}\"}}")),
        Err(Error::InvalidId { .. })
    ));
    let mut dam = place.open(1000);
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
    let mut dam = reopen(place, dam);
    assert_eq!(dam.get_by_id(&id255).unwrap(), doc(&id255, "long"));
    assert_eq!(dam.get_by_id(uni).unwrap(), doc(uni, "unicode"));
    dam.rename("a", &"y".repeat(255)).unwrap();
    dam.prune().unwrap();
    let dam = reopen(place, dam);
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
fn b15_slices_follow_python(place: &Place) {
    let mut dam = place.with_docs(7, 1000);
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
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_6"]);
}

// ---- §8.5 extras --------------------------------------------------------------------------

/// Appending an existing id is DuplicateId, and a failing extend writes nothing at all.
fn duplicate_ids_are_refused_and_nothing_is_written(place: &Place) {
    let mut dam = place.with_docs(3, 1000);
    dam.save().unwrap();
    let sizes = place.written();
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
    assert_eq!(place.written(), sizes, "a failed append wrote");
    // a deleted id can be used again
    dam.delete_by_id("id_1").unwrap();
    dam.append(doc("id_1", "back")).unwrap();
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), ["id_0", "id_2", "id_1"]);
}

/// Nested mutation: any change made through `update` persists (no hidden version counter).
fn nested_changes_through_update_persist(place: &Place) {
    let mut dam = place.open(1000);
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
    drop(reopen(place, dam));
    let d = place.open_ro().get_by_id("n").unwrap();
    assert_eq!(d.get("tags").unwrap(), json!({"a": 1, "k": "v"}));
    assert_eq!(d.get("chunks").unwrap(), json!([{"id": "c"}]));
}

/// Every kind of operation, then reopen equals memory, for several pool sizes.
fn reopen_equals_memory_after_a_mixed_session(place: &Place) {
    for pool in [0, 1, 3, 1000] {
        let place = &place.another();
        let mut dam = place.with_docs(12, pool);
        dam.delete(3).unwrap();
        dam.set(0, doc("id_0", "zero")).unwrap();
        dam.update(-1, |d| d.set("text", "last")).unwrap().unwrap();
        dam.rename("id_5", "five").unwrap();
        dam.move_onto("id_6", "id_7").unwrap();
        dam.delete_slice(Slice::new(None, None, Some(-4))).unwrap();
        dam.set(1, doc("new1", "one")).unwrap();
        dam.set_by_id("five", doc("five", "FIVE")).unwrap();
        let mut dam = reopen(place, dam);
        dam.prune().unwrap();
        let mut dam = reopen(place, dam);
        dam.append(doc("tail", "t")).unwrap();
        let dam = reopen(place, dam);
        assert!(dam.contains("tail") && dam.contains("five"));
    }
}

/// `move_onto`: the target keeps its position and gets the source's content.
fn move_onto_keeps_the_targets_position(place: &Place) {
    let mut dam = place.with_docs(4, 2);
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
    let dam = reopen(place, dam);
    assert_eq!(texts(&dam), ["text 0", "dirty source", "text 2"]);
}

/// A read-only handle reads, refuses every write, and writes nothing on drop.
fn read_only_handle_refuses_writes(place: &Place) {
    let dam = place.with_docs(3, 1000);
    drop(dam);
    let sizes = place.written();
    let mut ro = place.open_ro();
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
    assert_eq!(place.written(), sizes);
    // Opening no store read-only fails and creates nothing: tests/postgres/store_backends.rs
    // (opening_no_store_read_only_fails_and_creates_nothing), on both backends.
}

// ---- bugs found in damfs while writing this suite -----------------------------------------

/// Another handle prunes (new slot numbers) while this one has a full pool of dirty
/// documents; a read that evicts (and so writes, and so follows the new generation) must
/// not pool the document under a stale slot number — that made `get_by_id("e")` return
/// document "d".
fn found_pool_slot_goes_stale_when_eviction_follows_a_prune(place: &Place) {
    drop(place.with_docs(0, 1000));
    {
        let mut init = place.open(1000);
        init.extend(["a", "b", "c", "d"].map(|i| doc(i, i)))
            .unwrap();
    }
    let mut a = place.open(2);
    a.update_by_id("a", |d| d.set("text", "A's a"))
        .unwrap()
        .unwrap();
    a.update_by_id("b", |d| d.set("text", "A's b"))
        .unwrap()
        .unwrap();
    {
        let mut b = place.open(1000);
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
    let a = reopen(place, a);
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
fn found_unsaved_change_lost_when_a_write_fails_after_catching_up(place: &Place) {
    drop(place.with_docs(2, 1000));
    let mut a = place.open(1000);
    a.update_by_id("id_0", |d| d.set("text", "A's change"))
        .unwrap()
        .unwrap();
    {
        let mut b = place.open(1000);
        b.delete_by_id("id_0").unwrap();
        b.append(doc("z", "B's z")).unwrap();
    }
    assert!(matches!(
        a.append(doc("z", "A's z")),
        Err(Error::DuplicateId(_))
    ));
    assert_eq!(a.get_by_id("id_0").unwrap(), doc("id_0", "A's change"));
    assert_eq!(a.get_by_id("z").unwrap(), doc("z", "B's z"));
    let a = reopen(place, a);
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
fn found_unsaved_change_to_a_recreated_id_is_not_duplicated(place: &Place) {
    drop(place.with_docs(2, 1000));
    let mut a = place.open(1000);
    a.update_by_id("id_0", |d| d.set("text", "A's change"))
        .unwrap()
        .unwrap();
    {
        let mut b = place.open(1000);
        b.delete_by_id("id_0").unwrap();
        b.append(doc("id_0", "B's new id_0")).unwrap();
    }
    a.save().unwrap();
    assert_eq!(a.len(), 2, "{:?}", ids(&a));
    let a = reopen(place, a);
    assert_eq!(ids(&a), ["id_1", "id_0"]);
    // last writer wins: A saved after B
    assert_eq!(texts(&a), ["text 1", "A's change"]);
}

// ---- found on PostgreSQL by the differential test (two_handles.rs) -----------------------

/// A handle whose order still shows a document another handle deleted may append that id:
/// the store no longer has it (PostgreSQL refused it on the stale order).
fn found_an_append_refused_on_a_stale_order(place: &Place) {
    let mut a = place.open(10);
    let mut b = place.open(10);
    b.append(doc("k", "first")).unwrap();
    a.reload().unwrap();
    a.delete_by_id("k").unwrap();
    b.append(doc("k", "again")).unwrap();
    assert_eq!(ids(&b), ["k"]);
    drop((a, b));
    assert_eq!(place.contents(), [doc_pair("k", "again")]);
}

/// Prune takes in the other handles' changes (the memmap store rewrites the store as it is;
/// PostgreSQL's handle kept its old order).
fn found_prune_takes_in_other_handles_changes(place: &Place) {
    let mut a = place.open(10);
    let mut b = place.open(10);
    a.append(doc("x", "a's")).unwrap();
    b.append(doc("y", "b's")).unwrap();
    a.prune().unwrap();
    assert_eq!(ids(&a), ["x", "y"]);
}

/// With a pool of 0 a change is written at once: a document another handle deleted is not
/// found (PostgreSQL added it back as a new document).
fn found_a_write_through_to_a_deleted_document_is_not_found(place: &Place) {
    let mut a = place.open(0);
    let mut b = place.open(0);
    a.append(doc("k0", "a")).unwrap();
    b.append(doc("k1", "b")).unwrap();
    a.clear().unwrap();
    assert!(matches!(
        b.set(0, doc("k0", "b's change")),
        Err(Error::NotFound(id)) if id == "k0"
    ));
    assert!(b.is_empty());
    drop((a, b));
    assert!(place.contents().is_empty());
}

/// An unsaved change follows its document through another handle's rename — even when the
/// old id was given to a new document meanwhile (PostgreSQL saved it under the old id: as a
/// new document, or over the new one).
fn found_an_unsaved_change_follows_a_rename_by_another_handle(place: &Place) {
    let mut a = place.open(10);
    a.append(doc("old", "first")).unwrap();
    a.update_by_id("old", |d| d.set("text", "a's change"))
        .unwrap()
        .unwrap();
    let mut b = place.open(10);
    b.rename("old", "new").unwrap();
    b.append(doc("old", "b's new document")).unwrap();
    a.save().unwrap();
    drop((a, b));
    assert_eq!(
        place.contents(),
        [
            doc_pair("new", "a's change"),
            doc_pair("old", "b's new document")
        ]
    );
}

/// Found by the mount soak on PostgreSQL: a library writer ran `damfs import` (another
/// process, which returned), then `refresh(true)`, then deleted an imported document — "no
/// document with id". `refresh` asked only the change feed's watcher thread, which had not
/// heard of the import yet (or had not even started: the first call starts it). A refresh
/// that waits must take in everything committed before it was called, as on the memmap store.
fn found_a_refresh_that_waits_misses_a_save_that_returned(place: &Place) {
    let mut reader = place.open(10);
    let mut writer = place.open(10);
    for k in 0..20 {
        let id = format!("imported{k}");
        writer.append(doc(&id, "saved by another handle")).unwrap();
        writer.save().unwrap();
        assert!(
            reader.refresh(true).unwrap(),
            "refresh(true) after save {k} took nothing in"
        );
        assert!(reader.contains(&id), "{id} is not in the refreshed handle");
        reader.delete_by_id(&id).unwrap();
        reader.save().unwrap();
    }
    drop((reader, writer));
    assert!(place.contents().is_empty(), "{:?}", place.contents());
}

both_backends!(
    b1_int_delete_after_delete,
    b2_delete_last_then_reopen_and_append,
    b3_int_set_after_delete,
    b4_id_set_after_delete_keeps_positions,
    b5_update_reopen_append,
    b6_negative_index_and_pop,
    b7_no_pool_aliasing_after_reload,
    b8_clear_empties_the_pool,
    b9_repeated_save_writes_nothing,
    b10_reload_does_not_drop_changes,
    b11_pool_size_zero,
    b12_two_writers_do_not_overwrite_each_other,
    b13_prune_leaves_no_temporary_files,
    b14_long_and_unicode_ids,
    b15_slices_follow_python,
    duplicate_ids_are_refused_and_nothing_is_written,
    nested_changes_through_update_persist,
    reopen_equals_memory_after_a_mixed_session,
    move_onto_keeps_the_targets_position,
    read_only_handle_refuses_writes,
    found_pool_slot_goes_stale_when_eviction_follows_a_prune,
    found_unsaved_change_lost_when_a_write_fails_after_catching_up,
    found_unsaved_change_to_a_recreated_id_is_not_duplicated,
    found_an_append_refused_on_a_stale_order,
    found_prune_takes_in_other_handles_changes,
    found_a_write_through_to_a_deleted_document_is_not_found,
    found_an_unsaved_change_follows_a_rename_by_another_handle,
    found_a_refresh_that_waits_misses_a_save_that_returned,
);
