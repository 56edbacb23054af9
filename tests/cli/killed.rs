//! `damfs import` and `damfs rm` are all or nothing, also when they are killed (SIGKILL)
//! part-way: an import of more documents than one write chunk (10,000), killed while it
//! writes, leaves the store as it was — none of its documents — never the first chunks of
//! it; an `rm` of many ids removes all of them or none. Killed at different moments (texts
//! being written, the index growing), small inputs (read once) and large ones (read twice,
//! over 8 MiB). And an input cut short between its two reads fails the command rather than
//! passing for the whole input.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::process::{signal, wait_for};
use crate::support::run::BIN;
use crate::support::store::{body_path, index_path, make_store, read_store, scratch};

/// A JSON Lines file of `n` documents `imp<i>`, padded so the file is about `bytes` long.
fn input(path: &Path, n: usize, bytes: usize) {
    let pad = "p".repeat((bytes / n).saturating_sub(40).max(1));
    let mut s = String::with_capacity(bytes + n * 8);
    for i in 0..n {
        s.push_str(&format!("{{\"id\":\"imp{i}\",\"text\":\"{pad}\"}}\n"));
    }
    fs::write(path, s).unwrap();
}

fn len_of(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// Starts an import of `file` into `store`, kills it once `moment` holds (or lets it end,
/// if it ends first), and checks the store holds the documents it had and either none of
/// the import's or all of them (all, if it exited 0 before the kill). Gives whether the
/// import is in.
fn kill_when(store: &Path, file: &Path, n: usize, moment: &dyn Fn() -> bool) -> bool {
    let before = read_store(store);
    let mut child = Command::new(BIN)
        .arg("import")
        .arg(store)
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(120), || {
        moment() || child.try_wait().unwrap().is_some()
    });
    let finished = match child.try_wait().unwrap() {
        Some(status) => Some(status),
        None => {
            signal(child.id(), libc::SIGKILL);
            None
        }
    };
    let status = child.wait().unwrap();
    let after = read_store(store);
    assert_eq!(
        after[..before.len().min(after.len())],
        before[..],
        "the store's own documents changed"
    );
    let imported = after.len() - before.len();
    if finished.is_some_and(|s| s.success()) {
        assert_eq!(imported, n, "a finished import is all there");
        true
    } else {
        // Killed after its last write, before it saved and exited, it is all there.
        assert!(
            imported == 0 || imported == n,
            "a killed import ({status}) left {imported} of its {n} documents"
        );
        imported == n
    }
}

fn killed_import_leaves_nothing(n: usize, bytes: usize) {
    let dir = scratch();
    let store = dir.path().join("store");
    let file = dir.path().join("in.jsonl");
    input(&file, n, bytes);
    make_store(&store, 3);
    let body = body_path(&store);
    let index = index_path(&store);
    let body0 = len_of(&body);
    let index0 = len_of(&index);
    // While the texts are written, and once the index grows (the first entries are out).
    if kill_when(&store, &file, n, &|| {
        len_of(&body) > body0 + bytes as u64 / 3
    }) {
        return;
    }
    let index1 = len_of(&index);
    if kill_when(&store, &file, n, &|| len_of(&index) > index1.max(index0)) {
        return;
    }
    // The store still takes the same import afterwards, all of it.
    assert!(kill_when(&store, &file, n, &|| false));
}

#[test]
fn an_import_killed_part_way_leaves_none_of_its_documents() {
    killed_import_leaves_nothing(60_000, 3 << 20);
}

#[test]
fn a_large_import_killed_part_way_leaves_none_of_its_documents() {
    killed_import_leaves_nothing(80_000, 10 << 20);
}

#[test]
fn an_rm_of_many_ids_killed_part_way_removes_all_or_none() {
    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 20_000);
    let all = read_store(&store);
    let index = index_path(&store);
    let index0 = len_of(&index);
    let mut rm = Command::new(BIN);
    rm.arg("rm").arg(&store);
    rm.args((0..20_000).step_by(2).map(|i| format!("doc{i}")));
    let mut child = rm
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(120), || {
        len_of(&index) > index0 || child.try_wait().unwrap().is_some()
    });
    let _ = signal_if_running(&mut child);
    let status = child.wait().unwrap();
    let after = read_store(&store);
    let odd: Vec<_> = all.iter().skip(1).step_by(2).cloned().collect();
    assert!(
        after == all || after == odd,
        "rm ({status}) left {} of 20000 documents",
        after.len()
    );
}

/// SIGKILL unless it already exited; gives whether it was killed.
fn signal_if_running(child: &mut std::process::Child) -> bool {
    if child.try_wait().unwrap().is_some() {
        return false;
    }
    signal(child.id(), libc::SIGKILL);
    true
}

/// An input past 8 MiB is read twice; cut short between the two reads (another program
/// rewrote it), the import must not write what is left and report success: it fails, and
/// writes nothing.
#[test]
fn an_input_cut_short_between_its_two_reads_fails_the_import() {
    cut_between_the_two_reads("import");
}

/// `put` reads its input twice too: the documents put before it noticed stay (as after any
/// failure part-way), but it must not exit 0.
#[test]
fn an_input_cut_short_between_its_two_reads_fails_put() {
    cut_between_the_two_reads("put");
}

fn cut_between_the_two_reads(command: &str) {
    let dir = scratch();
    let store = dir.path().join("store");
    let file = dir.path().join("in.jsonl");
    let n = 60_000;
    input(&file, n, 10 << 20);
    let mut child = Command::new(BIN)
        .arg(command)
        .arg(&store)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The store is created once the first read has checked everything.
    wait_for(Duration::from_secs(120), || {
        index_path(&store).exists() || child.try_wait().unwrap().is_some()
    });
    // At a line's end: what is left reads as valid JSON Lines.
    let bytes = fs::read(&file).unwrap();
    let cut = bytes[..bytes.len() / 2]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(cut as u64).unwrap();
    let out = child.wait_with_output().unwrap();
    let imported = read_store(&store).len();
    if out.status.success() {
        assert_eq!(imported, n, "exit 0 with {imported} of {n} documents");
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("changed while it was"), "{err}");
        if command == "import" {
            assert_eq!(imported, 0, "a failed import wrote {imported} documents");
        }
    }
}
