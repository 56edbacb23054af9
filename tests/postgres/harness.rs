//! The PostgreSQL test harness itself: a real server, fresh databases, stop and restart.

use crate::support;
use crate::support::postgres::PgServer;
use crate::support::require_pg;

#[test]
fn fresh_databases_are_separate() {
    let server = require_pg!();
    let a = server.fresh_db();
    let b = server.fresh_db();
    assert_ne!(a, b);
    server.sql(
        &a,
        "CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (7)",
    );
    assert_eq!(server.psql(&a, "SELECT x FROM only_in_a"), "7");
    assert_eq!(
        server.psql(
            &b,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "0"
    );
}

#[test]
fn an_own_server_stops_and_starts_again_keeping_its_data() {
    if !support::postgres::pg_available() {
        support::postgres::skip_without_server();
        return;
    }
    let server = PgServer::start().unwrap();
    let db = server.fresh_db();
    server.sql(
        &db,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2)",
    );
    server.stop();
    let down = postgres::Client::connect(&server.conninfo(), postgres::NoTls);
    assert!(down.is_err(), "a stopped server must refuse connections");
    server.start_again();
    assert_eq!(server.psql(&db, "SELECT sum(x) FROM kept"), "3");
}
