//! Crash tests: a child process (this test binary, re-executed) writes and saves in a loop,
//! printing `ACK n` after each save returns (n = operations done so far); the parent kills
//! it with SIGKILL at a random moment, then opens the store and checks it.
//!
//! The child's operations come from a seeded generator that depends only on the seed and
//! the documents, so the parent replays them: S_0 (the store before the child ran), S_1, ...
//! With a pool of 0 every operation is written through as one all-or-nothing batch, so the
//! store must be exactly some S_j with j >= the last ACK. With a pool, changes may reach
//! disk in any order before a save, so the check is per document: every saved document that
//! later operations did not touch is intact, and every document on disk has a content it had
//! in some state after the last ACK.
//!
//! Memmap only: a kill -9 mid-write tests the store's own files (torn batches, commit
//! records); PostgreSQL's writes are transactions, whose atomicity is the engine's.

use std::collections::HashSet;
use std::env;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use damfs::{Document, DocumentArrayMemmap};

use crate::support::crash::{check_mixed, text, Model};
use crate::support::process::child_test;
use crate::support::store::*;
use crate::support::Rng;

#[derive(Debug)]
enum COp {
    Append(String, String),
    Set(usize, String),
    SetNewId(usize, String, String),
    Update(usize, String),
    Delete(usize),
    DeleteTail,
}

/// The next operation: a function of the generator and the current documents only.
fn gen(rng: &mut Rng, m: &Model, tag: &str, n: u64) -> COp {
    let len = m.len() as u64;
    let r = rng.below(100);
    if len == 0 || (r < 35 && len < 60) {
        return COp::Append(format!("{tag}-{n}"), text(rng, n));
    }
    let pos = rng.below(len) as usize;
    match r {
        0..=49 => COp::Set(pos, text(rng, n)),
        50..=57 => COp::SetNewId(pos, format!("{tag}-{n}r"), text(rng, n)),
        58..=79 => COp::Update(pos, text(rng, n)),
        80..=95 => COp::Delete(pos),
        _ => COp::DeleteTail,
    }
}

fn model_apply(m: &mut Model, op: &COp) {
    match op {
        COp::Append(id, t) => m.push((id.clone(), doc(id, t).into_json())),
        COp::Set(p, t) => m[*p].1 = doc(&m[*p].0, t).into_json(),
        COp::SetNewId(p, id, t) => m[*p] = (id.clone(), doc(id, t).into_json()),
        COp::Update(p, t) => {
            let mut d = Document::from_json(m[*p].1.clone()).unwrap();
            d.set("text", t.as_str()).unwrap();
            m[*p].1 = d.into_json();
        }
        COp::Delete(p) => {
            m.remove(*p);
        }
        COp::DeleteTail => {
            let keep = m.len().saturating_sub(3);
            m.truncate(keep);
        }
    }
}

fn store_apply(dam: &mut DocumentArrayMemmap, m: &Model, op: &COp) {
    match op {
        COp::Append(id, t) => dam.append(doc(id, t)).unwrap(),
        COp::Set(p, t) => dam.set(*p as isize, doc(&m[*p].0, t)).unwrap(),
        COp::SetNewId(p, id, t) => dam.set(*p as isize, doc(id, t)).unwrap(),
        COp::Update(p, t) => dam
            .update(*p as isize, |d| d.set("text", t.as_str()))
            .unwrap()
            .unwrap(),
        COp::Delete(p) => dam.delete(*p as isize).unwrap(),
        COp::DeleteTail => dam.delete_slice(-3..).unwrap(),
    }
}

/// The states S_0..S_k the child goes through from `start`, and each op's touched ids.
fn replay(start: &Model, seed: u64, k: usize) -> (Vec<Model>, Vec<HashSet<String>>) {
    let mut rng = Rng::new(seed);
    let tag = format!("s{seed}");
    let mut m = start.clone();
    let mut states = vec![m.clone()];
    let mut touched = vec![HashSet::new()];
    for n in 0..k as u64 {
        let op = gen(&mut rng, &m, &tag, n);
        let mut t = HashSet::new();
        match &op {
            COp::Append(id, _) => {
                t.insert(id.clone());
            }
            COp::Set(p, _) | COp::Update(p, _) | COp::Delete(p) => {
                t.insert(m[*p].0.clone());
            }
            COp::SetNewId(p, id, _) => {
                t.insert(m[*p].0.clone());
                t.insert(id.clone());
            }
            COp::DeleteTail => {
                for (id, _) in m.iter().rev().take(3) {
                    t.insert(id.clone());
                }
            }
        }
        model_apply(&mut m, &op);
        states.push(m.clone());
        touched.push(t);
    }
    (states, touched)
}

const MODE: &str = "DAMFS_CRASH_CHILD";

/// The child: `writer` (seeded operations, save, ACK; forever) or `pruner`.
#[test]
fn crash_child() {
    let Ok(mode) = env::var(MODE) else { return };
    let store = PathBuf::from(env::var("DAMFS_CRASH_STORE").unwrap());
    let seed: u64 = env::var("DAMFS_CRASH_SEED").unwrap().parse().unwrap();
    let pool: usize = env::var("DAMFS_CRASH_POOL").unwrap().parse().unwrap();
    let mut out = std::io::stdout();
    let mut dam = open(&store, pool);
    match mode.as_str() {
        "writer" => {
            let mut m = snapshot(&dam);
            let mut rng = Rng::new(seed);
            let mut group = Rng::new(seed ^ 0xabcdef);
            let tag = format!("s{seed}");
            let mut n = 0u64;
            loop {
                for _ in 0..1 + group.below(4) {
                    let op = gen(&mut rng, &m, &tag, n);
                    store_apply(&mut dam, &m, &op);
                    model_apply(&mut m, &op);
                    n += 1;
                }
                dam.save().unwrap();
                writeln!(out, "ACK {n}").unwrap();
                out.flush().unwrap();
            }
        }
        "pruner" => {
            let mut i = 0u64;
            loop {
                let id = format!("s{seed}-{i}");
                dam.append(doc(&id, &format!("pruned {i}"))).unwrap();
                dam.save().unwrap();
                writeln!(out, "ACK {i}").unwrap();
                out.flush().unwrap();
                dam.delete(0).unwrap();
                dam.prune().unwrap();
                i += 1;
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Runs the child for a random time, kills it (SIGKILL) and returns the last ACK (if any).
fn run_and_kill(mode: &str, store: &Path, seed: u64, pool: usize, millis: u64) -> Option<u64> {
    let mut child = child_test(module_path!(), "crash_child")
        .env(MODE, mode)
        .env("DAMFS_CRASH_STORE", store)
        .env("DAMFS_CRASH_SEED", seed.to_string())
        .env("DAMFS_CRASH_POOL", pool.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ACK ") {
                tx.send(n.trim().parse::<u64>().unwrap()).unwrap();
            }
        }
    });
    thread::sleep(Duration::from_millis(millis));
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        panic!("child exited by itself ({status}): {err}");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    rx.try_iter().last()
}

fn writer_rounds(pool: usize, rounds: u64, base_seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 0));
    let mut timing = Rng::new(base_seed);
    let mut total_acks = 0;
    for round in 0..rounds {
        let seed = base_seed * 1000 + round;
        let start = read_store(dir.path());
        let millis = 5 + timing.below(60);
        let ack = run_and_kill("writer", dir.path(), seed, pool, millis).unwrap_or(0) as usize;
        total_acks += ack;
        // opening never fails, read-only or writable
        let found = read_store(dir.path());
        let (states, touched) = replay(&start, seed, ack + 40);
        let what = format!("pool {pool} round {round} (seed {seed}, {millis} ms, ack {ack})");
        if pool == 0 {
            assert!(
                states[ack..].contains(&found),
                "{what}: the store is not any state at or after the last save: {found:?}"
            );
        } else {
            check_mixed(&states, &touched, ack, &found, &what);
        }
        let dam = open(dir.path(), 1000);
        assert_same(&snapshot(&dam), &found, &what);
        drop(dam);
        assert_no_leftovers(dir.path());
    }
    assert!(
        total_acks > 0,
        "the child never saved: the test tested nothing"
    );
    eprintln!("pool {pool}: {rounds} rounds, {total_acks} operations acknowledged in all");
}

#[test]
fn kill_writer_pool_0() {
    writer_rounds(0, 50, 1);
}

#[test]
fn kill_writer_pool_3() {
    writer_rounds(3, 50, 2);
}

/// Kill during prune, many times: the store always opens, complete (every acknowledged
/// document there, intact), and a writable open leaves no temporary file.
#[test]
fn kill_during_prune() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut dam = open(dir.path(), 0);
        dam.extend((0..3000).map(|i| doc(&format!("base{i}"), &format!("base text {i}"))))
            .unwrap();
    }
    let base = read_store(dir.path());
    let mut timing = Rng::new(99);
    let mut leftovers_seen = 0;
    let mut total_acks = 0;
    for round in 0..60u64 {
        let before = read_store(dir.path());
        let millis = 5 + timing.below(80);
        let ack = run_and_kill("pruner", dir.path(), round, 0, millis);
        // read-only open first: must work even with an interrupted prune's files around
        let found = read_store(dir.path());
        if store_files(dir.path()).len() != 3 {
            leftovers_seen += 1;
        }
        let what = format!("round {round} ({millis} ms, ack {ack:?})");
        // the base documents the child deleted (one per finished iteration) come first
        let removed = before.len() + 1 - found.len();
        assert!(removed <= 2 + ack.map_or(0, |a| a as usize + 1), "{what}");
        // every document is intact and from a known set, no id twice
        let mut seen = HashSet::new();
        for (id, json) in &found {
            assert!(seen.insert(id.clone()), "{what}: {id} twice");
            if let Some(i) = id.strip_prefix("base") {
                assert_eq!(json, doc(id, &format!("base text {i}")).json(), "{what}");
            } else {
                let (_, i) = id.rsplit_once('-').unwrap();
                assert_eq!(json, doc(id, &format!("pruned {i}")).json(), "{what}");
            }
        }
        // every acknowledged append of this round is there (or was deleted by the child's
        // next iteration, which deletes position 0: only base documents while any remain)
        if let Some(a) = ack {
            total_acks += 1;
            for i in 0..=a {
                let id = format!("s{round}-{i}");
                assert!(seen.contains(&id), "{what}: acknowledged {id} lost");
            }
        }
        // documents from earlier rounds are all still there
        for (id, _) in before.iter().skip(2 + ack.map_or(0, |a| a as usize + 1)) {
            assert!(seen.contains(id), "{what}: {id} lost");
        }
        drop(open(dir.path(), 0));
        assert_no_leftovers(dir.path());
    }
    assert!(total_acks > 0, "the child never finished a save");
    assert!(read_store(dir.path()).len() <= base.len() + 60 * 100);
    eprintln!("rounds that left files of an interrupted prune: {leftovers_seen}");
}
