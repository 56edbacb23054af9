//! The PostgreSQL server goes away under a store and a mount: calls fail with a clear error
//! (EIO at the syscall), nothing saved is lost, unsaved changes are kept, and everything
//! works again once the server is back.

use std::time::Duration;

use damfs::{Document, Error, Options, Store};

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

fn doc(i: usize) -> Document {
    Document::from_json(doc_json(i)).unwrap()
}

#[test]
fn a_store_survives_its_server_restarting() {
    let Some(server) = own_server() else { return };
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let opts = Options {
        buffer_pool_size: 4,
        read_only: false,
    };
    let mut s = Store::open_with(&url, opts).unwrap();
    s.extend((0..20).map(doc)).unwrap();
    s.save().unwrap();
    s.update_by_id("doc3", |d| d.set("text", "unsaved"))
        .unwrap()
        .unwrap();

    server.stop();
    let err = s.save().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("PostgreSQL"), "{msg}");
    assert_eq!(s.unsaved_ids(), ["doc3"], "the unsaved change is kept");
    assert!(
        s.with_json("doc15", |_| ()).is_err(),
        "a read needs the server"
    );
    assert!(s.append(doc(100)).is_err());
    assert_eq!(s.len(), 20, "a failed append changes nothing");
    // What is in memory still answers.
    assert_eq!(
        s.get_by_id("doc3").unwrap().text().as_deref(),
        Some("unsaved")
    );

    server.start_again();
    s.save().unwrap();
    s.append(doc(100)).unwrap();
    drop(s);
    let again = Store::open_with(&url, opts).unwrap();
    assert_eq!(again.len(), 21);
    let text = again
        .with_json("doc3", |b| String::from_utf8(b.to_vec()).unwrap())
        .unwrap();
    assert!(text.contains("unsaved"), "{text}");
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let Some(server) = own_server() else { return };
    let url = server.url_for("postgres", "damfs");
    server.stop();
    let err = Store::open(&url).unwrap_err().to_string();
    assert!(
        err.contains("connecting to postgresql://postgres@"),
        "{err}"
    );
    let run = damfs(["stat", &url]);
    run.assert_fails_with("connecting to");
}

#[test]
fn a_mount_gives_eio_while_its_server_is_down_and_recovers() {
    require_fuse!();
    let Some(server) = own_server() else { return };
    let db = server.fresh_db();
    let place = support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = support::place::mount(&place, 10, &["--pool-size", "2"]);
    m.sh(r#"printf '{"text":"before"}' > "$MNT/by-id/doc1""#)
        .assert_ok();

    server.stop();
    // An unpooled document cannot be read: EIO, not an empty file.
    let read = std::fs::read(m.mnt.join("by-id/doc7"));
    assert_eq!(
        sys::errno_of(read),
        libc::EIO,
        "reading while the server is down"
    );
    // A save cannot reach the server: the write to .save fails with EIO.
    let save = sys::overwrite(&m.mnt.join(".save"), b"1\n");
    assert_eq!(
        save.err().map(|f| f.errno),
        Some(libc::EIO),
        "saving while the server is down"
    );
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("PostgreSQL"), "the log says why: {log}");

    server.start_again();
    let saved = wait_for(Duration::from_secs(5), || {
        sys::overwrite(&m.mnt.join(".save"), b"1\n").is_ok()
    });
    assert!(saved, "saving after the server came back");
    let doc7 = std::fs::read_to_string(m.mnt.join("by-id/doc7")).unwrap();
    assert_eq!(doc7, doc_json(7));
    m.unmount();
    let stored = place.contents();
    assert_eq!(stored.len(), 10);
    assert_eq!(stored[1].1, r#"{"id":"doc1","text":"before"}"#);
}
