//! A mount whose store's filesystem fills up (a real 2 MiB tmpfs): every write that cannot
//! reach the disk fails with ENOSPC at the syscall that made it, nothing is lost, and once
//! space is freed the same operations succeed.
//!
//! Memmap only: the disk that fills is the store directory's filesystem.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// A tmpfs of `size` mounted at `dir` (unmounted on drop).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }

    /// Fills the filesystem with a file `filler` until it is full.
    fn fill(&self) {
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", self.0.join("filler").display()))
            .stderr(std::process::Stdio::null())
            .status();
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_syscall_and_loses_nothing() {
    require_fuse!();
    let m = Mount::unmounted(0);
    let Some(fs) = Tmpfs::new(&m.dir.path().join("small"), "2m") else {
        panic!("mounting a tmpfs needs root (tests run as root here and in CI)");
    };
    let store = fs.0.join("store");
    make_store(&store, 3);
    let mnt_store = Mount {
        dir: tempfile::Builder::new()
            .prefix("damfs-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap(),
        store: store.clone(),
        mnt: m.mnt.clone(),
        log_file: None,
    };
    mnt_store.mount(&["--pool-size", "0"]).assert_ok();
    let mt = &mnt_store;
    // Large enough to need new pages of the tmpfs (a few bytes fit in the last page).
    let big = "k".repeat(20_000);
    let keep = format!(r#"{{"text":"{big}"}}"#);
    mt.sh(&format!("printf '%s' '{keep}' > \"$MNT/tmp.keep\""))
        .assert_ok();
    fs.fill();

    // Becoming a document needs the disk: the rename fails and changes nothing.
    mt.sh("mv \"$MNT/tmp.keep\" \"$MNT/by-id/kept\"")
        .assert_fails_with("No space left on device");
    assert_eq!(mt.sh("cat \"$MNT/tmp.keep\"").stdout, keep);
    mt.sh("cat \"$MNT/by-id/kept\"")
        .assert_fails_with("No such file");
    // A replacement written through (pool 0) fails at close, and the document keeps its text.
    let src = mt.dir.path().join("big.json");
    std::fs::write(&src, format!(r#"{{"id":"doc2","text":"{big}"}}"#)).unwrap();
    let r = mt.sh(&format!(
        "python3 -c \"import sys; f = open(sys.argv[2], 'w'); f.write(open(sys.argv[1]).read()); f.close()\" {} \"$MNT/2\"",
        src.display()
    ));
    assert_ne!(r.code, 0, "python checks close(): {r:#?}");
    assert!(r.stderr.contains("No space left"), "{r:#?}");
    assert_eq!(mt.sh("cat \"$MNT/1\"").stdout, doc_json(1));
    assert_eq!(mt.sh("cat \"$MNT/2\"").stdout, doc_json(2));

    fs.free();
    mt.sh("mv \"$MNT/tmp.keep\" \"$MNT/by-id/kept\" && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    let mut want = expected_docs(3);
    want.push(("kept".into(), format!(r#"{{"id":"kept","text":"{big}"}}"#)));
    mt.assert_shows(&want);
    assert_eq!(mt.unmount_and_read(), want);
}
