//! A damaged index header must never make a writer throw away the store's real files.
//! The header's `body_generation` (offset 24) names the body file; a writable open removes
//! bodies of other generations as leftovers of an interrupted prune. With the header
//! damaged, the real body looks like such a leftover: it must be kept, so that once the
//! header is repaired (or restored from a backup) every saved document is still there.

use std::fs;

use damfs::{DocumentArrayMemmap, Error};

use crate::support::store::*;

/// Damages the index header byte at `offset`, tries a writable open (which must fail with
/// a clear error), repairs the byte, and checks the store is exactly as saved.
fn writer_keeps_the_body_of_a_damaged_header(offset: usize, bit: u8) {
    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 5);
    let saved = read_store(&store);
    let body = body_path(&store);
    let index = index_path(&store);
    let original = fs::read(&index).unwrap();
    let mut damaged = original.clone();
    damaged[offset] ^= bit;
    fs::write(&index, &damaged).unwrap();

    let err = DocumentArrayMemmap::open_with(&store, writable(3))
        .expect_err("a store whose header names the wrong body must not open");
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Corrupt { .. }),
        "offset {offset}: a damaged header is Corrupt, not {msg:?}"
    );
    assert!(
        msg.contains("index.dam"),
        "offset {offset}: the error names the index: {msg}"
    );
    assert!(
        body.exists(),
        "offset {offset}: the writable open removed the store's body {}",
        body.display()
    );

    fs::write(&index, &original).unwrap();
    assert_same(&read_store(&store), &saved, "after repairing the header");
}

#[test]
fn a_flipped_body_generation_in_the_index_header_keeps_the_body() {
    // (Bit 0 would make the field 0, which means "the same as the generation": harmless.)
    for bit in [2, 4, 0x80] {
        writer_keeps_the_body_of_a_damaged_header(24, bit);
    }
    writer_keeps_the_body_of_a_damaged_header(31, 1);
}

#[test]
fn damfs_put_into_a_store_with_a_damaged_header_loses_nothing() {
    use crate::support::run::damfs_with;
    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 3);
    let saved = read_store(&store);
    let index = index_path(&store);
    let original = fs::read(&index).unwrap();
    let mut damaged = original.clone();
    damaged[24] ^= 2;
    fs::write(&index, &damaged).unwrap();

    for args in [
        &["put", "store", "-"][..],
        &["import", "store", "-"],
        &["rm", "store", "doc0"],
        &["prune", "store"],
        &["clear", "store"],
    ] {
        let run = damfs_with(dir.path(), args, b"{\"id\":\"new\"}\n");
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        assert!(run.stderr.contains("index.dam"), "{args:?}: {run:#?}");
    }
    fs::write(&index, &original).unwrap();
    assert_same(&read_store(&store), &saved, "after repairing the header");
}

/// A version field damaged to 1 (the first format, whose batches start right after the
/// header) made the whole index read as one torn tail: the store looked empty, and the
/// next writer's upgrade rewrote it empty, dropping every saved document. A version-2
/// index has commit records, which a version-1 one never has: that is damage, an error.
#[test]
fn a_version_field_damaged_to_1_is_an_error_and_loses_nothing() {
    use crate::support::run::damfs_with;
    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 4);
    let saved = read_store(&store);
    let index = index_path(&store);
    let original = fs::read(&index).unwrap();
    let mut damaged = original.clone();
    damaged[8] = 1;
    fs::write(&index, &damaged).unwrap();

    for opts in [writable(3), read_only()] {
        let err = DocumentArrayMemmap::open_with(&store, opts)
            .expect_err("a version-2 index labelled version 1 must not open");
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("index.dam"), "{err}");
    }
    let run = damfs_with(dir.path(), &["put", "store", "-"], b"{\"id\":\"new\"}\n");
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("version"), "{run:#?}");

    fs::write(&index, &original).unwrap();
    assert_same(&read_store(&store), &saved, "after repairing the header");
}
