//! Tools that back a file up by renaming it next to itself before writing the new one:
//! `sed -i.bak`, `perl -pi.bak`, `patch -b` (README, "Writing": a document cannot take a
//! name that looks like a tool's temporary). On a mount such a rename would turn the
//! document into a stray document named like its backup and put the edited text at the end;
//! it is refused with EPERM instead, the tool says so, and nothing changes.

use crate::support::place::Place;
use crate::support::*;

fn sed_i_bak_on_a_document_is_refused_and_leaves_no_stray_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    m.sh("sed -i.bak s/document/DOC/ \"$MNT/by-id/doc1\"")
        .assert_fails_with("Operation not permitted");
    m.sh("sed -i.orig s/document/DOC/ \"$MNT\"/by-id/*")
        .assert_fails_with("Operation not permitted");
    assert_eq!(m.names("by-id"), ["doc0", "doc1", "doc2", "doc3", "doc4"]);
    m.assert_shows(&expected_docs(5));
    assert!(m
        .read_log("store.damfs.log")
        .contains("cannot take a temporary file's name"));
    assert_eq!(m.unmount_and_read(), expected_docs(5));
}

fn perl_pi_bak_skips_the_document_and_changes_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    // perl tries link(2) (EPERM), then rename(2) (EPERM), and skips the file.
    m.sh("perl -pi.bak -e s/document/DOC/ \"$MNT/by-id/doc2\" 2>&1 | grep -q \"Can't rename\"")
        .assert_ok();
    assert_eq!(m.names("by-id"), ["doc0", "doc1", "doc2", "doc3", "doc4"]);
    m.assert_shows(&expected_docs(5));
    assert_eq!(m.stats()["temporary_files"], 0);
    assert_eq!(m.unmount_and_read(), expected_docs(5));
}

fn a_document_renamed_to_a_backup_name_stays_where_it_is(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    for backup in ["doc0.bak", "doc0.orig"] {
        m.sh(&format!("mv \"$MNT/by-id/doc0\" \"$MNT/by-id/{backup}\""))
            .assert_fails_with("Operation not permitted");
    }
    // A document of that name can still be made on purpose, with its id in the JSON.
    m.sh("printf '{\"id\":\"notes.bak\"}' > \"$MNT/by-id/notes.bak\"")
        .assert_ok();
    let mut want = expected_docs(3);
    want.push(("notes.bak".into(), "{\"id\":\"notes.bak\"}".into()));
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(
    sed_i_bak_on_a_document_is_refused_and_leaves_no_stray_document,
    perl_pi_bak_skips_the_document_and_changes_nothing,
    a_document_renamed_to_a_backup_name_stays_where_it_is,
);
