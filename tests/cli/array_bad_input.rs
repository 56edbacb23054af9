//! The array commands given bad arguments through the real binary: a clear error naming
//! what and why, never a panic (exit code 101), nothing written where it failed.

use std::path::{Path, PathBuf};

use crate::support::{damfs, scratch};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A store of three documents with 3-value embeddings and a tag.
fn store_with_embeddings(dir: &Path) -> PathBuf {
    let input = dir.join("docs.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"a\",\"embedding\":[1,2,3],\"tags\":{\"c\":\"x\"}}\n\
         {\"id\":\"b\",\"embedding\":[3,1,2],\"tags\":{\"c\":\"y\"}}\n\
         {\"id\":\"c\",\"embedding\":[0,5,1],\"tags\":{\"c\":\"x\"}}\n",
    )
    .unwrap();
    let store = dir.join("store");
    damfs(["import", s(&store), s(&input)]).assert_ok();
    store
}

#[test]
fn visualize_refuses_a_size_it_cannot_draw_instead_of_panicking() {
    let dir = scratch();
    let store = store_with_embeddings(dir.path());
    let png = dir.path().join("plot.png");
    for size in ["0", "1000000", "4294967295"] {
        let run = damfs(["visualize", s(&store), "-o", s(&png), "--size", size]);
        assert_eq!(run.code, 2, "--size {size}: {run:#?}");
        assert!(run.stderr.contains("--size"), "{run:#?}");
        assert!(!run.stderr.contains("panicked"), "{run:#?}");
        assert!(!png.exists());
    }
    // The library says so too.
    let mut dam = damfs::DocumentArrayMemmap::open(&store).unwrap();
    let err = damfs::array::visualize(&mut dam, &png, None, 100_000).unwrap_err();
    assert!(err.to_string().contains("1 to 8192 pixels"), "{err}");
    assert!(!png.exists());
}

#[test]
fn visualize_names_the_output_file_and_why_it_cannot_be_written() {
    let dir = scratch();
    let store = store_with_embeddings(dir.path());
    let missing_dir = dir.path().join("no-such-dir").join("plot.png");
    let run = damfs(["visualize", s(&store), "-o", s(&missing_dir)]);
    run.assert_fails_with(&format!(
        "{}: No such file or directory",
        missing_dir.display()
    ));
    assert!(!run.stderr.contains("backend error"), "{run:#?}");
    // A directory, and a name without the extension the image is written as.
    let run = damfs(["visualize", s(&store), "-o", s(dir.path())]);
    run.assert_fails_with("is a directory");
    let no_ext = dir.path().join("plot");
    let run = damfs(["visualize", s(&store), "-o", s(&no_ext)]);
    run.assert_fails_with("the plot is a PNG image: name the output file *.png");
    assert!(!run.stderr.contains("backend error"), "{run:#?}");
    assert!(!no_ext.exists());
}

fn store_of(dir: &Path, name: &str, jsonl: &str) -> PathBuf {
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, jsonl).unwrap();
    let store = dir.join(name);
    damfs(["import", s(&store), s(&input)]).assert_ok();
    store
}

#[test]
fn an_embedding_beyond_float32s_range_is_named_as_such() {
    let dir = scratch();
    let store = store_of(
        dir.path(),
        "big",
        "{\"id\":\"a\",\"embedding\":[1,2,3]}\n{\"id\":\"b\",\"embedding\":[1,-1e39,3]}\n",
    );
    let png = dir.path().join("p.png");
    for args in [
        vec!["match", s(&store), s(&store)],
        vec!["visualize", s(&store), "-o", s(&png)],
    ] {
        damfs(&args).assert_fails_with(
            "document \"b\": \"embedding\" holds -1e+39, beyond float32's range",
        );
    }
}

#[test]
fn visualize_of_embeddings_that_are_not_numbers_says_so() {
    let dir = scratch();
    let store = store_of(
        dir.path(),
        "strings",
        "{\"id\":\"a\",\"embedding\":[\"x\",\"y\"]}\n{\"id\":\"b\",\"embedding\":\"z\"}\n",
    );
    let png = dir.path().join("p.png");
    let run = damfs(["visualize", s(&store), "-o", s(&png)]);
    run.assert_fails_with("document \"a\": \"embedding\" holds \"x\", not a number");
    assert!(
        !run.stderr.contains("no document has an embedding"),
        "{run:#?}"
    );
    assert!(!png.exists());
}

#[test]
fn split_keeps_apart_values_whose_file_names_would_be_the_same() {
    let dir = scratch();
    let store = store_of(
        dir.path(),
        "clash",
        "{\"id\":\"a\",\"tags\":{\"c\":1.5}}\n{\"id\":\"b\",\"tags\":{\"c\":\"1.5\"}}\n\
         {\"id\":\"c\",\"tags\":{\"c\":true}}\n{\"id\":\"d\",\"tags\":{\"c\":\"true\"}}\n\
         {\"id\":\"e\",\"tags\":{\"c\":1.5}}\n",
    );
    let out = dir.path().join("out");
    let run = damfs(["split", s(&store), "c", s(&out)]);
    let groups: Vec<serde_json::Value> = run
        .assert_ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(groups.len(), 4, "{run:?}");
    let mut files: Vec<&str> = groups.iter().map(|g| g["file"].as_str().unwrap()).collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 4, "two values share a file: {run:?}");
    for g in &groups {
        let text = std::fs::read_to_string(g["file"].as_str().unwrap()).unwrap();
        assert_eq!(text.lines().count() as u64, g["count"].as_u64().unwrap());
        for line in text.lines() {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(doc["tags"]["c"], g["value"]);
        }
    }
}

#[test]
fn a_split_that_fails_removes_the_files_it_made() {
    let dir = scratch();
    let store = store_of(
        dir.path(),
        "groups",
        "{\"id\":\"a\",\"tags\":{\"c\":\"x\"}}\n{\"id\":\"b\",\"tags\":{\"c\":\"y\"}}\n",
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("y.jsonl"), "mine\n").unwrap();
    damfs(["split", s(&store), "c", s(&out)]).assert_fails_with("y.jsonl: File exists");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["y.jsonl"]);
    assert_eq!(
        std::fs::read_to_string(out.join("y.jsonl")).unwrap(),
        "mine\n"
    );
}

#[test]
fn split_into_more_groups_than_the_open_file_limit() {
    let dir = scratch();
    let jsonl: String = (0..300)
        .map(|i| format!("{{\"id\":\"d{i}\",\"tags\":{{\"c\":{}}}}}\n", i % 150))
        .collect();
    let store = store_of(dir.path(), "many", &jsonl);
    let out = dir.path().join("out");
    let script = format!(
        "ulimit -n 64 && {} split {} c {}",
        crate::support::BIN,
        s(&store),
        s(&out)
    );
    let run = crate::support::run(std::process::Command::new("bash").args(["-c", &script]));
    assert_eq!(run.assert_ok().stdout.lines().count(), 150);
    for g in 0..150 {
        let text = std::fs::read_to_string(out.join(format!("{g}.jsonl"))).unwrap();
        let want = format!(
            "{{\"id\":\"d{g}\",\"tags\":{{\"c\":{g}}}}}\n{{\"id\":\"d{}\",\"tags\":{{\"c\":{g}}}}}\n",
            g + 150
        );
        assert_eq!(text, want);
    }
}

#[test]
fn match_reads_a_queries_file_with_a_byte_order_mark_as_import_does() {
    let dir = scratch();
    let store = store_with_embeddings(dir.path());
    let queries = dir.path().join("q.jsonl");
    std::fs::write(&queries, "\u{feff}{\"id\":\"q\",\"embedding\":[1,2,3]}\r\n").unwrap();
    let run = damfs(["match", s(&queries), s(&store), "--limit", "1", "--only-id"]);
    let line: serde_json::Value = serde_json::from_str(run.assert_ok().stdout.trim()).unwrap();
    assert_eq!(line["id"], "q");
    assert_eq!(line["matches"][0]["id"], "a");
}

#[test]
fn match_reads_queries_from_standard_input_and_from_a_pipe() {
    let dir = scratch();
    let store = store_with_embeddings(dir.path());
    let query = "{\"id\":\"q\",\"embedding\":[1,2,3]}\n";
    let args = ["match", "-", s(&store), "--limit", "1", "--only-id"];
    let run = crate::support::damfs_with(dir.path(), &args, query.as_bytes());
    assert!(
        run.assert_ok()
            .stdout
            .contains("\"matches\":[{\"id\":\"a\""),
        "{run:?}"
    );
    // Process substitution hands a pipe (/dev/fd/N), not a regular file.
    let script = format!(
        "{} match <(printf '%s' '{}') {} --limit 1 --only-id",
        crate::support::BIN,
        query.trim(),
        s(&store)
    );
    let run = crate::support::run(std::process::Command::new("bash").args(["-c", &script]));
    assert!(
        run.assert_ok()
            .stdout
            .contains("\"matches\":[{\"id\":\"a\""),
        "{run:?}"
    );
    assert!(!dir.path().join("-").exists());
}
