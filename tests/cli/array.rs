//! `damfs attrs | sample | shuffle | split | traverse | match | visualize`, run as the real
//! binary on a store imported with `damfs import`, compared with the original's results on
//! the same data (tests/fixtures/array).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support;
use crate::support::damfs;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/array");

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/expected.json")).unwrap())
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// A store with the fixture documents, imported through the CLI.
fn imported(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    damfs(["import", s(&store), s(&fixture("docs.jsonl"))]).assert_ok();
    store
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids_of(stdout: &str) -> Vec<String> {
    json_lines(stdout)
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn attrs_prints_one_line_per_document() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let run = damfs([
        "attrs",
        s(&store),
        "text",
        "tags__category",
        "tags__nested__level",
        "id",
    ]);
    run.assert_ok();
    let exp = expected();
    let columns = exp["get_attributes"].as_array().unwrap();
    for (i, line) in json_lines(&run.stdout).iter().enumerate() {
        let want: Vec<Value> = columns.iter().map(|c| c[i].clone()).collect();
        assert_eq!(line, &Value::from(want));
    }
    // One field: the bare value.
    let run = damfs(["attrs", s(&store), "text"]);
    assert_eq!(run.assert_ok().lines()[0], "\"text 0\"");
    damfs(["attrs", s(&store)]).assert_fails_with("FIELDS");
}

#[test]
fn seeded_sample_and_shuffle_print_the_originals_choice() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let exp = expected();
    let run = damfs(["sample", s(&store), "5", "--seed", "42"]);
    assert_eq!(
        ids_of(&run.assert_ok().stdout),
        strings(&exp["sample"]["42"])
    );
    let run = damfs(["shuffle", s(&store), "--seed", "3"]);
    assert_eq!(
        ids_of(&run.assert_ok().stdout),
        strings(&exp["shuffle"]["3"])
    );
    damfs(["sample", s(&store), "31"]).assert_fails_with("sample larger than population");
    let missing = tmp.path().join("missing");
    damfs(["sample", s(&missing), "1"]).assert_fails_with("cannot open");
    assert!(!missing.exists(), "a missing store is never created");
}

#[test]
fn split_writes_one_file_per_group_and_never_overwrites() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let out = tmp.path().join("groups");
    let run = damfs(["split", s(&store), "category", s(&out)]);
    let summary = json_lines(&run.assert_ok().stdout);
    let exp = expected();
    for (line, want) in summary.iter().zip(exp["split"].as_array().unwrap()) {
        assert_eq!(line["value"], want[0]);
        let file = line["file"].as_str().unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(ids_of(&text), strings(&want[1]));
        assert_eq!(line["count"], want[1].as_array().unwrap().len());
    }
    assert_eq!(summary.len(), 3);
    assert!(out.join("c.jsonl").exists());
    let before = std::fs::read(out.join("c.jsonl")).unwrap();
    damfs(["split", s(&store), "category", s(&out)]).assert_fails_with("File exists");
    assert_eq!(std::fs::read(out.join("c.jsonl")).unwrap(), before);
}

#[test]
fn traverse_prints_the_documents_a_path_reaches() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let exp = expected();
    for path in ["c", "cm", "r,c", "c,m"] {
        let run = damfs(["traverse", s(&store), path]);
        assert_eq!(
            ids_of(&run.assert_ok().stdout),
            strings(&exp["traverse_flat"][path]),
            "{path}"
        );
    }
    damfs(["traverse", s(&store), "cx"]).assert_fails_with("invalid traversal path");
}

fn assert_matches(docs: &[Value], want: &Value) {
    for doc in docs {
        let id = doc["id"].as_str().unwrap();
        let got: Vec<(String, f64)> = doc["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let score = m["scores"].as_object().unwrap().values().next().unwrap()["value"]
                    .as_f64()
                    .unwrap();
                (m["id"].as_str().unwrap().to_owned(), score)
            })
            .collect();
        let want: Vec<(String, f64)> = serde_json::from_value(want[id].clone()).unwrap();
        assert_eq!(got.len(), want.len(), "{id}");
        for ((gi, gs), (wi, ws)) in got.iter().zip(&want) {
            assert_eq!(gi, wi, "{id}");
            assert!((gs - ws).abs() < 2e-5, "{id}: {gs} vs {ws}");
        }
    }
}

#[test]
fn match_queries_from_a_file_prints_them_with_their_matches() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let exp = expected();
    let queries = fixture("queries.jsonl");
    let run = damfs([
        "match",
        s(&queries),
        s(&store),
        "--metric",
        "euclidean",
        "--limit",
        "4",
        "--normalization",
        "1,0",
        "--batch-size",
        "3",
    ]);
    let docs = json_lines(&run.assert_ok().stdout);
    assert_eq!(docs.len(), 5);
    assert_matches(&docs, &exp["match_queries"]["norm10"]);
    let run = damfs(["match", s(&queries), s(&store), "--limit", "3", "--only-id"]);
    let docs = json_lines(&run.assert_ok().stdout);
    let mut first = docs[0]["matches"][0].clone();
    let mut want = exp["match_only_id_first"].clone();
    first.as_object_mut().unwrap().remove("scores");
    want.as_object_mut().unwrap().remove("scores");
    assert_eq!(first, want);
    damfs(["match", s(&queries), s(&store), "--metric", "manhattan"])
        .assert_fails_with("unknown metric");
    damfs(["match", s(&queries), s(&store), "--limit", "0"])
        .assert_fails_with("`limit` must be larger than 0");
    let run = damfs(["match", s(&queries), s(&store), "--normalization", "1"]);
    assert_eq!(run.code, 2, "a usage error: {run:?}");
}

#[test]
fn match_a_store_against_itself_writes_into_it() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let run = damfs([
        "match",
        s(&store),
        s(&store),
        "--limit",
        "3",
        "--exclude-self",
    ]);
    assert!(
        run.assert_ok().stderr.contains("matched 30 documents"),
        "{run:?}"
    );
    let export = damfs(["export", s(&store)]);
    assert_matches(
        &json_lines(&export.assert_ok().stdout),
        &expected()["match_self_exclude"],
    );
    // The embeddings cache sits in the store directory; the store's own commands ignore it.
    assert!(store.join(damfs::array::CACHE_FILE).exists());
    damfs(["stat", s(&store)]).assert_ok();
}

#[test]
fn match_one_store_against_another() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let left = tmp.path().join("left");
    damfs(["import", s(&left), s(&fixture("queries.jsonl"))]).assert_ok();
    let run = damfs(["match", s(&left), s(&store), "--limit", "4"]);
    assert!(
        run.assert_ok().stderr.contains("matched 5 documents"),
        "{run:?}"
    );
    let docs = json_lines(&damfs(["export", s(&left)]).assert_ok().stdout);
    assert_matches(&docs, &expected()["match_queries"]["cosine"]);
    let missing = tmp.path().join("nope");
    damfs(["match", s(&left), s(&missing)]).assert_fails_with("cannot open");
    assert!(!missing.exists());
}

#[test]
fn visualize_writes_a_png_and_prints_the_legend() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let png = tmp.path().join("plot.png");
    let run = damfs([
        "visualize",
        s(&store),
        "-o",
        s(&png),
        "--color-by",
        "tags__category",
    ]);
    let legend = json_lines(&run.assert_ok().stdout);
    let values: Vec<&Value> = legend.iter().map(|l| &l["value"]).collect();
    assert_eq!(
        values,
        [&Value::from("c"), &Value::from("b"), &Value::from("a")]
    );
    assert!(legend
        .iter()
        .all(|l| l["colour"].as_str().unwrap().starts_with('#')));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let empty = tmp.path().join("empty");
    damfs(["import", s(&empty), s(&fixture("queries.jsonl"))]).assert_ok();
    damfs(["attrs", s(&empty), "id"]).assert_ok();
    let no_emb = tmp.path().join("no-emb");
    std::fs::write(
        tmp.path().join("t.jsonl"),
        "{\"id\":\"a\",\"text\":\"x\"}\n",
    )
    .unwrap();
    damfs(["import", s(&no_emb), s(&tmp.path().join("t.jsonl"))]).assert_ok();
    damfs(["visualize", s(&no_emb), "-o", s(&tmp.path().join("x.png"))])
        .assert_fails_with("no document has an embedding");
}

#[test]
fn output_cut_short_by_head_is_not_a_failure() {
    let tmp = support::scratch();
    let store = imported(tmp.path());
    let script = format!(
        "set -o pipefail; {bin} shuffle {s} | head -1 >/dev/null && {bin} match {q} {s} | head -c 10 >/dev/null",
        bin = support::BIN,
        s = s(&store),
        q = s(&fixture("queries.jsonl")),
    );
    support::run(std::process::Command::new("bash").args(["-c", &script])).assert_ok();
}
