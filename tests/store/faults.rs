//! The fault campaign (issue 8): a scripted workload runs once to count the store's file
//! I/O calls, then once per call index with that call failing — ENOSPC, EIO, or a short
//! write followed by ENOSPC; once, or from then on (a disk that stays full) — the way SQLite
//! tests its I/O error paths. Each time:
//!
//! - the error reaches the caller as an `Err` (the workload stops at the first one);
//! - the store opens from another handle, and (pool 0, every change one atomic write) shows
//!   exactly one of the states the workload went through since its last returned save;
//! - once the fault clears, the same handle saves, and what it shows is on disk: the state
//!   before or after the failed operation, never a mix, nothing saved lost;
//! - and it keeps working (another append and save).
//!
//! CI runs every call index with one-shot faults and a pool of 0 and 3 (`cargo test --test
//! store faults::`); `DAMFS_CAMPAIGN=full` adds persistent faults and a pool of 1. Figures are
//! printed at the end (`--nocapture`).
//!
//! Memmap only: the faults are injected into the memmap store's file I/O seam; PostgreSQL's
//! failures (a server gone, a dropped connection) are tests/postgres/errors.rs.

use std::path::Path;

use damfs::store::io::faults::{self, Fault, Plan};
use damfs::{Document, DocumentArrayMemmap, Slice};

use crate::support::store::*;

type Model = Vec<(String, String)>;

#[derive(Clone, Debug)]
enum Step {
    Extend(Vec<(String, String)>),
    Save,
    SetById(String, String),
    Update(isize, String),
    Append(String, String),
    Delete(isize),
    Rename(String, String),
    MoveOnto(String, String),
    DeleteSlice(isize, isize),
    Prune,
    CompactIndex,
    Clear,
    Get(isize),
}

fn docs(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}{i}"),
                format!("text {prefix}{i} {}", "x".repeat(i * 7)),
            )
        })
        .collect()
}

/// The workload: every kind of write, saves, a prune and a clear.
fn workload() -> Vec<Step> {
    use Step::*;
    vec![
        Extend(docs("d", 20)),
        Save,
        SetById("d3".into(), "three, replaced".into()),
        Update(5, "five, updated".into()),
        Append("late".into(), "appended".into()),
        Get(-1),
        Delete(0),
        Rename("d7".into(), "seven".into()),
        MoveOnto("d8".into(), "d9".into()),
        Save,
        Prune,
        Delete(3),
        CompactIndex,
        Extend(docs("e", 5)),
        DeleteSlice(0, 2),
        SetById("e1".into(), "e one, replaced".into()),
        Save,
        Clear,
        Extend(docs("f", 3)),
        Save,
    ]
}

fn json(id: &str, text: &str) -> String {
    doc(id, text).into_json()
}

fn pos(m: &Model, i: isize) -> usize {
    if i < 0 {
        (m.len() as isize + i) as usize
    } else {
        i as usize
    }
}

fn model_apply(m: &mut Model, step: &Step) {
    match step {
        Step::Extend(v) => m.extend(v.iter().map(|(id, t)| (id.clone(), json(id, t)))),
        Step::Save | Step::Prune | Step::CompactIndex | Step::Get(_) => {}
        Step::SetById(id, t) => {
            let p = m.iter().position(|(i, _)| i == id).unwrap();
            m[p].1 = json(id, t);
        }
        Step::Update(i, t) => {
            let p = pos(m, *i);
            let mut d = Document::from_json(m[p].1.clone()).unwrap();
            d.set("text", t.as_str()).unwrap();
            m[p].1 = d.into_json();
        }
        Step::Append(id, t) => m.push((id.clone(), json(id, t))),
        Step::Delete(i) => {
            let p = pos(m, *i);
            m.remove(p);
        }
        Step::Rename(from, to) => {
            let p = m.iter().position(|(i, _)| i == from).unwrap();
            let d = Document::from_json(m[p].1.clone())
                .unwrap()
                .with_id(to)
                .unwrap();
            m[p] = (to.clone(), d.into_json());
        }
        Step::MoveOnto(from, onto) => {
            let src = m.iter().position(|(i, _)| i == from).unwrap();
            let dst = m.iter().position(|(i, _)| i == onto).unwrap();
            let d = Document::from_json(m[src].1.clone())
                .unwrap()
                .with_id(onto)
                .unwrap();
            m[dst].1 = d.into_json();
            m.remove(src);
        }
        Step::DeleteSlice(a, b) => {
            m.drain(*a as usize..*b as usize);
        }
        Step::Clear => m.clear(),
    }
}

fn store_apply(dam: &mut DocumentArrayMemmap, step: &Step) -> damfs::Result<()> {
    match step {
        Step::Extend(v) => dam.extend(v.iter().map(|(id, t)| doc(id, t))),
        Step::Save => dam.save(),
        Step::SetById(id, t) => dam.set_by_id(id, doc(id, t)),
        Step::Update(i, t) => dam.update(*i, |d| d.set("text", t.as_str()))?,
        Step::Append(id, t) => dam.append(doc(id, t)),
        Step::Delete(i) => dam.delete(*i),
        Step::Rename(from, to) => dam.rename(from, to),
        Step::MoveOnto(from, onto) => dam.move_onto(from, onto),
        Step::DeleteSlice(a, b) => dam.delete_slice(Slice::new(Some(*a), Some(*b), None)),
        Step::Prune => dam.prune(),
        Step::CompactIndex => dam.compact_index(),
        Step::Clear => dam.clear(),
        Step::Get(i) => dam.get(*i).map(drop),
    }
}

/// A directory for stores: memory-backed where there is one (fsync is free there, and the
/// campaign runs thousands of workloads).
fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// A store with 10 saved documents, made without faults.
fn base_store(path: &Path, pool: usize) -> (DocumentArrayMemmap, Model) {
    let mut dam = open(path, pool);
    let mut m = Model::new();
    let base = Step::Extend(docs("base", 10));
    store_apply(&mut dam, &base).unwrap();
    model_apply(&mut m, &base);
    dam.save().unwrap();
    (dam, m)
}

#[derive(Default, Debug)]
struct Figures {
    runs: u64,
    faults_injected: u64,
    errors_seen: u64,
    completed_without_error: u64,
}

/// One run with `plan` armed. Returns whether an error reached the caller.
fn run(pool: usize, plan: Option<Plan>, figures: &mut Figures) -> u64 {
    let dir = scratch();
    let (mut dam, mut model) = base_store(dir.path(), pool);
    // States the files may show: each state since the last returned save.
    let mut since_save: Vec<Model> = vec![model.clone()];
    match plan {
        Some(p) => faults::arm(p),
        None => faults::count_only(),
    }
    let mut failed = None;
    for (n, step) in workload().iter().enumerate() {
        let before = model.clone();
        match store_apply(&mut dam, step) {
            Ok(()) => {
                model_apply(&mut model, step);
                if matches!(
                    step,
                    Step::Save | Step::Prune | Step::CompactIndex | Step::Clear
                ) {
                    since_save.clear();
                }
                since_save.push(model.clone());
            }
            Err(e) => {
                let mut after = before.clone();
                model_apply(&mut after, step);
                failed = Some((n, step.clone(), e.to_string(), before, after));
                break;
            }
        }
    }
    let calls = faults::calls();
    figures.faults_injected += faults::injected();
    faults::disarm();
    figures.runs += 1;
    let Some((n, step, err, before, after)) = failed else {
        figures.completed_without_error += 1;
        if std::env::var_os("DAMFS_CAMPAIGN_VERBOSE").is_some() {
            eprintln!("pool {pool}, {plan:?}: no error reached the caller");
        }
        assert_same(&snapshot(&dam), &model, "a run without error");
        drop(dam);
        assert_same(
            &read_store(dir.path()),
            &model,
            "a run without error, reopened",
        );
        return calls;
    };
    figures.errors_seen += 1;
    let what = format!("pool {pool}, {plan:?}: step {n} {step:?} failed with {err:?}");
    assert!(!err.is_empty(), "{what}");
    // The store opens, from another handle, while this one is still open.
    let seen = read_store(dir.path());
    if pool == 0 {
        let mut candidates = since_save.clone();
        candidates.push(after.clone());
        assert!(
            candidates.contains(&seen),
            "{what}: the files show a state the workload never had ({} documents)",
            seen.len()
        );
    }
    // The fault cleared: the same handle saves, and shows what is on disk.
    dam.save()
        .unwrap_or_else(|e| panic!("{what}: save after the fault cleared: {e}"));
    let now = snapshot(&dam);
    assert!(
        now == before || now == after,
        "{what}: after recovery the handle shows neither the state before nor after"
    );
    assert_same(
        &read_store(dir.path()),
        &now,
        &format!("{what}: saved vs disk"),
    );
    // And keeps working.
    dam.append(doc("after-fault", "still works")).unwrap();
    dam.save().unwrap();
    let mut expected = now;
    expected.push(("after-fault".into(), json("after-fault", "still works")));
    drop(dam);
    assert_same(
        &read_store(dir.path()),
        &expected,
        &format!("{what}: the write after"),
    );
    calls
}

#[test]
fn every_io_call_of_a_workload_fails_in_turn() {
    let full = std::env::var("DAMFS_CAMPAIGN").as_deref() == Ok("full");
    let mut figures = Figures::default();
    let pools: &[usize] = if full { &[0, 1, 3] } else { &[0, 3] };
    let persistence: &[bool] = if full { &[false, true] } else { &[false] };
    for &pool in pools {
        let calls = run(pool, None, &mut figures);
        assert!(calls > 50, "the workload made only {calls} I/O calls");
        for fault in [Fault::NoSpace, Fault::Io, Fault::ShortWrite] {
            for &persistent in persistence {
                for at in 0..calls {
                    run(
                        pool,
                        Some(Plan {
                            at,
                            fault,
                            persistent,
                        }),
                        &mut figures,
                    );
                }
            }
        }
        eprintln!("pool {pool}: {calls} I/O calls in the workload");
    }
    eprintln!("fault campaign: {figures:?}");
    assert!(figures.errors_seen > 0);
}

/// Opening under faults: a writable open of a saved store, and of a version-1 store (which
/// the open upgrades with a prune), with each of its I/O calls failing in turn. The open
/// fails with an error or shows exactly the documents; either way the next open (faults
/// gone) shows them too, and the directory holds no leftovers after it.
#[test]
fn opening_with_each_call_failing() {
    let mut runs = 0;
    for v1 in [false, true] {
        let make = |path: &Path| -> Model {
            if v1 {
                write_v1_store(path);
                vec![
                    ("a".into(), r#"{"id":"a","text":"A"}"#.into()),
                    ("c".into(), r#"{"id":"c","text":"C"}"#.into()),
                ]
            } else {
                let (dam, m) = base_store(path, 0);
                drop(dam);
                m
            }
        };
        let probe = scratch();
        let expected = make(probe.path());
        faults::count_only();
        drop(open(probe.path(), 0));
        let calls = faults::calls();
        faults::disarm();
        for at in 0..calls {
            for fault in [Fault::NoSpace, Fault::Io, Fault::ShortWrite] {
                let dir = scratch();
                make(dir.path());
                faults::arm(Plan {
                    at,
                    fault,
                    persistent: false,
                });
                let opened = DocumentArrayMemmap::open(dir.path());
                faults::disarm();
                if let Ok(dam) = opened {
                    assert_same(&snapshot(&dam), &expected, &format!("v1 {v1}, call {at}"));
                }
                let again = open(dir.path(), 0);
                assert_same(
                    &snapshot(&again),
                    &expected,
                    &format!("v1 {v1}, call {at}, again"),
                );
                drop(again);
                assert_no_leftovers(dir.path());
                runs += 1;
            }
        }
    }
    eprintln!("open under faults: {runs} runs");
}

/// A version-1 store as damfs 0.1 wrote it: header version 1, batches from offset 32, no
/// commit records; PUT a, b, c and DELETE b.
fn write_v1_store(path: &Path) {
    let header = |magic: &[u8; 8]| {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(magic);
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        h[16..24].copy_from_slice(&1u64.to_le_bytes());
        h
    };
    let mut body = header(b"DAMFSBDY").to_vec();
    let mut payload = Vec::new();
    for t in [
        r#"{"id":"a","text":"A"}"#,
        r#"{"id":"b","text":"B"}"#,
        r#"{"id":"c","text":"C"}"#,
    ] {
        payload.extend_from_slice(&[1, 1, t.as_bytes()[7]]);
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
    std::fs::write(path.join("index.dam"), index).unwrap();
    std::fs::write(path.join("body-1.dam"), body).unwrap();
    std::fs::write(path.join("lock"), b"").unwrap();
}
