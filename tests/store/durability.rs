//! Defect 1 of issue 8: what a returned save made durable is never dropped as a crash's torn
//! tail. Damage or truncation inside it is a `Corrupt` error naming the file and offset (and
//! no writer cuts it off), while a torn tail after the last save is still dropped.
//!
//! Memmap only: these cut and damage the store's files (PostgreSQL keeps its own pages).

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::process::Command;

use damfs::store::io::faults::{self, Fault, Plan};
use damfs::{DocumentArrayMemmap, Error, Options};

use crate::support::store::*;

/// A saved store of `n` documents, like `damfs import` leaves it (one durable extend).
fn saved_store(path: &Path, n: usize) -> Vec<(String, String)> {
    let mut dam = open(path, 100);
    dam.extend((0..n).map(|i| doc(&format!("doc-{i:05}"), &format!("text {i}"))))
        .unwrap();
    dam.save().unwrap();
    let saved = snapshot(&dam);
    drop(dam);
    saved
}

fn cut(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn open_writable(path: &Path) -> damfs::Result<DocumentArrayMemmap> {
    DocumentArrayMemmap::open_with(path, Options::default())
}

#[track_caller]
fn assert_corrupt(r: damfs::Result<DocumentArrayMemmap>, file: &str) -> String {
    match r {
        Err(e @ Error::Corrupt { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(file) && msg.contains("offset"), "{msg}");
            msg
        }
        Err(e) => panic!("expected Corrupt in {file}, got {e}"),
        Ok(d) => panic!("opened with {} documents", d.len()),
    }
}

/// The issue's probe: truncate the index of an imported store (one durable batch of 2,000
/// documents) anywhere inside that batch. Every cut is an error naming index.dam and an
/// offset, from a read-only and a writable open alike, and the writable open cuts nothing.
#[test]
fn a_truncated_saved_index_is_corrupt_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_store(dir.path(), 2000);
    let index = fs::read(index_path(dir.path())).unwrap();
    let body = fs::read(body_path(dir.path())).unwrap();
    let cuts: Vec<usize> = (1536..index.len())
        .step_by(97)
        .chain([1537, index.len() - 1])
        .collect();
    for at in cuts {
        fs::write(index_path(dir.path()), &index[..at]).unwrap();
        DocumentArrayMemmap::open_with(
            dir.path(),
            Options {
                buffer_pool_size: 0,
                read_only: true,
            },
        )
        .map(|_| ())
        .expect_err(&format!(
            "a read-only open of an index cut at {at} succeeded"
        ));
        assert_corrupt(open_writable(dir.path()), "index.dam");
        assert_eq!(
            fs::metadata(index_path(dir.path())).unwrap().len(),
            at as u64,
            "an open changed the damaged index"
        );
    }
    // Put back, everything is there.
    fs::write(index_path(dir.path()), &index).unwrap();
    fs::write(body_path(dir.path()), &body).unwrap();
    assert_same(&read_store(dir.path()), &saved, "restored store");
}

/// Zeroing a saved batch's bytes is as bad as cutting it: an error, never fewer documents.
#[test]
fn damage_inside_the_last_saved_batch_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    saved_store(dir.path(), 50);
    let index = fs::read(index_path(dir.path())).unwrap();
    for at in (1536..index.len()).step_by(37) {
        let mut bad = index.clone();
        bad[at..(at + 8).min(index.len())].fill(0);
        fs::write(index_path(dir.path()), &bad).unwrap();
        let msg = assert_corrupt(open_writable(dir.path()), "index.dam");
        assert!(msg.contains("saved"), "{msg}");
    }
}

/// The same rule for the body: cut short below what a save made durable, it is an error
/// naming the body file, even where no document's text lies (the committed length says so).
#[test]
fn a_truncated_saved_body_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    saved_store(dir.path(), 20);
    let body = body_path(dir.path());
    let len = fs::metadata(&body).unwrap().len();
    for at in [len - 1, len / 2, 33] {
        cut(&body, at);
        let msg = assert_corrupt(open_writable(dir.path()), "body-");
        assert!(msg.contains(&format!("offset {at}")), "{msg}");
    }
}

/// A real torn tail, after the last save, is still dropped with a warning; the saved data
/// before it is intact, and the next writer cuts the tail off.
#[test]
fn an_unsaved_tail_is_still_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_store(dir.path(), 10);
    let saved_len = fs::metadata(index_path(dir.path())).unwrap().len();
    let mut dam = open(dir.path(), 0);
    dam.append(doc("unsaved", "u")).unwrap();
    std::mem::forget(dam); // a crash: no save
    let index = fs::read(index_path(dir.path())).unwrap();
    for at in saved_len as usize + 1..index.len() {
        fs::write(index_path(dir.path()), &index[..at]).unwrap();
        let mut dam = open(dir.path(), 10);
        assert_same(&snapshot(&dam), &saved, "torn unsaved tail");
        dam.append(doc("after", "a")).unwrap();
        dam.save().unwrap();
        let mut expected = saved.clone();
        expected.push(("after".into(), doc("after", "a").into_json()));
        drop(dam);
        assert_same(
            &read_store(dir.path()),
            &expected,
            "a write after the torn tail",
        );
    }
}

/// One commit record damaged (a torn write of it): the other one names the previous save,
/// and every saved document is there.
#[test]
fn a_damaged_commit_record_falls_back_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_store(dir.path(), 30);
    let mut dam = open(dir.path(), 10);
    dam.append(doc("second", "save")).unwrap();
    dam.save().unwrap();
    let saved2 = snapshot(&dam);
    drop(dam);
    let index = fs::read(index_path(dir.path())).unwrap();
    for slot in [512usize, 1024] {
        let mut bad = index.clone();
        bad[slot + 20] ^= 0x40;
        fs::write(index_path(dir.path()), &bad).unwrap();
        let got = read_store(dir.path());
        assert!(
            got == saved2 || got == saved,
            "slot {slot}: {} documents",
            got.len()
        );
        assert_same(
            &got,
            &saved2,
            "the last save's batch is intact, so it counts",
        );
    }
    // Both damaged: an error, never a guess.
    let mut bad = index.clone();
    bad[512 + 20] ^= 0x40;
    bad[1024 + 20] ^= 0x40;
    fs::write(index_path(dir.path()), &bad).unwrap();
    assert_corrupt(open_writable(dir.path()), "index.dam");
}

/// `damfs export` of an imported store whose index was truncated exits 1 naming the file,
/// instead of exiting 0 with no documents.
#[test]
fn export_of_a_truncated_import_fails() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..2000)
        .map(|i| format!("{{\"id\":\"d{i}\",\"text\":\"t{i}\"}}\n"))
        .collect();
    fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let store = dir.path().join("store");
    let damfs = env!("CARGO_BIN_EXE_damfs");
    let st = Command::new(damfs)
        .arg("import")
        .arg(&store)
        .arg(dir.path().join("in.jsonl"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let len = fs::metadata(store.join("index.dam")).unwrap().len();
    cut(&store.join("index.dam"), len - 1000);
    let out = Command::new(damfs)
        .arg("export")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("index.dam") && err.contains("corrupt"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Writes a version-1 store by hand (header version 1, batches from offset 32, no commit
/// records), with two PUTs and a DELETE.
fn write_v1_store(path: &Path) {
    fs::create_dir_all(path).unwrap();
    let header = |magic: &[u8; 8]| {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(magic);
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        h[16..24].copy_from_slice(&1u64.to_le_bytes());
        h
    };
    let texts = [
        r#"{"id":"a","text":"A"}"#,
        r#"{"id":"b","text":"B"}"#,
        r#"{"id":"c","text":"C"}"#,
    ];
    let mut body = header(b"DAMFSBDY").to_vec();
    let mut payload = Vec::new();
    for t in texts {
        let id = &t[7..8];
        payload.push(1u8);
        payload.push(1);
        payload.extend_from_slice(id.as_bytes());
        payload.extend_from_slice(&(body.len() as u64).to_le_bytes());
        payload.extend_from_slice(&(t.len() as u32).to_le_bytes());
        payload.extend_from_slice(&crc32fast::hash(t.as_bytes()).to_le_bytes());
        body.extend_from_slice(t.as_bytes());
    }
    payload.extend_from_slice(&[2, 1, b'b']);
    let mut index = header(b"DAMFSIDX").to_vec();
    index.extend_from_slice(b"BTCH");
    index.extend_from_slice(&1u32.to_le_bytes());
    index.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    index.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    index.extend_from_slice(&payload);
    fs::write(path.join("index.dam"), index).unwrap();
    fs::write(path.join("body-1.dam"), body).unwrap();
    fs::write(path.join("lock"), b"").unwrap();
}

/// Version-1 stores are still read; a writable open upgrades them to the current version
/// (a prune: same documents, same order) so that their saves are recorded from then on.
#[test]
fn version_1_stores_are_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    write_v1_store(dir.path());
    let ro = open_ro(dir.path());
    assert_eq!(ro.stats().format_version, 1);
    assert_eq!(ids(&ro), ["a", "c"]);
    drop(ro);
    let mut dam = open(dir.path(), 10);
    assert_eq!(dam.stats().format_version, damfs::store::FORMAT_VERSION);
    assert_eq!(ids(&dam), ["a", "c"]);
    assert_eq!(
        dam.get_by_id("c").unwrap().json(),
        r#"{"id":"c","text":"C"}"#
    );
    dam.append(doc("d", "D")).unwrap();
    drop(dam);
    assert_eq!(ids(&open_ro(dir.path())), ["a", "c", "d"]);
    assert_no_leftovers(dir.path());
}

/// Found by the fuzz runs: a power cut loses an unsaved append's text but keeps its index
/// entry. The entry is dropped at open, and the next writer cuts it off before writing:
/// otherwise its next save would make the dropped entry look saved, and a later open would
/// find a "saved" document whose text was overwritten.
#[test]
fn an_unsaved_entry_whose_text_was_lost_is_cut_before_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_store(dir.path(), 5);
    let body_len = fs::metadata(body_path(dir.path())).unwrap().len();
    let mut dam = open(dir.path(), 0);
    dam.append(doc("lost", "a text the power cut lost"))
        .unwrap();
    dam.delete_by_id("doc-00001").unwrap();
    std::mem::forget(dam);
    cut(&body_path(dir.path()), body_len); // the append's text never reached the disk
    let mut dam = open(dir.path(), 0);
    assert_same(
        &snapshot(&dam),
        &saved,
        "the unsaved changes after the lost text go",
    );
    // The cut is the next write's first I/O: failing it fails the write, and the cut is
    // still owed by the write after.
    faults::arm(Plan {
        at: 0,
        fault: Fault::Io,
        persistent: false,
    });
    assert!(dam.append(doc("next", "x")).is_err());
    faults::disarm();
    dam.append(doc("next", "written over the lost text's place"))
        .unwrap();
    dam.save().unwrap();
    let mut expected = saved.clone();
    expected.push((
        "next".into(),
        doc("next", "written over the lost text's place").into_json(),
    ));
    drop(dam);
    assert_same(&read_store(dir.path()), &expected, "after the next save");
}
