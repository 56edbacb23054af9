//! The store directory removed or replaced under a live mount: saves never report
//! durability that did not happen (EIO, and a log line saying why), unsaved documents stay
//! in memory until the store is back, and an unmount without it says what was lost.
//!
//! Memmap only: a PostgreSQL store has no directory to take away (its server going away is
//! tests/postgres/errors.rs).

use crate::support::*;

fn python_write(m: &Mount, rel: &str, text: &str) -> Run {
    m.sh(&format!(
        "python3 -c \"import sys; f = open(sys.argv[1], 'w'); f.write(sys.argv[2]); f.close()\" \"$MNT/{rel}\" '{text}'"
    ))
}

#[test]
fn saves_fail_while_the_store_is_away_and_work_once_it_is_back() {
    require_fuse!();
    let m = Mount::with_docs(3);
    python_write(&m, "1", r#"{"text":"changed"}"#).assert_ok(); // in the pool, unsaved
    let away = m.dir.path().join("store-away");
    std::fs::rename(&m.store, &away).unwrap();

    m.sh("echo 1 > \"$MNT/.save\"")
        .assert_fails_with("I/O error");
    let fsync = m.sh("python3 -c \"import os; fd = os.open('$MNT/0', os.O_RDONLY); os.fsync(fd)\"");
    assert_ne!(
        fsync.code, 0,
        "fsync must not report durability: {fsync:#?}"
    );
    assert!(fsync.stderr.contains("Input/output error"), "{fsync:#?}");
    let new = python_write(&m, "by-id/fresh", r#"{"text":"new"}"#);
    assert!(new.stderr.contains("Input/output error"), "{new:#?}");
    let log = std::fs::read_to_string(m.dir.path().join("store.damfs.log")).unwrap();
    assert!(log.contains("the store is gone"), "{log}");
    // What the mount shows is still there, changed document included.
    assert!(m.sh("cat \"$MNT/1\"").stdout.contains("changed"));

    std::fs::rename(&away, &m.store).unwrap();
    m.sh("echo 1 > \"$MNT/.save\"").assert_ok();
    let saved = read_store(&m.store);
    assert!(saved[1].1.contains("changed"), "{saved:?}");
    m.unmount();
}

#[test]
fn an_unmount_without_the_store_says_what_was_lost() {
    require_fuse!();
    let m = Mount::with_docs(3);
    python_write(&m, "by-id/doc2", r#"{"text":"never saved"}"#).assert_ok();
    let away = m.dir.path().join("store-away");
    std::fs::rename(&m.store, &away).unwrap();
    let r = damfs(["unmount".as_ref(), m.mnt.as_os_str()]);
    let log = std::fs::read_to_string(m.dir.path().join("store.damfs.log")).unwrap();
    assert!(
        log.contains("never saved; their changes are lost: doc2"),
        "{log}\n{r:#?}"
    );
    // The store that was moved away is intact, as last saved.
    assert_eq!(read_store(&away), expected_docs(3));
}
