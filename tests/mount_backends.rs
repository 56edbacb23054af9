//! The mount on both backends: tools through the mount, and two mounts of one store seeing
//! each other's saved changes within a second, without `.reload`.

mod backend_common;
mod common;
mod pg_common;

use std::time::{Duration, Instant};

use backend_common::{mount, second_mount, Place};
use common::*;

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
    let b = second_mount(place, &[]);
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

both_backends!(
    tools_through_the_mount,
    two_mounts_see_each_others_saved_changes
);
