//! rsync onto a mount (README, "Tools"), the tool table's rsync rows in their own module
//! (tools.rs is long enough): `rsync -a`, `rsync -r` and `rsync -r --inplace` of a folder of
//! JSON files onto `by-id/` (ids the store has and new ones) and onto positional names. rsync
//! must exit 0 and the store hold exactly the files' documents; where it cannot work (content
//! that is not a valid document for its name, a position past the end) rsync must fail
//! naming why, and nothing changes.

use crate::support::place::Place;
use crate::support::*;

fn json_of(id: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","text":"{text}"}}"#)
}

/// A folder `name` in the mount's scratch dir holding `files` (name, content).
fn folder(m: &Mount, name: &str, files: &[(&str, &str)]) {
    let dir = m.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
}

/// rsync with `flags` of a folder onto `by-id/`: two ids the store has (one file with its
/// `"id"`, one without), two new ones (with and without) and one that shrinks a document.
fn rsync_onto_by_id(place: &Place, flags: &str) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    let one = json_of("doc1", "from rsync, longer than the text it replaces");
    folder(
        &m,
        "src",
        &[
            ("doc1", &one),
            ("doc3", r#"{"text":"no id in the file"}"#),
            ("doc4", "{}"),
            ("new-a", &json_of("new-a", "new with its id")),
            ("new-b", r#"{"text":"new without"}"#),
        ],
    );
    // Files from long ago: a document stamped now would differ from them, whatever
    // granularity rsync compares times with.
    m.sh("touch -d '2020-01-01 00:00:00' src/*").assert_ok();
    let r = m.sh(&format!("rsync {flags} src/ \"$MNT/by-id/\""));
    r.assert_ok();
    let mut want = expected_docs(5);
    want[1].1 = one;
    want[3].1 = json_of("doc3", "no id in the file");
    want[4].1 = r#"{"id":"doc4"}"#.into();
    // rsync sends files in name order: new-a, then new-b, appended at the end.
    want.push(("new-a".into(), json_of("new-a", "new with its id")));
    want.push(("new-b".into(), json_of("new-b", "new without")));
    m.assert_shows(&want);
    // Again, unchanged: whatever rsync sends once more, the documents stay the same. With
    // -a (times kept, as a rename keeps them) it sends only the files stored otherwise than
    // given: those that got their id added.
    let again = m.sh(&format!("rsync {flags} -i src/ \"$MNT/by-id/\""));
    again.assert_ok();
    if flags == "-a" {
        let mut sent: Vec<&str> = again
            .lines()
            .into_iter()
            .filter(|l| l.starts_with(">f"))
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        sent.sort();
        assert_eq!(sent, ["doc3", "doc4", "new-b"], "{again:#?}");
    }
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn rsync_a_onto_by_id_replaces_in_place_and_appends_new_ids(place: &Place) {
    rsync_onto_by_id(place, "-a");
}

fn rsync_r_onto_by_id_replaces_in_place_and_appends_new_ids(place: &Place) {
    rsync_onto_by_id(place, "-r");
}

fn rsync_r_inplace_onto_by_id_replaces_in_place_and_appends_new_ids(place: &Place) {
    rsync_onto_by_id(place, "-r --inplace");
}

/// rsync with `flags` of files named by position onto `/`: those documents are replaced.
fn rsync_onto_positions(place: &Place, flags: &str) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    folder(
        &m,
        "pos",
        &[
            ("0", r#"{"text":"at position 0"}"#),
            ("2", &json_of("doc2", "at position 2")),
        ],
    );
    m.sh(&format!("rsync {flags} pos/ \"$MNT/\"")).assert_ok();
    let mut want = expected_docs(4);
    want[0].1 = json_of("doc0", "at position 0");
    want[2].1 = json_of("doc2", "at position 2");
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn rsync_a_onto_positional_names_replaces_those_documents(place: &Place) {
    rsync_onto_positions(place, "-a");
}

fn rsync_r_onto_positional_names_replaces_those_documents(place: &Place) {
    rsync_onto_positions(place, "-r");
}

fn rsync_r_inplace_onto_positional_names_replaces_those_documents(place: &Place) {
    rsync_onto_positions(place, "-r --inplace");
}

/// The files that cannot become their documents: a document's id that is not its name's,
/// and a new id whose content is not JSON.
const INVALID: [(&str, &str); 2] = [
    ("doc0", r#"{"id":"someone-else","text":"wrong id"}"#),
    ("fresh", "not json"),
];

/// rsync with `flags` of `files` that cannot become their documents: rsync fails with the
/// errno's message naming each file, and nothing changes (no document, no stray file).
fn rsync_of_invalid_documents(place: &Place, flags: &str, message: &str, files: &[(&str, &str)]) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    folder(&m, "bad", files);
    let r = m.sh(&format!("rsync {flags} bad/ \"$MNT/by-id/\""));
    r.assert_fails_with(message);
    for (name, _) in files {
        assert!(r.stderr.contains(name), "rsync names {name}: {r:#?}");
    }
    m.assert_shows(&expected_docs(3));
    assert_eq!(m.unmount_and_read(), expected_docs(3));
}

fn rsync_a_of_invalid_documents_fails_at_the_rename_and_changes_nothing(place: &Place) {
    // rsync writes `.doc0.XXXXXX`, closes it and renames it: each rename is refused.
    rsync_of_invalid_documents(place, "-a", "Invalid argument", &INVALID);
}

fn rsync_r_inplace_of_an_invalid_replacement_fails_at_close_and_changes_nothing(place: &Place) {
    // Written into the document itself: its close is refused, and rsync stops there.
    rsync_of_invalid_documents(place, "-r --inplace", "close failed", &INVALID[..1]);
}

fn rsync_r_inplace_of_an_invalid_new_document_fails_at_close_and_changes_nothing(place: &Place) {
    rsync_of_invalid_documents(place, "-r --inplace", "close failed", &INVALID[1..]);
}

fn rsync_onto_a_position_past_the_end_is_refused_and_changes_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    folder(&m, "pos", &[("1", r#"{"text":"fine"}"#), ("5", "{}")]);
    // New documents are made in by-id/ (README, "The 4913 rule"): EPERM at the rename.
    let r = m.sh("rsync -a pos/ \"$MNT/\"");
    r.assert_fails_with("Operation not permitted");
    assert!(r.stderr.contains("\"5\""), "{r:#?}");
    let mut want = expected_docs(2);
    want[1].1 = json_of("doc1", "fine");
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(
    rsync_a_onto_by_id_replaces_in_place_and_appends_new_ids,
    rsync_r_onto_by_id_replaces_in_place_and_appends_new_ids,
    rsync_r_inplace_onto_by_id_replaces_in_place_and_appends_new_ids,
    rsync_a_onto_positional_names_replaces_those_documents,
    rsync_r_onto_positional_names_replaces_those_documents,
    rsync_r_inplace_onto_positional_names_replaces_those_documents,
    rsync_a_of_invalid_documents_fails_at_the_rename_and_changes_nothing,
    rsync_r_inplace_of_an_invalid_replacement_fails_at_close_and_changes_nothing,
    rsync_r_inplace_of_an_invalid_new_document_fails_at_close_and_changes_nothing,
    rsync_onto_a_position_past_the_end_is_refused_and_changes_nothing,
);
