//! The writers' logs: what each step changes is written before it runs, its outcome after.
//! Each record is one `write(2)` to a file opened with `O_APPEND`, so a writer killed at any
//! moment leaves whole records.
//!
//! ```text
//! B <seq> <kind> <t>        a step begins (t: CLOCK_MONOTONIC, ns); its effects follow:
//! S <id> <json>             ... the document becomes json (JSON texts hold no newline,
//! D <id>                    ... the document is deleted       and `\n` is written as `\n`)
//! K <seq>                   the step returned 0
//! A <seq>                   the step was a save and returned 0: everything before is durable
//! X <seq> <why>             the step failed
//! M <steps> <reads> <listings> <partial>   soak figures (partial: reads of files still
//!                           being written), then the tags the writer read:
//! R <tag>
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

pub struct Log(File);

fn escape(json: &str) -> String {
    json.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Log {
    pub fn create(path: &Path) -> Log {
        Log(OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening the log {}: {e}", path.display())))
    }

    fn put(&mut self, record: &str) {
        self.0
            .write_all(record.as_bytes())
            .expect("writing the log");
    }

    pub fn begin(&mut self, seq: u64, kind: &str, effects: &[(String, Option<String>)]) {
        let mut r = format!("B {seq} {kind} {}\n", monotonic_ns());
        for (id, json) in effects {
            match json {
                Some(j) => r.push_str(&format!("S {id} {}\n", escape(j))),
                None => r.push_str(&format!("D {id}\n")),
            }
        }
        self.put(&r);
    }

    pub fn done(&mut self, seq: u64, ack: bool) {
        self.put(&format!("{} {seq}\n", if ack { 'A' } else { 'K' }));
    }

    pub fn failed(&mut self, seq: u64, why: &str) {
        self.put(&format!("X {seq} {}\n", why.replace('\n', " ")));
    }

    pub fn summary(&mut self, figures: [u64; 4], tags: &BTreeSet<String>) {
        let [steps, reads, listings, partial] = figures;
        let mut r = format!("M {steps} {reads} {listings} {partial}\n");
        for t in tags {
            r.push_str(&format!("R {t}\n"));
        }
        self.put(&r);
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Acked,
    Failed(String),
    /// No outcome: the writer was killed while the step ran.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub seq: u64,
    pub kind: String,
    /// When it began (CLOCK_MONOTONIC, ns).
    pub began: u64,
    pub effects: Vec<(String, Option<String>)>,
    pub outcome: Outcome,
}

/// A parsed log.
#[derive(Debug, Default)]
pub struct Parsed {
    pub steps: Vec<Step>,
    /// Soak: [steps, reads, listings, partial reads], and the tags read.
    pub summary: Option<[u64; 4]>,
    pub read_tags: BTreeSet<String>,
}

pub fn parse(path: &Path) -> Parsed {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut p = Parsed::default();
    let mut at: BTreeMap<u64, usize> = BTreeMap::new();
    for line in text.lines() {
        let (tag, rest) = line.split_at(1);
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        match tag {
            "B" => {
                let mut f = rest.split(' ');
                let (seq, kind, began) = (f.next(), f.next(), f.next());
                let seq: u64 = seq
                    .and_then(|s| s.parse().ok())
                    .expect("B <seq> <kind> <t>");
                let kind = kind.expect("B <seq> <kind> <t>");
                let began: u64 = began
                    .and_then(|s| s.parse().ok())
                    .expect("B <seq> <kind> <t>");
                at.insert(seq, p.steps.len());
                p.steps.push(Step {
                    seq,
                    kind: kind.to_string(),
                    began,
                    effects: vec![],
                    outcome: Outcome::Unknown,
                });
            }
            "S" => {
                let (id, json) = rest.split_once(' ').expect("S <id> <json>");
                let step = p.steps.last_mut().expect("S after B");
                step.effects.push((id.to_string(), Some(unescape(json))));
            }
            "D" => {
                let step = p.steps.last_mut().expect("D after B");
                step.effects.push((rest.to_string(), None));
            }
            "K" | "A" | "X" => {
                let (seq, why) = rest.split_once(' ').unwrap_or((rest, ""));
                let seq: u64 = seq.parse().expect("a step number");
                let step = &mut p.steps[at[&seq]];
                step.outcome = match tag {
                    "K" => Outcome::Done,
                    "A" => Outcome::Acked,
                    _ => Outcome::Failed(why.to_string()),
                };
            }
            "M" => {
                let n: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                p.summary = Some([n[0], n[1], n[2], n[3]]);
            }
            "R" => {
                p.read_tags.insert(rest.to_string());
            }
            _ => panic!("bad log line in {}: {line:?}", path.display()),
        }
    }
    p
}

/// Per document of one writer: the states it may be in on disk. `start` is each document's
/// state before the writer ran (absent ones are not in it). Every state from the last
/// acknowledged save on is possible (a replacement may have reached the disk through an
/// eviction or another process's save, a step in flight may have happened or not); nothing
/// from before it is.
pub fn allowed_states(
    start: &BTreeMap<String, String>,
    steps: &[Step],
) -> BTreeMap<String, BTreeSet<Option<String>>> {
    let last_ack = steps.iter().rposition(|s| s.outcome == Outcome::Acked);
    allowed_from(start, steps, last_ack)
}

/// Like [`allowed_states`], for a writer whose mount was then unmounted cleanly (which
/// saves everything): every step that returned is durable.
pub fn allowed_after_clean_unmount(
    start: &BTreeMap<String, String>,
    steps: &[Step],
) -> BTreeMap<String, BTreeSet<Option<String>>> {
    let last_done = steps
        .iter()
        .rposition(|s| matches!(s.outcome, Outcome::Acked | Outcome::Done));
    allowed_from(start, steps, last_done)
}

/// The states each document may be in when steps `..=durable` are on disk for certain
/// and any later one may have happened.
fn allowed_from(
    start: &BTreeMap<String, String>,
    steps: &[Step],
    durable: Option<usize>,
) -> BTreeMap<String, BTreeSet<Option<String>>> {
    let last_ack = durable;
    let mut state: BTreeMap<String, Option<String>> = start
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let (durable, after) = match last_ack {
        Some(i) => steps.split_at(i + 1),
        None => steps.split_at(0),
    };
    for s in durable {
        for (id, json) in &s.effects {
            state.insert(id.clone(), json.clone());
        }
    }
    let mut allowed: BTreeMap<String, BTreeSet<Option<String>>> = state
        .into_iter()
        .map(|(k, v)| (k, BTreeSet::from([v])))
        .collect();
    for s in after {
        for (id, json) in &s.effects {
            allowed
                .entry(id.clone())
                .or_insert_with(|| BTreeSet::from([None]))
                .insert(json.clone());
        }
    }
    allowed
}

/// The writer's documents after every step (a soak writer, all of whose steps returned).
pub fn final_state(start: &BTreeMap<String, String>, steps: &[Step]) -> BTreeMap<String, String> {
    let mut state = start.clone();
    for s in steps {
        for (id, json) in &s.effects {
            match json {
                Some(j) => state.insert(id.clone(), j.clone()),
                None => state.remove(id),
            };
        }
    }
    state
}
