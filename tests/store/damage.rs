//! The damage campaign (issue 8): every byte range of a saved store's index and body is
//! truncated, zeroed or bit-flipped in turn, and the damaged copy is opened (read-only and
//! writable) and read in full. Never a panic, never a hang (a watchdog aborts after 20 s),
//! and never success with fewer or different documents than were saved: each case either
//! fails with an error, or shows exactly the saved documents (the damage hit garbage, an
//! unused byte, a flag that only hints, or the older commit record). For a store with
//! unsaved changes after its last save, damage there may drop those changes (a torn tail),
//! so the saved state or a later one is shown, never anything else.
//!
//! CI: every third offset (`cargo test --test store damage::`); `DAMFS_CAMPAIGN=full`: every
//! offset and, for flips, all 8 bits. A sample also goes through `damfs export` (exit 0 only
//! with the saved documents).
//!
//! Memmap only: the store's files, byte by byte (PostgreSQL keeps its own pages).

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use damfs::{DocumentArrayMemmap, Options};

use crate::support::store::*;
use crate::support::Rng;

type Model = Vec<(String, String)>;

struct Fixture {
    index: Vec<u8>,
    body: Vec<u8>,
    body_name: String,
    /// The states the files may show: the saved one, then each unsaved change in turn.
    states: Vec<Model>,
}

fn fixture(unsaved_tail: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut dam = open(dir.path(), 0);
    dam.extend((0..30).map(|i| doc(&format!("doc{i}"), &format!("text {i} {}", "y".repeat(i)))))
        .unwrap();
    dam.save().unwrap();
    for i in 0..5 {
        dam.set_by_id(&format!("doc{i}"), doc(&format!("doc{i}"), "replaced"))
            .unwrap();
    }
    dam.delete_by_id("doc10").unwrap();
    dam.delete(-1).unwrap();
    dam.rename("doc12", "twelve").unwrap();
    dam.save().unwrap();
    let mut states = vec![snapshot(&dam)];
    if unsaved_tail {
        dam.append(doc("unsaved1", "u1")).unwrap();
        states.push(snapshot(&dam));
        dam.delete_by_id("doc20").unwrap();
        states.push(snapshot(&dam));
        dam.set_by_id("doc21", doc("doc21", "unsaved change"))
            .unwrap();
        states.push(snapshot(&dam));
    }
    let body = body_path(dir.path());
    let f = Fixture {
        index: fs::read(index_path(dir.path())).unwrap(),
        body: fs::read(&body).unwrap(),
        body_name: body.file_name().unwrap().to_string_lossy().into_owned(),
        states,
    };
    std::mem::forget(dam); // no save on drop: the unsaved tail stays unsaved
    f
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Truncate(usize),
    Zero(usize, usize),
    Flip(usize, u8),
}

fn apply(bytes: &[u8], d: Damage) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match d {
        Damage::Truncate(at) => b.truncate(at),
        Damage::Zero(at, n) => b[at..(at + n).min(bytes.len())].fill(0),
        Damage::Flip(at, bit) => b[at] ^= 1 << bit,
    }
    b
}

fn damages(len: usize, stride: usize, all_bits: bool) -> Vec<Damage> {
    let mut v = Vec::new();
    for at in (0..len).step_by(stride) {
        v.push(Damage::Truncate(at));
        v.push(Damage::Zero(at, 8));
        if all_bits {
            v.extend((0..8).map(|bit| Damage::Flip(at, bit)));
        } else {
            v.push(Damage::Flip(at, (at % 8) as u8));
        }
    }
    v
}

/// Opens and reads a store in full: the documents, or the first error.
fn read_all(path: &Path, read_only: bool) -> damfs::Result<Model> {
    let dam = DocumentArrayMemmap::open_with(
        path,
        Options {
            buffer_pool_size: 0,
            read_only,
        },
    )?;
    let docs = dam
        .iter()
        .map(|d| d.map(|d| (d.id().to_owned(), d.json().to_owned())))
        .collect();
    drop(dam); // nothing is unsaved, so dropping writes nothing
    docs
}

/// Every saved document that no unsaved change touched is there, unchanged and in order;
/// every document there has a content it had in some state; no id twice.
fn mixed_ok(states: &[Model], docs: &Model) -> bool {
    let saved = &states[0];
    let touched = |id: &str| {
        states[1..]
            .iter()
            .any(|s| s.iter().find(|(i, _)| i == id) != saved.iter().find(|(i, _)| i == id))
    };
    let untouched: Vec<&(String, String)> = saved.iter().filter(|(id, _)| !touched(id)).collect();
    let found: Vec<&(String, String)> = docs.iter().filter(|(id, _)| !touched(id)).collect();
    let mut ids = std::collections::HashSet::new();
    untouched == found
        && docs
            .iter()
            .all(|d| ids.insert(&d.0) && states.iter().any(|s| s.contains(d)))
}

#[derive(Default, Debug)]
struct Figures {
    damages: u64,
    refused_with_an_error: u64,
    opened_with_the_saved_documents: u64,
    opened_with_a_later_state: u64,
}

fn check(f: &Fixture, which: &str, d: Damage, figures: &mut Figures) {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let (index, body) = match which {
        "index" => (apply(&f.index, d), f.body.clone()),
        _ => (f.index.clone(), apply(&f.body, d)),
    };
    fs::write(dir.path().join("index.dam"), &index).unwrap();
    fs::write(dir.path().join(&f.body_name), &body).unwrap();
    fs::write(dir.path().join("lock"), b"").unwrap();
    let what = format!("{which} {d:?}");
    figures.damages += 1;
    for read_only in [true, false] {
        let got = catch_unwind(AssertUnwindSafe(|| read_all(dir.path(), read_only)))
            .unwrap_or_else(|_| panic!("{what}: panicked"));
        match got {
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty(), "{what}");
                figures.refused_with_an_error += 1;
            }
            Ok(docs) if docs == f.states[0] => figures.opened_with_the_saved_documents += 1,
            Ok(docs) => {
                // Only unsaved changes may differ, each one kept or dropped on its own (a
                // power cut can lose an earlier change's text and keep a later delete).
                assert!(
                    f.states.len() > 1 && mixed_ok(&f.states, &docs),
                    "{what} (read-only: {read_only}): opened with {} documents that are not \
                     the saved ones",
                    docs.len()
                );
                figures.opened_with_a_later_state += 1;
            }
        }
    }
}

/// Sets its flag when dropped (the test ended, or panicked).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn every_byte_range_damaged_in_turn() {
    let full = std::env::var("DAMFS_CAMPAIGN").as_deref() == Ok("full");
    let (stride, all_bits) = if full { (1, true) } else { (3, false) };
    // A watchdog: a hang anywhere aborts the run with a message. It stops when this test
    // ends (however it ends): the rest of the binary's tests may run long after.
    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let _stop_watchdog = StopOnDrop(Arc::new(AtomicBool::new(false)));
    {
        let progress = progress.clone();
        let stop = _stop_watchdog.0.clone();
        thread::spawn(move || {
            let mut last = (0, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_secs(1));
                let now = progress.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > Duration::from_secs(20) {
                    eprintln!("damage campaign: no progress for 20 s after case {now}: a hang");
                    std::process::abort();
                }
            }
        });
    }
    let mut figures = Figures::default();
    for unsaved_tail in [false, true] {
        let f = fixture(unsaved_tail);
        for (which, len) in [("index", f.index.len()), ("body", f.body.len())] {
            for d in damages(len, stride, all_bits) {
                check(&f, which, d, &mut figures);
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    eprintln!(
        "damage campaign: {figures:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(figures.refused_with_an_error > 0 && figures.opened_with_the_saved_documents > 0);
}

/// A sample through the real binary: `damfs export` exits 0 only with the saved documents.
#[test]
fn export_of_a_damaged_store_never_exits_0_with_other_documents() {
    let f = fixture(false);
    let saved: Vec<String> = f.states[0].iter().map(|(_, j)| j.clone()).collect();
    let mut rng = Rng::new(8);
    let (mut refused, mut same) = (0, 0);
    for _ in 0..40 {
        let which = if rng.chance(50) { "index" } else { "body" };
        let len = if which == "index" {
            f.index.len()
        } else {
            f.body.len()
        };
        let at = rng.below(len as u64) as usize;
        let d = match rng.below(3) {
            0 => Damage::Truncate(at),
            1 => Damage::Zero(at, 1 + rng.below(64) as usize),
            _ => Damage::Flip(at, rng.below(8) as u8),
        };
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s");
        fs::create_dir(&store).unwrap();
        let (index, body) = match which {
            "index" => (apply(&f.index, d), f.body.clone()),
            _ => (f.index.clone(), apply(&f.body, d)),
        };
        fs::write(store.join("index.dam"), &index).unwrap();
        fs::write(store.join(&f.body_name), &body).unwrap();
        fs::write(store.join("lock"), b"").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_damfs"))
            .arg("export")
            .arg(&store)
            .output()
            .unwrap();
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        match out.status.code() {
            Some(0) => {
                assert_eq!(lines, saved, "{which} {d:?}: exit 0 with other documents");
                same += 1;
            }
            Some(1) => {
                assert!(String::from_utf8_lossy(&out.stderr).starts_with("damfs: "));
                refused += 1;
            }
            other => panic!("{which} {d:?}: damfs export exited {other:?} (a crash?)"),
        }
    }
    eprintln!("export of 40 random damages: {refused} refused, {same} with the saved documents");
}
