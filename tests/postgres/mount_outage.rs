//! A mount whose server is down refuses each change it cannot make, at the syscall: `rm`
//! (which the mount holds back a moment, for tools that delete and re-create a name) used to
//! return 0 and then, when the held-back delete failed, show the document again — a silent
//! success of something that failed. Once the server is back the same `rm` works.

use std::time::Duration;

use crate::support;
use crate::support::postgres::PgServer;
use crate::support::*;

#[test]
fn rm_while_the_server_is_down_fails_with_eio_and_the_document_stays() {
    require_fuse!();
    let Some(server) = PgServer::start() else {
        crate::support::postgres::skip_without_server();
        return;
    };
    let db = server.fresh_db();
    let place = support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = support::place::mount(&place, 5, &[]);

    server.stop();
    let by_id = m.sh(r#"rm "$MNT/by-id/doc2""#);
    by_id.assert_fails_with("Input/output error");
    let by_position = m.sh(r#"rm "$MNT/0""#);
    by_position.assert_fails_with("Input/output error");
    m.sh(r#"mv "$MNT/by-id/doc3" "$MNT/by-id/moved""#)
        .assert_fails_with("Input/output error");
    assert_eq!(m.names("by-id"), ["doc0", "doc1", "doc2", "doc3", "doc4"]);
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("unlink"), "the log says why: {log}");

    server.start_again();
    let removed = wait_for(Duration::from_secs(5), || {
        m.sh(r#"rm "$MNT/by-id/doc2""#).code == 0
    });
    assert!(removed, "rm works again once the server is back");
    m.unmount();
    let ids: Vec<String> = place.contents().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["doc0", "doc1", "doc3", "doc4"]);
}

/// A new document whose append the store refuses (the server is down: EIO; another writer
/// took the id a moment before: EEXIST) left its file behind under the document's name: a
/// file that was no document, listed in `/by-id` (twice, once the other writer's document
/// showed). It now goes as an invalid one does, when it is closed.
#[test]
fn a_new_document_the_store_refuses_leaves_no_file_behind() {
    require_fuse!();
    let Some(server) = PgServer::start() else {
        crate::support::postgres::skip_without_server();
        return;
    };
    let db = server.fresh_db();
    let place = support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = support::place::mount(&place, 2, &[]);
    let new = m.home().join("new.json");
    std::fs::write(&new, r#"{"text":"mine"}"#).unwrap();

    server.stop();
    let cp = m.sh(&format!(r#"cp "{}" "$MNT/by-id/fresh""#, new.display()));
    cp.assert_fails_with("Input/output error");
    assert_eq!(m.names("by-id"), ["doc0", "doc1"]);
    server.start_again();

    // Another writer's row the mount has not heard of (put in by hand: no change feed).
    server.sql(
        &db,
        "INSERT INTO damfs SELECT next_rank, 'taken', 14, '{\"id\":\"taken\"}' FROM damfs_head",
    );
    let cp = m.sh(&format!(r#"cp "{}" "$MNT/by-id/taken""#, new.display()));
    cp.assert_fails_with("File exists");
    m.sh(r#"echo 1 > "$MNT/.reload""#).assert_ok();
    assert_eq!(m.names("by-id"), ["doc0", "doc1", "taken"]);
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("by-id/taken")).unwrap(),
        r#"{"id":"taken"}"#
    );
    m.unmount();
}
