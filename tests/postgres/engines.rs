//! Engines without PostgreSQL's extras: where `pg_notify` cannot be used (here: revoked, as
//! on an engine that lacks it), handles poll the change feed instead and still catch up.

use std::time::{Duration, Instant};

use damfs::{Document, Options, Store};

use crate::support::require_pg;

#[test]
fn without_notify_handles_poll_and_catch_up() {
    let server = require_pg!();
    let db = server.fresh_db();
    server.sql(
        &db,
        "REVOKE EXECUTE ON FUNCTION pg_notify(text, text) FROM PUBLIC;
         CREATE ROLE plain LOGIN;
         GRANT ALL ON SCHEMA public TO plain;",
    );
    let url = format!(
        "postgresql://plain@/{db}?host={}&table=polled",
        server.socket_dir().display()
    );
    let opts = Options {
        buffer_pool_size: 10,
        read_only: false,
    };
    let mut a = Store::open_with(&url, opts).unwrap();
    let mut b = Store::open_with(&url, opts).unwrap();
    assert!(!b.changed_on_disk().unwrap());
    a.append(Document::from_json(r#"{"id":"x","text":"one"}"#).unwrap())
        .unwrap();
    let start = Instant::now();
    while !b.changed_on_disk().unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "b never saw a's append"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(b.refresh(false).unwrap());
    assert_eq!(b.get_by_id("x").unwrap().text().as_deref(), Some("one"));
    // The wake-up really was unavailable: the same user cannot notify.
    let mut c = postgres::Client::connect(
        &format!(
            "host={} user=plain dbname={db}",
            server.socket_dir().display()
        ),
        postgres::NoTls,
    )
    .unwrap();
    let denied = c
        .batch_execute("SELECT pg_notify('damfs_polled', '')")
        .unwrap_err();
    assert!(denied.to_string().contains("permission denied") || denied.as_db_error().is_some());
}

#[test]
fn handles_creating_a_store_at_once_all_open_it() {
    let server = require_pg!();
    let url = server.fresh_url();
    let opened: Vec<_> = (0..4)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&url).map_err(|e| e.to_string())?;
                let doc = Document::from_json(format!(r#"{{"id":"t{i}"}}"#)).unwrap();
                s.append(doc).map_err(|e| e.to_string())
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    for r in &opened {
        assert!(r.is_ok(), "{opened:?}");
    }
    assert_eq!(Store::open(&url).unwrap().len(), 4);
}
