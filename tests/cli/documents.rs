//! `damfs get | put | rm | ls`: single documents from a script, without FUSE, through the
//! built binary and a real store on disk.

use std::path::Path;
use std::process::Command;

use crate::support::store::store_bytes;
use crate::support::*;

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    damfs_with(dir, args, b"")
}

#[track_caller]
fn exits(r: &Run, code: i32, text: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert!(
        r.stderr.contains(text),
        "stderr should mention {text:?}: {r:#?}"
    );
}

#[test]
fn ls_lists_ids_in_order_and_get_prints_by_position_or_id() {
    let t = scratch();
    make_store(&t.path().join("store"), 4);
    let r = in_dir(t.path(), &["ls", "store"]);
    r.assert_ok();
    assert_eq!(r.lines(), ["doc0", "doc1", "doc2", "doc3"]);

    for (key, want) in [("0", 0), ("2", 2), ("-1", 3), ("doc1", 1)] {
        let r = in_dir(t.path(), &["get", "store", key]);
        r.assert_ok();
        assert_eq!(r.stdout, format!("{}\n", doc_json(want)), "get {key}");
    }
    exits(
        &in_dir(t.path(), &["get", "store", "4"]),
        1,
        "index 4 is out of range for a store of 4 documents",
    );
    exits(
        &in_dir(t.path(), &["get", "store", "nope"]),
        1,
        "no document with id \"nope\"",
    );
    exits(&in_dir(t.path(), &["get", "missing", "0"]), 1, "missing");
    exits(&in_dir(t.path(), &["get", "store"]), 2, "KEY");
}

#[test]
fn get_id_reads_a_numeric_id_as_an_id() {
    let t = scratch();
    let r = damfs_with(
        t.path(),
        &["put", "store"],
        b"{\"id\":\"first\"}\n{\"id\":\"7\",\"text\":\"id seven\"}\n",
    );
    r.assert_ok();
    assert_eq!(r.lines(), ["first", "7"]);
    let r = in_dir(t.path(), &["get", "--id", "store", "7"]);
    r.assert_ok();
    assert_eq!(r.stdout, "{\"id\":\"7\",\"text\":\"id seven\"}\n");
    // Without --id, 7 is a position.
    exits(&in_dir(t.path(), &["get", "store", "7"]), 1, "out of range");
}

#[test]
fn put_replaces_by_id_in_place_and_adds_new_ones_at_the_end() {
    let t = scratch();
    let store = t.path().join("store");
    make_store(&store, 3);
    let input = "{\"id\":\"doc1\",\"text\":\"replaced\"}\n\
                 {\"text\":\"no id: a fresh one\"}\n\
                 { \"id\" : \"new\" ,\"n\": 1.50 }\n";
    let r = damfs_with(t.path(), &["put", "store", "-"], input.as_bytes());
    r.assert_ok();
    assert!(
        r.stderr.contains("put 3 documents: 1 replaced, 2 added"),
        "{r:#?}"
    );
    let printed = r.lines();
    assert_eq!(printed[0], "doc1");
    assert_eq!(printed[1].len(), 32);
    assert_eq!(printed[2], "new");

    let docs = read_store(&store);
    let ids: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(ids, ["doc0", "doc1", "doc2", printed[1], "new"]);
    // Texts are kept byte for byte; the replaced one keeps its position.
    assert_eq!(docs[1].1, "{\"id\":\"doc1\",\"text\":\"replaced\"}");
    assert_eq!(docs[4].1, "{ \"id\" : \"new\" ,\"n\": 1.50 }");
    assert_eq!(
        docs[3].1,
        format!(
            "{{\"id\":\"{}\",\"text\":\"no id: a fresh one\"}}",
            printed[1]
        )
    );
}

#[test]
fn put_of_one_pretty_printed_document_keeps_it_exactly() {
    let t = scratch();
    let store = t.path().join("store");
    make_store(&store, 2);
    let pretty =
        "{\n  \"id\": \"doc0\",\n  \"text\": \"pretty\",\n  \"tags\": {\"k\": [1, 2]}\n}\n";
    std::fs::write(t.path().join("doc.json"), pretty).unwrap();
    let r = in_dir(t.path(), &["put", "store", "doc.json"]);
    r.assert_ok();
    assert_eq!(r.lines(), ["doc0"]);
    let r = in_dir(t.path(), &["get", "store", "doc0"]);
    // Exactly the file's bytes (it ends with a newline, so none is added).
    assert_eq!(r.stdout, pretty);
    assert_eq!(read_store(&store)[0].1, pretty);
    assert_eq!(read_store(&store).len(), 2);
}

#[test]
fn put_validates_everything_first_and_writes_nothing_on_a_bad_record() {
    let t = scratch();
    let store = t.path().join("store");
    make_store(&store, 2);
    let before = store_bytes(&store);
    let input = "{\"id\":\"doc0\",\"text\":\"would replace\"}\n\
                 {\"id\":\"x\"}\n\
                 [1, 2]\n\
                 {\"id\":\"x\"}\n\
                 {\"id\": 5}\n\
                 {\"id\":\"a/b\"}\n";
    let r = damfs_with(t.path(), &["put", "store"], input.as_bytes());
    exits(&r, 1, "nothing was written");
    for line in [
        "<stdin>:3:",
        "<stdin>:4: duplicate id \"x\" (first at line 2)",
        "<stdin>:5:",
        "<stdin>:6:",
    ] {
        assert!(r.stderr.contains(line), "{line}: {r:#?}");
    }
    assert!(r.stdout.is_empty(), "no ids printed: {r:#?}");
    assert_eq!(store_bytes(&store), before, "the store's files changed");

    // A multi-line input that is neither JSON Lines nor one document.
    let r = damfs_with(t.path(), &["put", "store"], b"{\n \"id\": \"doc0\",\n}\n");
    exits(&r, 1, "neither JSON Lines nor one document");
    assert_eq!(store_bytes(&store), before);
    // Nothing to read; a missing input file.
    exits(
        &in_dir(t.path(), &["put", "store", "nofile.jsonl"]),
        1,
        "cannot open nofile.jsonl",
    );
    assert_eq!(store_bytes(&store), before);
}

#[test]
fn put_creates_the_store_only_for_valid_input() {
    let t = scratch();
    let r = damfs_with(t.path(), &["put", "fresh"], b"not json\n");
    exits(&r, 1, "<stdin>:1:");
    assert!(!t.path().join("fresh").exists());
    damfs_with(t.path(), &["put", "fresh"], b"{\"id\":\"a\"}").assert_ok();
    assert_eq!(in_dir(t.path(), &["ls", "fresh"]).lines(), ["a"]);
}

#[test]
fn put_takes_a_json_array_and_many_documents() {
    let t = scratch();
    let store = t.path().join("store");
    make_store(&store, 5);
    // 25,000 documents: more than one chunk of additions, with replacements in between.
    let mut input = String::from("[\n");
    for i in 0..25_000 {
        let id = if i % 5000 == 0 {
            format!("doc{}", i / 5000)
        } else {
            format!("n{i}")
        };
        input.push_str(&format!("{{\"id\":\"{id}\",\"i\":{i}}},\n"));
    }
    input.push_str("{\"id\":\"last\"}\n]\n");
    std::fs::write(t.path().join("in.json"), &input).unwrap();
    let r = in_dir(t.path(), &["put", "store", "in.json"]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("put 25001 documents: 5 replaced, 24996 added"),
        "{r:#?}"
    );
    assert_eq!(r.lines().len(), 25_001);
    let docs = read_store(&store);
    assert_eq!(docs.len(), 5 + 24_996);
    assert_eq!(docs[3].1, "{\"id\":\"doc3\",\"i\":15000}");
    assert_eq!(docs[5].0, "n1");
    assert_eq!(docs.last().unwrap().0, "last");
}

#[test]
fn rm_removes_by_id_all_or_nothing() {
    let t = scratch();
    let store = t.path().join("store");
    make_store(&store, 5);
    let before = store_bytes(&store);
    let r = in_dir(t.path(), &["rm", "store", "doc1", "nope", "doc3", "gone"]);
    exits(&r, 1, "rm failed; nothing was removed");
    assert!(r.stderr.contains("no document with id \"nope\""), "{r:#?}");
    assert!(r.stderr.contains("no document with id \"gone\""), "{r:#?}");
    exits(
        &in_dir(t.path(), &["rm", "store", "doc1", "doc1"]),
        1,
        "given twice",
    );
    assert_eq!(store_bytes(&store), before);

    let r = in_dir(t.path(), &["rm", "store", "doc3", "doc1"]);
    r.assert_ok();
    assert!(r.stderr.contains("removed 2 documents"), "{r:#?}");
    assert_eq!(
        in_dir(t.path(), &["ls", "store"]).lines(),
        ["doc0", "doc2", "doc4"]
    );
    exits(&in_dir(t.path(), &["rm", "store"]), 2, "ID");
    exits(&in_dir(t.path(), &["rm", "nostore", "a"]), 1, "nostore");
    assert!(!t.path().join("nostore").exists());
}

#[test]
fn ls_into_a_closed_pipe_ends_quietly() {
    let t = scratch();
    make_store(&t.path().join("store"), 20_000);
    let r = run(Command::new("sh")
        .arg("-c")
        .arg(format!("'{BIN}' ls store | head -n 2"))
        .current_dir(t.path()));
    r.assert_ok();
    assert_eq!(r.lines(), ["doc0", "doc1"]);
    assert_eq!(r.stderr, "");
}
