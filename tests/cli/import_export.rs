//! The `damfs` command-line tool, driven as a user would: the built binary, real files.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use damfs::{Document, DocumentArrayMemmap};

use crate::support::run::{damfs_output, BIN};
use crate::support::store::store_bytes;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "damfs failed ({:?}): {}",
        o.status,
        stderr(&o)
    );
    o
}

#[track_caller]
fn fails(o: Output) -> Output {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1; stderr: {}",
        stderr(&o)
    );
    o
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).expect("write input");
    p
}

fn jsonl(ids: impl IntoIterator<Item = usize>) -> String {
    ids.into_iter()
        .map(|i| format!("{{\"id\":\"d{i}\",\"text\":\"document {i}\"}}\n"))
        .collect()
}

fn ids_of(store: &Path) -> Vec<String> {
    let dam = DocumentArrayMemmap::open(store).expect("open store");
    dam.ids().map(String::from).collect()
}

fn stat(dir: &Path, store: &str) -> serde_json::Value {
    let o = ok(damfs_output(dir, &["stat", store], None));
    serde_json::from_slice(&o.stdout).expect("stat prints JSON")
}

#[test]
fn import_jsonl_then_export_gives_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    // Varied spacing and unicode: texts must be kept byte for byte.
    let input = "{\"id\":\"a\",\"text\":\"x\"}\n\
                 { \"id\" : \"b\", \"text\": \"ünï 😀\", \"tags\": {\"k\": [1, 2.50, 1e3]} }\n\
                 {\"text\":\"no id yet\",\"id\":\"c\"}\n";
    write(t.path(), "in.jsonl", input);
    let o = ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    assert!(
        stderr(&o).contains("imported 3 documents"),
        "{}",
        stderr(&o)
    );
    let o = ok(damfs_output(t.path(), &["export", "store"], None));
    assert_eq!(stdout(&o), input);
    assert_eq!(ids_of(&t.path().join("store")), ["a", "b", "c"]);
}

#[test]
fn import_a_json_array() {
    let t = tempfile::tempdir().unwrap();
    let input = "  \n[\n  {\"id\": \"a\", \"text\": \"x\"},\n  {\"id\": \"b\"} , {\"text\": \"fresh\"}\n]\n";
    write(t.path(), "in.json", input);
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.json"],
        None,
    ));
    let store = t.path().join("store");
    let ids = ids_of(&store);
    assert_eq!(ids.len(), 3);
    assert_eq!(&ids[..2], ["a", "b"]);
    assert_eq!(ids[2].len(), 32, "a missing id gets a fresh 32-hex-char id");
    let out = stdout(&ok(damfs_output(t.path(), &["export", "store"], None)));
    let lines: Vec<&str> = out.lines().collect();
    // Array elements are stored exactly as written.
    assert_eq!(lines[0], "{\"id\": \"a\", \"text\": \"x\"}");
    assert_eq!(lines[1], "{\"id\": \"b\"}");
    assert_eq!(
        lines[2],
        format!("{{\"id\":\"{}\",\"text\": \"fresh\"}}", ids[2])
    );
}

#[test]
fn blank_lines_crlf_and_bom_are_handled() {
    let t = tempfile::tempdir().unwrap();
    let input = "\u{feff}{\"id\":\"a\"}\r\n\r\n   \n{\"id\":\"b\"}";
    write(t.path(), "in.jsonl", input);
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    let out = stdout(&ok(damfs_output(t.path(), &["export", "store"], None)));
    assert_eq!(out, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
}

#[test]
fn missing_ids_get_fresh_ones() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "in.jsonl",
        "{\"text\":\"a\"}\n{\"text\":\"a\"}\n{}\n",
    );
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    let mut dam = DocumentArrayMemmap::open(t.path().join("store")).unwrap();
    assert_eq!(dam.len(), 3);
    let ids: Vec<String> = dam.ids().map(String::from).collect();
    assert!(ids
        .iter()
        .all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(ids[0] != ids[1]);
    assert_eq!(dam.get(0).unwrap().text().as_deref(), Some("a"));
    assert_eq!(
        dam.get(2).unwrap().json(),
        format!("{{\"id\":\"{}\"}}", ids[2])
    );
}

#[test]
fn a_bad_line_fails_the_whole_import_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "first.jsonl", &jsonl(0..5));
    ok(damfs_output(
        t.path(),
        &["import", "store", "first.jsonl"],
        None,
    ));
    let store = t.path().join("store");
    let before = store_bytes(&store);

    // 20,000 good lines with one bad one in the middle (past the first write chunk).
    let mut input = jsonl(100..10_100);
    input.push_str("{\"id\":\"bad\", \"text\": }\n");
    input.push_str(&jsonl(10_100..20_100));
    write(t.path(), "second.jsonl", &input);
    let o = fails(damfs_output(
        t.path(),
        &["import", "store", "second.jsonl"],
        None,
    ));
    let err = stderr(&o);
    assert!(err.contains("second.jsonl:10001:"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!err.contains("imported"), "{err}");

    assert_eq!(store_bytes(&store), before, "the store's files changed");
    assert_eq!(ids_of(&store).len(), 5);
    assert_eq!(stat(t.path(), "store")["length"], 5);
}

#[test]
fn every_kind_of_bad_record_is_reported_with_its_line() {
    let t = tempfile::tempdir().unwrap();
    let input = "{\"id\":\"ok\"}\n\
                 not json\n\
                 [1, 2]\n\
                 {\"id\": 7}\n\
                 {\"id\": \"a/b\"}\n\
                 {\"id\": \".hidden\"}\n\
                 {\"id\": \"x\"} {\"id\": \"y\"}\n\
                 {\"id\":\"ok\"}\n";
    write(t.path(), "in.jsonl", input);
    let o = fails(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    let err = stderr(&o);
    for line in 2..=8 {
        assert!(
            err.contains(&format!("in.jsonl:{line}: ")),
            "line {line}: {err}"
        );
    }
    assert!(!err.contains("in.jsonl:1:"), "{err}");
    assert!(
        err.contains("duplicate id \"ok\" (first at line 1)"),
        "{err}"
    );
    assert!(err.contains("import failed: 7 invalid records"), "{err}");
    // A failed import into a new store does not even create it.
    assert!(!t.path().join("store").exists());
}

#[test]
fn a_bad_element_of_an_array_names_its_line() {
    let t = tempfile::tempdir().unwrap();
    let input = "[\n  {\"id\": \"a\"},\n  {\n    \"id\": \"b\",\n    \"id\": \"b\"\n  },\n  3,\n  {\"id\": \"c\"\n";
    write(t.path(), "in.json", input);
    let err = stderr(&fails(damfs_output(
        t.path(),
        &["import", "store", "in.json"],
        None,
    )));
    assert!(
        err.contains("in.json:5: "),
        "duplicate key on line 5: {err}"
    );
    assert!(err.contains("in.json:7: "), "a number on line 7: {err}");
    assert!(
        err.contains("in.json:9: "),
        "unterminated array at the end: {err}"
    );
    assert!(!t.path().join("store").exists());
}

#[test]
fn duplicate_ids_within_the_input_are_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "in.jsonl",
        "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"a\",\"v\":2}\n",
    );
    let err = stderr(&fails(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    )));
    assert!(
        err.contains("in.jsonl:3: duplicate id \"a\" (first at line 1)"),
        "{err}"
    );
    assert!(!t.path().join("store").exists());
}

#[test]
fn ids_already_in_the_store_are_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "one.jsonl", &jsonl(0..3));
    ok(damfs_output(
        t.path(),
        &["import", "store", "one.jsonl"],
        None,
    ));
    let store = t.path().join("store");
    let before = store_bytes(&store);
    write(t.path(), "two.jsonl", &jsonl(3..6));
    fs::OpenOptions::new()
        .append(true)
        .open(t.path().join("two.jsonl"))
        .unwrap()
        .write_all(jsonl(1..2).as_bytes())
        .unwrap();
    let err = stderr(&fails(damfs_output(
        t.path(),
        &["import", "store", "two.jsonl"],
        None,
    )));
    assert!(
        err.contains("two.jsonl:4: a document with id \"d1\" already exists in the store"),
        "{err}"
    );
    assert_eq!(store_bytes(&store), before);
}

#[test]
fn import_from_stdin() {
    let t = tempfile::tempdir().unwrap();
    let input = jsonl(0..3);
    ok(damfs_output(
        t.path(),
        &["import", "store"],
        Some(input.as_bytes()),
    ));
    ok(damfs_output(
        t.path(),
        &["import", "store", "-"],
        Some(b"[{\"id\":\"x\"}]"),
    ));
    let out = stdout(&ok(damfs_output(t.path(), &["export", "store"], None)));
    assert_eq!(out, format!("{input}{{\"id\":\"x\"}}\n"));
    // A bad line on stdin is named as such.
    let err = stderr(&fails(damfs_output(
        t.path(),
        &["import", "store"],
        Some(b"{\"id\":\"y\"}\n{oops}\n"),
    )));
    assert!(err.contains("<stdin>:2: "), "{err}");
    assert_eq!(ids_of(&t.path().join("store")).len(), 4);
}

#[test]
fn import_from_stdin_redirected_from_a_file() {
    let t = tempfile::tempdir().unwrap();
    let input = jsonl(0..100);
    let p = write(t.path(), "in.jsonl", &input);
    let o = Command::new(BIN)
        .args(["import", "store"])
        .current_dir(t.path())
        .stdin(fs::File::open(p).unwrap())
        .output()
        .unwrap();
    ok(o);
    let out = stdout(&ok(damfs_output(t.path(), &["export", "store"], None)));
    assert_eq!(out, input);
}

#[test]
fn a_large_import_is_written_in_chunks_and_kept_in_order() {
    let t = tempfile::tempdir().unwrap();
    let input = jsonl(0..25_000);
    ok(damfs_output(
        t.path(),
        &["import", "store"],
        Some(input.as_bytes()),
    ));
    let out = ok(damfs_output(t.path(), &["export", "store"], None));
    assert!(out.stdout == input.as_bytes(), "export differs from input");
    assert_eq!(stat(t.path(), "store")["length"], 25_000);
}

#[test]
fn export_follows_the_order_after_deletes_and_replaces() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.jsonl", &jsonl(0..10));
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    {
        let mut dam = DocumentArrayMemmap::open(t.path().join("store")).unwrap();
        dam.delete(0).unwrap();
        dam.delete_by_id("d5").unwrap();
        dam.delete(-1).unwrap();
        dam.set_by_id(
            "d3",
            Document::from_json("{\"id\":\"d3\",\"text\":\"new\"}").unwrap(),
        )
        .unwrap();
        dam.append(Document::from_json("{\"id\":\"z\"}").unwrap())
            .unwrap();
    }
    let out = stdout(&ok(damfs_output(t.path(), &["export", "store"], None)));
    let ids: Vec<String> = out
        .lines()
        .map(|l| Document::from_json(l).unwrap().id().to_owned())
        .collect();
    assert_eq!(ids, ["d1", "d2", "d3", "d4", "d6", "d7", "d8", "z"]);
    assert!(out.contains("{\"id\":\"d3\",\"text\":\"new\"}\n"));
}

#[test]
fn export_to_a_file_and_compact_multiline_documents() {
    let t = tempfile::tempdir().unwrap();
    let input = "[\n  {\n    \"id\": \"a\",\n    \"n\": 12345678901234567890123,\n    \"s\": \"two  spaces\"\n  }\n]";
    write(t.path(), "in.json", input);
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.json"],
        None,
    ));
    let o = ok(damfs_output(
        t.path(),
        &["export", "store", "-o", "out.jsonl"],
        None,
    ));
    assert!(o.stdout.is_empty());
    let out = fs::read_to_string(t.path().join("out.jsonl")).unwrap();
    // One line; whitespace outside strings dropped; the big number kept exactly.
    assert_eq!(
        out,
        "{\"id\":\"a\",\"n\":12345678901234567890123,\"s\":\"two  spaces\"}\n"
    );
    // The stored text itself is untouched.
    let mut dam = DocumentArrayMemmap::open(t.path().join("store")).unwrap();
    assert!(dam.get(0).unwrap().json().contains("\n    \"id\": \"a\""));
}

#[test]
fn export_of_an_empty_store_is_empty() {
    let t = tempfile::tempdir().unwrap();
    ok(damfs_output(t.path(), &["import", "store"], Some(b"")));
    let o = ok(damfs_output(t.path(), &["export", "store"], None));
    assert!(o.stdout.is_empty());
}

#[test]
fn export_into_a_closed_pipe_is_quiet() {
    let t = tempfile::tempdir().unwrap();
    ok(damfs_output(
        t.path(),
        &["import", "store"],
        Some(jsonl(0..50_000).as_bytes()),
    ));
    let mut child = Command::new(BIN)
        .args(["export", "store"])
        .current_dir(t.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // the pipe is closed when dropped here
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn stat_prints_the_store_figures() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.jsonl", &jsonl(0..4));
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    let s = stat(t.path(), "store");
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "length",
            "bytes",
            "garbage_bytes",
            "format_version",
            "generation",
            "index_bytes",
            "body_bytes",
            "table_bytes"
        ]
    );
    assert_eq!(s["length"], 4);
    assert_eq!(s["format_version"], damfs::store::FORMAT_VERSION);
    assert_eq!(s["generation"], 1);
    let files: u64 = store_bytes(&t.path().join("store"))
        .iter()
        .filter(|(n, _)| n.ends_with(".dam"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(s["bytes"], files);
    assert_eq!(
        s["bytes"].as_u64(),
        Some(s["index_bytes"].as_u64().unwrap() + s["body_bytes"].as_u64().unwrap())
    );
    // Pretty-printed, and read-only: stat leaves the store as it was.
    let before = store_bytes(&t.path().join("store"));
    let o = ok(damfs_output(t.path(), &["stat", "store"], None));
    assert!(stdout(&o).starts_with("{\n  \"length\": 4,\n"));
    assert_eq!(store_bytes(&t.path().join("store")), before);
}

#[test]
fn prune_shrinks_the_store() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.jsonl", &jsonl(0..200));
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    {
        let mut dam = DocumentArrayMemmap::open(t.path().join("store")).unwrap();
        dam.delete_slice(damfs::Slice::step(2)).unwrap();
    }
    let before = stat(t.path(), "store");
    assert!(before["garbage_bytes"].as_u64().unwrap() > 0);
    let o = ok(damfs_output(t.path(), &["prune", "store"], None));
    let after = stat(t.path(), "store");
    assert!(after["bytes"].as_u64() < before["bytes"].as_u64());
    assert_eq!(after["length"], 100);
    assert_eq!(after["generation"], 2);
    let msg = stderr(&o);
    assert!(
        msg.contains(&format!("{} bytes before", before["bytes"]))
            && msg.contains(&format!("{} bytes after", after["bytes"])),
        "{msg}"
    );
    let ids = ids_of(&t.path().join("store"));
    assert_eq!(ids[0], "d1");
    assert_eq!(ids[99], "d199");
}

#[test]
fn clear_empties_the_store() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.jsonl", &jsonl(0..20));
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    let o = ok(damfs_output(t.path(), &["clear", "store"], None));
    assert!(
        stderr(&o).contains("removed 20 documents"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stat(t.path(), "store")["length"], 0);
    let o = ok(damfs_output(t.path(), &["export", "store"], None));
    assert!(o.stdout.is_empty());
    // Old ids are gone: importing them again works.
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    assert_eq!(stat(t.path(), "store")["length"], 20);
}

#[test]
fn a_missing_store_is_a_clear_error_and_is_not_created() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("empty-dir")).unwrap();
    for cmd in ["export", "stat", "prune", "clear"] {
        for store in ["nope", "empty-dir"] {
            let o = fails(damfs_output(t.path(), &[cmd, store], None));
            let err = stderr(&o);
            assert!(
                err.starts_with(&format!("damfs: cannot open store {store}: ")),
                "{cmd} {store}: {err}"
            );
            assert!(o.stdout.is_empty());
        }
    }
    assert!(!t.path().join("nope").exists());
    assert_eq!(fs::read_dir(t.path().join("empty-dir")).unwrap().count(), 0);
}

#[test]
fn a_missing_input_file_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let err = stderr(&fails(damfs_output(
        t.path(),
        &["import", "store", "missing.jsonl"],
        None,
    )));
    assert!(
        err.starts_with("damfs: cannot open missing.jsonl: "),
        "{err}"
    );
    assert!(!t.path().join("store").exists());
}

#[test]
fn usage_errors_exit_with_2() {
    let t = tempfile::tempdir().unwrap();
    for args in [&[][..], &["frobnicate"], &["import"], &["stat", "a", "b"]] {
        let o = damfs_output(t.path(), args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn store_warnings_are_shown() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.jsonl", &jsonl(0..3));
    ok(damfs_output(
        t.path(),
        &["import", "store", "in.jsonl"],
        None,
    ));
    // A crash in the middle of a write leaves a torn tail on the index.
    fs::OpenOptions::new()
        .append(true)
        .open(t.path().join("store/index.dam"))
        .unwrap()
        .write_all(b"BTCH\x00\x00")
        .unwrap();
    let o = ok(damfs_output(t.path(), &["stat", "store"], None));
    assert!(stderr(&o).contains("damfs: warn: "), "{}", stderr(&o));
    assert!(stderr(&o).contains("torn"), "{}", stderr(&o));
    assert_eq!(stat(t.path(), "store")["length"], 3);
}

#[test]
fn an_input_past_the_in_memory_size_is_read_twice_with_the_same_results() {
    let t = tempfile::tempdir().unwrap();
    // Over damfs::cli::IMPORT_IN_MEMORY_MAX (8 MiB): validated in one pass, written from a
    // second read.
    let pad = "p".repeat(100);
    let mut input: String = (0..90_000)
        .map(|i| format!("{{\"id\":\"big{i}\",\"pad\":\"{pad}\"}}\n"))
        .collect();
    assert!(input.len() as u64 > damfs::cli::IMPORT_IN_MEMORY_MAX);
    let good = input.clone();
    input.push_str("{\"id\":\"big17\"}\n");
    write(t.path(), "dup.jsonl", &input);
    let o = fails(damfs_output(
        t.path(),
        &["import", "store", "dup.jsonl"],
        None,
    ));
    assert!(
        stderr(&o).contains("dup.jsonl:90001: duplicate id \"big17\" (first at line 18)"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("store").exists());

    write(t.path(), "good.jsonl", &good);
    let o = ok(damfs_output(
        t.path(),
        &["import", "store", "good.jsonl"],
        None,
    ));
    assert!(
        stderr(&o).contains("imported 90000 documents"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&ok(damfs_output(t.path(), &["export", "store"], None))),
        good
    );
}
