//! The mount's process lifecycle, driven through the real `damfs` binary: readiness,
//! bad mountpoints, the ways a mount ends (SIGTERM, SIGINT, `umount`, `damfs unmount`) and
//! that each saves, a daemon killed with -9, and read-only mounts.

use std::time::Duration;

use crate::support::place::Place;
use crate::support::store::read_only;
use crate::support::*;

const EXIT_WAIT: Duration = Duration::from_secs(20);

/// The JSON that tests write over document 1.
const CHANGED: &str = r#"{"id":"doc1","text":"changed through the mount"}"#;

fn write_doc1(m: &Mount) {
    m.sh(&format!("printf '%s' '{CHANGED}' > \"$MNT/1\""))
        .assert_ok();
    m.sh("cat \"$MNT/1\"").assert_ok();
}

#[track_caller]
fn assert_doc1_changed(docs: &[(String, String)]) {
    assert_eq!(docs.len(), 3, "{docs:#?}");
    assert_eq!(docs[1], ("doc1".to_string(), CHANGED.to_string()));
    assert_eq!(docs[0].1, doc_json(0));
    assert_eq!(docs[2].1, doc_json(2));
}

fn mount_is_live_when_the_command_returns(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // No waiting: `damfs mount` returned, so the mount must answer now.
    let ls = m.sh("ls \"$MNT/by-id\"");
    ls.assert_ok();
    assert_eq!(ls.lines(), ["doc0", "doc1", "doc2"]);
    let cat = m.sh("cat \"$MNT/2\"");
    cat.assert_ok();
    assert_eq!(cat.stdout, doc_json(2));
    let pid = m.pid();
    m.unmount();
    assert!(
        pid_exited(pid),
        "daemon {pid} still running after damfs unmount"
    );
}

/// Whether a read-only handle can open the store at all (a missing directory, or a
/// database without damfs's tables, cannot).
fn store_exists(m: &Mount) -> bool {
    damfs::Store::open_with(&m.store, read_only()).is_ok()
}

fn missing_store_is_created(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 0);
    assert!(!store_exists(&m));
    m.mount(&[]).assert_ok();
    if !place.postgres {
        assert!(m.store.is_dir());
    }
    assert!(store_exists(&m));
    let ls = m.sh("ls \"$MNT/by-id\"");
    ls.assert_ok();
    assert_eq!(ls.stdout, "");
    assert!(m.unmount_and_read().is_empty());
}

// Backend-free: the mountpoint is refused before the store is opened.
#[test]
fn bad_mountpoints_fail_with_a_clear_message() {
    let m = Mount::unmounted(1);
    let missing = m.dir.path().join("no-such-dir");
    damfs(["mount".as_ref(), m.store.as_os_str(), missing.as_os_str()])
        .assert_fails_with("does not exist");
    let file = m.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    damfs(["mount".as_ref(), m.store.as_os_str(), file.as_os_str()])
        .assert_fails_with("not a directory");
    // The same through --foreground.
    damfs([
        "mount".as_ref(),
        "--foreground".as_ref(),
        m.store.as_os_str(),
        missing.as_os_str(),
    ])
    .assert_fails_with("does not exist");
}

fn read_only_mount_of_a_missing_store_fails(place: &Place) {
    let m = Mount::unmounted_at(place, 0);
    let why = if place.postgres {
        "not a damfs store"
    } else {
        "does not exist"
    };
    m.mount(&["--read-only"]).assert_fails_with(why);
    assert!(!m.is_mounted());
    assert!(!store_exists(&m), "a read-only mount created the store");
}

// Backend-free: no store is involved.
#[test]
fn unmount_refuses_what_is_not_a_damfs_mount() {
    let m = Mount::unmounted(0);
    damfs(["unmount".as_ref(), m.mnt.as_os_str()]).assert_fails_with("not mounted");
    damfs(["unmount", "/proc"]).assert_fails_with("not a damfs mount");
}

fn mounting_twice_on_one_mountpoint_is_refused(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 1, &[]);
    m.mount(&[]).assert_fails_with("already a damfs mount");
    assert!(m.is_mounted());
}

/// Stops a mount whose document 1 was changed (and not saved) with `stop`, then checks
/// that the daemon exits and the change reached the store.
fn stop_saves(place: &Place, stop: impl FnOnce(&Mount, u32)) {
    let m = Mount::at(place, 3, &[]);
    write_doc1(&m);
    let pid = m.pid();
    stop(&m, pid);
    assert!(
        wait_for(EXIT_WAIT, || pid_exited(pid)),
        "daemon {pid} did not exit"
    );
    assert!(!m.is_mounted(), "still mounted after the daemon exited");
    assert_doc1_changed(&m.contents());
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("saved; exiting"), "log:\n{log}");
}

fn sigterm_saves_unmounts_and_exits(place: &Place) {
    require_fuse!();
    stop_saves(place, |_, pid| signal(pid, libc::SIGTERM));
}

fn sigint_saves_unmounts_and_exits(place: &Place) {
    require_fuse!();
    stop_saves(place, |_, pid| signal(pid, libc::SIGINT));
}

fn umount_saves_and_exits(place: &Place) {
    require_fuse!();
    stop_saves(place, |m, _| {
        run(std::process::Command::new("umount").arg(&m.mnt)).assert_ok();
    });
}

fn damfs_unmount_returns_after_the_daemon_saved_and_exited(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    write_doc1(&m);
    let pid = m.pid();
    m.unmount();
    // No waiting: the daemon must be gone already.
    assert!(pid_exited(pid), "daemon {pid} still running");
    assert_doc1_changed(&m.contents());
}

fn a_busy_mount_is_detached_and_the_daemon_exits_when_released(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    write_doc1(&m);
    let pid = m.pid();
    // A process whose working directory is inside the mount keeps it busy.
    let mut holder = std::process::Command::new("sh")
        .arg("-c")
        .arg("cd \"$MNT/by-id\" && exec sleep 30")
        .env("MNT", &m.mnt)
        .spawn()
        .expect("starting sleep");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_link(format!("/proc/{}/cwd", holder.id()))
            .is_ok_and(|p| p.starts_with(&m.mnt))
    }));
    signal(pid, libc::SIGTERM);
    // Saved right away even though the mount cannot go yet.
    assert!(wait_for(EXIT_WAIT, || m
        .contents()
        .get(1)
        .is_some_and(|d| d.1 == CHANGED)));
    // After a couple of seconds of EBUSY the daemon detaches the mount lazily...
    assert!(
        wait_for(EXIT_WAIT, || !m.is_mounted()),
        "mount not detached"
    );
    // ...and keeps serving the process still inside it.
    assert!(!pid_exited(pid), "daemon exited while its mount was in use");
    let cwd = format!("/proc/{}/cwd", holder.id());
    let entries = std::fs::read_dir(&cwd).map(|d| d.count());
    assert_eq!(
        entries.ok(),
        Some(3),
        "listing the detached by-id through {cwd}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        wait_for(EXIT_WAIT, || pid_exited(pid)),
        "daemon did not exit"
    );
    assert!(!m.is_mounted());
}

fn foreground_mount_serves_until_sigint_and_saves(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 3);
    let mut child = m.mount_foreground(&[]);
    let ls = m.sh("ls \"$MNT\"");
    ls.assert_ok();
    assert!(ls.lines().contains(&"by-id"), "{ls:#?}");
    write_doc1(&m);
    signal(child.id(), libc::SIGINT);
    let status = child.wait().expect("waiting for the foreground daemon");
    assert!(
        status.success(),
        "{status}; log:\n{}",
        m.read_log("foreground.log")
    );
    assert!(!m.is_mounted());
    assert_doc1_changed(&m.contents());
}

fn foreground_mount_ends_with_damfs_unmount(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 3);
    let mut child = m.mount_foreground(&["--log-file", "fg.log"]);
    write_doc1(&m);
    m.unmount();
    // `damfs unmount` waited for the daemon: the child has exited.
    let status = child.try_wait().expect("try_wait");
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_doc1_changed(&m.contents());
    // A relative --log-file is relative to where `damfs mount` ran (the scratch dir).
    let log = m.read_log("fg.log");
    assert!(log.contains("serving"), "log:\n{log}");
}

fn kill_9_leaves_a_dead_mount_that_can_be_cleaned_and_remounted(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    write_doc1(&m);
    // Saved through the control file, so it survives the kill.
    m.sh("echo 1 > \"$MNT/.save\"").assert_ok();
    let pid = m.pid();
    signal(pid, libc::SIGKILL);
    assert!(wait_for(EXIT_WAIT, || pid_exited(pid)));
    // The leader is a zombie before its last thread has closed /dev/fuse: a request
    // caught in between fails with ECONNABORTED, every later one with ENOTCONN.
    let ls = m.sh("ls \"$MNT\"");
    assert!(
        ls.code != 0
            && (ls.stderr.contains("Transport endpoint is not connected")
                || ls.stderr.contains("Software caused connection abort")),
        "ls of a dead mount: {ls:#?}"
    );
    m.sh("ls \"$MNT\"")
        .assert_fails_with("Transport endpoint is not connected");
    m.mount(&[]).assert_fails_with("dead FUSE mount");
    // `damfs unmount` cleans a dead mount (there is no daemon to wait for).
    damfs(["unmount".as_ref(), m.mnt.as_os_str()]).assert_ok();
    assert!(!m.is_mounted());
    m.mount(&[]).assert_ok();
    let cat = m.sh("cat \"$MNT/by-id/doc1\"");
    cat.assert_ok();
    assert_eq!(cat.stdout, CHANGED);
    assert_doc1_changed(&m.unmount_and_read());
}

fn kill_9_then_umount_l_then_remount(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let pid = m.pid();
    signal(pid, libc::SIGKILL);
    assert!(wait_for(EXIT_WAIT, || pid_exited(pid)));
    run(std::process::Command::new("umount").arg("-l").arg(&m.mnt)).assert_ok();
    m.mount(&[]).assert_ok();
    let ls = m.sh("ls \"$MNT/by-id\"");
    ls.assert_ok();
    assert_eq!(ls.lines(), ["doc0", "doc1", "doc2"]);
    assert_eq!(m.unmount_and_read().len(), 3);
}

fn read_only_mount_refuses_every_write_with_erofs(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &["--read-only"]);
    let cat = m.sh("cat \"$MNT/0\"");
    cat.assert_ok();
    assert_eq!(cat.stdout, doc_json(0));
    for script in [
        "echo '{}' > \"$MNT/0\"",
        "echo '{}' >> \"$MNT/by-id/doc0\"",
        "rm \"$MNT/1\"",
        "mv \"$MNT/by-id/doc0\" \"$MNT/by-id/other\"",
        "touch \"$MNT/by-id/new\"",
        "mkdir \"$MNT/dir\"",
        "truncate -s 0 \"$MNT/2\"",
        "echo 1 > \"$MNT/.save\"",
    ] {
        m.sh(script).assert_fails_with("Read-only file system");
    }
    let docs = m.unmount_and_read();
    assert_eq!(docs.len(), 3);
    for (i, (_, json)) in docs.iter().enumerate() {
        assert_eq!(json, &doc_json(i));
    }
}

fn pool_size_and_max_doc_size_reach_the_daemon(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &["--pool-size", "0", "--max-doc-size", "1K"]);
    // Pool of 0 writes through: another reader sees the change while still mounted.
    write_doc1(&m);
    assert_doc1_changed(&m.contents());
    m.sh("head -c 2000 /dev/zero > \"$MNT/by-id/big\"")
        .assert_fails_with("File too large");
    m.unmount();
}

fn allow_other_lets_other_users_in(place: &Place) {
    require_fuse!();
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipping: needs root and setpriv to act as another user");
        return;
    }
    let as_nobody =
        |m: &Mount| m.sh("setpriv --reuid=65534 --regid=65534 --clear-groups ls \"$MNT/by-id\"");
    let m = Mount::unmounted_at(place, 2);
    std::fs::set_permissions(
        m.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    m.mount(&[]).assert_ok();
    as_nobody(&m).assert_fails_with("Permission denied");
    m.unmount();
    m.mount(&["--allow-other"]).assert_ok();
    let ls = as_nobody(&m);
    ls.assert_ok();
    assert_eq!(ls.lines(), ["doc0", "doc1"]);
    m.unmount();
}

// PostgreSQL only: a URL's password. (The server trusts local users; the password is sent
// and ignored, so the mount works and only where it shows is checked.)
#[test]
fn a_urls_password_never_shows_in_proc_mounts_ps_stats_or_the_log() {
    require_fuse!();
    let server = require_pg!();
    let db = server.fresh_db();
    let url = server
        .url_for(&db, "damfs")
        .replacen("postgres@", "postgres:s3cret@", 1);
    let m = Mount::of_store(url.into(), &[]);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mnt = format!(" {} ", m.mnt.display());
    let line = mountinfo
        .lines()
        .find(|l| l.contains(&mnt))
        .expect("the mount in mountinfo");
    assert!(
        line.contains(" - fuse.damfs postgresql://postgres@"),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
    assert!(!m.stats().to_string().contains("s3cret"), "{}", m.stats());
    // The daemon's command line (world-readable: `ps`) has the URL without the password,
    // which went to its environment (readable by its owner only).
    let pid = m.pid();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("postgresql://postgres@"), "{cmdline}");
    assert!(!cmdline.contains("s3cret"), "{cmdline}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|v| v == b"PGPASSWORD=s3cret"),
        "the password did not reach the daemon's environment"
    );
    m.unmount();
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("serving postgresql://postgres@"), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
}

both_backends!(
    missing_store_is_created,
    read_only_mount_of_a_missing_store_fails,
    mount_is_live_when_the_command_returns,
    mounting_twice_on_one_mountpoint_is_refused,
    sigterm_saves_unmounts_and_exits,
    sigint_saves_unmounts_and_exits,
    umount_saves_and_exits,
    damfs_unmount_returns_after_the_daemon_saved_and_exited,
    a_busy_mount_is_detached_and_the_daemon_exits_when_released,
    foreground_mount_serves_until_sigint_and_saves,
    foreground_mount_ends_with_damfs_unmount,
    kill_9_leaves_a_dead_mount_that_can_be_cleaned_and_remounted,
    kill_9_then_umount_l_then_remount,
    read_only_mount_refuses_every_write_with_erofs,
    pool_size_and_max_doc_size_reach_the_daemon,
    allow_other_lets_other_users_in,
);
