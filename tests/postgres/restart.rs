//! The server restarts while a store or a mount sits idle: the connection a handle held is
//! cut, and the first call after the server is back must work (README, "Errors": "A mount
//! recovers by itself when the server is back"), not fail once with EIO on the dead
//! connection.

use damfs::{Document, Options, Store};

use crate::support;
use crate::support::postgres::PgServer;
use crate::support::*;

fn own_server() -> Option<PgServer> {
    let s = PgServer::start();
    if s.is_none() {
        crate::support::postgres::skip_without_server();
    }
    s
}

fn restart(server: &PgServer) {
    server.stop();
    server.start_again();
}

#[test]
fn the_first_read_and_write_after_a_restart_succeed() {
    let Some(server) = own_server() else { return };
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let opts = Options {
        buffer_pool_size: 0,
        read_only: false,
    };
    let mut s = Store::open_with(&url, opts).unwrap();
    s.extend((0..5).map(|i| Document::from_json(doc_json(i)).unwrap()))
        .unwrap();
    let mut ro = Store::open_with(
        &url,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .unwrap();

    restart(&server);
    let text = s.with_json("doc3", |b| b.to_vec()).unwrap();
    assert_eq!(text, doc_json(3).as_bytes(), "a read on the cut connection");
    let text = ro.with_json("doc2", |b| b.to_vec()).unwrap();
    assert_eq!(text, doc_json(2).as_bytes(), "a read-only handle's read");

    restart(&server);
    s.append(Document::from_json(doc_json(5)).unwrap())
        .expect("an append on the cut connection");
    restart(&server);
    s.delete_by_id("doc0")
        .expect("a delete on the cut connection");
    restart(&server);
    assert!(ro.reload().is_ok(), "a read-only reload after a restart");
    assert_eq!(ro.len(), 5);
    restart(&server);
    assert!(s.stats().bytes > 0, "the figures of .stats after a restart");
    drop((s, ro));
    let again = Store::open_with(&url, opts).unwrap();
    let ids: Vec<&str> = again.ids().collect();
    assert_eq!(ids, ["doc1", "doc2", "doc3", "doc4", "doc5"]);
}

#[test]
fn a_mount_answers_the_first_request_after_its_server_restarted() {
    require_fuse!();
    let Some(server) = own_server() else { return };
    let db = server.fresh_db();
    let place = support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = support::place::mount(&place, 6, &["--pool-size", "0"]);

    restart(&server);
    let doc4 = std::fs::read_to_string(m.mnt.join("by-id/doc4"));
    assert_eq!(doc4.ok().as_deref(), Some(doc_json(4).as_str()), "cat");

    restart(&server);
    m.sh(r#"printf '{"text":"after"}' > "$MNT/by-id/doc1""#)
        .assert_ok();
    restart(&server);
    m.sh(r#"rm "$MNT/by-id/doc5" && printf '{"text":"c"}' > "$MNT/by-id/copy""#)
        .assert_ok();
    m.unmount();
    let stored = place.contents();
    let ids: Vec<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["doc0", "doc1", "doc2", "doc3", "doc4", "copy"]);
    assert_eq!(stored[1].1, r#"{"id":"doc1","text":"after"}"#);
}

/// A read-only handle keeps its snapshot's transaction open between reads; a server that ends
/// idle transactions (`idle_in_transaction_session_timeout`) cuts its connection, and the
/// next read must still work (on a new connection, the order re-read after it).
#[test]
fn a_read_only_handle_reads_on_after_the_server_ended_its_idle_transaction() {
    let server = require_pg!();
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let mut s = Store::open_with(&url, Options::default()).unwrap();
    s.extend((0..3).map(|i| Document::from_json(doc_json(i)).unwrap()))
        .unwrap();
    drop(s);
    server.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET idle_in_transaction_session_timeout = '100ms'"),
    );
    let mut ro = Store::open_with(
        &url,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .unwrap();
    let ended = wait_for(std::time::Duration::from_secs(10), || {
        server.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND application_name = 'damfs'"
            ),
        ) == "0"
    });
    assert!(ended, "the server ends the idle transaction");
    let text = ro.with_json("doc1", |b| b.to_vec()).unwrap();
    assert_eq!(text, doc_json(1).as_bytes());
    ro.reload().unwrap();
    assert_eq!(ro.len(), 3);
}
