//! The upstream DocumentArrayMemmap test cases that concern the store (the original's test_dam.py cases)
//! and the scenarios of the original docs page (§8.4), translated to the Rust API.
//!
//! Where Rust semantics differ from Python's, a comment says so. The main difference: the
//! store hands out owned copies of documents. Python's `dam[i].text = 'x'` mutates the pooled
//! object; in Rust that is `dam.update(i, |d| d.set("text", "x"))`, and mutating a returned
//! `Document` (or the caller's original) changes nothing in the store.
//!
//! Every scenario ends by reopening the store and comparing it with what memory showed.
//!
//! Every scenario runs on both backends (`memmap::NAME`, `postgres::NAME`); where the
//! backends differ by design (files on disk against tables: sizes, the path), the assertion
//! is per backend and says why.

use damfs::{Document, Error, Slice};
use serde_json::{json, Value};

use crate::support::both_backends;
use crate::support::place::{assert_reopens_as, reopen, Place};
use crate::support::store::*;
use crate::support::Rng;

/// Jina's `random_docs`: id `str(start_id + j)`, text "hello world", `tags.id`, a random
/// embedding, and 5 chunks with their own ids, texts, embeddings and tags. (Chunk embeddings
/// are capped at 10 numbers to keep debug-build tests fast; the document's is `embed_dim`.)
fn random_docs(n: usize, start_id: usize, embed_dim: usize) -> Vec<Document> {
    let mut rng = Rng::new(n as u64 * 31 + start_id as u64);
    let mut emb = |k: usize| -> Vec<f64> {
        (0..k)
            .map(|_| rng.below(1_000_000) as f64 / 1_000_000.0)
            .collect()
    };
    (0..n)
        .map(|j| {
            let id = (start_id + j).to_string();
            let chunks: Vec<Value> = (0..5)
                .map(|k| {
                    let cid = (n + start_id + j * 5 + k).to_string();
                    json!({
                        "id": cid,
                        "text": format!("i'm chunk {k} from doc {id}"),
                        "embedding": emb(embed_dim.min(10)),
                        "tags": {"parent_id": id, "id": cid},
                        "granularity": 1,
                        "parent_id": id,
                    })
                })
                .collect();
            Document::from_value(json!({
                "id": id,
                "text": "hello world",
                "mime_type": "text/plain",
                "tags": {"id": id},
                "embedding": emb(embed_dim),
                "chunks": chunks,
            }))
            .unwrap()
        })
        .collect()
}

fn docs_with_ids(n: usize) -> Vec<Document> {
    (0..n).map(|i| doc(&format!("id_{i}"), "x")).collect()
}

fn jsons(docs: &[Document]) -> Vec<String> {
    docs.iter().map(|d| d.json().to_owned()).collect()
}

fn dam_jsons(dam: &impl Documents) -> Vec<String> {
    snapshot(dam).into_iter().map(|(_, j)| j).collect()
}

// ---- §8.1 test_memmap.py ---------------------------------------------------------------

/// 8.1.1 append_extend.
fn append_extend(place: &Place) {
    let mut dam = place.open(1000);
    assert_eq!(dam.len(), 0);
    assert!(dam.is_empty());
    let docs = random_docs(100, 0, 10);
    for d in &docs[..40] {
        dam.append(d.clone()).unwrap();
    }
    assert_eq!(dam.len(), 40);
    assert_eq!(dam_jsons(&dam), jsons(&docs[..40]));
    dam.extend(docs[40..].iter().cloned()).unwrap();
    assert_eq!(dam.len(), 100);
    assert_eq!(dam_jsons(&dam), jsons(&docs));
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.2 delete_clear, by int: `del dam[1]`, then `del dam[98]` (the old 99).
fn delete_clear_by_int(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(100)).unwrap();
    dam.delete(1).unwrap();
    assert_eq!(dam.len(), 99);
    dam.delete(98).unwrap();
    assert_eq!(dam.len(), 98);
    assert!(!dam.contains("id_1") && !dam.contains("id_99"));
    assert!(dam
        .iter()
        .all(|d| !["id_1", "id_99"].contains(&d.unwrap().id())));
    let mut dam = reopen(place, dam);
    dam.clear().unwrap();
    assert_eq!(dam.len(), 0);
    assert_eq!(dam.iter().count(), 0);
    assert_reopens_as(place, &[]);
}

/// 8.1.2 delete_clear, by id.
fn delete_clear_by_id(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(100)).unwrap();
    dam.delete_by_id("id_1").unwrap();
    assert_eq!(dam.len(), 99);
    dam.delete_by_id("id_99").unwrap();
    assert_eq!(dam.len(), 98);
    let expected: Vec<String> = (0..100)
        .filter(|i| *i != 1 && *i != 99)
        .map(|i| format!("id_{i}"))
        .collect();
    assert_eq!(ids(&dam), expected);
    let mut dam = reopen(place, dam);
    dam.clear().unwrap();
    assert_eq!(dam.len(), 0);
    assert_reopens_as(place, &[]);
}

/// 8.1.3 get_set_item, by int: positions 1 and 99 replaced, index 100 out of range.
fn get_set_item_by_int(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(100)).unwrap();
    dam.set(1, doc("id_1", "hello")).unwrap();
    assert_eq!(dam.len(), 100);
    assert!(matches!(
        dam.set(100, doc("id_100", "x")),
        Err(Error::IndexOutOfRange {
            index: 100,
            len: 100
        })
    ));
    dam.set(99, doc("id_99", "world")).unwrap();
    assert_eq!(dam.len(), 100);
    assert_eq!(dam.get(1).unwrap().text().unwrap(), "hello");
    assert_eq!(dam.get_by_id("id_1").unwrap().text().unwrap(), "hello");
    assert_eq!(dam.get(99).unwrap().text().unwrap(), "world");
    assert_eq!(dam.get_by_id("id_99").unwrap().text().unwrap(), "world");
    let t = texts(&dam);
    assert_eq!((t[1].as_str(), t[99].as_str()), ("hello", "world"));
    assert!(t
        .iter()
        .enumerate()
        .all(|(i, s)| i == 1 || i == 99 || s == "x"));
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.3 get_set_item, by id; a mismatched id is an error (Python: ValueError), and there is
/// no insert by id (2.3+ semantics: the id must exist).
fn get_set_item_by_id(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(100)).unwrap();
    dam.set_by_id("id_1", doc("id_1", "hello")).unwrap();
    dam.set_by_id("id_99", doc("id_99", "world")).unwrap();
    assert_eq!(dam.len(), 100);
    assert_eq!(dam.get(1).unwrap().text().unwrap(), "hello");
    assert_eq!(dam.get(-1).unwrap().text().unwrap(), "world");
    assert!(matches!(
        dam.set_by_id("unknown_new", Document::from_json("{}").unwrap()),
        Err(Error::IdMismatch { .. })
    ));
    assert!(matches!(
        dam.set_by_id("unknown_new", doc("unknown_new", "x")),
        Err(Error::NotFound(_))
    ));
    assert_eq!(dam.len(), 100);
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.3, the 2.0–2.2 variant: `dam[1] = Document(other id)` replaces position 1.
fn set_by_int_with_a_new_id_replaces_the_position(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(3)).unwrap();
    dam.set(1, doc("other", "o")).unwrap();
    assert_eq!(ids(&dam), ["id_0", "other", "id_2"]);
    assert!(!dam.contains("id_1"));
    assert!(matches!(dam.get_by_id("id_1"), Err(Error::NotFound(_))));
    // onto an id that exists elsewhere: refused, nothing changes
    assert!(matches!(
        dam.set(0, doc("id_2", "dup")),
        Err(Error::DuplicateId(_))
    ));
    assert_eq!(ids(&dam), ["id_0", "other", "id_2"]);
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.5 error: on an empty (cleared) store every lookup fails with the right error.
fn errors_on_an_empty_store(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(3)).unwrap();
    dam.clear().unwrap();
    assert!(matches!(dam.get_by_id("12"), Err(Error::NotFound(_))));
    assert!(matches!(
        dam.get(1),
        Err(Error::IndexOutOfRange { index: 1, len: 0 })
    ));
    assert!(matches!(dam.delete(1), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(dam.delete_by_id("12"), Err(Error::NotFound(_))));
    assert!(matches!(dam.get(-1), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(dam.pop(), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(
        dam.update(0, |_| ()),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(!dam.contains("id_0"));
    assert_reopens_as(place, &[]);
}

/// 8.1.6 persist: a second handle sees the store, and sees deletes and clears only after
/// `reload`.
fn persist(place: &Place) {
    let mut dam = place.open(1000);
    let docs: Vec<Document> = (0..100)
        .map(|i| {
            Document::from_value(json!({
                "id": i.to_string(),
                "text": "hello world",
                "scores": {"score": {"value": 50}},
                "evaluations": {"eval": {"value": 100}},
            }))
            .unwrap()
        })
        .collect();
    dam.extend(docs.clone()).unwrap();
    let mut dam2 = place.open(1000);
    assert_eq!(dam2.len(), 100);
    assert!(dam == dam2, "two handles on one directory are equal");
    assert_eq!(dam_jsons(&dam2), jsons(&docs));
    assert!(dam.contains("1"));
    dam.delete_by_id("1").unwrap();
    assert_eq!(dam2.len(), 100, "no reload yet");
    dam2.reload().unwrap();
    assert_eq!(dam2.len(), 99);
    assert!(!dam2.contains("1"));
    for d in dam2.iter() {
        let d = d.unwrap();
        assert_eq!(d.get("scores").unwrap()["score"]["value"], 50);
        assert_eq!(d.get("evaluations").unwrap()["eval"]["value"], 100);
    }
    dam.clear().unwrap();
    assert_eq!(dam2.len(), 99, "no reload yet");
    dam2.reload().unwrap();
    assert_eq!(dam2.len(), 0);
    let other = place.another();
    let dam3 = other.open(1000);
    assert!(dam != dam3, "handles on different stores differ");
}

/// 8.1.7 prune_save_space: after deleting one of 100 documents, prune makes both files
/// strictly smaller. (PostgreSQL: prune cannot shrink pages it shares with live rows; what
/// it gives back is the change feed, cut to nothing, and the dead rows, vacuumed.)
fn prune_save_space(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(random_docs(100, 0, 10)).unwrap();
    dam.save().unwrap();
    let sizes = || file_sizes(&place.store);
    let before = (!place.postgres).then(sizes);
    dam.delete_by_id("2").unwrap();
    dam.prune().unwrap();
    assert_eq!(dam.len(), 99);
    if let Some((index_before, body_before)) = before {
        let (index_after, body_after) = sizes();
        assert!(index_after < index_before, "{index_after} < {index_before}");
        assert!(body_after < body_before, "{body_after} < {body_before}");
        assert_eq!(dam.stats().garbage_bytes, 0);
        assert_no_leftovers(&place.store);
    } else {
        assert_eq!(place.psql("SELECT count(*) FROM {t}_changes"), "0");
        assert_eq!(place.psql("SELECT count(*) FROM {t}"), "99");
    }
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.8 convert_dam_to_da: the in-memory copy (`Vec<Document>`) outlives a clear.
fn convert_dam_to_vec(place: &Place) {
    let mut dam = place.open(1000);
    let docs = random_docs(100, 0, 10);
    dam.extend(docs.clone()).unwrap();
    let da: Vec<Document> = dam.to_vec().unwrap();
    dam.clear().unwrap();
    assert_eq!(da, docs);
    assert_eq!(dam.len(), 0);
}

/// 8.1.9 convert_dm_to_dam: the store keeps its documents when the source Vec is cleared.
fn convert_vec_to_dam(place: &Place) {
    let mut dam = place.open(1000);
    let mut da = random_docs(100, 0, 10);
    let expected = jsons(&da);
    dam.extend(da.iter().cloned()).unwrap();
    da.clear();
    assert_eq!(dam.iter().count(), 100);
    assert_eq!(dam_jsons(&dam), expected);
    assert!(da.is_empty());
}

/// 8.1.10 extend_and_get_attribute (#2944): a second handle extends a reopened store;
/// every embedding is readable, with the right length.
fn extend_and_get_attribute(place: &Place) {
    for embed_dim in [10, 10000] {
        let place = place.another();
        let mut dam = place.open(1000);
        dam.clear().unwrap();
        dam.extend(random_docs(100, 0, embed_dim)).unwrap();
        let mut dam2 = place.open(1000);
        assert_eq!(
            dam2.iter()
                .filter_map(|d| d.unwrap().get("embedding"))
                .count(),
            100
        );
        dam2.extend(random_docs(100, 100, embed_dim)).unwrap();
        let embeddings: Vec<Value> = dam2
            .iter()
            .map(|d| d.unwrap().get("embedding").unwrap())
            .collect();
        assert_eq!(embeddings.len(), 200);
        assert_eq!(embeddings[0].as_array().unwrap().len(), embed_dim);
        assert_eq!(dam2.len(), 200);
        drop(dam2);
        dam.reload().unwrap();
        assert_eq!(dam.len(), 200);
        assert_eq!(
            ids(&dam),
            (0..200).map(|i| i.to_string()).collect::<Vec<_>>()
        );
    }
}

/// 8.1.15 delete_by_slice.
fn delete_by_slice(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend(docs_with_ids(100)).unwrap();
    dam.delete_slice(-5..).unwrap();
    assert_eq!(dam.len(), 95);
    dam.delete_slice(..5).unwrap();
    assert_eq!(dam.len(), 90);
    for i in (0..5).chain(95..100) {
        assert!(!dam.contains(&format!("id_{i}")));
    }
    assert_eq!(
        ids(&dam),
        (5..95).map(|i| format!("id_{i}")).collect::<Vec<_>>()
    );
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.16 get_by_slice, Python semantics for out-of-range bounds.
fn get_by_slice(place: &Place) {
    let mut dam = place.open(1000);
    let docs = docs_with_ids(100);
    dam.extend(docs.clone()).unwrap();
    assert_eq!(dam.get_slice(..10).unwrap(), docs[..10]);
    assert_eq!(dam.get_slice(-10..).unwrap(), docs[90..]);
    assert_eq!(dam.get_slice(-101..-95).unwrap(), docs[..5]);
    assert_eq!(dam.get_slice(-101..101).unwrap(), docs);
    assert_eq!(dam.get_slice(95..101).unwrap(), docs[95..]);
    assert!(dam.get_slice(101..105).unwrap().is_empty());
    assert!(dam.get_slice(-105..-101).unwrap().is_empty());
    assert!(dam
        .get_slice(Slice::new(Some(10), Some(0), None))
        .unwrap()
        .is_empty());
    assert_eq!(dam.get_slice(..).unwrap(), docs);
}

/// 8.1.17 update_document: replacing every position with new content.
fn update_document(place: &Place) {
    let mut dam = place.open(1000);
    let docs = random_docs(100, 0, 10);
    dam.extend(docs.clone()).unwrap();
    for (idx, d) in docs.iter().enumerate() {
        let mut candidate = d.clone();
        candidate.set("text", format!("new content {idx}")).unwrap();
        dam.set(idx as isize, candidate).unwrap();
    }
    for (idx, t) in texts(&dam).iter().enumerate() {
        assert_eq!(t, &format!("new content {idx}"));
    }
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.18 update_in_memory. Python mutated the caller's objects, which the pool shared.
/// Rust: the store owns its copies, so mutating the caller's documents changes nothing;
/// the change is made through `update`, and lives in the pool until saved.
fn update_in_memory(place: &Place) {
    let mut dam = place.open(100);
    let mut docs = random_docs(100, 0, 10);
    dam.extend(docs.clone()).unwrap();
    for d in docs.iter_mut() {
        d.set("text", "changed in the caller's copy").unwrap();
    }
    assert!(texts(&dam).iter().all(|t| t == "hello world"));
    for i in 0..100 {
        dam.update(i, |d| d.set("text", format!("new content {i}")))
            .unwrap()
            .unwrap();
    }
    assert_eq!(dam.stats().pool_dirty, 100);
    for (i, t) in texts(&dam).iter().enumerate() {
        assert_eq!(t, &format!("new content {i}"));
    }
    // not on disk yet (all 100 fit the pool)
    assert!(place
        .contents()
        .iter()
        .all(|(_, j)| j.contains("hello world")));
}

/// 8.1.19 save_reload: pooled changes are invisible to another handle until saved, and
/// after `reload` it reads them. Until then the memmap handle reads the texts its index
/// points at (the old ones); a writable PostgreSQL handle holds no snapshot open (that would
/// keep a transaction open under every writer), so it reads a row's current text as soon as
/// it is saved — by design; its order and lengths still wait for a reload or a catch-up.
fn save_reload(place: &Place) {
    let mut dam = place.open(100);
    dam.extend(random_docs(100, 0, 10)).unwrap();
    let mut dam1 = place.open(1000);
    for i in 0..100 {
        dam.update(i, |d| d.set("text", "new")).unwrap().unwrap();
    }
    assert!(texts(&dam).iter().all(|t| t == "new"));
    assert!(place.contents().iter().all(|(_, j)| !j.contains("\"new\"")));
    assert!(texts(&dam1).iter().all(|t| t == "hello world"));
    dam.save().unwrap();
    let before_reload = if place.postgres { "new" } else { "hello world" };
    assert!(
        texts(&dam1).iter().all(|t| t == before_reload),
        "no reload yet"
    );
    dam1.reload().unwrap();
    assert!(place.contents().iter().all(|(_, j)| j.contains("\"new\"")));
    assert!(texts(&dam1).iter().all(|t| t == "new"));
}

/// 8.1.20 buffer_synched: replacing with a different id, then changing the new document
/// by its id.
fn buffer_synched(place: &Place) {
    let mut dam = place.open(1000);
    let docs = random_docs(100, 0, 10);
    dam.extend(docs[..50].iter().cloned()).unwrap();
    for i in 0..50 {
        let d = docs[50 + i].clone();
        dam.set(i as isize, d.clone()).unwrap();
        assert_eq!(dam.get(i as isize).unwrap().id(), d.id());
        assert_eq!(dam.get_by_id(d.id()).unwrap(), d);
        dam.update_by_id(d.id(), |x| x.set("text", "new"))
            .unwrap()
            .unwrap();
        assert_eq!(dam.get_by_id(d.id()).unwrap().text().unwrap(), "new");
        assert_eq!(dam.get(i as isize).unwrap().text().unwrap(), "new");
    }
    assert_eq!(
        ids(&dam),
        (50..100).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    let dam = reopen(place, dam);
    drop(dam);
}

/// 8.1.21 physical_size. Unlike the original (0 for a new DAM), a new damfs store already
/// has its two file headers (PostgreSQL: its indexes' pages); what matters is that appending
/// makes it grow. Memmap: it is the files' real size; PostgreSQL: the table's with its
/// indexes (`pg_total_relation_size`).
fn physical_size(place: &Place) {
    let mut dam = place.open(1000);
    let real_size = || -> u64 {
        if place.postgres {
            let size = place.psql("SELECT pg_total_relation_size('{t}')");
            size.parse().unwrap()
        } else {
            let (i, b) = file_sizes(&place.store);
            i + b
        }
    };
    let empty = dam.physical_size();
    assert_eq!(empty, real_size(), "physical_size is the store's real size");
    dam.append(Document::from_json("{}").unwrap()).unwrap();
    assert!(dam.physical_size() > empty);
    dam.save().unwrap();
    assert_eq!(dam.physical_size(), real_size());
}

/// 8.1.26 persisted: changes still in the pool are saved when the handle is dropped
/// (Python's `__del__`).
fn persisted_on_drop(place: &Place) {
    {
        let mut dam = place.open(1000);
        dam.extend(random_docs(10, 0, 10)).unwrap();
        for i in 0..10 {
            dam.update(i, |d| d.set("text", "new")).unwrap().unwrap();
        }
        assert_eq!(dam.stats().pool_dirty, 10);
    }
    let dam = place.open(1000);
    assert_eq!(dam.len(), 10);
    assert_eq!(
        ids(&dam),
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert!(texts(&dam).iter().all(|t| t == "new"));
}

/// 8.1.27 mutate.
fn mutate(place: &Place) {
    let mut da = place.open(1000);
    let d0 = Document::with_text("hello");
    da.append(d0.clone()).unwrap();
    assert_eq!(da.get(0).unwrap(), d0);
    let d1 = Document::with_text("world");
    da.append(d1.clone()).unwrap();
    assert_eq!(da.get(1).unwrap(), d1);
    let da2 = place.open(1000);
    assert_eq!(da2.len(), 2);
    assert_eq!(da2.to_vec().unwrap(), vec![d0, d1]);
    da.clear().unwrap();
    assert!(da.is_empty());
    assert_reopens_as(place, &[]);
}

/// 8.1.41 mmap_path_getter.
fn path_getter(place: &Place) {
    let dam = place.open(1000);
    if place.postgres {
        // The URL as given, with the port it defaulted to, and never its password.
        let with_port = place.arg().replace("postgres@/", "postgres@:5432/");
        assert_eq!(dam.path().to_str(), Some(with_port.as_str()));
        let secret = place.arg().replace("postgres@", "postgres:s3cret@");
        let dam = damfs::Store::open(&secret).unwrap();
        assert_eq!(dam.path().to_str(), Some(with_port.as_str()));
    } else {
        assert_eq!(dam.path(), place.store.canonicalize().unwrap());
    }
}

/// 8.1.42 issue_3527_delete_and_match (the store part: append, delete, append another,
/// and every document is reachable by id, by position and after reopening).
fn issue_3527_delete_then_append(place: &Place) {
    let mut dam = place.open(1000);
    let a = Document::from_value(json!({"id": "a", "embedding": [1.0, 2.0, 3.0]})).unwrap();
    let c = Document::from_value(json!({"id": "c", "embedding": [1.0, 2.0, 3.0]})).unwrap();
    dam.append(a).unwrap();
    dam.delete_by_id("a").unwrap();
    dam.append(c.clone()).unwrap();
    assert_eq!(ids(&dam), ["c"]);
    assert_eq!(dam.get(0).unwrap(), c);
    assert_eq!(dam.get_by_id("c").unwrap(), c);
    assert_eq!(dam.to_vec().unwrap(), vec![c]);
    let dam = reopen(place, dam);
    drop(dam);
}

// ---- §8.4 the docs page -------------------------------------------------------------------

/// `dam[0].text = 'goodbye'`.
fn docs_page_modify_in_place(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend([Document::with_text("hello"), Document::with_text("world")])
        .unwrap();
    dam.update(0, |d| d.set("text", "goodbye"))
        .unwrap()
        .unwrap();
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "goodbye");
    let dam = reopen(place, dam);
    drop(dam);
}

/// Pool 10, 100 documents: mutating the originals does nothing (Rust: never; Python:
/// only for the ones no longer pooled); changing each document through the store persists.
fn docs_page_mutating_originals_vs_through_the_store(place: &Place) {
    let mut dam = place.open(10);
    let mut docs: Vec<Document> = (0..100).map(|_| Document::with_text("hello")).collect();
    dam.extend(docs.clone()).unwrap();
    for d in docs.iter_mut() {
        d.set("text", "goodbye").unwrap();
    }
    assert_eq!(dam.get(50).unwrap().text().unwrap(), "hello");
    assert_eq!(dam.get(95).unwrap().text().unwrap(), "hello");
    for i in 0..100 {
        dam.update(i, |d| d.set("text", "goodbye"))
            .unwrap()
            .unwrap();
        assert!(dam.stats().pool_used <= 10);
    }
    // 90 of them were evicted (and so written), 10 are still dirty in the pool
    assert_eq!(dam.stats().pool_dirty, 10);
    let on_disk = place.contents();
    assert_eq!(
        on_disk
            .iter()
            .filter(|(_, j)| j.contains("goodbye"))
            .count(),
        90
    );
    let dam = reopen(place, dam);
    drop(dam);
    assert!(place.contents().iter().all(|(_, j)| j.contains("goodbye")));
}

/// Python: a reference kept by the caller goes stale once the pool drops it, so
/// `my_doc.text = 'goodbye'` is lost. Rust: a caller's `Document` is always its own copy —
/// changing it never reaches the store; `update_by_id` does.
fn docs_page_callers_copy_is_not_the_store(place: &Place) {
    let mut dam = place.open(10);
    let mut my_doc = Document::with_text("hello");
    dam.append(my_doc.clone()).unwrap();
    dam.extend((0..99).map(|_| Document::with_text("hello")))
        .unwrap();
    my_doc.set("text", "goodbye").unwrap();
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "hello");
    // a returned document is a copy too
    let mut got = dam.get_by_id(my_doc.id()).unwrap();
    got.set("text", "also lost").unwrap();
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "hello");
    dam.update_by_id(my_doc.id(), |d| d.set("text", "goodbye"))
        .unwrap()
        .unwrap();
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "goodbye");
    let dam = reopen(place, dam);
    drop(dam);
}

/// Two handles A and B: B sees A's extend and clear only after `reload`; until then B keeps
/// its order, and (memmap) reads its snapshot even after A's clear replaced the files. A
/// PostgreSQL clear deletes the rows: B's reads of them are a clear `NotFound` (no phantom,
/// no stale text), by design, until B reloads or catches up.
fn docs_page_two_handles_extend_and_clear(place: &Place) {
    let mut a = place.open(1000);
    let mut b = place.open(1000);
    let d1 = Document::with_text("hello");
    let d2 = Document::with_text("world");
    a.extend([d1.clone(), d2.clone()]).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 0);
    b.reload().unwrap();
    assert_eq!(b.len(), 2);
    a.clear().unwrap();
    assert_eq!(b.len(), 2);
    if place.postgres {
        assert!(matches!(b.to_vec(), Err(Error::NotFound(id)) if id == d1.id()));
    } else {
        assert_eq!(
            b.to_vec().unwrap(),
            vec![d1, d2],
            "B's snapshot is readable"
        );
    }
    b.reload().unwrap();
    assert_eq!(b.len(), 0);
    assert!(matches!(b.get(0), Err(Error::IndexOutOfRange { .. })));
}

/// A's unsaved change is invisible to B; after A saves and B reloads, B sees it.
fn docs_page_two_handles_save(place: &Place) {
    let mut a = place.open(1000);
    let mut b = place.open(1000);
    let d1 = Document::with_text("hello");
    a.append(d1.clone()).unwrap();
    a.update_by_id(d1.id(), |d| d.set("text", "goodbye"))
        .unwrap()
        .unwrap();
    b.reload().unwrap();
    assert_eq!(b.get_by_id(d1.id()).unwrap().text().unwrap(), "hello");
    a.save().unwrap();
    assert_eq!(b.get_by_id(d1.id()).unwrap().text().unwrap(), "hello");
    b.reload().unwrap();
    assert_eq!(b.get_by_id(d1.id()).unwrap().text().unwrap(), "goodbye");
}

/// Rust-only: `reload` with unsaved changes saves them first (the original dropped them).
fn reload_keeps_unsaved_changes(place: &Place) {
    let mut a = place.open(1000);
    a.extend(docs_with_ids(3)).unwrap();
    a.update(1, |d| d.set("text", "kept")).unwrap().unwrap();
    a.reload().unwrap();
    assert_eq!(a.get(1).unwrap().text().unwrap(), "kept");
    assert_eq!(a.stats().pool_dirty, 0);
    assert_eq!(place.contents()[1].1, a.get(1).unwrap().json());
}

/// Rust-only: the exact bytes given are what is stored and read back (no re-formatting).
fn text_is_kept_byte_for_byte(place: &Place) {
    let mut dam = place.open(1000);
    let text = "{ \"text\" : \"a\\u00e9\",\n  \"id\":\"x\",  \"n\": 1.50 }\n";
    dam.append(Document::from_json(text).unwrap()).unwrap();
    assert_eq!(dam.get(0).unwrap().json(), text);
    drop(dam);
    let mut dam = place.open(1000);
    assert_eq!(dam.get_by_id("x").unwrap().json(), text);
    dam.rename("x", "y").unwrap();
    assert_eq!(
        dam.get_by_id("y").unwrap().json(),
        "{ \"text\" : \"a\\u00e9\",\n  \"id\":\"y\",  \"n\": 1.50 }\n"
    );
    let dam = reopen(place, dam);
    drop(dam);
}

both_backends!(
    append_extend,
    delete_clear_by_int,
    delete_clear_by_id,
    get_set_item_by_int,
    get_set_item_by_id,
    set_by_int_with_a_new_id_replaces_the_position,
    errors_on_an_empty_store,
    persist,
    prune_save_space,
    convert_dam_to_vec,
    convert_vec_to_dam,
    extend_and_get_attribute,
    delete_by_slice,
    get_by_slice,
    update_document,
    update_in_memory,
    save_reload,
    buffer_synched,
    physical_size,
    persisted_on_drop,
    mutate,
    path_getter,
    issue_3527_delete_then_append,
    docs_page_modify_in_place,
    docs_page_mutating_originals_vs_through_the_store,
    docs_page_callers_copy_is_not_the_store,
    docs_page_two_handles_extend_and_clear,
    docs_page_two_handles_save,
    reload_keeps_unsaved_changes,
    text_is_kept_byte_for_byte,
);
