//! The forms of store URL the README promises, as libpq reads them: the socket directory in
//! the query or percent-encoded as the host, `user=`, `dbname=`, `port=` in the query, the
//! `PGHOST`/`PGPORT`/`PGUSER`/`PGDATABASE` defaults, `postgres://`, the default table — all
//! reach the same store. A STORE that was surely meant as a URL (`postgresql:/db`) is refused,
//! not made a directory of that name.

use std::process::Command;

use crate::support::*;

#[test]
fn every_form_of_the_url_reaches_the_same_store() {
    let server = require_pg!();
    let db = server.fresh_db();
    let sock = server.socket_dir().display().to_string();
    let encoded_sock = sock.replace('/', "%2F");
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    damfs([
        "import",
        &format!("postgresql://postgres@/{db}?host={sock}"),
        input.to_str().unwrap(),
    ])
    .assert_ok();
    let forms = [
        format!("postgres://postgres@/{db}?host={sock}&table=damfs"),
        format!("postgresql://postgres@{encoded_sock}/{db}"),
        format!("postgresql://postgres@{encoded_sock}:5432/{db}?table=damfs"),
        format!("postgresql://?dbname={db}&host={sock}&user=postgres&port=5432"),
        format!("postgresql:///{db}?host={sock}&user=postgres&sslmode=disable"),
        format!(
            "postgresql://postgres@/%{:02X}{}?host={sock}",
            db.as_bytes()[0],
            &db[1..]
        ),
    ];
    for url in &forms {
        let out = damfs(["export", url.as_str()]);
        assert_eq!(out.stdout, "{\"id\":\"a\"}\n", "{url}: {out:#?}");
    }
    let from_env = run(Command::new(BIN)
        .args(["export", "postgresql://"])
        .env("PGHOST", &sock)
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGDATABASE", &db));
    assert_eq!(from_env.stdout, "{\"id\":\"a\"}\n", "{from_env:#?}");
}

#[test]
fn a_store_meant_as_a_url_is_refused_not_made_a_directory() {
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    std::fs::create_dir(dir.path().join("mnt")).unwrap();
    for store in [
        "postgresql:/docs?table=x",
        "postgres:docs",
        "postgresql:docs",
    ] {
        let import = run(Command::new(BIN)
            .args(["import", store, input.to_str().unwrap()])
            .current_dir(dir.path()));
        import.assert_fails_with("those start with postgresql://");
        let mount = run(Command::new(BIN)
            .args(["mount", store, "mnt"])
            .current_dir(dir.path()));
        mount.assert_fails_with("those start with postgresql://");
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["in.jsonl", "mnt"], "no store directory was made");
}
