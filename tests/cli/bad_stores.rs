//! Every store command on something that is not a (whole) store: a STORE that is a plain
//! file, a store whose index or body is a directory, a store missing one of its files.
//! Each exits 1 with a message saying what is wrong with which path, never an errno
//! alone ("File exists", "No such device"), and changes nothing.

use std::fs;
use std::path::Path;

use crate::support::run::damfs_with;
use crate::support::store::{body_path, index_path, make_store, scratch, store_bytes};

/// Every command that takes a STORE, with its input on stdin where it reads one.
const COMMANDS: &[&[&str]] = &[
    &["stat", "S"],
    &["export", "S"],
    &["ls", "S"],
    &["get", "S", "0"],
    &["rm", "S", "doc0"],
    &["prune", "S"],
    &["clear", "S"],
    &["put", "S", "-"],
    &["import", "S", "-"],
];

/// Runs every command on `store` (in `dir`), expecting exit 1 and `why` in the message.
fn every_command_says(dir: &Path, store: &str, why: &str) {
    for cmd in COMMANDS {
        let args: Vec<&str> = cmd
            .iter()
            .map(|a| if *a == "S" { store } else { a })
            .collect();
        let run = damfs_with(dir, &args, b"{\"id\":\"new\"}\n");
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains(why),
            "{args:?} should say {why:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_store_that_is_a_plain_file_is_named_as_such() {
    let dir = scratch();
    fs::write(dir.path().join("notes.txt"), "my notes\n").unwrap();
    every_command_says(dir.path(), "notes.txt", "is a file, not a directory");
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "my notes\n"
    );
}

#[test]
fn an_index_or_body_that_is_a_directory_is_named_as_such() {
    for victim in ["index", "body"] {
        let dir = scratch();
        let store = dir.path().join("store");
        make_store(&store, 2);
        let path = if victim == "index" {
            index_path(&store)
        } else {
            body_path(&store)
        };
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let before = store_bytes_but_dirs(&store);
        every_command_says(dir.path(), "store", "is a directory, not a file");
        assert_eq!(store_bytes_but_dirs(&store), before, "{victim}");
    }
}

#[test]
fn a_store_missing_its_index_or_lock_says_which() {
    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 2);
    fs::remove_file(index_path(&store)).unwrap();
    let before = store_bytes(&store);
    every_command_says(dir.path(), "store", "has no index.dam");
    assert_eq!(store_bytes(&store), before);

    let dir = scratch();
    let store = dir.path().join("store");
    make_store(&store, 2);
    fs::remove_file(store.join("lock")).unwrap();
    // Read-only commands create nothing, so they refuse it; writers make a new lock file.
    for cmd in [
        &["stat", "store"][..],
        &["ls", "store"],
        &["export", "store"],
    ] {
        let run = damfs_with(dir.path(), cmd, b"");
        assert_eq!(run.code, 1, "{cmd:?}: {run:#?}");
        assert!(run.stderr.contains("has no lock file"), "{cmd:?}: {run:#?}");
        assert!(!run.stderr.contains("index.dam"), "{cmd:?}: {run:#?}");
    }
}

/// `store_bytes` of a directory holding a subdirectory: the files only.
fn store_bytes_but_dirs(store: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn export_of_a_store_that_cannot_be_opened_leaves_the_output_file_alone() {
    let dir = scratch();
    fs::write(dir.path().join("out.jsonl"), "yesterday's export\n").unwrap();
    fs::write(dir.path().join("notes.txt"), "my notes\n").unwrap();
    for store in ["missing", "notes.txt"] {
        let run = damfs_with(dir.path(), &["export", store, "-o", "out.jsonl"], b"");
        assert_eq!(run.code, 1, "{store}: {run:#?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("out.jsonl")).unwrap(),
            "yesterday's export\n",
            "{store}: a failed export emptied its output file"
        );
    }
}

#[test]
fn an_input_directory_that_is_not_a_jina_store_says_what_it_lacks() {
    let dir = scratch();
    fs::create_dir(dir.path().join("empty")).unwrap();
    fs::create_dir(dir.path().join("half")).unwrap();
    fs::write(dir.path().join("half/header.bin"), b"").unwrap();
    for (input, lacks) in [
        ("empty", "it has no header.bin and no body.bin"),
        ("half", "it has header.bin but no body.bin"),
    ] {
        let run = damfs_with(dir.path(), &["import", "store", input], b"");
        assert_eq!(run.code, 1, "{input}: {run:#?}");
        assert!(run.stderr.contains("not a Jina store"), "{input}: {run:#?}");
        assert!(run.stderr.contains(lacks), "{input}: {run:#?}");
        assert!(!dir.path().join("store").exists(), "{input}");
    }
}

/// A named pipe in place of a store file: opening one for reading waits for a writer that
/// never comes. Every command must refuse it at once instead of hanging.
#[test]
fn a_fifo_in_place_of_a_store_file_is_refused_not_waited_on() {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use crate::support::process::{signal, wait_for};
    use crate::support::run::BIN;

    for victim in ["index", "body", "lock"] {
        let dir = scratch();
        let store = dir.path().join("store");
        make_store(&store, 2);
        let path = match victim {
            "index" => index_path(&store),
            "body" => body_path(&store),
            _ => store.join("lock"),
        };
        fs::remove_file(&path).unwrap();
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        for cmd in ["stat", "ls", "export", "rm", "prune"] {
            let mut args = vec![cmd, "store"];
            if cmd == "rm" {
                args.push("doc0");
            }
            let mut child = Command::new(BIN)
                .args(&args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let ended = wait_for(Duration::from_secs(60), || {
                child.try_wait().unwrap().is_some()
            });
            if !ended {
                signal(child.id(), libc::SIGKILL);
            }
            let out = child.wait_with_output().unwrap();
            assert!(ended, "{victim} as a FIFO: damfs {args:?} hung");
            assert_eq!(out.status.code(), Some(1), "{victim}: {args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("not a regular file"),
                "{victim}: {args:?}: {err}"
            );
        }
    }
}
