//! Passwords against a server that asks for them (README, "The URL"): from the URL
//! (percent-encoded, in the user part or as `password=`), else `PGPASSWORD`, else `~/.pgpass`
//! or `PGPASSFILE`; a wrong or missing one is a clear error; the password never shows in a
//! message, the daemon's command line, `/proc/mounts`, `.stats` or the mount's log.

use std::process::Command;

use crate::support::pg_password::PasswordServer;
use crate::support::*;

/// Every character a URL must escape, and a few `.pgpass` must too.
const PASSWORD: &str = "p@ss:w/rd%&?#x\\y";
const ENCODED: &str = "p%40ss%3Aw%2Frd%25%26%3F%23x%5Cy";

fn server() -> Option<PasswordServer> {
    let s = PasswordServer::start("alice", PASSWORD);
    if s.is_none() {
        crate::support::postgres::skip_without_server();
    }
    s
}

/// `damfs ARGS` with only the given password variables set.
fn damfs_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env("HOME", "/nonexistent");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[track_caller]
fn assert_no_password(run: &Run) {
    assert!(
        !run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(ENCODED), "{run:#?}");
}

#[test]
fn every_way_of_giving_the_password_works_and_a_wrong_one_is_named() {
    let Some(s) = server() else { return };
    let dir = scratch();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    let in_user_part = s.url(Some(&format!("alice:{ENCODED}")), "t");
    let imported = damfs_env(&["import", &in_user_part, input.to_str().unwrap()], &[]);
    imported.assert_ok();
    assert_no_password(&imported);

    let plain = s.url(None, "t");
    let in_query = format!("{plain}&password={ENCODED}");
    let pgpass = dir.path().join("pgpass");
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    std::fs::write(
        &pgpass,
        format!(
            "otherhost:*:*:*:wrong\nlocalhost:5432:{}:alice:{escaped}\n",
            s.db
        ),
    )
    .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::copy(&pgpass, home.join(".pgpass")).unwrap();
    let pgpass = pgpass.to_str().unwrap();
    let home = home.to_str().unwrap();
    for (url, env) in [
        (in_query.as_str(), vec![]),
        (plain.as_str(), vec![("PGPASSWORD", PASSWORD)]),
        (plain.as_str(), vec![("PGPASSFILE", pgpass)]),
        (plain.as_str(), vec![("HOME", home)]),
        // The URL's password comes before PGPASSWORD.
        (in_user_part.as_str(), vec![("PGPASSWORD", "wrong")]),
    ] {
        let out = damfs_env(&["export", url], &env);
        assert_eq!(out.stdout, "{\"id\":\"a\"}\n", "{url} {env:?}: {out:#?}");
        assert_no_password(&out);
    }

    let wrong = damfs_env(&["export", &s.url(Some("alice:nope"), "t")], &[]);
    wrong.assert_fails_with("password authentication failed for user \"alice\"");
    assert!(!wrong.stderr.contains("nope"), "{wrong:#?}");
    damfs_env(&["export", &plain], &[("PGPASSWORD", "nope")])
        .assert_fails_with("password authentication failed");
    damfs_env(&["export", &plain], &[]).assert_fails_with(
        "the server asks for a password, and none was given (in the URL, PGPASSWORD or ~/.pgpass)",
    );
}

#[test]
fn a_mount_with_the_password_in_its_url_never_shows_it() {
    require_fuse!();
    let Some(s) = server() else { return };
    let url = s.url(Some(&format!("alice:{ENCODED}")), "t");
    let dir = scratch();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let log = dir.path().join("log");
    let mount = damfs_env(
        &[
            "mount",
            &url,
            mnt.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
        &[],
    );
    mount.assert_ok();
    assert_no_password(&mount);
    std::fs::write(mnt.join("by-id/doc"), r#"{"text":"through the mount"}"#).unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mnt.join(".stats")).unwrap()).unwrap();
    let pid = stats["pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    // The server restarts: the mount connects again with the password it was given.
    s.server.stop();
    s.server.start_again();
    std::fs::write(mnt.join("by-id/after"), r#"{"text":"after the restart"}"#).unwrap();
    damfs(["unmount", mnt.to_str().unwrap()]).assert_ok();
    let shown = String::from_utf8_lossy(&cmdline).into_owned() + &mounts + &stats.to_string();
    let logged = std::fs::read_to_string(&log).unwrap();
    for text in [&shown, &logged] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(ENCODED),
            "{text}"
        );
    }
    let out = damfs_env(&["export", &url], &[]);
    assert_eq!(
        out.lines(),
        [
            r#"{"id":"doc","text":"through the mount"}"#,
            r#"{"id":"after","text":"after the restart"}"#
        ]
    );
}
