//! `changed_on_disk` and `refresh`: a handle takes in other writers' changes without
//! saving its own, the way a mount's live view uses it. On both backends (PostgreSQL hears of
//! changes through its watcher thread, a moment later: `wait_for_changes`).

use crate::support::both_backends;
use crate::support::place::{wait_for_changes, Place};
use crate::support::store::*;

fn refresh_takes_in_appends_deletes_and_renames_of_another_handle(place: &Place) {
    let mut a = place.open(10);
    a.extend([doc("x", "1"), doc("y", "2"), doc("z", "3")])
        .unwrap();
    let mut b = place.open(10);
    assert!(!b.changed_on_disk().unwrap());
    assert!(!b.refresh(false).unwrap(), "nothing changed yet");

    a.append(doc("w", "4")).unwrap();
    a.delete_by_id("x").unwrap();
    a.rename("y", "v").unwrap();
    wait_for_changes(&b);
    let before = b.external_changes();
    assert!(b.refresh(false).unwrap());
    assert!(b.external_changes() > before);
    assert_eq!(ids(&b), ["v", "z", "w"]);
    assert!(!b.changed_on_disk().unwrap(), "caught up");
    assert!(!b.refresh(true).unwrap());
}

fn refresh_keeps_unsaved_changes_and_saves_nothing(place: &Place) {
    let mut a = place.open(10);
    a.extend([doc("x", "1"), doc("y", "2")]).unwrap();
    a.save().unwrap();
    let mut b = place.open(10);
    b.set_by_id("x", doc("x", "b's change")).unwrap(); // dirty in b's pool

    a.append(doc("z", "3")).unwrap();
    let written = place.written();
    wait_for_changes(&b);
    assert!(b.refresh(true).unwrap());
    assert_eq!(ids(&b), ["x", "y", "z"]);
    assert_eq!(
        b.get_by_id("x").unwrap().text().as_deref(),
        Some("b's change")
    );
    assert_eq!(place.written(), written, "b's refresh wrote");
    b.save().unwrap();
    assert_eq!(
        place.open_ro().get_by_id("x").unwrap().text().as_deref(),
        Some("b's change")
    );
}

fn refresh_follows_another_handles_prune_and_clear(place: &Place) {
    let mut a = place.open(10);
    a.extend([doc("x", "1"), doc("y", "2")]).unwrap();
    let mut b = place.open(10);
    a.delete_by_id("x").unwrap();
    a.prune().unwrap();
    wait_for_changes(&b);
    assert!(b.refresh(true).unwrap());
    assert_eq!(ids(&b), ["y"]);
    a.clear().unwrap();
    wait_for_changes(&b);
    assert!(b.refresh(true).unwrap());
    assert!(b.is_empty());
}

/// Memmap only: the store's lock file (PostgreSQL's writers never hold a lock a reader
/// waits on; its refresh never blocks).
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

fn read_only_handle_refreshes_too(place: &Place) {
    let mut a = place.open(10);
    a.append(doc("x", "1")).unwrap();
    let mut ro = place.open_ro();
    a.append(doc("y", "2")).unwrap();
    wait_for_changes(&ro);
    assert!(ro.refresh(false).unwrap());
    assert_eq!(ids(&ro), ["x", "y"]);
}

both_backends!(
    refresh_takes_in_appends_deletes_and_renames_of_another_handle,
    refresh_keeps_unsaved_changes_and_saves_nothing,
    refresh_follows_another_handles_prune_and_clear,
    read_only_handle_refreshes_too,
);
