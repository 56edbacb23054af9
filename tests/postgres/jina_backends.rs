//! The original's stores in and out of both backends: `damfs import STORE JINA_DIR` and
//! `damfs export STORE --jina DIR`, where STORE is a directory or a `postgresql://` URL.

use damfs::jina::convert::Documents;
use damfs::jina::JinaStore;

use crate::support::jina::{converts, expected, fixture, with_id};
use crate::support::place::Place;
use crate::support::{both_backends, damfs, scratch};

fn a_jina_store_imports_and_exports_back_exactly(place: &Place) {
    let jina = fixture("varied");
    let jina = jina.to_str().unwrap();
    damfs(["import", &place.arg(), jina]).assert_ok();
    let want: Vec<String> = expected("varied")
        .into_iter()
        .filter(converts)
        .map(|e| e.json.unwrap())
        .collect();
    let got = place.contents();
    assert_eq!(got.len(), want.len());
    for ((id, text), want) in got.iter().zip(&want) {
        if text != want {
            assert_eq!(text, &with_id(want, id), "{id}");
        }
    }
    // Importing it again clashes on every id, and writes nothing.
    damfs(["import", &place.arg(), jina]).assert_fails_with("already exists in the store");
    assert_eq!(place.contents(), got);

    let dir = scratch();
    let out = dir.path().join("back");
    let exact = ["--embedding-dtype", "exact", "--blob-dtype", "exact"];
    let store = place.arg();
    let args = [
        &["export", &store, "--jina", out.to_str().unwrap()][..],
        &exact,
    ]
    .concat();
    damfs(args).assert_ok();
    let back = JinaStore::open(&out).unwrap();
    let texts: Vec<(String, String)> = Documents::new(&back)
        .map(|d| d.unwrap().unwrap())
        .map(|d| (d.id().to_owned(), d.json().to_owned()))
        .collect();
    assert_eq!(texts, got);
}

both_backends!(a_jina_store_imports_and_exports_back_exactly);
