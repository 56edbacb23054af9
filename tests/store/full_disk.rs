//! A real small filesystem filling up (issue 8): a 4 MiB tmpfs holds the store, and `damfs
//! import`, `save` and `prune` run out of space on it. Each failure is a clear error (ENOSPC
//! named), the store opens with everything saved before, the handle keeps its unsaved
//! changes, and once space is freed the same handle (or a new import) succeeds.
//!
//! Needs root (to mount a tmpfs); skips with a message otherwise.
//!
//! Memmap only: the store's files on a small filesystem (PostgreSQL's disk is the server's).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use damfs::Error;

use crate::support::store::*;

/// A mounted tmpfs, unmounted when dropped.
struct SmallFs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallFs { _dir: dir, mnt })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

fn damfs(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_damfs"))
        .args(args)
        .output()
        .unwrap()
}

fn jsonl(path: &Path, prefix: &str, n: usize, text_len: usize) {
    let text = "z".repeat(text_len);
    let body: String = (0..n)
        .map(|i| format!("{{\"id\":\"{prefix}{i}\",\"text\":\"{text}\"}}\n"))
        .collect();
    fs::write(path, body).unwrap();
}

/// Fills the filesystem with a file until writing fails; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let chunk = vec![7u8; 64 << 10];
    let mut f = fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    filler
}

/// `damfs import STORE INPUT`.
fn import(store: &Path, input: &Path) -> std::process::Output {
    damfs(&[OsStr::new("import"), store.as_os_str(), input.as_os_str()])
}

fn no_space(e: &Error) -> bool {
    e.to_string().contains("No space left on device")
}

#[test]
fn import_save_and_prune_on_a_filling_filesystem() {
    let Some(small) = SmallFs::mount("4m") else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let store = small.mnt.join("store");

    // An import that fits, then one that does not: exit 1 naming the cause, nothing of it
    // visible, the first import intact.
    jsonl(&outside.path().join("small.jsonl"), "s", 300, 100);
    jsonl(&outside.path().join("big.jsonl"), "b", 4000, 2000);
    let o = import(&store, &outside.path().join("small.jsonl"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved = read_store(&store);
    assert_eq!(saved.len(), 300);
    let o = import(&store, &outside.path().join("big.jsonl"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_same(&read_store(&store), &saved, "after the failed import");
    let o = damfs(&["export".as_ref(), store.as_os_str()]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 300);

    // A save that runs out of space: an error, the unsaved changes kept; after freeing
    // space the same handle saves them.
    let mut dam = open(&store, 1000);
    let filler = fill(&small.mnt);
    let big = "q".repeat(4000);
    for i in 0..50 {
        dam.set_by_id(&format!("s{i}"), doc(&format!("s{i}"), &big))
            .unwrap();
    }
    let e = dam.save().expect_err("the save fitted on a full disk");
    assert!(no_space(&e), "{e}");
    assert_eq!(dam.unsaved_ids().len(), 50, "{e}");
    assert_same(&read_store(&store), &saved, "after the failed save");
    fs::remove_file(&filler).unwrap();
    dam.save().unwrap();
    let saved = snapshot(&dam);
    assert_same(
        &read_store(&store),
        &saved,
        "after the save with space again",
    );

    // A prune that does not fit: an error, the store as it was, no partial files left to
    // hold the space; then, with space, it succeeds.
    for i in 50..300 {
        dam.delete_by_id(&format!("s{i}")).unwrap();
    }
    dam.save().unwrap();
    let saved = snapshot(&dam);
    let filler = fill(&small.mnt);
    let e = dam.prune().expect_err("the prune fitted on a full disk");
    assert!(no_space(&e), "{e}");
    assert_same(&snapshot(&dam), &saved, "the handle after the failed prune");
    assert_same(
        &read_store(&store),
        &saved,
        "the store after the failed prune",
    );
    assert_eq!(store_files(&store).len(), 3, "{:?}", store_files(&store));
    fs::remove_file(&filler).unwrap();
    dam.prune().unwrap();
    assert_same(&snapshot(&dam), &saved, "after the prune");
    drop(dam);
    assert_same(&read_store(&store), &saved, "reopened after the prune");
    assert_no_leftovers(&store);
}

/// An input past the in-memory size is parsed on its own thread a chunk ahead of the writes:
/// when a write fails part-way (the disk fills), the reader stops too, the command ends at
/// once with the cause, and nothing of the import is left (the memmap store writes it as one
/// streamed extend, which adds nothing when it fails).
#[test]
fn a_streamed_import_that_runs_out_of_space_leaves_nothing() {
    let Some(small) = SmallFs::mount("16m") else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let store = small.mnt.join("store");
    jsonl(&outside.path().join("small.jsonl"), "s", 100, 100);
    // 24 MB: past IMPORT_IN_MEMORY_MAX, and more than the filesystem holds; its first chunk
    // (10,000 documents, 8 MB) fits.
    jsonl(&outside.path().join("big.jsonl"), "b", 30_000, 800);
    assert!(
        fs::metadata(outside.path().join("big.jsonl"))
            .unwrap()
            .len()
            > damfs::cli::IMPORT_IN_MEMORY_MAX
    );
    let o = import(&store, &outside.path().join("small.jsonl"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved = read_store(&store);
    let o = import(&store, &outside.path().join("big.jsonl"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("nothing of it was written"), "{err}");
    assert_same(
        &read_store(&store),
        &saved,
        "after the failed streamed import",
    );
}
