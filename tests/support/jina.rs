//! The committed original-store fixtures (tests/fixtures/jina/, made by the real jina 2.6.4
//! with scripts/make_jina_fixtures.py) and what the original printed for them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `key-length-*` were made with `key_length=8` and `key_length=64` (found from the header);
/// `overwritten` holds records that end early, as the original's own bugs leave them.
pub const FIXTURES: [&str; 7] = [
    "varied",
    "unprintable",
    "last-deleted",
    "empty",
    "key-length-8",
    "key-length-64",
    "overwritten",
];

/// Documents jina prints but damfs cannot hold, with a word of the reason damfs gives.
pub const DAMFS_REFUSES: [(&str, &str); 4] = [
    ("nan-embedding", "NaN"),
    ("slash/id", "id"),
    (
        "alias",
        "id \"ok-before\" is also the id of the document at header entry 0",
    ),
    // The original reads b5-0's overwritten record as b5-new's document (whose own key
    // keeps it).
    (
        "b5-0",
        "id \"b5-new\" is also the id of the document at header entry 3",
    ),
];

/// The `key_length` a fixture was made with.
pub fn key_length(name: &str) -> usize {
    match name {
        "key-length-8" => 8,
        "key-length-64" => 64,
        _ => 36,
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jina")
        .join(name)
}

/// One live document as the original reads it.
#[derive(Debug, Clone)]
pub struct Expected {
    pub key: String,
    pub entry: u64,
    /// The exact `to_json()` text, or the error the original raised.
    pub json: Result<String, String>,
    /// Stored without an id: the original makes a fresh one on each read.
    pub random_id: bool,
}

pub fn expected(name: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture(name).join("expected.json")).unwrap();
    let items: Vec<Value> = serde_json::from_str(&text).unwrap();
    items
        .into_iter()
        .map(|i| Expected {
            key: i["key"].as_str().unwrap().to_owned(),
            entry: i["entry"].as_u64().unwrap(),
            json: match (&i["json"], &i["error"]) {
                (Value::String(j), _) => Ok(j.clone()),
                (_, Value::String(e)) => Err(e.clone()),
                _ => panic!("fixture item without json or error: {i}"),
            },
            random_id: i["random_id"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// The id a `to_json()` text names (its top-level `"id"`).
pub fn id_of(json: &str) -> String {
    let v: Value = serde_json::from_str(json).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// `expected` with its (random) id replaced by `id`.
pub fn with_id(expected: &str, id: &str) -> String {
    let old = id_of(expected);
    expected.replacen(
        &format!("\"id\": \"{old}\""),
        &format!("\"id\": \"{id}\""),
        1,
    )
}

/// Whether damfs is expected to convert this document (the original prints it, and damfs
/// can hold it).
pub fn converts(e: &Expected) -> bool {
    e.json.is_ok() && !DAMFS_REFUSES.iter().any(|(k, _)| *k == e.key)
}
