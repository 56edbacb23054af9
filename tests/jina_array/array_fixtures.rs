//! The array API against the original: the same data (tests/fixtures/array/docs.jsonl,
//! made by scripts/make_array_fixtures.py with jina 2.6.4's docarray) must give what the
//! original gave (expected.json), in a real store on disk.

use std::path::Path;

use damfs::array::{self, Flat, MatchOptions, Metric};
use damfs::{Document, DocumentArrayMemmap};
use serde_json::Value;

use crate::support;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/array");

fn expected() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn lines(name: &str) -> Vec<Document> {
    std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap()
        .lines()
        .map(|l| Document::from_json(l).unwrap())
        .collect()
}

fn fixture_store(dir: &Path) -> DocumentArrayMemmap {
    let mut dam = DocumentArrayMemmap::open(dir).unwrap();
    dam.extend(lines("docs.jsonl")).unwrap();
    dam.save().unwrap();
    dam
}

fn ids(docs: &[Document]) -> Vec<String> {
    docs.iter().map(|d| d.id().to_owned()).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn traversal_paths_reach_what_the_original_reaches() {
    let tmp = support::scratch();
    let dam = fixture_store(&tmp.path().join("s"));
    let exp = expected();
    for (path, want) in exp["traverse_flat"].as_object().unwrap() {
        let got = array::traverse_flat(&dam, path)
            .unwrap()
            .into_docs()
            .unwrap();
        assert_eq!(ids(&got), strings(want), "path {path}");
    }
    let leaves: Vec<usize> = array::traverse(&dam, "c")
        .unwrap()
        .take(3)
        .map(|l| match l.unwrap() {
            array::Leaf::Docs(d) => d.len(),
            array::Leaf::Root(_) => panic!("c is not the root"),
        })
        .collect();
    let want: Vec<usize> = serde_json::from_value(exp["traverse_leaves_c"].clone()).unwrap();
    assert_eq!(leaves, want);
    assert_eq!(
        ids(&array::flatten(&dam).unwrap()),
        strings(&exp["flatten"])
    );
    // Flattened documents carry no chunks or matches.
    assert!(array::flatten(&dam)
        .unwrap()
        .iter()
        .all(|d| d.get("chunks").is_none() && d.get("matches").is_none()));
}

#[test]
fn get_attributes_gives_the_originals_values() {
    let tmp = support::scratch();
    let dam = fixture_store(&tmp.path().join("s"));
    let got = array::get_attributes(
        &dam,
        &["text", "tags__category", "tags__nested__level", "id"],
    )
    .unwrap();
    assert_eq!(Value::from(got), expected()["get_attributes"]);
}

#[test]
fn seeded_sample_and_shuffle_pick_the_originals_documents_in_its_order() {
    let tmp = support::scratch();
    let dam = fixture_store(&tmp.path().join("s"));
    let exp = expected();
    for (seed, want) in exp["sample"].as_object().unwrap() {
        let got = array::sample(&dam, 5, Some(seed.parse().unwrap())).unwrap();
        assert_eq!(ids(&got), strings(want), "seed {seed}");
    }
    for (seed, want) in exp["shuffle"].as_object().unwrap() {
        let got = array::shuffle(&dam, Some(seed.parse().unwrap())).unwrap();
        assert_eq!(ids(&got), strings(want), "seed {seed}");
    }
}

#[test]
fn split_groups_like_the_original() {
    let tmp = support::scratch();
    let dam = fixture_store(&tmp.path().join("s"));
    let got: Vec<Value> = array::split(&dam, "category")
        .unwrap()
        .into_iter()
        .map(|(k, docs)| serde_json::json!([k, ids(&docs)]))
        .collect();
    assert_eq!(Value::from(got), expected()["split"]);
}

#[test]
fn embeddings_texts_and_pca_agree_with_the_original() {
    let tmp = support::scratch();
    let mut dam = fixture_store(&tmp.path().join("s"));
    let exp = expected();
    let m = array::embeddings(&mut dam).unwrap().unwrap();
    let want: Vec<Vec<f32>> = serde_json::from_value(exp["embeddings"].clone()).unwrap();
    assert_eq!(m, array::Matrix::from_rows(&want).unwrap());
    let texts: Vec<String> = serde_json::from_value(exp["texts"].clone()).unwrap();
    assert_eq!(array::texts(&dam).unwrap(), texts);
    // PCA components are defined up to their sign: compare each column up to a flip.
    let want: Vec<(f64, f64)> = serde_json::from_value(exp["pca"].clone()).unwrap();
    let got = array::pca_2d(&m);
    for axis in 0..2 {
        let pick = |p: &(f64, f64)| if axis == 0 { p.0 } else { p.1 };
        let same = got
            .iter()
            .zip(&want)
            .all(|(g, w)| (pick(g) - pick(w)).abs() < 1e-4);
        let flipped = got
            .iter()
            .zip(&want)
            .all(|(g, w)| (pick(g) + pick(w)).abs() < 1e-4);
        assert!(
            same || flipped,
            "PCA axis {axis} differs from the original's"
        );
    }
}

fn assert_matches(got: &[Document], want: &Value, case: &str) {
    let want = want.as_object().unwrap();
    assert_eq!(got.len(), want.len(), "{case}");
    for doc in got {
        let expected = want[doc.id()].as_array().unwrap();
        let matches = doc.get("matches").unwrap();
        let matches = matches.as_array().unwrap();
        assert_eq!(matches.len(), expected.len(), "{case} {}", doc.id());
        for (m, e) in matches.iter().zip(expected) {
            assert_eq!(m["id"], e[0], "{case} {}", doc.id());
            let score = m["scores"].as_object().unwrap().values().next().unwrap()["value"]
                .as_f64()
                .unwrap();
            let want = e[1].as_f64().unwrap();
            assert!(
                (score - want).abs() < 2e-5,
                "{case} {}: {score} vs {want}",
                doc.id()
            );
        }
    }
}

#[test]
fn match_of_queries_gives_the_originals_matches_and_scores() {
    let tmp = support::scratch();
    let mut dam = fixture_store(&tmp.path().join("s"));
    let exp = expected();
    type Case = (&'static str, Metric, Option<(f32, f32)>);
    let cases: [Case; 5] = [
        ("cosine", Metric::Cosine, None),
        ("euclidean", Metric::Euclidean, None),
        ("sqeuclidean", Metric::SqEuclidean, None),
        ("norm01", Metric::Cosine, Some((0.0, 1.0))),
        ("norm10", Metric::Euclidean, Some((1.0, 0.0))),
    ];
    for (name, metric, normalization) in cases {
        let opts = MatchOptions {
            metric,
            limit: Some(4),
            normalization,
            batch_size: 7, // several batches: results must not depend on it
            ..Default::default()
        };
        let got = array::match_queries(lines("queries.jsonl"), &mut dam, &opts).unwrap();
        assert_matches(&got, &exp["match_queries"][name], name);
    }
}

/// The fields of a match, with the score compared separately (f32 vs the original's f64).
fn without_score(mut v: Value) -> (Value, f64) {
    let scores = v.as_object_mut().unwrap().remove("scores").unwrap();
    let (_, s) = scores.as_object().unwrap().iter().next().unwrap();
    (v, s["value"].as_f64().unwrap())
}

#[test]
fn a_match_is_a_copy_of_the_right_document_as_the_original_writes_it() {
    let tmp = support::scratch();
    let mut dam = fixture_store(&tmp.path().join("s"));
    let exp = expected();
    let opts = MatchOptions {
        limit: Some(3),
        ..Default::default()
    };
    let got = array::match_queries(lines("queries.jsonl"), &mut dam, &opts).unwrap();
    let first = got[0].get("matches").unwrap()[0].clone();
    let (fields, score) = without_score(first);
    let (want_fields, want_score) = without_score(exp["match_full_first"].clone());
    assert_eq!(fields, want_fields);
    assert!((score - want_score).abs() < 1e-6);
    // Right-hand documents not on the left keep their own matches, as in the original.
    let opts = MatchOptions {
        limit: Some(30),
        ..Default::default()
    };
    let got = array::match_queries(lines("queries.jsonl"), &mut dam, &opts).unwrap();
    for m in got[0].get("matches").unwrap().as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        assert_eq!(
            Value::Bool(m.get("matches").is_some()),
            exp["match_keeps_matches"][id],
            "{id}"
        );
    }
    let opts = MatchOptions {
        limit: Some(3),
        only_id: true,
        ..Default::default()
    };
    let got = array::match_queries(lines("queries.jsonl"), &mut dam, &opts).unwrap();
    let (fields, _) = without_score(got[0].get("matches").unwrap()[0].clone());
    let (want_fields, _) = without_score(exp["match_only_id_first"].clone());
    assert_eq!(fields, want_fields);
}

#[test]
fn matching_a_store_against_itself_writes_the_originals_matches() {
    let tmp = support::scratch();
    let exp = expected();
    for (exclude_self, key) in [(true, "match_self_exclude"), (false, "match_self")] {
        let dir = tmp.path().join(key);
        let mut dam = fixture_store(&dir);
        let opts = MatchOptions {
            limit: Some(3),
            exclude_self,
            ..Default::default()
        };
        array::match_self(&mut dam, &opts).unwrap();
        drop(dam);
        // Read back from disk by a new handle.
        let dam = DocumentArrayMemmap::open(&dir).unwrap();
        let docs = dam.to_vec().unwrap();
        assert_matches(&docs, &exp[key], key);
        let nested = docs.iter().any(|d| {
            d.get("matches")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m.get("matches").is_some())
        });
        assert_eq!(Value::Bool(nested), exp["match_self_any_nested"]);
        if exclude_self {
            let (fields, _) = without_score(docs[0].get("matches").unwrap()[0].clone());
            let (want, _) = without_score(exp["match_self_first"].clone());
            assert_eq!(fields, want);
        }
    }
}

#[test]
fn traverse_flat_of_the_root_is_the_store_itself() {
    let tmp = support::scratch();
    let dam = fixture_store(&tmp.path().join("s"));
    match array::traverse_flat(&dam, "r").unwrap() {
        Flat::Root(same) => assert!(std::ptr::eq(same, &dam)),
        Flat::Docs(_) => panic!("traverse_flat('r') must return the store itself"),
    }
}
