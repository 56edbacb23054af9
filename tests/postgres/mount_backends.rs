//! The mount on both backends: tools through the mount, and two mounts of one store seeing
//! each other's saved changes within a second, without `.reload`.

use std::time::{Duration, Instant};

use crate::support::place::{mount, Place};
use crate::support::*;

const SOON: Duration = Duration::from_secs(1);

fn json_of(id: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","text":"{text}"}}"#)
}

/// Whether the mount shows `want` by position, texts and sizes. (On PostgreSQL a text is
/// read from the table, so it can be newer than the size the mount knows until it has
/// taken the change in: both must agree.)
fn shows(m: &Mount, want: &[(String, String)]) -> bool {
    m.docs_by_position() == want
        && want.iter().enumerate().all(|(i, (_, json))| {
            std::fs::metadata(m.mnt.join(i.to_string()))
                .is_ok_and(|st| st.len() == json.len() as u64)
        })
}

/// Waits (up to a second) until the mount shows `want`.
#[track_caller]
fn shows_soon(m: &Mount, want: &[(String, String)]) {
    let start = Instant::now();
    let seen = wait_for(SOON, || shows(m, want));
    assert!(
        seen,
        "not current within {SOON:?}: {:?}",
        m.docs_by_position()
    );
    eprintln!("caught up in {:?}", start.elapsed());
    m.assert_shows(want);
}

fn tools_through_the_mount(place: &Place) {
    if !fuse_available() {
        eprintln!("skipping: /dev/fuse is not usable here");
        return;
    }
    let m = mount(place, 5, &[]);
    m.sh(r#"set -e
        cat "$MNT/0" > /dev/null
        sed -i 's/document/DOC/' "$MNT/1" "$MNT/by-id/doc2"
        rm "$MNT/by-id/doc4"
        mv "$MNT/by-id/doc3" "$MNT/by-id/three"
        printf '{"text":"new"}' > "$MNT/by-id/fresh"
        echo 1 > "$MNT/.save""#)
        .assert_ok();
    let want = vec![
        ("doc0".to_owned(), doc_json(0)),
        ("doc1".into(), json_of("doc1", "text of DOC 1")),
        ("doc2".into(), json_of("doc2", "text of DOC 2")),
        ("three".into(), json_of("three", "text of document 3")),
        ("fresh".into(), json_of("fresh", "new")),
    ];
    m.assert_shows(&want);
    m.unmount();
    assert_eq!(place.contents(), want);
}

fn two_mounts_see_each_others_saved_changes(place: &Place) {
    if !fuse_available() {
        eprintln!("skipping: /dev/fuse is not usable here");
        return;
    }
    let a = mount(place, 4, &[]);
    let b = mount(place, 0, &[]);
    let mut want = expected_docs(4);
    a.sh(r#"printf '{"text":"from a"}' > "$MNT/1" && echo 1 > "$MNT/.save""#)
        .assert_ok();
    want[1].1 = json_of("doc1", "from a");
    shows_soon(&b, &want);

    b.sh(r#"rm "$MNT/0" && printf '{"text":"from b"}' > "$MNT/by-id/bee" && mv "$MNT/by-id/doc3" "$MNT/by-id/three""#)
        .assert_ok();
    want.remove(0);
    want.push(("bee".into(), json_of("bee", "from b")));
    want[2] = ("three".into(), json_of("three", "text of document 3"));
    shows_soon(&a, &want);
    shows_soon(&b, &want);
    // Appends from both at once: nothing lost, each mount sees all.
    a.sh(r#"for i in 1 2 3 4 5; do printf '{"text":"a"}' > "$MNT/by-id/a$i"; done"#)
        .assert_ok();
    b.sh(r#"for i in 1 2 3 4 5; do printf '{"text":"b"}' > "$MNT/by-id/b$i"; done"#)
        .assert_ok();
    let settled = wait_for(Duration::from_secs(2), || {
        a.docs_by_position().len() == 14 && a.docs_by_position() == b.docs_by_position()
    });
    assert!(
        settled,
        "a: {:?}\nb: {:?}",
        a.names("by-id"),
        b.names("by-id")
    );
    a.unmount();
    b.unmount();
    assert_eq!(place.contents().len(), 14);
}

fn bulk_views_and_control_files(place: &Place) {
    if !fuse_available() {
        eprintln!("skipping: /dev/fuse is not usable here");
        return;
    }
    let m = mount(place, 300, &[]);
    // .all.jsonl streams every document in order, as `damfs export` prints them.
    let all = std::fs::read_to_string(m.mnt.join(".all.jsonl")).unwrap();
    let want: Vec<String> = (0..300).map(doc_json).collect();
    assert_eq!(all.lines().collect::<Vec<_>>(), want);
    // .append.jsonl appends all of its lines at close, or none.
    m.sh(r#"printf '{"id":"n1"}\n{"id":"n2"}\n' > "$MNT/.append.jsonl""#)
        .assert_ok();
    let bad = sys::overwrite(
        &m.mnt.join(".append.jsonl"),
        b"{\"id\":\"n3\"}\n{\"id\":\"doc0\"}\n",
    );
    assert_eq!(
        bad.err().map(|f| (f.call, f.errno)),
        Some(("close", libc::EINVAL))
    );
    assert_eq!(m.names("by-id").len(), 302);
    assert!(!m.mnt.join("by-id/n3").exists());
    // .prune keeps everything; .clear empties the store.
    // (A delete reaches the store after the delete-and-recreate window: README, "Writing".)
    m.sh(r#"rm "$MNT/by-id/doc5""#).assert_ok();
    assert!(wait_for(Duration::from_secs(5), || place.contents().len() == 301));
    m.sh(r#"echo 1 > "$MNT/.prune""#).assert_ok();
    assert_eq!(m.names("by-id").len(), 301);
    assert_eq!(place.contents().len(), 301);
    m.sh(r#"echo 1 > "$MNT/.clear""#).assert_ok();
    assert_eq!(m.names("by-id"), Vec::<String>::new());
    m.unmount();
    assert_eq!(place.contents(), vec![]);
}

fn a_change_to_a_document_another_mount_deleted_is_kept(place: &Place) {
    if !fuse_available() {
        eprintln!("skipping: /dev/fuse is not usable here");
        return;
    }
    let a = mount(place, 3, &[]);
    let b = mount(place, 0, &[]);
    // b deletes doc1; a, at once (whether or not it has taken the delete in yet), writes
    // doc1 and saves: a's text is kept, at the end.
    b.sh(r#"rm "$MNT/by-id/doc1""#).assert_ok();
    // (b's delete reaches the store after its delete-and-recreate window.)
    let deleted = || !place.contents().iter().any(|(id, _)| id == "doc1");
    assert!(wait_for(Duration::from_secs(5), deleted));
    a.sh(r#"printf '{"text":"a kept this"}' > "$MNT/by-id/doc1" && echo 1 > "$MNT/.save""#)
        .assert_ok();
    a.unmount();
    b.unmount();
    let ids: Vec<String> = place.contents().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["doc0", "doc2", "doc1"], "a's saved change was lost");
}

both_backends!(
    tools_through_the_mount,
    two_mounts_see_each_others_saved_changes,
    bulk_views_and_control_files,
    a_change_to_a_document_another_mount_deleted_is_kept,
);
