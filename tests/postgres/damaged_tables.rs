//! A store's tables written by hand with another SQL client (which the README does not
//! support): a row whose id is not a document's (too long, empty, with '/', a leading '.')
//! or whose length is negative, and a head table emptied, give a clear error naming the row
//! or the table — never a panic, never a document shown under a name it cannot have — and
//! the store opens again once the row is put right.

use crate::support::postgres::PgServer;
use crate::support::*;

fn store_with_two(server: &PgServer) -> (String, String) {
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n").unwrap();
    damfs(["import", &url, input.to_str().unwrap()]).assert_ok();
    (db, url)
}

#[test]
fn a_row_with_an_id_no_document_can_have_is_a_clear_error() {
    let server = require_pg!();
    let (db, url) = store_with_two(server);
    let long = "x".repeat(300);
    for (id, len, says) in [
        (long.as_str(), 9, "at most 255 bytes"),
        ("", 9, "cannot be empty"),
        ("a/b", 9, "cannot contain '/'"),
        (".hidden", 9, "cannot start with '.'"),
        ("fine", -5, "its len is -5"),
    ] {
        server.sql(
            &db,
            &format!(
                "DELETE FROM damfs WHERE rank = 100; \
                 INSERT INTO damfs VALUES (100, '{id}', {len}, '{{\"n\":1}}')"
            ),
        );
        for cmd in ["export", "stat", "ls"] {
            let run = damfs([cmd, url.as_str()]);
            run.assert_fails_with("the row of rank 100 is not a damfs document");
            run.assert_fails_with(says);
            assert!(!run.stderr.contains("panicked"), "{run:#?}");
        }
    }
    server.sql(&db, "UPDATE damfs SET id = 'c', len = 7 WHERE rank = 100");
    let out = damfs(["export", &url]);
    out.assert_ok();
    assert_eq!(
        out.lines(),
        [r#"{"id":"a"}"#, r#"{"id":"b"}"#, r#"{"n":1}"#]
    );
}

#[test]
fn a_mount_refuses_a_damaged_row_it_is_told_of_and_keeps_serving() {
    require_fuse!();
    let server = require_pg!();
    let db = server.fresh_db();
    let place = crate::support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = crate::support::place::mount(&place, 3, &[]);
    // A hand-made row, announced in the change feed as damfs's own writes are.
    let long = "y".repeat(300);
    server.sql(
        &db,
        &format!(
            "BEGIN; UPDATE damfs_head SET version = version + 1, next_rank = next_rank + 1; \
             INSERT INTO damfs SELECT next_rank - 1, '{long}', 2, '{{}}' FROM damfs_head; \
             INSERT INTO damfs_changes SELECT version, next_rank - 1, next_rank - 1 FROM damfs_head; \
             COMMIT; NOTIFY damfs_damfs"
        ),
    );
    let logged = wait_for(std::time::Duration::from_secs(5), || {
        m.read_log("store.damfs.log")
            .contains("is not a damfs document")
    });
    assert!(
        logged,
        "the log says why: {}",
        m.read_log("store.damfs.log")
    );
    assert_eq!(m.names("by-id"), ["doc0", "doc1", "doc2"]);
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("by-id/doc1")).unwrap(),
        doc_json(1)
    );
    m.unmount();
}

#[test]
fn a_head_table_emptied_by_hand_is_named() {
    let server = require_pg!();
    let (db, url) = store_with_two(server);
    server.sql(&db, "DELETE FROM damfs_head");
    damfs(["export", &url]).assert_fails_with("table damfs_head has no row");
    let dir = scratch();
    let input = dir.path().join("more.jsonl");
    std::fs::write(&input, "{\"id\":\"z\"}\n").unwrap();
    damfs(["import", &url, input.to_str().unwrap()]).assert_fails_with("damfs_head has no row");
    assert_eq!(server.psql(&db, "SELECT count(*) FROM damfs"), "2");
}

/// A row put in by hand at the rank the next append would take made every later append
/// fail on the primary key (`Key (rank)=(3) already exists`), for good: appends now take
/// ranks after every row.
#[test]
fn a_row_put_in_by_hand_at_the_end_does_not_block_appends() {
    let server = require_pg!();
    let (db, url) = store_with_two(server);
    server.sql(
        &db,
        "INSERT INTO damfs SELECT next_rank, 'by_hand', 17, '{\"id\":\"by_hand\"}' FROM damfs_head; \
         INSERT INTO damfs VALUES (1000, 'far', 12, '{\"id\":\"far\"}')",
    );
    let dir = scratch();
    let more = dir.path().join("more.jsonl");
    std::fs::write(&more, "{\"id\":\"c\"}\n{\"id\":\"d\"}\n").unwrap();
    damfs(["import", &url, more.to_str().unwrap()]).assert_ok();
    let out = damfs(["export", &url]);
    assert_eq!(
        out.assert_ok().lines(),
        [
            r#"{"id":"a"}"#,
            r#"{"id":"b"}"#,
            r#"{"id":"by_hand"}"#,
            r#"{"id":"far"}"#,
            r#"{"id":"c"}"#,
            r#"{"id":"d"}"#
        ]
    );
}
