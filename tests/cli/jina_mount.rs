//! `damfs mount JINA_DIR MNT --read-only` through the real binary: an original store served
//! read-only as the original's `to_json()` texts, without a byte written into JINA_DIR, from
//! a private converted copy that is gone after unmount; read-write mounts are refused with a
//! way out.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::jina::*;
use crate::support::{damfs, is_mount_root, require_fuse, run, scratch, Run, BIN};

/// A copy of a fixture store, a mountpoint and a private TMPDIR for the daemon.
struct Setup {
    dir: tempfile::TempDir,
    jina: PathBuf,
    mnt: PathBuf,
    tmp: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = scratch();
        let jina = dir.path().join("jina-store");
        let mnt = dir.path().join("mnt");
        let tmp = dir.path().join("tmp");
        for d in [&jina, &mnt, &tmp] {
            std::fs::create_dir(d).unwrap();
        }
        for f in ["header.bin", "body.bin"] {
            std::fs::copy(fixture(name).join(f), jina.join(f)).unwrap();
        }
        Setup {
            dir,
            jina,
            mnt,
            tmp,
        }
    }

    fn mount(&self, args: &[&str]) -> Run {
        run(Command::new(BIN)
            .arg("mount")
            .arg(&self.jina)
            .arg(&self.mnt)
            .args(args)
            .env("TMPDIR", &self.tmp)
            .current_dir(self.dir.path()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jina-store.damfs.log")).unwrap_or_default()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if is_mount_root(&self.mnt) {
            damfs(["unmount".as_ref(), self.mnt.as_os_str()]);
        }
    }
}

/// Every file of a directory with its bytes, size and mtime.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, i64, i64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                (std::fs::read(e.path()).unwrap(), m.mtime(), m.mtime_nsec()),
            )
        })
        .collect()
}

#[test]
fn a_read_only_mount_serves_every_document_as_the_originals_to_json() {
    require_fuse!();
    let s = Setup::new("varied");
    let before = snapshot(&s.jina);
    s.mount(&["--read-only"]).assert_ok();
    let want = expected("varied");
    let by_id = s.mnt.join("by-id");
    assert_eq!(std::fs::read_dir(&by_id).unwrap().count(), want.len());
    for (i, e) in want.iter().enumerate() {
        let at_position = std::fs::read_to_string(s.mnt.join(i.to_string())).unwrap();
        let text = e.json.as_ref().unwrap();
        if e.random_id {
            assert_eq!(at_position, with_id(text, &id_of(&at_position)));
        } else {
            assert_eq!(&at_position, text, "{}", e.key);
            let named = by_id.join(id_of(text));
            assert_eq!(&std::fs::read_to_string(named).unwrap(), text);
        }
    }
    // Real tools see the same files; writes are refused.
    let grep = run(Command::new("grep")
        .args(["-rl", "last content wins"])
        .arg(&by_id));
    assert_eq!(
        grep.assert_ok().stdout.trim(),
        by_id.join("dup").display().to_string()
    );
    let write = run(Command::new("sh")
        .arg("-c")
        .arg("echo '{}' > \"$1\"")
        .arg("sh")
        .arg(by_id.join("text")));
    assert!(
        write.code != 0 && write.stderr.contains("Read-only"),
        "{write:?}"
    );

    // `.stats` names the Jina store, and the copy it serves.
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.mnt.join(".stats")).unwrap()).unwrap();
    assert_eq!(
        stats["store"],
        s.jina.canonicalize().unwrap().to_str().unwrap()
    );
    assert!(stats["converted_copy"]
        .as_str()
        .unwrap()
        .starts_with(s.tmp.to_str().unwrap()));

    // The private copy exists while mounted and is gone after unmount; the Jina store was
    // never written to.
    let copies = || std::fs::read_dir(&s.tmp).unwrap().count();
    assert_eq!(copies(), 1);
    damfs(["unmount".as_ref(), s.mnt.as_os_str()]).assert_ok();
    assert_eq!(
        copies(),
        0,
        "the converted copy is removed when the daemon exits"
    );
    assert_eq!(snapshot(&s.jina), before, "JINA_DIR changed");
    assert!(
        s.log().contains("serving 29 documents of the Jina store"),
        "{}",
        s.log()
    );
}

#[test]
fn records_that_cannot_be_converted_are_logged_and_left_out_of_the_mount() {
    require_fuse!();
    let s = Setup::new("unprintable");
    s.mount(&["--read-only"]).assert_ok();
    let mut names: Vec<String> = std::fs::read_dir(s.mnt.join("by-id"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["graph", "ok-after", "ok-before", "old-offset", "zeros"]
    );
    let log = s.log();
    assert!(log.contains("skipped document \"complex\""), "{log}");
    assert!(
        log.contains("skipped 11 that could not be converted"),
        "{log}"
    );
}

#[test]
fn a_read_write_mount_of_a_jina_store_is_refused_with_how_to_import_it() {
    require_fuse!();
    let s = Setup::new("varied");
    let before = snapshot(&s.jina);
    let run = s.mount(&[]);
    run.assert_fails_with("is a Jina DocumentArrayMemmap store");
    run.assert_fails_with("--read-only");
    run.assert_fails_with("damfs import NEW_STORE");
    assert!(!is_mount_root(&s.mnt));
    assert_eq!(snapshot(&s.jina), before);
    assert_eq!(std::fs::read_dir(&s.tmp).unwrap().count(), 0);
}

#[test]
fn a_tmpdir_where_the_copy_cannot_be_made_is_named() {
    require_fuse!();
    let s = Setup::new("varied");
    std::fs::remove_dir(&s.tmp).unwrap();
    let run = s.mount(&["--read-only"]);
    run.assert_fails_with(&format!(
        "creating a private copy of {} in {} ($TMPDIR): No such file or directory",
        s.jina.display(),
        s.tmp.display()
    ));
    assert!(!is_mount_root(&s.mnt));
}

#[test]
fn a_header_torn_by_a_crash_mounts_its_whole_entries_and_logs_the_partial_one() {
    require_fuse!();
    let s = Setup::new("last-deleted");
    let header = s.jina.join("header.bin");
    let mut bytes = std::fs::read(&header).unwrap();
    bytes.extend_from_slice(&[0x61, 0, 0, 0, 0x62]); // the start of one more entry
    std::fs::write(&header, &bytes).unwrap();
    let before = snapshot(&s.jina);
    s.mount(&["--read-only"]).assert_ok();
    for (i, e) in expected("last-deleted").iter().enumerate() {
        let text = std::fs::read_to_string(s.mnt.join(i.to_string())).unwrap();
        assert_eq!(&text, e.json.as_ref().unwrap());
    }
    assert!(!s.mnt.join("2").exists());
    damfs(["unmount".as_ref(), s.mnt.as_os_str()]).assert_ok();
    let log = s.log();
    assert!(
        log.contains("header entry 3") && log.contains("its last 5 bytes are part of an entry"),
        "{log}"
    );
    assert_eq!(snapshot(&s.jina), before);
}

#[test]
fn a_copy_is_removed_once_nobody_serves_it_whatever_its_pid_says() {
    use std::os::fd::AsRawFd;
    require_fuse!();
    let s = Setup::new("varied");
    s.mount(&["--read-only"]).assert_ok();
    let copies = || {
        let mut v: Vec<String> = std::fs::read_dir(&s.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let served = copies();
    assert_eq!(served.len(), 1, "{served:?}");
    // Left by a daemon killed with SIGKILL, under a pid that now belongs to someone else.
    let stale = s.tmp.join("damfs-jina-1-stalestale00");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join(".alive"), "").unwrap();
    // Served by a live daemon whose pid this namespace cannot see (another container).
    let foreign = s.tmp.join("damfs-jina-4000000-foreignfore0");
    std::fs::create_dir(&foreign).unwrap();
    let held = std::fs::File::create(foreign.join(".alive")).unwrap();
    // SAFETY: flock on a descriptor the test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);

    // A second mount of the store converts again, and clears what nobody serves.
    let second = s.dir.path().join("mnt2");
    std::fs::create_dir(&second).unwrap();
    run(Command::new(BIN)
        .arg("mount")
        .arg(&s.jina)
        .arg(&second)
        .arg("--read-only")
        .env("TMPDIR", &s.tmp)
        .current_dir(s.dir.path()))
    .assert_ok();
    let now = copies();
    assert!(
        !now.contains(&"damfs-jina-1-stalestale00".to_owned()),
        "{now:?}"
    );
    assert!(
        now.contains(&"damfs-jina-4000000-foreignfore0".to_owned()),
        "{now:?}"
    );
    assert!(
        now.contains(&served[0]),
        "the first mount's copy was removed: {now:?}"
    );
    assert_eq!(now.len(), 3, "{now:?}");
    // Both mounts still serve.
    for mnt in [&s.mnt, &second] {
        assert!(std::fs::read_to_string(mnt.join("0"))
            .unwrap()
            .contains("\"id\""));
    }
    damfs(["unmount".as_ref(), second.as_os_str()]).assert_ok();
    drop(held);
}
