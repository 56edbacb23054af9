//! A mount follows other writers by itself — a second mount, `damfs import`, a program
//! using the library — within a second, without `.reload`: a read-write mount keeping its
//! own unsaved changes, a read-only one although the kernel caches its pages, listings and
//! names (every one of them warmed first).

use std::time::Duration;

use damfs::{Document, Store};

use crate::support::place::Place;
use crate::support::store::writable;
use crate::support::*;

const SOON: Duration = Duration::from_secs(1);

fn json_of(id: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","text":"{text}"}}"#)
}

/// Waits (up to a second) until the mount shows `want`, then checks it fully.
#[track_caller]
fn shows_soon(m: &Mount, want: &[(String, String)]) {
    let seen = wait_for(SOON, || m.docs_by_position() == want);
    assert!(
        seen,
        "not current within {SOON:?}: {:?}",
        m.docs_by_position()
    );
    m.assert_shows(want);
}

fn warm(m: &Mount) {
    m.sh("cat \"$MNT\"/[0-9]* \"$MNT\"/by-id/* >/dev/null 2>&1; ls -l \"$MNT\" \"$MNT/by-id\" >/dev/null")
        .assert_ok();
}

fn two_mounts_behave_like_one_folder(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 4, &[]);
    let b = a.second_mount(&[]);
    warm(&a);
    warm(&b);
    let mut want = expected_docs(4);

    a.sh("printf '{\"text\":\"from a\"}' > \"$MNT/1\" && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    want[1].1 = json_of("doc1", "from a");
    shows_soon(&b, &want);

    b.sh("rm \"$MNT/0\" && printf '{\"text\":\"from b\"}' > \"$MNT/by-id/bee\" && mv \"$MNT/by-id/doc3\" \"$MNT/by-id/three\"")
        .assert_ok();
    want.remove(0);
    want.push(("bee".into(), json_of("bee", "from b")));
    want[2] = (
        "three".into(),
        r#"{"id":"three","text":"text of document 3"}"#.into(),
    );
    shows_soon(&a, &want);
    shows_soon(&b, &want);
}

fn an_import_shows_up_in_a_live_mount(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    warm(&m);
    let input = m.dir.path().join("more.jsonl");
    std::fs::write(&input, format!("{}\n{}\n", doc_json(7), doc_json(8))).unwrap();
    damfs(["import".as_ref(), m.store.as_os_str(), input.as_os_str()]).assert_ok();
    let mut want = expected_docs(2);
    want.push(("doc7".into(), doc_json(7)));
    want.push(("doc8".into(), doc_json(8)));
    shows_soon(&m, &want);
}

fn library_writers_changes_are_taken_in_and_unsaved_changes_of_the_mount_are_kept(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    warm(&m);
    // The mount's own change, not saved yet (it sits in the daemon's pool).
    m.sh("printf '{\"text\":\"mine\"}' > \"$MNT/by-id/doc3\"")
        .assert_ok();
    {
        let mut dam = Store::open_with(&m.store, writable(1000)).unwrap();
        dam.delete_by_id("doc0").unwrap();
        dam.rename("doc1", "one").unwrap();
        dam.append(Document::from_json(doc_json(9)).unwrap())
            .unwrap();
        dam.save().unwrap();
    }
    let want = vec![
        (
            "one".to_string(),
            r#"{"id":"one","text":"text of document 1"}"#.to_string(),
        ),
        ("doc2".into(), doc_json(2)),
        ("doc3".into(), json_of("doc3", "mine")),
        ("doc9".into(), doc_json(9)),
    ];
    shows_soon(&m, &want);
    assert_eq!(m.unmount_and_read(), want);
}

fn another_processes_prune_and_clear_are_followed(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    warm(&m);
    {
        let mut dam = Store::open_with(&m.store, writable(1000)).unwrap();
        dam.delete_by_id("doc1").unwrap();
        dam.prune().unwrap();
    }
    let want = vec![
        ("doc0".to_string(), doc_json(0)),
        ("doc2".into(), doc_json(2)),
    ];
    shows_soon(&m, &want);
    warm(&m);
    damfs(["clear".as_ref(), m.store.as_os_str()]).assert_ok();
    shows_soon(&m, &[]);
    m.sh("cat \"$MNT/by-id/doc0\"")
        .assert_fails_with("No such file");
}

fn appends_from_two_mounts_at_once_are_all_kept_and_seen_by_both(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 2, &[]);
    let b = a.second_mount(&[]);
    let (sa, sb) = (
        "for i in 1 2 3 4 5; do printf '{\"text\":\"a\"}' > \"$MNT/by-id/a$i\"; done",
        "for i in 1 2 3 4 5; do printf '{\"text\":\"b\"}' > \"$MNT/by-id/b$i\"; done",
    );
    std::thread::scope(|s| {
        let ta = s.spawn(|| a.sh(sa));
        let tb = s.spawn(|| b.sh(sb));
        ta.join().unwrap().assert_ok();
        tb.join().unwrap().assert_ok();
    });
    let settled = wait_for(Duration::from_secs(2), || {
        a.docs_by_position().len() == 12 && a.docs_by_position() == b.docs_by_position()
    });
    assert!(
        settled,
        "a: {:?}\nb: {:?}",
        a.names("by-id"),
        b.names("by-id")
    );
    b.unmount();
    let ids: Vec<String> = a.unmount_and_read().into_iter().map(|d| d.0).collect();
    assert_eq!(ids.len(), 12, "{ids:?}");
    for name in ["a", "b"] {
        // Each mount's own appends keep their order among themselves.
        let own: Vec<&String> = ids.iter().filter(|id| id.starts_with(name)).collect();
        let want: Vec<String> = (1..=5).map(|i| format!("{name}{i}")).collect();
        assert_eq!(own, want.iter().collect::<Vec<_>>());
    }
}

fn a_change_to_a_document_another_mount_deleted_is_kept(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 3, &[]);
    let b = a.second_mount(&[]);
    // b deletes doc1; a, at once (whether or not it has taken the delete in yet), writes
    // doc1 and saves: a's text is kept, at the end.
    b.sh("rm \"$MNT/by-id/doc1\"").assert_ok();
    // (b's delete reaches the store after its delete-and-recreate window.)
    let deleted = || !a.contents().iter().any(|(id, _)| id == "doc1");
    assert!(wait_for(Duration::from_secs(5), deleted));
    a.sh("printf '{\"text\":\"a kept this\"}' > \"$MNT/by-id/doc1\" && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    b.unmount();
    let docs = a.unmount_and_read();
    let ids: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(ids, ["doc0", "doc2", "doc1"], "a's saved change was lost");
    assert_eq!(docs[2].1, json_of("doc1", "a kept this"));
}

fn of_two_saves_of_one_document_the_later_wins(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 3, &[]);
    let b = a.second_mount(&[]);
    a.sh("printf '{\"text\":\"from a\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    b.sh("printf '{\"text\":\"from b\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    a.sh("echo 1 > \"$MNT/.save\"").assert_ok();
    b.sh("echo 1 > \"$MNT/.save\"").assert_ok();
    let mut want = expected_docs(3);
    want[1].1 = json_of("doc1", "from b");
    assert_eq!(a.contents(), want);
    shows_soon(&a, &want);
    shows_soon(&b, &want);
}

fn unsaved_changes_of_a_mount_outlive_another_mounts_clear(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 3, &[]);
    let b = a.second_mount(&[]);
    // b's replacement waits in its pool when a clears the store.
    b.sh("printf '{\"text\":\"unsaved in b\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    a.sh("echo 1 > \"$MNT/.clear\"").assert_ok();
    shows_soon(&a, &[]);
    assert!(
        wait_for(SOON, || b.names("by-id").len() <= 1),
        "b did not take the clear in: {:?}",
        b.names("by-id")
    );
    // Its next save adds it back (README, "Many mounts": conflicts).
    b.sh("echo 1 > \"$MNT/.save\"").assert_ok();
    let want = vec![("doc1".to_string(), json_of("doc1", "unsaved in b"))];
    assert_eq!(a.contents(), want);
    shows_soon(&a, &want);
    shows_soon(&b, &want);
}

fn a_read_only_mount_follows_other_writers_though_its_pages_and_names_are_cached(place: &Place) {
    require_fuse!();
    let w = Mount::at(place, 4, &[]);
    let r = w.second_mount(&["--read-only"]);
    // Every page, listing, attribute and a few missing names in the kernel's caches.
    let warm_all = || {
        warm(&r);
        r.sh("for n in doc9 bee three; do stat \"$MNT/by-id/$n\" >/dev/null 2>&1; done; stat \"$MNT/7\" >/dev/null 2>&1; true")
            .assert_ok();
    };
    warm_all();
    let mut want = expected_docs(4);
    r.assert_shows(&want);

    // A change of the same size (only the mtime tells the kernel), a delete that shifts
    // positions, a new document and a rename, saved by the read-write mount.
    w.sh(
        "printf '{\"id\":\"doc1\",\"text\":\"TEXT OF DOCUMENT 1\"}' > \"$MNT/by-id/doc1\" \
          && rm \"$MNT/by-id/doc0\" && printf '{\"text\":\"new\"}' > \"$MNT/by-id/bee\" \
          && mv \"$MNT/by-id/doc3\" \"$MNT/by-id/three\" && echo 1 > \"$MNT/.save\"",
    )
    .assert_ok();
    want[1].1 = r#"{"id":"doc1","text":"TEXT OF DOCUMENT 1"}"#.into();
    assert_eq!(want[1].1.len(), doc_json(1).len());
    want.remove(0);
    want[2] = (
        "three".into(),
        r#"{"id":"three","text":"text of document 3"}"#.into(),
    );
    want.push(("bee".into(), json_of("bee", "new")));
    shows_soon(&r, &want);
    let ls = r.sh(
        "ls -l \"$MNT/by-id/three\" \"$MNT/by-id/bee\" && ! stat \"$MNT/by-id/doc3\" 2>/dev/null",
    );
    ls.assert_ok();

    // `damfs import` while both are mounted, then prune and clear by another process.
    warm_all();
    let input = r.dir.path().join("more.jsonl");
    std::fs::write(&input, format!("{}\n", doc_json(9))).unwrap();
    damfs(["import".as_ref(), w.store.as_os_str(), input.as_os_str()]).assert_ok();
    want.push(("doc9".into(), doc_json(9)));
    shows_soon(&r, &want);
    warm_all();
    damfs(["prune".as_ref(), w.store.as_os_str()]).assert_ok();
    damfs(["clear".as_ref(), w.store.as_os_str()]).assert_ok();
    shows_soon(&r, &[]);
    // Still read-only.
    r.sh("printf '{}' > \"$MNT/by-id/x\"")
        .assert_fails_with("Read-only file system");
}

both_backends!(
    two_mounts_behave_like_one_folder,
    a_read_only_mount_follows_other_writers_though_its_pages_and_names_are_cached,
    an_import_shows_up_in_a_live_mount,
    library_writers_changes_are_taken_in_and_unsaved_changes_of_the_mount_are_kept,
    another_processes_prune_and_clear_are_followed,
    appends_from_two_mounts_at_once_are_all_kept_and_seen_by_both,
    a_change_to_a_document_another_mount_deleted_is_kept,
    of_two_saves_of_one_document_the_later_wins,
    unsaved_changes_of_a_mount_outlive_another_mounts_clear,
);
