//! `damfs export STORE --jina DIR` through the real binary: a store jina 2.6.4 opens (the
//! committed round-trip.json is what jina printed for these exports), arrays typed by a
//! documented rule, and documents that do not fit Jina's schema refused by name and field.

use std::path::Path;

use damfs::jina::proto::{Content, DocumentProto, NdArrayContent};
use damfs::jina::{Documents, JinaStore};
use prost::Message;
use serde_json::Value;

use crate::support;
use crate::support::jina::*;
use crate::support::{damfs, scratch};

fn export(store: &Path, out: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "export".to_owned(),
        store.display().to_string(),
        "--jina".to_owned(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    damfs(args)
}

fn import_fixture(store: &Path, name: &str) {
    damfs([
        "import".as_ref(),
        store.as_os_str(),
        fixture(name).as_os_str(),
        "--skip-bad".as_ref(),
    ])
    .assert_ok();
}

fn records(dir: &Path) -> Vec<DocumentProto> {
    let store = JinaStore::open(dir).unwrap();
    let mut reader = store.body_reader();
    store
        .live()
        .iter()
        .map(|l| DocumentProto::decode(reader.record(l).unwrap().unwrap()).unwrap())
        .collect()
}

fn dtype_of(doc: &DocumentProto, blob: bool) -> String {
    let array = if blob {
        match &doc.content {
            Some(Content::Blob(a)) => a,
            _ => panic!("no blob"),
        }
    } else {
        doc.embedding.as_ref().unwrap()
    };
    match &array.content {
        Some(NdArrayContent::Dense(d)) => d.dtype.clone(),
        _ => panic!("not dense"),
    }
}

#[test]
fn an_exact_export_reads_back_as_what_jina_printed_for_it() {
    let printed: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("round-trip.json")).unwrap())
            .unwrap();
    for name in FIXTURES {
        let dir = scratch();
        let (store, out) = (dir.path().join("store"), dir.path().join("out"));
        import_fixture(&store, name);
        let k = key_length(name).to_string();
        let exact = ["--embedding-dtype", "exact", "--blob-dtype", "exact"];
        export(&store, &out, &[&exact[..], &["--key-length", &k]].concat()).assert_ok();
        // Read back with the key length found from the header, as the original's store.
        let jina = JinaStore::open(&out).unwrap();
        let entries = std::fs::metadata(out.join("header.bin")).unwrap().len();
        assert_eq!(entries % (24 + 4 * key_length(name) as u64), 0, "{name}");
        let docs: Vec<_> = Documents::new(&jina).map(|r| r.unwrap().unwrap()).collect();
        let want: Vec<&str> = printed[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let originals: Vec<Expected> = expected(name).into_iter().filter(converts).collect();
        assert_eq!(docs.len(), want.len(), "{name}");
        for ((doc, text), original) in docs.iter().zip(want).zip(&originals) {
            if original.random_id {
                assert_eq!(doc.json(), with_id(text, doc.id()), "{name}");
            } else {
                assert_eq!(doc.json(), text, "{name}: {}", original.key);
            }
        }
    }
}

#[test]
fn the_files_are_laid_out_as_the_original_writes_them() {
    let dir = scratch();
    let (store, out) = (dir.path().join("store"), dir.path().join("out"));
    import_fixture(&store, "varied");
    let run = export(&store, &out, &["--embedding-dtype", "exact"]);
    let n = expected("varied").len();
    assert!(run
        .assert_ok()
        .stderr
        .contains(&format!("exported {n} documents")));
    let header = std::fs::read(out.join("header.bin")).unwrap();
    let body_len = std::fs::metadata(out.join("body.bin")).unwrap().len();
    assert_eq!(header.len(), 168 * n);
    let mut end = 0u64;
    for entry in header.chunks_exact(168) {
        let e = damfs::jina::header::decode_entry(entry, 36).unwrap();
        assert_eq!(e.p % 4096, 0, "p is page-aligned");
        assert_eq!((e.p + e.r) as u64, end, "records follow each other");
        end = (e.p + e.r_plus_l) as u64;
    }
    assert_eq!(end, body_len, "the last entry ends at the end of body.bin");
    assert!(
        std::fs::read_dir(&out).unwrap().count() == 2,
        "no temporary files left"
    );
}

#[test]
fn arrays_are_float32_by_default_and_the_rule_can_be_overridden() {
    let dir = scratch();
    let by_id = |out: &Path, id: &str| records(out).into_iter().find(|d| d.id == id).unwrap();

    let typed = dir.path().join("typed");
    let input = dir.path().join("typed.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":\"f\",\"embedding\":[0.1,2]}\n",
            "{\"id\":\"i\",\"embedding\":[[1,2],[3,4]]}\n",
            "{\"id\":\"b\",\"embedding\":[true,false]}\n",
            "{\"id\":\"s\",\"embedding\":[\"ab\",\"c\"]}\n",
            "{\"id\":\"u8\",\"blob\":[[0,255]]}\n",
        ),
    )
    .unwrap();
    damfs(["import".as_ref(), typed.as_os_str(), input.as_os_str()]).assert_ok();
    let default = dir.path().join("default");
    export(&typed, &default, &[]).assert_ok();
    assert_eq!(dtype_of(&by_id(&default, "f"), false), "<f4");
    assert_eq!(dtype_of(&by_id(&default, "i"), false), "<f4");
    assert_eq!(dtype_of(&by_id(&default, "b"), false), "|b1");
    assert_eq!(dtype_of(&by_id(&default, "s"), false), "<U2");
    assert_eq!(dtype_of(&by_id(&default, "u8"), true), "<f4");
    let forced = dir.path().join("forced");
    export(&typed, &forced, &["--blob-dtype", "uint8"]).assert_ok();
    assert_eq!(dtype_of(&by_id(&forced, "u8"), true), "|u1");

    // From jina: the default float32 cannot hold 1e300 (the float64 embedding); exact keeps
    // every dtype a value needs.
    let store = dir.path().join("store");
    import_fixture(&store, "varied");
    export(&store, &dir.path().join("f32"), &[]).assert_fails_with(
        "document \"f64\": field \"embedding\": element 2: 1e+300 is out of range",
    );
    let exact = dir.path().join("exact");
    export(
        &store,
        &exact,
        &["--embedding-dtype", "exact", "--blob-dtype", "exact"],
    )
    .assert_ok();
    assert_eq!(dtype_of(&by_id(&exact, "f64"), false), "<f8");
    assert_eq!(dtype_of(&by_id(&exact, "f32"), false), "<f4");
    assert_eq!(dtype_of(&by_id(&exact, "ints"), false), "<i8");
    assert_eq!(dtype_of(&by_id(&exact, "u64"), false), "<u8");
    assert_eq!(dtype_of(&by_id(&exact, "u8"), true), "<i8");
    assert_eq!(dtype_of(&by_id(&exact, "blob-f32"), true), "<f4");

    // A forced dtype that cannot hold a value names the document and the field.
    let run = export(
        &store,
        &dir.path().join("u8"),
        &["--embedding-dtype", "uint8"],
    );
    run.assert_fails_with("document \"f32\": field \"embedding\": element 0");
    run.assert_fails_with("nothing was written");
    assert!(!dir.path().join("u8").exists());
    export(
        &store,
        &dir.path().join("x"),
        &["--embedding-dtype", "complex"],
    )
    .assert_fails_with("not a dtype rule");
}

#[test]
fn a_field_jinas_schema_does_not_have_is_an_error_naming_document_and_field() {
    let dir = scratch();
    let (store, out) = (dir.path().join("store"), dir.path().join("out"));
    let input = dir.path().join("docs.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":\"fine\",\"text\":\"ok\",\"tags\":{\"anything\":[1,{\"goes\":null}]}}\n",
            "{\"id\":\"x\",\"text\":\"a\",\"color\":\"red\"}\n",
            "{\"id\":\"y\",\"chunks\":[{\"id\":\"c\",\"foo\":1}]}\n",
            "{\"id\":\"z\",\"text\":\"a\",\"buffer\":\"YWJj\"}\n",
            "{\"id\":\"w\",\"embedding\":[[1,2],[3]]}\n",
        ),
    )
    .unwrap();
    damfs(["import".as_ref(), store.as_os_str(), input.as_os_str()]).assert_ok();
    let run = export(&store, &out, &[]);
    run.assert_fails_with("document \"x\": field \"color\": Jina's Document has no such field");
    run.assert_fails_with("document \"y\": field \"chunks[0].foo\"");
    run.assert_fails_with("document \"z\": field \"buffer\": a document has only one of text");
    run.assert_fails_with("document \"w\": field \"embedding\": is not a rectangular array");
    run.assert_fails_with("export failed: 4 documents that do not fit; nothing was written");
    assert!(!out.exists(), "nothing is left behind");

    // Into a directory that is not empty: refused, and its files untouched.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), "mine").unwrap();
    export(&store, &out, &[]).assert_fails_with("not empty");
    assert_eq!(std::fs::read_to_string(out.join("keep")).unwrap(), "mine");
}

#[test]
fn ids_that_share_their_first_36_characters_are_refused() {
    let dir = scratch();
    let (store, out) = (dir.path().join("store"), dir.path().join("out"));
    let input = dir.path().join("docs.jsonl");
    let long = "x".repeat(36);
    std::fs::write(
        &input,
        format!("{{\"id\":\"{long}-one\"}}\n{{\"id\":\"short\"}}\n{{\"id\":\"{long}-two\"}}\n"),
    )
    .unwrap();
    damfs(["import".as_ref(), store.as_os_str(), input.as_os_str()]).assert_ok();
    let run = export(&store, &out, &[]);
    run.assert_fails_with(&format!(
        "document \"{long}-two\": the original keys documents by the first 36 characters of \
         their id, which \"{long}-one\" shares"
    ));
    assert!(!out.exists());
}
