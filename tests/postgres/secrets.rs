//! A password in a store URL never appears in a message (README, "The URL"): not when the URL
//! is malformed (its text is all a message has then), and not in what a command prints when
//! it succeeds.

use crate::support::*;

const SECRET: &str = "Sup3rSecret";

#[track_caller]
fn assert_hidden(run: &Run, what: &str) {
    assert_ne!(run.code, 0, "{what} should fail: {run:#?}");
    assert!(
        !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
        "{what} shows the password: {run:#?}"
    );
}

#[test]
fn a_url_that_does_not_parse_never_shows_its_password() {
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let urls = [
        format!("postgresql://alice:{SECRET}@db.example/docs?table=Papers"),
        format!("postgresql://alice:{SECRET}@db.example:99999/docs"),
        format!("postgresql://alice:{SECRET}@db.example/docs?sslmode=require"),
        format!("postgresql://alice:{SECRET}%zz@db.example/docs"),
        format!("postgresql://db.example/docs?table=x&password={SECRET}&port=no"),
        // Mistyped: not a URL at all, but surely meant as one.
        format!("postgresql:/alice:{SECRET}@db.example/docs"),
        format!("postgres:alice:{SECRET}@db.example/docs?password={SECRET}"),
    ];
    for url in &urls {
        for cmd in ["export", "stat", "prune", "clear", "ls"] {
            assert_hidden(&damfs([cmd, url.as_str()]), &format!("damfs {cmd} {url}"));
        }
        assert_hidden(
            &damfs(["import", url.as_str(), input.to_str().unwrap()]),
            &format!("damfs import {url}"),
        );
        let mount = damfs([
            "mount",
            url.as_str(),
            mnt.to_str().unwrap(),
            "--log-file",
            dir.path().join("log").to_str().unwrap(),
        ]);
        assert_hidden(&mount, &format!("damfs mount {url}"));
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        assert!(!log.contains(SECRET), "the mount's log: {log}");
    }
}

#[test]
fn what_prune_clear_and_rm_print_holds_no_password() {
    let server = require_pg!();
    let db = server.fresh_db();
    // The test server trusts its socket: the password is sent but not needed.
    let url = format!(
        "postgresql://postgres:{SECRET}@/{db}?host={}&table=damfs",
        server.socket_dir().display()
    );
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n").unwrap();
    for args in [
        vec!["import", url.as_str(), input.to_str().unwrap()],
        vec!["rm", url.as_str(), "a"],
        vec!["prune", url.as_str()],
        vec!["stat", url.as_str()],
        vec!["clear", url.as_str()],
    ] {
        let run = damfs(&args);
        run.assert_ok();
        assert!(
            !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
            "damfs {} shows the password: {run:#?}",
            args[0]
        );
    }
}

/// The mount hides a URL's password by running itself again with the URL shown without it;
/// that URL must name the same user, database and socket, however they are spelt (a user
/// `we:ird@x` became user `we` with password `ird@x`).
#[test]
fn a_mount_that_hides_the_password_keeps_a_user_name_that_needs_escaping() {
    require_fuse!();
    let server = require_pg!();
    let db = server.fresh_db();
    let user = format!("we:ird@{}", std::process::id());
    server.sql(
        &db,
        &format!("CREATE ROLE \"{user}\" LOGIN; GRANT CREATE ON SCHEMA public TO \"{user}\""),
    );
    let encoded = user.replace(':', "%3A").replace('@', "%40");
    let url = format!(
        "postgresql://{encoded}:{SECRET}@/{db}?host={}&table=damfs",
        server.socket_dir().display()
    );
    let dir = scratch();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let log = dir.path().join("log");
    damfs([
        "mount",
        &url,
        mnt.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ])
    .assert_ok();
    std::fs::write(mnt.join("by-id/made"), r#"{"text":"by the mount"}"#).unwrap();
    let stats = std::fs::read_to_string(mnt.join(".stats")).unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    damfs(["unmount", mnt.to_str().unwrap()]).assert_ok();
    assert!(!stats.contains(SECRET) && !mounts.contains(SECRET));
    assert_eq!(
        server.psql(
            &db,
            "SELECT tableowner || ' ' || (SELECT body FROM damfs) FROM pg_tables \
             WHERE tablename = 'damfs'"
        ),
        format!(r#"{user} {{"id":"made","text":"by the mount"}}"#)
    );
    server.sql(
        &db,
        &format!("DROP OWNED BY \"{user}\"; DROP ROLE \"{user}\""),
    );
}
