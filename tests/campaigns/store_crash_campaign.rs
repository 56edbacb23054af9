//! The crash campaign (issue 8): library writer processes (appends, replaces, updates,
//! deletes, renames, moves, saves, prune, index compaction, clear) and concurrent `damfs
//! import`s are killed with SIGKILL at random moments, over and over, on one store. After each kill the store
//! opens, and every document whose save returned is exactly there:
//!
//! - the writer prints `ACK n` after each save returns; its operations come from a seeded
//!   generator of its own documents only (by id, so imports in between do not change them),
//!   so the parent replays them. Pool 0: the writer's documents on disk are exactly one of
//!   its states at or after the last ACK. Pool 3: every saved document no later operation
//!   touched is intact, and every document has a content it had after the last ACK.
//! - each import is all or nothing while it runs, and all there once it exited 0.
//!
//! CI: 100 kills (`cargo test --test campaigns store_crash_campaign::`). Full:
//! `DAMFS_CAMPAIGN=full cargo test --release --test campaigns store_crash_campaign:: --
//! --nocapture` (1,000 rounds, 1,000+ kills).

use std::collections::HashSet;
use std::env;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use damfs::{Document, DocumentArrayMemmap};

use crate::support::campaign::one_at_a_time;
use crate::support::crash::{check_mixed, text, Model};
use crate::support::process::child_test;
use crate::support::store::*;
use crate::support::Rng;

#[derive(Debug, Clone)]
enum Op {
    Append(String, String),
    Set(String, String),
    Update(String, String),
    Delete(String),
    Rename(String, String),
    MoveOnto(String, String),
    Prune,
    CompactIndex,
    Clear,
}

/// The next operation: a function of the generator and the writer's documents only.
fn gen(rng: &mut Rng, m: &Model, tag: &str, n: u64, may_clear: bool) -> Op {
    let len = m.len() as u64;
    let r = rng.below(100);
    if len < 2 || (r < 30 && len < 60) {
        return Op::Append(format!("w{tag}-{n}"), text(rng, n));
    }
    let id = m[rng.below(len) as usize].0.clone();
    match r {
        0..=44 => Op::Set(id, text(rng, n)),
        45..=64 => Op::Update(id, text(rng, n)),
        65..=79 => Op::Delete(id),
        80..=88 => Op::Rename(id, format!("w{tag}-{n}r")),
        89..=95 => {
            let onto = m[rng.below(len) as usize].0.clone();
            if onto == id {
                Op::Delete(id)
            } else {
                Op::MoveOnto(id, onto)
            }
        }
        96 => Op::Prune,
        97 => Op::CompactIndex,
        _ if may_clear => Op::Clear,
        _ => Op::Prune,
    }
}

fn find(m: &Model, id: &str) -> usize {
    m.iter().position(|(i, _)| i == id).unwrap()
}

fn model_apply(m: &mut Model, op: &Op) {
    match op {
        Op::Append(id, t) => m.push((id.clone(), doc(id, t).into_json())),
        Op::Set(id, t) => {
            let p = find(m, id);
            m[p].1 = doc(id, t).into_json();
        }
        Op::Update(id, t) => {
            let p = find(m, id);
            let mut d = Document::from_json(m[p].1.clone()).unwrap();
            d.set("text", t.as_str()).unwrap();
            m[p].1 = d.into_json();
        }
        Op::Delete(id) => {
            let p = find(m, id);
            m.remove(p);
        }
        Op::Rename(from, to) => {
            let p = find(m, from);
            let d = Document::from_json(m[p].1.clone()).unwrap();
            m[p] = (to.clone(), d.with_id(to).unwrap().into_json());
        }
        Op::MoveOnto(from, onto) => {
            let (src, dst) = (find(m, from), find(m, onto));
            let d = Document::from_json(m[src].1.clone()).unwrap();
            m[dst].1 = d.with_id(onto).unwrap().into_json();
            m.remove(src);
        }
        Op::Prune | Op::CompactIndex => {}
        Op::Clear => m.clear(),
    }
}

fn touched(m: &Model, op: &Op) -> HashSet<String> {
    let ids: Vec<&String> = match op {
        Op::Append(id, _) | Op::Set(id, _) | Op::Update(id, _) | Op::Delete(id) => vec![id],
        Op::Rename(a, b) | Op::MoveOnto(a, b) => vec![a, b],
        Op::Prune | Op::CompactIndex => vec![],
        Op::Clear => m.iter().map(|(id, _)| id).collect(),
    };
    ids.into_iter().cloned().collect()
}

fn store_apply(dam: &mut DocumentArrayMemmap, op: &Op) {
    match op {
        Op::Append(id, t) => dam.append(doc(id, t)).unwrap(),
        Op::Set(id, t) => dam.set_by_id(id, doc(id, t)).unwrap(),
        Op::Update(id, t) => dam
            .update_by_id(id, |d| d.set("text", t.as_str()))
            .unwrap()
            .unwrap(),
        Op::Delete(id) => dam.delete_by_id(id).unwrap(),
        Op::Rename(from, to) => dam.rename(from, to).unwrap(),
        Op::MoveOnto(from, onto) => dam.move_onto(from, onto).unwrap(),
        Op::Prune => dam.prune().unwrap(),
        Op::CompactIndex => dam.compact_index().unwrap(),
        Op::Clear => dam.clear().unwrap(),
    }
}

fn is_writers(id: &str) -> bool {
    id.starts_with('w')
}

fn writers_docs(m: &Model) -> Model {
    m.iter().filter(|(id, _)| is_writers(id)).cloned().collect()
}

/// The states S_0..S_k the writer goes through, and each operation's touched ids.
fn replay(
    start: &Model,
    seed: u64,
    k: usize,
    may_clear: bool,
) -> (Vec<Model>, Vec<HashSet<String>>) {
    let mut rng = Rng::new(seed);
    let tag = seed.to_string();
    let mut m = start.clone();
    let (mut states, mut touch) = (vec![m.clone()], vec![HashSet::new()]);
    for n in 0..k as u64 {
        let op = gen(&mut rng, &m, &tag, n, may_clear);
        touch.push(touched(&m, &op));
        model_apply(&mut m, &op);
        states.push(m.clone());
    }
    (states, touch)
}

// Not the mount campaigns' DAMFS_CAMPAIGN_CHILD: they share this test binary.
const MODE: &str = "DAMFS_STORE_CAMPAIGN_CHILD";

/// The writer child: seeded operations in groups of 1–4, a save after each, `ACK n`.
#[test]
fn campaign_child() {
    let Ok(_) = env::var(MODE) else { return };
    let store = PathBuf::from(env::var("DAMFS_CAMPAIGN_STORE").unwrap());
    let seed: u64 = env::var("DAMFS_CAMPAIGN_SEED").unwrap().parse().unwrap();
    let pool: usize = env::var("DAMFS_CAMPAIGN_POOL").unwrap().parse().unwrap();
    let may_clear = env::var("DAMFS_CAMPAIGN_CLEAR").is_ok();
    let mut out = std::io::stdout();
    let mut dam = open(&store, pool);
    let mut m = writers_docs(&snapshot(&dam));
    let (mut rng, mut group) = (Rng::new(seed), Rng::new(seed ^ 0xabcdef));
    let tag = seed.to_string();
    let mut n = 0u64;
    loop {
        for _ in 0..1 + group.below(4) {
            let op = gen(&mut rng, &m, &tag, n, may_clear);
            store_apply(&mut dam, &op);
            model_apply(&mut m, &op);
            n += 1;
        }
        dam.save().unwrap();
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
}

fn spawn_writer(store: &Path, seed: u64, pool: usize, may_clear: bool) -> Child {
    let mut cmd = child_test(module_path!(), "campaign_child");
    cmd.env(MODE, "writer")
        .env("DAMFS_CAMPAIGN_STORE", store)
        .env("DAMFS_CAMPAIGN_SEED", seed.to_string())
        .env("DAMFS_CAMPAIGN_POOL", pool.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if may_clear {
        cmd.env("DAMFS_CAMPAIGN_CLEAR", "1");
    }
    cmd.spawn().unwrap()
}

/// What happened to one `damfs import` of 200 new documents.
struct Import {
    ids: Vec<String>,
    finished: bool,
}

/// Runs `damfs import`s one after another until `stop`, then kills the running one.
fn importer(store: PathBuf, round: u64, stop: Arc<AtomicBool>) -> Vec<Import> {
    let dir = tempfile::tempdir().unwrap();
    let mut done = Vec::new();
    for k in 0.. {
        let ids: Vec<String> = (0..200).map(|i| format!("imp{round}-{k}-{i}")).collect();
        let file = dir.path().join(format!("{k}.jsonl"));
        let body: String = ids
            .iter()
            .map(|id| format!("{{\"id\":\"{id}\",\"text\":\"imported {id}\"}}\n"))
            .collect();
        std::fs::write(&file, body).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_damfs"))
            .arg("import")
            .arg(&store)
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "an import failed: {status}");
                break true;
            }
            if stop.load(Ordering::SeqCst) {
                child.kill().unwrap();
                child.wait().unwrap();
                break false;
            }
            thread::sleep(Duration::from_millis(1));
        };
        done.push(Import { ids, finished });
        if !finished {
            return done;
        }
        if stop.load(Ordering::SeqCst) {
            return done;
        }
    }
    done
}

#[derive(Default, Debug)]
struct Figures {
    rounds: u64,
    kills: u64,
    saves_acknowledged: u64,
    imports_finished: u64,
    imports_killed: u64,
}

/// One round: a writer (and, in some rounds, an importer) run for a random time and are
/// killed; then the store is checked.
fn round(store: &Path, round: u64, timing: &mut Rng, figures: &Mutex<Figures>) {
    let pool = if round % 2 == 0 { 0 } else { 3 };
    let with_imports = round % 3 != 2;
    let may_clear = !with_imports;
    let seed = round * 7 + 1;
    let start_all = read_store(store);
    let start = writers_docs(&start_all);
    let millis = 5 + timing.below(80);
    let stop = Arc::new(AtomicBool::new(false));
    let imports = with_imports.then(|| {
        let (s, st) = (store.to_owned(), stop.clone());
        thread::spawn(move || importer(s, round, st))
    });
    let mut child = spawn_writer(store, seed, pool, may_clear);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ACK ") {
                let _ = tx.send(n.trim().parse::<u64>().unwrap());
            }
        }
    });
    thread::sleep(Duration::from_millis(millis));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the writer died by itself"
    );
    child.kill().unwrap(); // SIGKILL
    stop.store(true, Ordering::SeqCst);
    child.wait().unwrap();
    reader.join().unwrap();
    let imports = imports.map(|t| t.join().unwrap()).unwrap_or_default();
    let ack = rx.try_iter().last().unwrap_or(0) as usize;

    // The store opens (read-only first: no repair needed), and then writable.
    let found_all = read_store(store);
    let found = writers_docs(&found_all);
    let what = format!("round {round} (pool {pool}, {millis} ms, ack {ack})");
    let (states, touch) = replay(&start, seed, ack + 40, may_clear);
    if pool == 0 {
        assert!(
            states[ack..].contains(&found),
            "{what}: the writer's documents are not a state at or after its last save"
        );
    } else {
        check_mixed(&states, &touch, ack, &found, &what);
    }
    let present: HashSet<&str> = found_all.iter().map(|(id, _)| id.as_str()).collect();
    // Imports of earlier rounds are kept: no writer touches them, except with a clear.
    for (id, json) in start_all
        .iter()
        .filter(|(id, _)| !may_clear && !is_writers(id))
    {
        assert!(
            found_all.iter().any(|(i, j)| i == id && j == json),
            "{what}: imported {id} lost"
        );
    }
    let mut f = figures.lock().unwrap();
    for imp in &imports {
        let there = imp
            .ids
            .iter()
            .filter(|id| present.contains(id.as_str()))
            .count();
        if imp.finished {
            assert_eq!(
                there,
                imp.ids.len(),
                "{what}: a finished import lost documents"
            );
            f.imports_finished += 1;
        } else {
            assert!(
                there == 0 || there == imp.ids.len(),
                "{what}: a killed import left {there} of {} documents",
                imp.ids.len()
            );
            f.imports_killed += 1;
            f.kills += 1;
        }
    }
    let dam = open(store, 1000);
    assert_same(&snapshot(&dam), &found_all, &what);
    drop(dam);
    assert_no_leftovers(store);
    f.rounds += 1;
    f.kills += 1;
    f.saves_acknowledged += ack as u64;
}

#[test]
fn kill_writers_and_imports_at_random_moments() {
    let _heavy = one_at_a_time();
    let full = env::var("DAMFS_CAMPAIGN").as_deref() == Ok("full");
    let rounds = if full { 1000 } else { 80 };
    let figures = Mutex::new(Figures::default());
    let mut timing = Rng::new(2026);
    let mut dir = tempfile::tempdir().unwrap();
    for r in 0..rounds {
        if r % 50 == 0 {
            dir = tempfile::tempdir().unwrap(); // a fresh store now and then
            drop(open(dir.path(), 0));
        }
        round(dir.path(), r, &mut timing, &figures);
    }
    let f = figures.into_inner().unwrap();
    eprintln!("crash campaign: {f:?}");
    assert!(f.kills >= if full { 1000 } else { 100 }, "{f:?}");
    assert!(f.saves_acknowledged > 0 && f.imports_finished > 0, "{f:?}");
}
