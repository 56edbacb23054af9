//! The original's array-API test scenarios (the original's test suite, as listed in the README's "Array tests": items 4, 10–14, 22–25,
//! 28–45, and §8.3), each against a real store on disk, plus the embeddings cache's rules.

use std::path::Path;

use damfs::array::{self, ArrayError, MatchOptions, Matrix, NdArray, CACHE_FILE};
use damfs::{Document, DocumentArrayMemmap, Options};
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::support;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(11)
}

/// The upstream `random_docs`: ids `start..start+n`, text, `tags.id`, a random embedding,
/// and 5 chunks at granularity 1 with their own embeddings.
fn random_docs(n: usize, embed_dim: usize, start: usize) -> Vec<Document> {
    let mut r = rng();
    (start..start + n)
        .map(|j| {
            let emb: Vec<f64> = (0..embed_dim).map(|_| r.gen()).collect();
            let chunks: Vec<Value> = (0..5)
                .map(|k| {
                    // Chunks get short embeddings: the big ones only slow the test down.
                    let c: Vec<f64> = (0..embed_dim.min(10)).map(|_| r.gen()).collect();
                    json!({"id": format!("{j}-{k}"), "text": format!("i'm chunk {k} from doc {j}"),
                           "embedding": c, "granularity": 1, "parent_id": j.to_string(),
                           "tags": {"parent_id": j.to_string(), "id": format!("{j}-{k}")}})
                })
                .collect();
            Document::from_value(json!({"id": j.to_string(), "text": "hello world",
                "mime_type": "text/plain", "tags": {"id": j.to_string()},
                "embedding": emb, "chunks": chunks}))
            .unwrap()
        })
        .collect()
}

fn store_with(dir: &Path, docs: Vec<Document>) -> DocumentArrayMemmap {
    let mut dam = DocumentArrayMemmap::open(dir).unwrap();
    dam.extend(docs).unwrap();
    dam
}

fn empty_docs(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| Document::from_json(format!(r#"{{"id":"{i}"}}"#)).unwrap())
        .collect()
}

/// Blobs are f64 read back from JSON: equal to within a rounding of the last digit.
fn assert_close(a: &NdArray, b: &NdArray) {
    assert_eq!(a.shape, b.shape);
    assert!(a
        .data
        .iter()
        .zip(&b.data)
        .all(|(x, y)| (x - y).abs() <= 1e-15 * x.abs().max(1.0)));
}

fn texts_on_disk(dir: &Path) -> Vec<String> {
    let dam = DocumentArrayMemmap::open(dir).unwrap();
    dam.iter().map(|d| d.unwrap().json().to_owned()).collect()
}

fn random_matrix(rows: usize, dim: usize) -> Matrix {
    let mut r = rng();
    Matrix::new(rows, dim, (0..rows * dim).map(|_| r.gen()).collect()).unwrap()
}

#[test]
fn traverse_chunks_reaches_granularity_one() {
    // §8.1 item 4
    let tmp = support::scratch();
    let dam = store_with(&tmp.path().join("s"), random_docs(100, 10, 0));
    let chunks = array::traverse_flat(&dam, "c")
        .unwrap()
        .into_docs()
        .unwrap();
    assert_eq!(chunks.len(), 500);
    assert!(chunks
        .iter()
        .all(|c| c.get("granularity") == Some(json!(1))));
    let per_path = array::traverse_flat_per_path(&dam, "r,c").unwrap();
    assert!(matches!(per_path[0], array::Flat::Root(_)));
    assert_eq!((per_path[0].len(), per_path[1].len()), (100, 500));
    // A bad letter is an error naming the path.
    let err = array::traverse_flat(&dam, "r,x").err().unwrap();
    assert!(matches!(err, ArrayError::InvalidPath { .. }), "{err}");
}

#[test]
fn extend_from_a_second_handle_then_get_attributes() {
    // §8.1 item 10 (the regression for jina#2944), for embed_dim 10 and 10000
    for dim in [10, 10_000] {
        let tmp = support::scratch();
        let dir = tmp.path().join("s");
        let mut dam = store_with(&dir, random_docs(100, dim, 0));
        dam.clear().unwrap();
        dam.extend(random_docs(100, dim, 0)).unwrap();
        let mut dam2 = DocumentArrayMemmap::open(&dir).unwrap();
        assert_eq!(
            array::get_attributes(&dam2, &["embedding"]).unwrap()[0].len(),
            100
        );
        dam2.extend(random_docs(100, dim, 100)).unwrap();
        let embs = &array::get_attributes(&dam2, &["embedding"]).unwrap()[0];
        assert_eq!(embs.len(), 200);
        assert_eq!(embs[0].as_array().unwrap().len(), dim);
        assert_eq!(dam2.len(), 200);
        let m = array::embeddings(&mut dam2).unwrap().unwrap();
        assert_eq!((m.rows(), m.dim()), (200, dim));
        // The first handle sees the second's appends after reload, and its cache follows.
        dam.reload().unwrap();
        assert_eq!(array::embeddings(&mut dam).unwrap().unwrap(), m);
    }
}

#[test]
fn sample_and_shuffle() {
    // §8.1 items 11–14
    let tmp = support::scratch();
    let dam = store_with(&tmp.path().join("s"), random_docs(100, 4, 0));
    assert_eq!(array::sample(&dam, 5, None).unwrap().len(), 5);
    let err = array::sample(&dam, 101, None).err().unwrap();
    assert!(
        matches!(err, ArrayError::SampleTooLarge { k: 101, len: 100 }),
        "{err}"
    );
    let ids = |d: Vec<Document>| d.iter().map(|d| d.id().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        ids(array::sample(&dam, 5, Some(1)).unwrap()),
        ids(array::sample(&dam, 5, Some(1)).unwrap())
    );
    assert_ne!(
        ids(array::sample(&dam, 5, Some(1)).unwrap()),
        ids(array::sample(&dam, 5, Some(2)).unwrap())
    );
    let original: Vec<String> = dam.ids().map(str::to_owned).collect();
    let shuffled = ids(array::shuffle(&dam, None).unwrap());
    assert_eq!(shuffled.len(), 100);
    assert_ne!(shuffled, original);
    let mut sorted = shuffled.clone();
    sorted.sort();
    let mut want = original.clone();
    want.sort();
    assert_eq!(sorted, want);
    let s1 = ids(array::shuffle(&dam, Some(1)).unwrap());
    assert_eq!(s1, ids(array::shuffle(&dam, Some(1)).unwrap()));
    assert_ne!(s1, ids(array::shuffle(&dam, Some(2)).unwrap()));
}

fn text_and_embedding_docs() -> Vec<Document> {
    let mut r = rng();
    (0..100)
        .map(|i| {
            let emb: Vec<f32> = (0..512).map(|_| r.gen()).collect();
            Document::from_value(
                json!({"id": format!("{i}"), "text": format!("random text {i}"), "embedding": emb}),
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn get_single_and_multiple_attributes() {
    // §8.1 items 22–25 and 45
    let tmp = support::scratch();
    let dam = store_with(&tmp.path().join("s"), text_and_embedding_docs());
    let text = array::get_attributes(&dam, &["text"]).unwrap();
    assert_eq!(text[0].len(), 100);
    assert_eq!(text[0][0], "random text 0");
    let two = array::get_attributes(&dam, &["text", "id"]).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!((two[0].len(), two[1].len()), (100, 100));
    assert_eq!(two[0][0], "random text 0");
    let emb = array::get_attributes(&dam, &["embedding"]).unwrap();
    assert!(emb[0].iter().all(|e| e.as_array().unwrap().len() == 512));
    let both = array::get_attributes(&dam, &["text", "embedding"]).unwrap();
    assert_eq!(both[1][0].as_array().unwrap().len(), 512);
    for field in ["embedding", "text"] {
        let (contents, docs) = array::get_attributes_with_docs(&dam, &[field]).unwrap();
        assert_eq!((contents[0].len(), docs.len()), (100, 100));
    }
    // Missing fields are null; `a__b` reaches into nested objects and lists.
    let odd = array::get_attributes(&dam, &["nope", "tags__x", "embedding__0"]).unwrap();
    assert_eq!(odd[0][0], Value::Null);
    assert_eq!(odd[1][0], Value::Null);
    assert!(odd[2][0].is_number());
}

#[test]
fn split_by_tag_in_first_seen_order() {
    // §8.1 item 28
    let tmp = support::scratch();
    let docs = ["c", "c", "b", "a", "a"]
        .iter()
        .map(|c| Document::from_value(json!({"tags": {"category": c}})).unwrap())
        .collect();
    let dam = store_with(&tmp.path().join("s"), docs);
    let groups = array::split(&dam, "category").unwrap();
    let keys: Vec<&Value> = groups.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&json!("c"), &json!("b"), &json!("a")]);
    let sizes: Vec<usize> = groups.iter().map(|(_, d)| d.len()).collect();
    assert_eq!(sizes, [2, 1, 2]);
    assert!(array::split(&dam, "missing").unwrap().is_empty());
}

#[test]
fn embeddings_getter_matches_get_attributes() {
    // §8.1 items 29, 30 and 32
    let tmp = support::scratch();
    let docs = (0..100)
        .map(|i| {
            Document::from_value(json!({"id": format!("{i}"), "embedding": [1, 2, 3, 4]})).unwrap()
        })
        .collect();
    let mut dam = store_with(&tmp.path().join("s"), docs);
    let m = array::embeddings(&mut dam).unwrap().unwrap();
    assert_eq!((m.rows(), m.dim()), (100, 4));
    let attrs = &array::get_attributes(&dam, &["embedding"]).unwrap()[0];
    for (i, a) in attrs.iter().enumerate() {
        let row: Vec<f32> = serde_json::from_value(a.clone()).unwrap();
        assert_eq!(m.row(i), &row[..]);
    }
    // §8.1 item 30: a slice of the matrix equals the same slice of get_attributes.
    let part = array::embeddings_range(&mut dam, 10..20).unwrap().unwrap();
    assert_eq!(part.rows(), 10);
    for i in 0..10 {
        assert_eq!(part.row(i), m.row(10 + i));
    }
    assert_eq!(
        array::embeddings_range(&mut dam, 95..200)
            .unwrap()
            .unwrap()
            .rows(),
        5
    );
    let want = random_matrix(100, 128);
    let tmp2 = support::scratch();
    let docs = (0..100)
        .map(|i| Document::from_value(json!({"embedding": want.row(i)})).unwrap())
        .collect();
    let mut dam = store_with(&tmp2.path().join("s"), docs);
    assert_eq!(array::embeddings(&mut dam).unwrap().unwrap(), want);
}

#[test]
fn embeddings_setter_round_trips_and_persists() {
    // §8.1 item 31, and §8.3's `embeddings = None`
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let mut dam = store_with(&dir, empty_docs(100));
    let m = random_matrix(100, 128);
    array::set_embeddings(&mut dam, Some(&m)).unwrap();
    assert_eq!(array::embeddings(&mut dam).unwrap().unwrap(), m);
    drop(dam);
    let mut dam = DocumentArrayMemmap::open(&dir).unwrap();
    for (i, doc) in dam.to_vec().unwrap().iter().enumerate() {
        let row: Vec<f32> = serde_json::from_value(doc.get("embedding").unwrap()).unwrap();
        assert_eq!(&row[..], m.row(i));
    }
    assert_eq!(array::embeddings(&mut dam).unwrap().unwrap(), m);
    array::set_embeddings(&mut dam, None).unwrap();
    assert_eq!(array::embeddings(&mut dam).unwrap(), None);
    assert!(dam
        .to_vec()
        .unwrap()
        .iter()
        .all(|d| d.get("embedding").is_none()));
}

#[test]
fn setters_of_the_wrong_length_fail_and_write_nothing() {
    // §8.1 items 33, 38, 39, 43
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let mut dam = store_with(&dir, empty_docs(100));
    dam.save().unwrap();
    let before = texts_on_disk(&dir);
    let err = array::set_embeddings(&mut dam, Some(&random_matrix(2, 10))).unwrap_err();
    assert!(
        matches!(
            err,
            ArrayError::LengthMismatch {
                expected: 100,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let blobs = NdArray::new(vec![2, 10, 10], vec![0.5; 200]).unwrap();
    assert!(matches!(
        array::set_blobs(&mut dam, Some(&blobs)),
        Err(ArrayError::LengthMismatch { .. })
    ));
    assert!(matches!(
        array::set_texts(&mut dam, Some(&["text"])),
        Err(ArrayError::LengthMismatch { .. })
    ));
    let four: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d"];
    assert!(matches!(
        array::set_buffers(&mut dam, Some(&four)),
        Err(ArrayError::LengthMismatch { .. })
    ));
    drop(dam);
    assert_eq!(texts_on_disk(&dir), before);
}

#[test]
fn blobs_getter_and_setter() {
    // §8.1 items 34, 35, and §8.3's `blobs = None`
    let tmp = support::scratch();
    let mut r = rng();
    let data: Vec<f64> = (0..100 * 10 * 10).map(|_| r.gen()).collect();
    let blobs = NdArray::new(vec![100, 10, 10], data).unwrap();
    let docs = (0..100)
        .map(|i| {
            Document::from_value(
                json!({"id": format!("{i}"), "blob": blobs.slice_first(i).to_json()}),
            )
            .unwrap()
        })
        .collect();
    let mut dam = store_with(&tmp.path().join("s"), docs);
    assert_close(&array::blobs(&dam).unwrap().unwrap(), &blobs);
    let attrs = &array::get_attributes(&dam, &["blob"]).unwrap()[0];
    assert_close(
        &NdArray::from_json(&attrs[3]).unwrap(),
        &blobs.slice_first(3),
    );

    let tmp2 = support::scratch();
    let mut dam2 = store_with(&tmp2.path().join("s"), empty_docs(100));
    array::set_blobs(&mut dam2, Some(&blobs)).unwrap();
    assert_close(&array::blobs(&dam2).unwrap().unwrap(), &blobs);
    let doc = dam2.get(7).unwrap();
    assert_close(
        &NdArray::from_json(&doc.get("blob").unwrap()).unwrap(),
        &blobs.slice_first(7),
    );
    array::set_blobs(&mut dam, None).unwrap();
    assert_eq!(array::blobs(&dam).unwrap(), None);
}

#[test]
fn texts_getter_and_setter() {
    // §8.1 items 36, 37, and §8.3's `texts = None`
    let tmp = support::scratch();
    let docs = (0..100).map(|_| Document::with_text("hello")).collect();
    let mut dam = store_with(&tmp.path().join("s"), docs);
    let texts = array::texts(&dam).unwrap();
    assert_eq!(texts.len(), 100);
    let attrs: Vec<Value> = array::get_attributes(&dam, &["text"]).unwrap().remove(0);
    assert_eq!(Value::from(texts.clone()), Value::from(attrs));
    array::set_texts(&mut dam, Some(&vec!["text"; 100])).unwrap();
    assert_eq!(array::texts(&dam).unwrap(), vec!["text"; 100]);
    assert!(dam
        .to_vec()
        .unwrap()
        .iter()
        .all(|d| d.text().as_deref() == Some("text")));
    array::set_texts::<&str>(&mut dam, None).unwrap();
    assert_eq!(array::texts(&dam).unwrap(), vec![""; 100]);
}

#[test]
fn buffers_getter_and_setter() {
    // §8.1 item 43, and §8.3's `buffers = None`
    let tmp = support::scratch();
    let docs = ["YWE=", "YmI=", "Y2M="] // b'aa', b'bb', b'cc' as the original's JSON has them
        .iter()
        .map(|b| Document::from_value(json!({"buffer": b})).unwrap())
        .collect();
    let mut dam = store_with(&tmp.path().join("s"), docs);
    assert_eq!(array::buffers(&dam).unwrap(), [b"aa", b"bb", b"cc"]);
    array::set_buffers(&mut dam, Some(&[b"cc", b"bb", b"aa"])).unwrap();
    assert_eq!(array::buffers(&dam).unwrap(), [b"cc", b"bb", b"aa"]);
    assert_eq!(dam.get(0).unwrap().get("buffer"), Some(json!("Y2M=")));
    array::set_buffers::<&[u8]>(&mut dam, None).unwrap();
    assert_eq!(array::buffers(&dam).unwrap(), vec![Vec::<u8>::new(); 3]);
}

#[test]
fn tags_attribute_and_path_getter() {
    // §8.1 items 40 (the 2.1 variant's tags getter) and 41
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let dam = store_with(&dir, random_docs(100, 4, 0));
    let tags = &array::get_attributes(&dam, &["tags"]).unwrap()[0];
    assert_eq!(tags.len(), 100);
    assert_eq!(tags[5], json!({"id": "5"}));
    assert_eq!(dam.path(), dir.canonicalize().unwrap());
}

#[test]
fn issue_3527_append_delete_append_then_match() {
    // §8.1 item 42
    let tmp = support::scratch();
    let mut dam = DocumentArrayMemmap::open(tmp.path().join("s")).unwrap();
    dam.append(Document::from_value(json!({"id": "a", "embedding": [1.0, 2.0, 3.0]})).unwrap())
        .unwrap();
    assert!(array::embeddings(&mut dam).unwrap().is_some()); // a cache that then goes stale
    dam.delete_by_id("a").unwrap();
    dam.append(Document::from_value(json!({"id": "c", "embedding": [1.0, 2.0, 3.0]})).unwrap())
        .unwrap();
    let q = vec![Document::from_value(json!({"embedding": [5.0, 6.0, 7.0]})).unwrap()];
    let out = array::match_queries(q, &mut dam, &MatchOptions::default()).unwrap();
    assert_eq!(out[0].get("matches").unwrap()[0]["id"], "c");
}

#[test]
fn batches_cover_every_document_once() {
    let tmp = support::scratch();
    let dam = store_with(&tmp.path().join("s"), empty_docs(100));
    let sizes: Vec<usize> = array::batch(&dam, 32, false)
        .unwrap()
        .map(|b| b.unwrap().len())
        .collect();
    assert_eq!(sizes, [32, 32, 32, 4]);
    let mut seen: Vec<String> = array::batch(&dam, 7, true)
        .unwrap()
        .flat_map(|b| b.unwrap().into_iter().map(|d| d.id().to_owned()))
        .collect();
    seen.sort();
    let mut all: Vec<String> = dam.ids().map(str::to_owned).collect();
    all.sort();
    assert_eq!(seen, all);
    assert!(array::batch(&dam, 0, false).is_err());
}

#[test]
fn the_cache_follows_every_change_and_is_never_trusted_stale() {
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let docs = (0..50)
        .map(|i| {
            Document::from_value(json!({"id": format!("{i}"), "embedding": [i, 1, 2]})).unwrap()
        })
        .collect();
    let mut dam = store_with(&dir, docs);
    let first = array::embeddings(&mut dam).unwrap().unwrap();
    assert!(dir.join(CACHE_FILE).exists());
    // A replaced text, unsaved in the pool.
    dam.set_by_id(
        "3",
        Document::from_value(json!({"id": "3", "embedding": [9, 9, 9]})).unwrap(),
    )
    .unwrap();
    assert_eq!(
        array::embeddings(&mut dam).unwrap().unwrap().row(3),
        [9.0, 9.0, 9.0]
    );
    // Another handle's delete and append, then a prune (a new generation).
    let mut other = DocumentArrayMemmap::open(&dir).unwrap();
    other.delete_by_id("0").unwrap();
    other
        .append(Document::from_value(json!({"id": "new", "embedding": [7, 7, 7]})).unwrap())
        .unwrap();
    other.prune().unwrap();
    drop(other);
    dam.reload().unwrap();
    let m = array::embeddings(&mut dam).unwrap().unwrap();
    assert_eq!(m.rows(), 50);
    assert_eq!(m.row(0), first.row(1));
    assert_eq!(m.row(49), [7.0, 7.0, 7.0]);
    // A damaged cache file is rebuilt, not read.
    drop(dam);
    let path = dir.join(CACHE_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut dam = DocumentArrayMemmap::open(&dir).unwrap();
    assert_eq!(array::embeddings(&mut dam).unwrap().unwrap(), m);
    // The store itself opens, cleans up and exports with the cache beside it.
    drop(dam);
    let dam = DocumentArrayMemmap::open(&dir).unwrap();
    assert_eq!(dam.len(), 50);
    assert!(
        path.exists(),
        "opening a store must not remove its embeddings cache"
    );
}

#[test]
fn a_read_only_store_gets_its_matrix_in_memory() {
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let docs = (0..5)
        .map(|i| Document::from_value(json!({"embedding": [i, 0]})).unwrap())
        .collect();
    drop(store_with(&dir, docs));
    let mut ro = DocumentArrayMemmap::open_with(
        &dir,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .unwrap();
    assert_eq!(array::embeddings(&mut ro).unwrap().unwrap().rows(), 5);
    assert!(
        !dir.join(CACHE_FILE).exists(),
        "a read-only handle writes nothing"
    );
}

#[test]
fn missing_or_uneven_embeddings_are_errors_naming_the_document() {
    let tmp = support::scratch();
    let docs = vec![
        Document::from_value(json!({"id": "a", "embedding": [1, 2]})).unwrap(),
        Document::from_value(json!({"id": "b"})).unwrap(),
        Document::from_value(json!({"id": "c", "embedding": [1, 2, 3]})).unwrap(),
    ];
    let mut dam = store_with(&tmp.path().join("s"), docs);
    let err = array::embeddings(&mut dam).unwrap_err().to_string();
    assert!(
        err.contains("\"b\"") && err.contains("no embedding"),
        "{err}"
    );
    dam.set_by_id(
        "b",
        Document::from_value(json!({"id": "b", "embedding": [[1], [2]]})).unwrap(),
    )
    .unwrap();
    let err = array::embeddings(&mut dam).unwrap_err().to_string();
    assert!(err.contains("\"b\"") && err.contains("nested"), "{err}");
    dam.delete_by_id("b").unwrap();
    let err = array::embeddings(&mut dam).unwrap_err().to_string();
    assert!(err.contains("\"c\"") && err.contains("3 values"), "{err}");
}

#[test]
fn match_between_two_stores_and_its_options() {
    let tmp = support::scratch();
    let left_dir = tmp.path().join("left");
    let mut left = store_with(
        &left_dir,
        vec![Document::from_value(
            json!({"id": "q", "embedding": [1, 0], "matches": [{"id": "old"}]}),
        )
        .unwrap()],
    );
    let mut right = store_with(
        &tmp.path().join("right"),
        vec![
            Document::from_value(json!({"id": "x", "embedding": [1, 0.1]})).unwrap(),
            Document::from_value(json!({"id": "q", "embedding": [1, 0]})).unwrap(),
            Document::from_value(json!({"id": "y", "embedding": [0, 1]})).unwrap(),
        ],
    );
    let opts = MatchOptions {
        limit: Some(2),
        exclude_self: true,
        only_id: true,
        metric_name: Some("sim".into()),
        ..Default::default()
    };
    array::match_stores(&mut left, &mut right, &opts).unwrap();
    drop(left);
    let left = DocumentArrayMemmap::open(&left_dir).unwrap();
    let matches = left.to_vec().unwrap()[0].get("matches").unwrap();
    let ids: Vec<&str> = matches
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["x", "y"],
        "the old matches are replaced, the query's own id skipped"
    );
    assert_eq!(matches[0]["adjacency"], 1);
    assert!(matches[0]["scores"]["sim"]["value"].as_f64().unwrap() < 0.01);
    let bad = MatchOptions {
        limit: Some(0),
        ..Default::default()
    };
    let mut left = left;
    assert!(matches!(
        array::match_stores(&mut left, &mut right, &bad),
        Err(ArrayError::InvalidArgument(_))
    ));
}

#[test]
fn visualize_writes_a_png_coloured_by_a_tag() {
    let tmp = support::scratch();
    let mut r = rng();
    let docs = (0..60)
        .map(|i| {
            let e: Vec<f32> = (0..16).map(|_| r.gen()).collect();
            let label = ["x", "y", "z"][i % 3];
            Document::from_value(json!({"embedding": e, "tags": {"label": label}})).unwrap()
        })
        .collect();
    let mut dam = store_with(&tmp.path().join("s"), docs);
    let png = tmp.path().join("plot.png");
    let legend = array::visualize(&mut dam, &png, Some("tags__label"), 300).unwrap();
    let values: Vec<&Value> = legend.iter().map(|e| &e.value).collect();
    assert_eq!(values, [&json!("x"), &json!("y"), &json!("z")]);
    assert!(legend.iter().all(|e| e.count == 20));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
        300
    );
}

#[test]
fn the_avx2_kernel_and_the_portable_path_find_the_same_neighbours() {
    use damfs::array::distance::{Metric, Search};
    let mut r = rng();
    for (nq, rows, dim) in [(37, 1000, 13), (16, 257, 128), (1, 10, 1), (50, 333, 7)] {
        let q = random_matrix_with(&mut r, nq, dim);
        let y: Vec<f32> = (0..rows * dim).map(|_| r.gen::<f32>() - 0.3).collect();
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::SqEuclidean] {
            let run = |portable: bool| {
                let mut s = Search::new(&q, metric, 5, true);
                if portable {
                    s = s.portable();
                }
                // Two batches of unequal size, as `nearest` feeds them.
                let cut = (rows / 3) * dim;
                s.feed(&y[..cut]).unwrap();
                s.feed(&y[cut..]).unwrap();
                s.finish()
            };
            for (fast, slow) in run(false).into_iter().zip(run(true)) {
                assert!((fast.min - slow.min).abs() < 1e-4 && (fast.max - slow.max).abs() < 1e-4);
                let (fast, slow) = (fast.into_sorted(), slow.into_sorted());
                assert_eq!(fast.len(), slow.len());
                for (a, b) in fast.iter().zip(&slow) {
                    assert!(
                        (a.dist - b.dist).abs() <= 1e-4 * b.dist.abs().max(1.0),
                        "{metric:?} {a:?} {b:?}"
                    );
                }
                let rows_fast: Vec<usize> = fast.iter().map(|n| n.row).collect();
                let rows_slow: Vec<usize> = slow.iter().map(|n| n.row).collect();
                assert_eq!(rows_fast, rows_slow, "{metric:?} nq={nq} dim={dim}");
            }
        }
    }
}

fn random_matrix_with(r: &mut rand::rngs::StdRng, rows: usize, dim: usize) -> Matrix {
    Matrix::new(
        rows,
        dim,
        (0..rows * dim).map(|_| r.gen::<f32>() - 0.3).collect(),
    )
    .unwrap()
}

#[test]
fn tags_getter_and_setter() {
    // §8.1 item 40 (the 2.1–2.2 variant): `dam.tags` equals get_attributes('tags'); setting
    // 100 dicts makes every document's tags equal; a wrong count fails and writes nothing.
    let tmp = support::scratch();
    let dir = tmp.path().join("s");
    let mut dam = store_with(&dir, random_docs(100, 4, 0));
    let tags = array::tags(&dam).unwrap();
    assert_eq!(tags.len(), 100);
    let column = array::get_attributes(&dam, &["tags"]).unwrap().remove(0);
    let as_values: Vec<Value> = tags.iter().cloned().map(Value::Object).collect();
    assert_eq!(as_values, column);
    assert_eq!(tags[7]["id"], json!("7"));

    let one = json!({"a": 2, "c": "d"}).as_object().unwrap().clone();
    array::set_tags(&mut dam, Some(&vec![one.clone(); 100])).unwrap();
    drop(dam);
    let mut dam = DocumentArrayMemmap::open(&dir).unwrap();
    assert!(array::tags(&dam).unwrap().iter().all(|t| *t == one));
    // Only the tags changed: the texts and chunks are as they were.
    assert_eq!(
        dam.get_by_id("3").unwrap().get("text"),
        Some(json!("hello world"))
    );

    let before = texts_on_disk(&dir);
    assert!(matches!(
        array::set_tags(&mut dam, Some(&[one])),
        Err(ArrayError::LengthMismatch {
            what: "tags",
            expected: 100,
            found: 1
        })
    ));
    drop(dam);
    assert_eq!(texts_on_disk(&dir), before);

    // Documents without tags read as empty objects; None removes every document's tags.
    let mut dam = store_with(&tmp.path().join("e"), empty_docs(3));
    assert!(array::tags(&dam).unwrap().iter().all(Map::is_empty));
    array::set_tags(&mut dam, None).unwrap();
    assert!(dam
        .to_vec()
        .unwrap()
        .iter()
        .all(|d| d.get("tags").is_none()));
}

#[test]
fn traverse_with_a_filter() {
    // The original's `filter_fn`: each reached sequence keeps what the filter accepts; with a
    // filter even `r` is a filtered copy, not the store.
    let tmp = support::scratch();
    let dam = store_with(&tmp.path().join("s"), random_docs(20, 4, 0));
    let even = |d: &Document| d.id().len() < 3 && d.id().parse::<u32>().is_ok_and(|n| n % 2 == 0);
    let roots = array::traverse_flat_filtered(&dam, "r", even).unwrap();
    let ids: Vec<&str> = roots.iter().map(Document::id).collect();
    assert_eq!(ids, ["0", "2", "4", "6", "8", "10", "12", "14", "16", "18"]);

    let first_chunks = |d: &Document| d.id().ends_with("-0");
    let chunks = array::traverse_flat_filtered(&dam, "c", first_chunks).unwrap();
    assert_eq!(chunks.len(), 20);
    assert!(chunks
        .iter()
        .all(|c| c.get("granularity") == Some(json!(1))));

    // Per path, one filtered sequence per root document for `c`, then the roots.
    let leaves: Vec<Vec<Document>> = array::traverse_filtered(&dam, "c,r", first_chunks)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(leaves.len(), 21);
    assert!(leaves[..20].iter().all(|l| l.len() == 1));
    assert!(leaves[20].is_empty(), "no root id ends with -0");
    assert!(array::traverse_filtered(&dam, "x", first_chunks).is_err());
}
