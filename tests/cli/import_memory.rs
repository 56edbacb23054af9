//! A streamed import (an input past 8 MiB, read twice) holds a few chunks of documents at a
//! time, also when the documents are large: chunks end at 10,000 documents or 8 MiB of
//! text. Eight documents of 24 MiB (192 MiB of input) import with the process's data
//! segment limited to 160 MiB (`RLIMIT_DATA`, what `ulimit -d` sets), which an import that
//! held the whole input would exceed.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::support::run::{run, BIN};
use crate::support::store::{read_store, scratch};

const DOC_BYTES: usize = 24 << 20;
const DOCS: usize = 8;
const DATA_LIMIT: u64 = 160 << 20;

#[test]
fn a_streamed_import_of_large_documents_stays_in_bounded_memory() {
    let dir = scratch();
    let input = dir.path().join("large.jsonl");
    let mut text = String::with_capacity(DOCS * (DOC_BYTES + 64));
    for i in 0..DOCS {
        text.push_str(&format!("{{\"id\":\"large{i}\",\"text\":\""));
        text.push_str(&"x".repeat(DOC_BYTES));
        text.push_str("\"}\n");
    }
    fs::write(&input, &text).unwrap();
    drop(text);
    let store = dir.path().join("store");
    let mut cmd = Command::new(BIN);
    cmd.arg("import").arg(&store).arg(&input);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: DATA_LIMIT,
                rlim_max: DATA_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out:#?}");
    let docs = read_store(&store);
    assert_eq!(docs.len(), DOCS);
    assert!(docs.iter().all(|(_, json)| json.len() > DOC_BYTES));
}
