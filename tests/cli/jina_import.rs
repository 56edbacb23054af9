//! `damfs import STORE JINA_DIR` through the real binary: a Jina store is detected, converted
//! to the original's `to_json()` texts, all or nothing, with `--skip-bad` to leave out (and
//! report) what cannot be converted.

use crate::support;
use crate::support::jina::*;
use crate::support::{damfs, make_store, read_store, scratch};

fn import(store: &std::path::Path, fixture_name: &str, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "import".to_owned(),
        store.display().to_string(),
        fixture(fixture_name).display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    damfs(args)
}

#[test]
fn a_jina_store_imports_as_its_to_json_texts_in_order() {
    let dir = scratch();
    let store = dir.path().join("store");
    let run = import(&store, "varied", &[]);
    run.assert_ok();
    let want: Vec<Expected> = expected("varied");
    assert!(
        run.stderr
            .contains(&format!("imported {} documents", want.len())),
        "{run:?}"
    );
    let docs = read_store(&store);
    assert_eq!(docs.len(), want.len());
    for ((id, json), e) in docs.iter().zip(&want) {
        let text = e.json.as_ref().unwrap();
        if e.random_id {
            assert_eq!(json, &with_id(text, id));
        } else {
            assert_eq!(json, text, "{}", e.key);
            assert_eq!(id, &id_of(text));
        }
    }
    // Truncated header keys: the 40-character id keeps its full id; duplicates: first
    // position, last content.
    let long = docs.iter().find(|(id, _)| id.starts_with("aaaa")).unwrap();
    assert_eq!(long.0, format!("{}LONG", "a".repeat(36)));
    let dup = docs.iter().position(|(id, _)| id == "dup").unwrap();
    assert!(docs[dup].1.contains("last content wins"));
    assert!(!docs.iter().any(|(id, _)| id == "to-delete"));
}

#[test]
fn records_that_cannot_be_converted_fail_the_import_and_nothing_is_written() {
    let dir = scratch();
    let store = dir.path().join("store");
    let run = import(&store, "unprintable", &[]);
    run.assert_fails_with(
        "document \"complex\" (header entry 1): the original cannot print it either",
    );
    run.assert_fails_with("document \"slash/id\" (header entry 9): damfs cannot convert it");
    run.assert_fails_with("import failed: 11 invalid records; nothing was written");
    assert!(!store.exists(), "a failed import must not create the store");

    // An existing store is left exactly as it was.
    make_store(&store, 3);
    let before = read_store(&store);
    import(&store, "unprintable", &[]).assert_fails_with("nothing was written");
    assert_eq!(read_store(&store), before);
}

#[test]
fn skip_bad_leaves_out_and_reports_each_bad_record() {
    let dir = scratch();
    let store = dir.path().join("store");
    let run = import(&store, "unprintable", &["--skip-bad"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("imported 5 documents; skipped 11"),
        "{run:?}"
    );
    for key in [
        "complex",
        "bytes-dtype",
        "sparse",
        "garbage",
        "bad-utf8",
        "nan-embedding",
        "alias",
    ] {
        assert!(
            run.stderr.contains(&format!("skipped document \"{key}\"")),
            "{key} not reported: {}",
            run.stderr
        );
    }
    let ids: Vec<String> = read_store(&store).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        ["ok-before", "zeros", "graph", "old-offset", "ok-after"]
    );
}

#[test]
fn ids_the_store_already_has_fail_the_import() {
    let dir = scratch();
    let store = dir.path().join("store");
    import(&store, "last-deleted", &[]).assert_ok();
    let before = read_store(&store);
    let run = import(&store, "last-deleted", &[]);
    run.assert_fails_with(
        "document \"d0\" (header entry 0): a document with this id already exists",
    );
    assert_eq!(read_store(&store), before);
}

#[test]
fn a_store_the_original_cannot_reopen_still_imports() {
    // Its last header entry is a tombstone: jina 2.6.4 fails with EINVAL on open.
    let dir = scratch();
    let store = dir.path().join("store");
    import(&store, "last-deleted", &[]).assert_ok();
    let ids: Vec<String> = read_store(&store).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["d0", "d1"]);
    let run = import(&dir.path().join("empty-store"), "empty", &[]);
    assert!(
        run.assert_ok().stderr.contains("imported 0 documents"),
        "{run:?}"
    );
}

#[test]
fn skip_bad_is_only_for_jina_stores_and_broken_headers_are_refused() {
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    let store = dir.path().join("store");
    damfs([
        "import".as_ref(),
        store.as_os_str(),
        input.as_os_str(),
        "--skip-bad".as_ref(),
    ])
    .assert_fails_with("applies only to imports of a Jina store");

    let jina = dir.path().join("broken");
    std::fs::create_dir(&jina).unwrap();
    std::fs::write(jina.join("header.bin"), [0u8; 100]).unwrap();
    std::fs::write(jina.join("body.bin"), b"").unwrap();
    damfs(["import".as_ref(), store.as_os_str(), jina.as_os_str()])
        .assert_fails_with("not a whole number of 168-byte entries");
    assert!(!store.exists());
}

#[test]
fn damaged_entries_are_reported_by_header_entry() {
    let dir = scratch();
    let jina = dir.path().join("damaged");
    std::fs::create_dir(&jina).unwrap();
    let mut header = std::fs::read(fixture("last-deleted").join("header.bin")).unwrap();
    header[..4].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes()); // entry 0's key: not UTF-32
    std::fs::write(jina.join("header.bin"), header).unwrap();
    let body = std::fs::read(fixture("last-deleted").join("body.bin")).unwrap();
    std::fs::write(jina.join("body.bin"), &body[..body.len() / 2]).unwrap(); // cuts d1 off
    let store = dir.path().join("store");
    let run = damfs(["import".as_ref(), store.as_os_str(), jina.as_os_str()]);
    run.assert_fails_with("header entry 0: the original cannot print it either: its key in header.bin is not valid UTF-32");
    run.assert_fails_with(
        "document \"d1\" (header entry 1): the original cannot print it either: its record",
    );
    run.assert_fails_with("goes past the end of body.bin");
    assert!(!store.exists());
}

#[test]
fn a_directory_missing_half_of_a_jina_store_says_which_file() {
    let dir = scratch();
    let store = dir.path().join("store");
    let half = dir.path().join("half");
    std::fs::create_dir(&half).unwrap();
    std::fs::copy(
        fixture("last-deleted").join("header.bin"),
        half.join("header.bin"),
    )
    .unwrap();
    damfs(["import".as_ref(), store.as_os_str(), half.as_os_str()])
        .assert_fails_with("is not a Jina store: it has header.bin but no body.bin");
    // body.bin that is a directory, not a file.
    std::fs::create_dir(half.join("body.bin")).unwrap();
    damfs(["import".as_ref(), store.as_os_str(), half.as_os_str()])
        .assert_fails_with("is not a Jina store: its body.bin is not a regular file");
    // A directory of neither: what import reads.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    damfs(["import".as_ref(), store.as_os_str(), plain.as_os_str()]).assert_fails_with(
        "is a directory, not a JSON Lines or JSON file, and not a Jina store (it has no header.bin \
         and no body.bin)",
    );
    assert!(!store.exists());
}

#[test]
fn a_header_entry_past_the_end_of_the_body_is_refused_as_damage_the_original_would_hide() {
    // jina slices body.bin as Python does: an entry wholly past its end reads as an empty
    // record, a made-up document with a fresh id. damfs refuses it, and does not claim that
    // the original cannot print it.
    let dir = scratch();
    let jina = dir.path().join("past-the-end");
    std::fs::create_dir(&jina).unwrap();
    let body = std::fs::read(fixture("last-deleted").join("body.bin")).unwrap();
    let mut header = std::fs::read(fixture("last-deleted").join("header.bin")).unwrap();
    let past = body.len() as i64 + 4096;
    header[168 + 144..168 + 152].copy_from_slice(&past.to_le_bytes()); // entry 1's p
    std::fs::write(jina.join("header.bin"), header).unwrap();
    std::fs::write(jina.join("body.bin"), &body).unwrap();
    let store = dir.path().join("store");
    let run = damfs(["import".as_ref(), store.as_os_str(), jina.as_os_str()]);
    run.assert_fails_with("document \"d1\" (header entry 1): damfs cannot convert it: its record");
    run.assert_fails_with(&format!(
        "goes past the end of body.bin ({} bytes)",
        body.len()
    ));
    run.assert_fails_with("the store is damaged");
    assert!(!store.exists());
}

/// A copy of a fixture whose header.bin ends with the first `extra` bytes of another entry,
/// as a kill -9 while jina flushed its header leaves it.
fn torn_copy(dir: &std::path::Path, name: &str, extra: usize) -> std::path::PathBuf {
    let jina = dir.join(format!("torn-{name}"));
    std::fs::create_dir(&jina).unwrap();
    let mut header = std::fs::read(fixture(name).join("header.bin")).unwrap();
    let tail = header[..extra].to_vec();
    header.extend_from_slice(&tail);
    std::fs::write(jina.join("header.bin"), header).unwrap();
    std::fs::copy(fixture(name).join("body.bin"), jina.join("body.bin")).unwrap();
    jina
}

#[test]
fn a_header_torn_by_a_crash_names_its_partial_entry_and_skip_bad_keeps_the_whole_ones() {
    let dir = scratch();
    let jina = torn_copy(dir.path(), "last-deleted", 50);
    let store = dir.path().join("store");
    let run = damfs(["import".as_ref(), store.as_os_str(), jina.as_os_str()]);
    run.assert_fails_with("header entry 3: the original cannot print it either");
    run.assert_fails_with("not a whole number of 168-byte entries");
    run.assert_fails_with("its last 50 bytes are part of an entry");
    assert!(!store.exists());
    let run = damfs([
        "import".as_ref(),
        store.as_os_str(),
        jina.as_os_str(),
        "--skip-bad".as_ref(),
    ]);
    assert!(
        run.assert_ok()
            .stderr
            .contains("imported 2 documents; skipped 1"),
        "{run:?}"
    );
    let ids: Vec<String> = read_store(&store).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["d0", "d1"]);

    // Another key_length is still found from the whole entries.
    let jina = torn_copy(dir.path(), "key-length-8", 20);
    let store = dir.path().join("store-8");
    damfs([
        "import".as_ref(),
        store.as_os_str(),
        jina.as_os_str(),
        "--skip-bad".as_ref(),
    ])
    .assert_ok();
    let want: Vec<String> = expected("key-length-8")
        .iter()
        .map(|e| e.json.clone().unwrap())
        .collect();
    let got: Vec<String> = read_store(&store).into_iter().map(|(_, j)| j).collect();
    assert_eq!(got, want);
}

#[test]
fn a_jina_store_given_as_a_damfs_store_says_how_to_take_it_and_stays_as_it_was() {
    let dir = scratch();
    let jina = dir.path().join("jina-store");
    std::fs::create_dir(&jina).unwrap();
    for f in ["header.bin", "body.bin"] {
        std::fs::copy(fixture("varied").join(f), jina.join(f)).unwrap();
    }
    let before: Vec<_> = ["header.bin", "body.bin"]
        .iter()
        .map(|f| std::fs::read(jina.join(f)).unwrap())
        .collect();
    let shown = jina.display().to_string();
    // Reading commands open read-only, writing ones writable: both say the same.
    for args in [
        vec!["ls"],
        vec!["stat"],
        vec!["export"],
        vec!["rm", "x"],
        vec!["prune"],
    ] {
        let mut argv: Vec<&str> = vec![args[0], &shown];
        argv.extend(&args[1..]);
        let run = damfs(&argv);
        run.assert_fails_with("is a Jina DocumentArrayMemmap store");
        run.assert_fails_with(&format!("damfs import NEW_STORE {shown}"));
        run.assert_fails_with(&format!("damfs mount {shown} MOUNTPOINT --read-only"));
    }
    let after: Vec<_> = ["header.bin", "body.bin"]
        .iter()
        .map(|f| std::fs::read(jina.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    let mut names: Vec<_> = std::fs::read_dir(&jina)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["body.bin", "header.bin"], "nothing was added");
}
