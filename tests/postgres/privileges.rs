//! A user who may only read a store's tables (`SELECT`, README "Setting up a server"): export,
//! stat and a `--read-only` mount work; anything that would write — a writable mount, import,
//! clear, prune — fails at once with a message naming the missing permissions, and nothing
//! changes (a writable mount used to come up and then fail each write, a delete it had shown
//! done coming back).

use crate::support::*;

#[test]
fn a_user_who_may_only_read_cannot_open_for_writing() {
    let server = require_pg!();
    let db = server.fresh_db();
    let owner_url = server.url_for(&db, "papers");
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n").unwrap();
    damfs(["import", &owner_url, input.to_str().unwrap()]).assert_ok();
    let reader = format!("reader_{}", std::process::id());
    server.sql(
        &db,
        &format!(
            "CREATE ROLE {reader} LOGIN; \
             GRANT SELECT ON papers, papers_head, papers_changes TO {reader}"
        ),
    );
    let url = format!(
        "postgresql://{reader}@/{db}?host={}&table=papers",
        server.socket_dir().display()
    );
    let before = damfs(["export", &url]);
    before.assert_ok();
    assert_eq!(before.lines(), [r#"{"id":"a"}"#, r#"{"id":"b"}"#]);
    damfs(["stat", &url]).assert_ok();

    let more = dir.path().join("more.jsonl");
    std::fs::write(&more, "{\"id\":\"c\"}\n").unwrap();
    for args in [
        vec!["import", url.as_str(), more.to_str().unwrap()],
        vec!["clear", url.as_str()],
        vec!["prune", url.as_str()],
        vec!["rm", url.as_str(), "a"],
    ] {
        damfs(&args).assert_fails_with(&format!(
            "permission denied: user {reader} lacks INSERT on papers"
        ));
    }
    if fuse_available() {
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let log = dir.path().join("log");
        let mount = damfs([
            "mount",
            &url,
            mnt.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ]);
        mount.assert_fails_with("UPDATE on papers_head");
        mount.assert_fails_with("mount --read-only");
        assert!(
            !is_mount_root(&mnt),
            "a failed mount leaves nothing mounted"
        );
        damfs([
            "mount",
            "--read-only",
            &url,
            mnt.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ])
        .assert_ok();
        let shown = std::fs::read_to_string(mnt.join("by-id/b"));
        damfs(["unmount", mnt.to_str().unwrap()]).assert_ok();
        assert_eq!(shown.unwrap(), r#"{"id":"b"}"#);
    }
    assert_eq!(
        damfs(["export", &owner_url]).assert_ok().lines(),
        before.lines()
    );
    server.sql(&db, &format!("DROP OWNED BY {reader}; DROP ROLE {reader}"));
}
