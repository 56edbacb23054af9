//! The buffer pool scenarios of the original's `test_buffer.py` ,
//! driven through the store's own API, on both backends.
//!
//! Pool membership is observed without any test-only API: `pooled()` changes the document's
//! text in the store behind the handle's back and asks the handle for it without touching the
//! LRU order; a pooled copy is served from memory, an unpooled one from the store. Memmap:
//! one byte of the text in the body file is damaged (an unpooled read fails its checksum),
//! through `with_json`. PostgreSQL: the row's text is rewritten with SQL, read through `iter`
//! (which fetches afresh; `with_json` may serve a read-ahead copy). Restored right after.
//!
//! Rust difference: a change is made through the store (`update`), which is also an access,
//! so the changed document becomes the most recently used; in Python a caller could mutate
//! a pooled object behind the pool's back without touching the LRU order.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use damfs::{Error, Store};

use crate::support::both_backends;
use crate::support::place::{reopen, Place};
use crate::support::store::*;

/// Which of `ids` are in the handle's pool (see the module docs).
fn pooled_of(place: &Place, dam: &Store, ids: &[String]) -> Vec<bool> {
    match dam {
        Store::Memmap(_) => ids.iter().map(|id| pooled_memmap(place, dam, id)).collect(),
        Store::Postgres(_) => {
            let list = ids
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",");
            place.psql(&format!(
                "UPDATE {{t}} SET body = replace(body, '\"text\"', '\"probe\"') WHERE id IN ({list})"
            ));
            let seen: Vec<(String, String)> = snapshot(dam);
            place.psql(&format!(
                "UPDATE {{t}} SET body = replace(body, '\"probe\"', '\"text\"') WHERE id IN ({list})"
            ));
            ids.iter()
                .map(|id| {
                    let (_, json) = seen.iter().find(|(i, _)| i == id).expect("listed");
                    !json.contains("\"probe\"")
                })
                .collect()
        }
    }
}

fn pooled_memmap(place: &Place, dam: &Store, id: &str) -> bool {
    let body = body_path(&place.store);
    let bytes = fs::read(&body).unwrap();
    // the text this handle's table points at is the last copy of the id's on-disk text
    let on_disk = disk_text(place, id);
    let at = rfind(&bytes, on_disk.as_bytes()).expect("text not in body") + on_disk.len() - 2;
    let f = OpenOptions::new().write(true).open(&body).unwrap();
    f.write_all_at(&[bytes[at] ^ 0x20], at as u64).unwrap();
    let r = dam.with_json(id, |b| b.to_vec());
    f.write_all_at(&[bytes[at]], at as u64).unwrap();
    match r {
        Ok(_) => true,
        Err(Error::Corrupt { .. }) => false,
        Err(e) => panic!("{id}: {e}"),
    }
}

/// Is the document with this id in the handle's pool?
fn pooled(place: &Place, dam: &Store, id: &str) -> bool {
    pooled_of(place, dam, &[id.to_owned()])[0]
}

fn disk_text(place: &Place, id: &str) -> String {
    let ro = place.open_ro();
    ro.with_json(id, |b| String::from_utf8(b.to_vec()).unwrap())
        .unwrap()
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn id(i: usize) -> String {
    format!("doc{i}")
}

fn fill(place: &Place, n: usize, pool: usize) -> Store {
    let mut dam = place.open(pool);
    dam.extend((0..n).map(|i| doc(&id(i), "old"))).unwrap();
    dam
}

/// Which of the documents `doc0..doc{n-1}` that exist are pooled.
fn pool_members(place: &Place, dam: &Store, n: usize) -> Vec<usize> {
    let present: Vec<usize> = (0..n).filter(|&i| dam.contains(&id(i))).collect();
    let ids: Vec<String> = present.iter().map(|&i| id(i)).collect();
    present
        .into_iter()
        .zip(pooled_of(place, dam, &ids))
        .filter_map(|(i, p)| p.then_some(i))
        .collect()
}

fn disk_texts(place: &Place) -> Vec<String> {
    texts(&place.open_ro())
}

/// 8.2.1 buffer_pool_size ✱: a pool of n/2; the first n/2 documents are changed in the pool
/// (nothing written); each of the next n/2 appends evicts the oldest changed document, which
/// is then on disk — seen by a second handle before any save.
fn eviction_persists_dirty_documents_in_lru_order(place: &Place) {
    for n in [10usize, 100, 1000] {
        let half = n / 2;
        let place = &place.another();
        let mut dam = fill(place, half, half);
        for i in 0..half {
            dam.update(i as isize, |d| d.set("text", "new"))
                .unwrap()
                .unwrap();
        }
        let st = dam.stats();
        assert_eq!((st.pool_used, st.pool_dirty), (half, half));
        assert!(disk_texts(place).iter().all(|t| t == "old"));
        let checks: Vec<usize> = if n <= 100 {
            (0..half).collect()
        } else {
            vec![0, 1, half / 2, half - 1]
        };
        for i in 0..half {
            dam.append(doc(&id(half + i), "appended")).unwrap();
            let st = dam.stats();
            assert_eq!(st.pool_used, half, "n={n} i={i}");
            // Write-behind: an eviction that must write writes the oldest dirty documents
            // together, so more may be clean already than the evictions alone made.
            assert!(st.pool_dirty < half - i, "n={n} i={i}");
            if checks.contains(&i) {
                let t = disk_texts(place);
                assert_eq!(t.len(), half + i + 1);
                for (j, t) in t.iter().enumerate().take(half) {
                    // Evicted ones are on disk; the others may be too (write-behind).
                    if j <= i {
                        assert_eq!(t, "new", "n={n} after evicting {i}: doc {j}");
                    } else {
                        assert!(t == "old" || t == "new", "n={n} doc {j}: {t}");
                    }
                }
            }
        }
        let dam = reopen(place, dam);
        assert_eq!(texts(&dam)[..half], vec!["new".to_owned(); half][..]);
    }
}

/// 8.2.2 add_or_update (pool 6, 9 documents), and 8.2.10 dam_add_or_update.
fn add_or_update(place: &Place) {
    let mut dam = fill(place, 5, 6);
    assert_eq!(dam.stats().pool_used, 5);
    dam.update_by_id(&id(0), |d| d.set("text", "new0"))
        .unwrap()
        .unwrap();
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "new0");
    assert_eq!(dam.stats().pool_used, 5);
    dam.append(doc(&id(5), "old")).unwrap();
    assert_eq!(dam.stats().pool_used, 6);
    // doc1 is now the least recently used (doc0 was touched); it is clean, so evicting it
    // writes nothing but doc6's own text
    let mark = place.texts_mark();
    dam.append(doc(&id(6), "old")).unwrap();
    let grown = place.bytes_written_since(&mark);
    assert_eq!(grown, doc(&id(6), "old").json().len() as u64);
    assert_eq!(pool_members(place, &dam, 7), [0, 2, 3, 4, 5, 6]);
    assert_eq!(dam.stats().pool_dirty, 1);
    // deleting frees a place: the next append evicts nothing
    dam.delete_by_id(&id(4)).unwrap();
    assert_eq!(dam.stats().pool_used, 5);
    dam.append(doc(&id(7), "old")).unwrap();
    assert_eq!(pool_members(place, &dam, 8), [0, 2, 3, 5, 6, 7]);
    // LRU order is now 2, 3, 0, 5, 6, 7. Changing doc2 makes it most recent (Rust); the next
    // append evicts doc3 (clean), then doc0 (dirty: written)
    dam.update_by_id(&id(2), |d| d.set("text", "new2"))
        .unwrap()
        .unwrap();
    dam.append(doc(&id(8), "old")).unwrap();
    assert_eq!(pool_members(place, &dam, 9), [0, 2, 5, 6, 7, 8]);
    assert_eq!(disk_texts(place)[0], "old");
    dam.append(doc(&id(9), "old")).unwrap();
    assert_eq!(pool_members(place, &dam, 10), [2, 5, 6, 7, 8, 9]);
    assert_eq!(
        disk_texts(place)[0],
        "new0",
        "evicted dirty doc0 was not written"
    );
    // doc2 is still changed in the pool, but the eviction of doc0 may have written it
    // along (write-behind): it is dirty or already on disk, never lost.
    let st = dam.stats();
    let doc2_on_disk = disk_texts(place)[2] == "new2";
    assert_eq!(st.pool_dirty, usize::from(!doc2_on_disk));
    let dam = reopen(place, dam);
    assert_eq!(texts(&dam)[..3], ["new0", "old", "new2"]);
}

/// 8.2.3 / 8.2.7 delete: pool 5, 6 documents extended: the first is not pooled (deleting it
/// is still fine); deleting a pooled one frees its place.
fn delete_pooled_and_unpooled(place: &Place) {
    let mut dam = fill(place, 6, 5);
    assert_eq!(pool_members(place, &dam, 6), [1, 2, 3, 4, 5]);
    dam.delete_by_id(&id(0)).unwrap();
    assert_eq!(dam.stats().pool_used, 5);
    dam.delete_by_id(&id(5)).unwrap();
    assert_eq!(dam.stats().pool_used, 4);
    assert!(matches!(dam.get_by_id(&id(5)), Err(Error::NotFound(_))));
    let dam = reopen(place, dam);
    assert_eq!(ids(&dam), [id(1), id(2), id(3), id(4)]);
}

/// 8.2.4 docs_to_flush (pool 5, 10 documents): docs 5..9 are pooled. Changing 3, 7 and 9
/// leaves 3 dirty documents (Rust: changing doc3 pools it again, evicting doc5).
fn dirty_documents_are_the_changed_ones(place: &Place) {
    let mut dam = fill(place, 10, 5);
    assert_eq!(pool_members(place, &dam, 10), [5, 6, 7, 8, 9]);
    for i in [3, 7, 9] {
        dam.update(i, |d| d.set("text", "new")).unwrap().unwrap();
    }
    assert_eq!(dam.stats().pool_dirty, 3);
    assert_eq!(pool_members(place, &dam, 10), [3, 6, 7, 8, 9]);
    let mark = place.texts_mark();
    dam.save().unwrap();
    let after = place.written();
    let written: u64 = [3, 7, 9]
        .iter()
        .map(|&i| doc(&id(i), "new").json().len() as u64)
        .sum();
    assert_eq!(
        place.bytes_written_since(&mark),
        written,
        "save wrote more than the 3 dirty docs"
    );
    assert_eq!(dam.stats().pool_dirty, 0);
    assert_eq!(dam.stats().pool_used, 5, "saving keeps documents pooled");
    dam.save().unwrap();
    assert_eq!(place.written(), after, "a second save wrote");
}

/// 8.2.5 / 8.2.9 clear: nothing stays pooled; old ids are not found.
fn clear_empties_the_pool(place: &Place) {
    let mut dam = fill(place, 10, 5);
    dam.update(9, |d| d.set("text", "dirty")).unwrap().unwrap();
    dam.clear().unwrap();
    let st = dam.stats();
    assert_eq!((st.pool_used, st.pool_dirty, st.length), (0, 0, 0));
    for i in 0..10 {
        assert!(matches!(dam.get_by_id(&id(i)), Err(Error::NotFound(_))));
    }
    dam.append(doc(&id(9), "fresh")).unwrap();
    let dam = reopen(place, dam);
    assert_eq!(
        snapshot(&dam),
        [(id(9), doc(&id(9), "fresh").json().to_owned())]
    );
}

/// 8.2.6 dam_getitem: a pooled document is returned with the same content.
fn pooled_document_has_the_same_content(place: &Place) {
    let mut dam = fill(place, 10, 1000);
    for i in 0..10 {
        assert!(pooled(place, &dam, &id(i)));
        assert_eq!(dam.get_by_id(&id(i)).unwrap(), doc(&id(i), "old"));
    }
}

/// 8.2.8 dam_lru: reading doc0 makes doc1 the least recently used; an append evicts it.
fn reading_moves_a_document_to_the_recent_end(place: &Place) {
    let mut dam = fill(place, 5, 5);
    let d = dam.get(0).unwrap();
    assert_eq!(d.id(), id(0));
    dam.append(doc(&id(5), "old")).unwrap();
    assert_eq!(pool_members(place, &dam, 6), [0, 2, 3, 4, 5]);
    // reading by id works the same way
    dam.get_by_id(&id(2)).unwrap();
    dam.append(doc(&id(6), "old")).unwrap();
    assert_eq!(pool_members(place, &dam, 7), [0, 2, 4, 5, 6]);
}

/// Iterating, slicing, `with_json`, `contains` and `json_len` read without pooling and
/// without changing the LRU order.
fn bulk_reads_do_not_disturb_the_pool(place: &Place) {
    let mut dam = fill(place, 6, 2);
    assert_eq!(pool_members(place, &dam, 6), [4, 5]);
    assert_eq!(dam.iter().count(), 6);
    assert_eq!(dam.get_slice(..).unwrap().len(), 6);
    for i in 0..6 {
        assert!(dam.contains(&id(i)));
        assert!(dam.json_len(&id(i)).unwrap() > 0);
    }
    assert_eq!(pool_members(place, &dam, 6), [4, 5]);
    // doc4 is still the LRU one
    dam.get(0).unwrap();
    assert_eq!(pool_members(place, &dam, 6), [0, 5]);
}

/// A pool of size 0 keeps nothing and writes every change through at once.
fn pool_zero_writes_through(place: &Place) {
    let mut dam = fill(place, 5, 0);
    for i in 0..5 {
        dam.get(i).unwrap();
        assert_eq!(dam.stats().pool_used, 0);
        assert!(!pooled(place, &dam, &id(i as usize)));
    }
    dam.update(2, |d| d.set("text", "through"))
        .unwrap()
        .unwrap();
    assert_eq!(disk_texts(place)[2], "through");
    dam.set_by_id(&id(3), doc(&id(3), "set")).unwrap();
    assert_eq!(disk_texts(place)[3], "set");
    let st = dam.stats();
    assert_eq!((st.pool_used, st.pool_dirty), (0, 0));
    let mark = place.texts_mark();
    dam.save().unwrap(); // memmap: makes it durable, one small marker batch in the index
    assert_eq!(
        place.bytes_written_since(&mark),
        0,
        "save had no text to write"
    );
    let saved = place.written();
    dam.save().unwrap();
    assert_eq!(place.written(), saved);
}

/// A pool of 1: alternately changing two documents evicts (writes) the other every time;
/// nothing is lost.
fn pool_of_one_ping_pong(place: &Place) {
    let mut dam = fill(place, 2, 1);
    for round in 0..20 {
        let i = round % 2;
        dam.update(i as isize, |d| d.set("text", format!("round {round}")))
            .unwrap()
            .unwrap();
        assert_eq!(dam.stats().pool_used, 1);
        assert_eq!(dam.stats().pool_dirty, 1);
        if round > 0 {
            let other = 1 - i;
            assert_eq!(disk_texts(place)[other], format!("round {}", round - 1));
        }
    }
    let dam = reopen(place, dam);
    assert_eq!(texts(&dam), ["round 18", "round 19"]);
}

/// Extending with more documents than the pool holds pools only the last ones, after writing
/// any dirty document that had to leave.
fn extend_larger_than_the_pool(place: &Place) {
    let mut dam = fill(place, 3, 3);
    for i in 0..3 {
        dam.update(i, |d| d.set("text", "dirty")).unwrap().unwrap();
    }
    dam.extend((3..10).map(|i| doc(&id(i), "old"))).unwrap();
    assert_eq!(pool_members(place, &dam, 10), [7, 8, 9]);
    assert_eq!(dam.stats().pool_dirty, 0);
    assert_eq!(disk_texts(place)[..3], ["dirty", "dirty", "dirty"]);
}

/// Reload saves, then empties the pool; prune keeps pooled documents, clean.
fn reload_and_prune_and_the_pool(place: &Place) {
    let mut dam = fill(place, 6, 3);
    dam.update(5, |d| d.set("text", "dirty")).unwrap().unwrap();
    dam.delete(0).unwrap();
    dam.prune().unwrap();
    let st = dam.stats();
    assert_eq!((st.pool_used, st.pool_dirty), (3, 0));
    assert_eq!(disk_texts(place)[4], "dirty");
    assert_eq!(pool_members(place, &dam, 6), [3, 4, 5]);
    dam.update(1, |d| d.set("text", "dirty too"))
        .unwrap()
        .unwrap();
    dam.reload().unwrap();
    assert_eq!(dam.stats().pool_used, 0);
    assert_eq!(disk_texts(place)[1], "dirty too");
    let dam = reopen(place, dam);
    assert_eq!(dam.len(), 5);
}

both_backends!(
    eviction_persists_dirty_documents_in_lru_order,
    add_or_update,
    delete_pooled_and_unpooled,
    dirty_documents_are_the_changed_ones,
    clear_empties_the_pool,
    pooled_document_has_the_same_content,
    reading_moves_a_document_to_the_recent_end,
    bulk_reads_do_not_disturb_the_pool,
    pool_zero_writes_through,
    pool_of_one_ping_pong,
    extend_larger_than_the_pool,
    reload_and_prune_and_the_pool,
);
