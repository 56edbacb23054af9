//! `changed_on_disk` and `refresh`: a handle takes in other writers' changes without
//! saving its own, the way a mount's live view uses it.

use crate::support::store::*;

#[test]
fn refresh_takes_in_appends_deletes_and_renames_of_another_handle() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 10);
    a.extend([doc("x", "1"), doc("y", "2"), doc("z", "3")])
        .unwrap();
    let mut b = open(dir.path(), 10);
    assert!(!b.changed_on_disk().unwrap());
    assert!(!b.refresh(false).unwrap(), "nothing changed yet");

    a.append(doc("w", "4")).unwrap();
    a.delete_by_id("x").unwrap();
    a.rename("y", "v").unwrap();
    assert!(b.changed_on_disk().unwrap());
    let before = b.external_changes();
    assert!(b.refresh(false).unwrap());
    assert!(b.external_changes() > before);
    assert_eq!(ids(&b), ["v", "z", "w"]);
    assert!(!b.changed_on_disk().unwrap(), "caught up");
    assert!(!b.refresh(true).unwrap());
}

#[test]
fn refresh_keeps_unsaved_changes_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 10);
    a.extend([doc("x", "1"), doc("y", "2")]).unwrap();
    a.save().unwrap();
    let mut b = open(dir.path(), 10);
    b.set_by_id("x", doc("x", "b's change")).unwrap(); // dirty in b's pool
    let (_, body_before) = file_sizes(dir.path());

    a.append(doc("z", "3")).unwrap();
    assert!(b.refresh(true).unwrap());
    assert_eq!(ids(&b), ["x", "y", "z"]);
    assert_eq!(
        b.get_by_id("x").unwrap().text().as_deref(),
        Some("b's change")
    );
    // b wrote nothing of its own: only a's append grew the body.
    let (_, body_after) = file_sizes(dir.path());
    let a_len = doc("z", "3").json().len() as u64;
    assert_eq!(body_after, body_before + a_len);
    b.save().unwrap();
    assert_eq!(
        open_ro(dir.path())
            .get_by_id("x")
            .unwrap()
            .text()
            .as_deref(),
        Some("b's change")
    );
}

#[test]
fn refresh_follows_another_handles_prune_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 10);
    a.extend([doc("x", "1"), doc("y", "2")]).unwrap();
    let mut b = open(dir.path(), 10);
    a.delete_by_id("x").unwrap();
    a.prune().unwrap();
    assert!(b.refresh(true).unwrap());
    assert_eq!(ids(&b), ["y"]);
    a.clear().unwrap();
    assert!(b.refresh(true).unwrap());
    assert!(b.is_empty());
}

#[test]
fn refresh_without_waiting_gives_up_while_another_handle_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 10);
    a.append(doc("x", "1")).unwrap();
    let mut b = open(dir.path(), 10);
    a.append(doc("y", "2")).unwrap();
    // Hold the store's lock the way another writer would, from another open file.
    let lock = std::fs::File::open(dir.path().join("lock")).unwrap();
    use std::os::unix::io::AsRawFd;
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    assert!(!b.refresh(false).unwrap(), "busy: skipped, not blocked");
    assert_eq!(ids(&b), ["x"]);
    drop(lock);
    assert!(b.refresh(false).unwrap());
    assert_eq!(ids(&b), ["x", "y"]);
}

#[test]
fn read_only_handle_refreshes_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path(), 10);
    a.append(doc("x", "1")).unwrap();
    let mut ro = open_ro(dir.path());
    a.append(doc("y", "2")).unwrap();
    assert!(ro.refresh(false).unwrap());
    assert_eq!(ids(&ro), ["x", "y"]);
}
