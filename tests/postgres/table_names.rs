//! The `table=` of a store URL: every name the README allows (`a-z`, `0-9`, `_`) is a store's
//! table, SQL keywords included; a name PostgreSQL's own catalog would shadow, or one that is
//! not a plain identifier (SQL injection among them), is refused with a message that says so,
//! and nothing is created.

use crate::support::postgres::PgServer;
use crate::support::*;

fn input(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("in.jsonl");
    std::fs::write(&path, "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\"}\n").unwrap();
    path
}

fn tables_of(server: &PgServer, db: &str) -> String {
    server.psql(
        db,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
         WHERE schemaname = 'public'",
    )
}

#[test]
fn tables_named_like_sql_keywords_are_stores() {
    let server = require_pg!();
    let db = server.fresh_db();
    let dir = scratch();
    let input = input(dir.path());
    for table in ["user", "order", "select", "table", "end"] {
        let url = server.url_for(&db, table);
        damfs(["import", &url, input.to_str().unwrap()]).assert_ok();
        let out = damfs(["export", &url]);
        out.assert_ok();
        assert_eq!(out.lines(), [r#"{"id":"a","text":"x"}"#, r#"{"id":"b"}"#]);
        damfs(["rm", &url, "a"]).assert_ok();
        damfs(["prune", &url]).assert_ok();
        let stat: serde_json::Value =
            serde_json::from_str(&damfs(["stat", &url]).assert_ok().stdout).unwrap();
        assert_eq!(stat["length"], 1, "{table}");
        assert!(stat["bytes"].as_u64().unwrap() > 0, "{table}: {stat}");
        assert_eq!(
            server.psql(&db, &format!("SELECT body FROM \"{table}\"")),
            r#"{"id":"b"}"#
        );
    }
}

#[test]
fn a_mount_of_a_keyword_table_sees_another_writer() {
    require_fuse!();
    let server = require_pg!();
    let db = server.fresh_db();
    let place = crate::support::place::Place::at_url(server.url_for(&db, "user"), &db);
    let m = crate::support::place::mount(&place, 3, &[]);
    m.sh(r#"printf '{"text":"new"}' > "$MNT/by-id/n""#)
        .assert_ok();
    let dir = scratch();
    let more = dir.path().join("more.jsonl");
    std::fs::write(&more, "{\"id\":\"from_cli\"}\n").unwrap();
    damfs(["import", &place.arg(), more.to_str().unwrap()]).assert_ok();
    let seen = wait_for(std::time::Duration::from_secs(5), || {
        m.mnt.join("by-id/from_cli").exists()
    });
    assert!(seen, "the mount sees the import");
    m.unmount();
    let ids: Vec<String> = place.contents().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["doc0", "doc1", "doc2", "n", "from_cli"]);
}

#[test]
fn a_name_postgresql_would_shadow_or_that_is_not_plain_is_refused() {
    let server = require_pg!();
    let db = server.fresh_db();
    let dir = scratch();
    let input = input(dir.path());
    for (table, says) in [
        ("pg_class", "must not start with pg_"),
        ("pg_mine", "must not start with pg_"),
        ("Papers", "a-z, 0-9 and _"),
        ("x%3Bdrop%20table%20y", "a-z, 0-9 and _"),
        ("a%22b", "a-z, 0-9 and _"),
        ("1abc", "not starting with a digit"),
    ] {
        let url = server.url_for(&db, table);
        damfs(["import", &url, input.to_str().unwrap()]).assert_fails_with(says);
    }
    assert_eq!(tables_of(server, &db), "", "nothing was created");
}

/// Store `x_head`'s documents are in a table that store `x` would take for its head table:
/// opening `x` then is refused with a message that says so (it read the other store's table
/// as its head and failed on a missing column).
#[test]
fn a_store_whose_head_name_is_another_stores_table_is_refused() {
    let server = require_pg!();
    let db = server.fresh_db();
    let dir = scratch();
    let input = input(dir.path());
    damfs([
        "import",
        &server.url_for(&db, "x_head"),
        input.to_str().unwrap(),
    ])
    .assert_ok();
    let x = server.url_for(&db, "x");
    damfs(["import", &x, input.to_str().unwrap()])
        .assert_fails_with("table x_head exists but there is no table x");
    damfs(["export", &x]).assert_fails_with("is x_head another store's table?");
    let out = damfs(["export", &server.url_for(&db, "x_head")]);
    assert_eq!(
        out.assert_ok().lines().len(),
        2,
        "the other store is untouched"
    );
}
