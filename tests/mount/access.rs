//! Who may use a mount: without `--allow-other` another local user gets EACCES on
//! everything in it; with `--allow-other` the kernel checks permissions
//! (`default_permissions`): documents are 0644 and owned by the mounting user, so another
//! user reads them but cannot change, create, delete or rename anything, nor run a control
//! file. The other user is created for the test (`useradd`) and removed after it; its
//! commands run through `runuser`.

use std::path::Path;
use std::process::Command;

use crate::support::place::{fill, Place};
use crate::support::*;

/// A local user made for one test, removed when dropped.
struct OtherUser(String);

impl OtherUser {
    /// `tag` tells apart the users of tests running at once.
    fn create(tag: &str) -> OtherUser {
        let name = format!("damfs-{tag}{}", std::process::id());
        run(Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(&name))
        .assert_ok();
        OtherUser(name)
    }

    /// Runs `ARGS` as this user.
    fn run(&self, args: &[&std::ffi::OsStr]) -> Run {
        run(Command::new("runuser")
            .args(["-u", &self.0, "--"])
            .args(args))
    }

    /// The errno (0 for none) of a Python snippet run as this user on `path`; the snippet
    /// sees the path as `p`.
    fn errno_of(&self, code: &str, path: &Path) -> i32 {
        let script = format!(
            "import os, sys\np = sys.argv[1]\ntry:\n    {code}\n    print(0)\nexcept OSError as e:\n    print(e.errno)"
        );
        let r = self.run(&[
            python().as_ref(),
            "-c".as_ref(),
            script.as_ref(),
            path.as_os_str(),
        ]);
        r.assert_ok();
        r.stdout.trim().parse().unwrap()
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// The store at `place` with `n` documents, and a mountpoint in a directory every user can
/// enter (the harness's scratch directories are private), not mounted yet.
fn public_mount(place: &Place, n: usize) -> Mount {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("damfs-access-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    fill(place, n);
    let log_file = Some(dir.path().join("store.damfs.log"));
    Mount {
        dir,
        store: place.store.clone(),
        mnt,
        log_file,
    }
}

fn without_allow_other_another_user_gets_eacces_on_the_mount(place: &Place) {
    require_fuse!();
    let user = OtherUser::create("n");
    let m = public_mount(place, 3);
    m.mount(&[]).assert_ok();

    // The way there is open to that user: the refusal is the mount's.
    let parent = user.run(&["ls".as_ref(), m.dir.path().as_os_str()]);
    parent.assert_ok();
    assert!(parent.stdout.contains("mnt"), "{parent:?}");

    for (tool, path) in [
        ("ls", m.mnt.clone()),
        ("ls", m.path("by-id")),
        ("cat", m.path("0")),
        ("cat", m.path("by-id/doc1")),
        ("stat", m.mnt.clone()),
    ] {
        user.run(&[tool.as_ref(), path.as_os_str()])
            .assert_fails_with("Permission denied");
    }
    assert_eq!(user.errno_of("os.listdir(p)", &m.mnt), libc::EACCES);
    assert_eq!(user.errno_of("open(p).read()", &m.path("0")), libc::EACCES);
    assert_eq!(
        user.errno_of("open(p, 'w').close()", &m.path("by-id/new")),
        libc::EACCES
    );
    assert_eq!(user.errno_of("os.stat(p)", &m.path(".stats")), libc::EACCES);

    // The mounting user is not affected, and nothing changed.
    m.assert_shows(&expected_docs(3));
    assert_eq!(m.unmount_and_read(), expected_docs(3));
}

fn with_allow_other_another_user_reads_documents_but_cannot_change_them(place: &Place) {
    require_fuse!();
    let user = OtherUser::create("a");
    let m = public_mount(place, 3);
    m.mount(&["--allow-other"]).assert_ok();

    // Reading: every listing and every document, under both names.
    let ls = user.run(&["ls".as_ref(), m.mnt.as_os_str()]);
    ls.assert_ok();
    assert_eq!(ls.lines(), ["0", "1", "2", "by-id"]);
    let ls = user.run(&["ls".as_ref(), m.path("by-id").as_os_str()]);
    ls.assert_ok();
    assert_eq!(ls.lines(), ["doc0", "doc1", "doc2"]);
    for (i, name) in ["0", "by-id/doc1", "2"].iter().enumerate() {
        let cat = user.run(&["cat".as_ref(), m.path(name).as_os_str()]);
        cat.assert_ok();
        assert_eq!(cat.stdout, doc_json(i), "{name} as another user");
    }
    let stats = user.run(&["cat".as_ref(), m.path(".stats").as_os_str()]);
    stats.assert_ok();
    assert!(stats.stdout.contains("\"length\": 3"), "{stats:?}");

    // Writing: each refused by the kernel's permission check (0644, owned by the mounting
    // user; the directories are 0755), before damfs sees it.
    let eacces = [
        ("open(p, 'w').write('{}')", "0"),
        ("open(p, 'a').write('{}')", "by-id/doc1"),
        ("open(p, 'w').write('{}')", "by-id/new"),
        ("open(p, 'w').write('x')", "tmp.scratch"),
        ("os.unlink(p)", "by-id/doc2"),
        ("os.rename(p, p + 'x')", "by-id/doc0"),
        ("os.truncate(p, 0)", "1"),
        ("os.chmod(p, 0o666)", "0"),
        ("open(p, 'w').write('1')", ".save"),
        ("open(p, 'w').write('1')", ".clear"),
    ];
    for (code, name) in eacces {
        let want = if code.starts_with("os.chmod") {
            libc::EPERM // chmod of another user's file: EPERM, not EACCES
        } else {
            libc::EACCES
        };
        assert_eq!(user.errno_of(code, &m.path(name)), want, "{code} on {name}");
    }
    user.run(&[
        "sh".as_ref(),
        "-c".as_ref(),
        "echo '{}' > \"$0/0\"".as_ref(),
        m.mnt.as_os_str(),
    ])
    .assert_fails_with("Permission denied");

    // Nothing changed, and the mounting user still writes.
    m.assert_shows(&expected_docs(3));
    m.sh("printf '{\"text\":\"mine\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    let cat = user.run(&["cat".as_ref(), m.path("1").as_os_str()]);
    assert_eq!(cat.stdout, r#"{"id":"doc1","text":"mine"}"#, "{cat:?}");
    let mut want = expected_docs(3);
    want[1].1 = r#"{"id":"doc1","text":"mine"}"#.into();
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(
    without_allow_other_another_user_gets_eacces_on_the_mount,
    with_allow_other_another_user_reads_documents_but_cannot_change_them,
);
