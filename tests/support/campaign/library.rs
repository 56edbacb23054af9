//! A library writer of the soak: this test binary re-executed with
//! `DAMFS_CAMPAIGN_CHILD=library-writer`. It opens the store (a directory or a
//! `postgresql://` URL: [`damfs::Store`] is either backend) with the damfs crate while
//! the mounts serve it and appends, replaces, renames and deletes its own documents, saves
//! and reloads now and then, and adds documents with `damfs import` (another process);
//! it logs like the mount writers (see [`super::log`]) and checks what it reads.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use damfs::{Document, Options, Store};

use super::log::Log;
use super::texts;
use crate::support::Rng;

pub struct Config {
    /// The STORE argument: a directory or a URL.
    pub store: PathBuf,
    pub log: PathBuf,
    pub name: String,
    pub seed: u64,
    pub secs: f64,
    pub scratch: PathBuf,
    pub bin: PathBuf,
}

impl Config {
    pub fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
        Config {
            store: var("CL_STORE").into(),
            log: var("CL_LOG").into(),
            name: var("CL_NAME"),
            seed: var("CL_SEED").parse().unwrap(),
            secs: var("CL_SECS").parse().unwrap(),
            scratch: var("CL_SCRATCH").into(),
            bin: var("CL_BIN").into(),
        }
    }

    pub fn to_env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("CL_STORE", self.store.clone().into()),
            ("CL_LOG", self.log.clone().into()),
            ("CL_NAME", self.name.clone().into()),
            ("CL_SEED", self.seed.to_string().into()),
            ("CL_SECS", self.secs.to_string().into()),
            ("CL_SCRATCH", self.scratch.clone().into()),
            ("CL_BIN", self.bin.clone().into()),
        ]
    }
}

/// Runs until the deadline; gives whether every step and check succeeded.
pub fn run(cfg: Config) -> bool {
    let mut log = Log::create(&cfg.log);
    let until = Instant::now() + Duration::from_secs_f64(cfg.secs);
    let mut rng = Rng::new(cfg.seed);
    let mut dam = Store::open_with(&cfg.store, Options::default()).expect("opening the store");
    let prefix = format!("{}-", cfg.name);
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    for id in dam
        .ids()
        .filter(|i| i.starts_with(&prefix))
        .map(str::to_string)
        .collect::<Vec<_>>()
    {
        let d = dam.get_by_id(&id).expect("reading an own document");
        own.insert(id, d.json().to_string());
    }
    let (mut seq, mut reads, mut gone) = (0u64, 0u64, 0u64);
    let mut seen = BTreeSet::new();
    let result = loop {
        seq += 1;
        let last = Instant::now() >= until;
        let ids: Vec<String> = own.keys().cloned().collect();
        let tag = texts::tag(0, &cfg.name, seq);
        let fresh = format!("{}-n{seq}", cfg.name);
        let mut r = if last {
            96
        } else if ids.is_empty() {
            0
        } else {
            rng.below(100)
        };
        if own.len() >= 30 && (r < 25 || (77..=86).contains(&r)) {
            r = 65; // a delete instead of more documents
        }
        let id = if ids.is_empty() {
            String::new()
        } else {
            rng.pick(&ids).clone()
        };
        let n = texts::reps(&mut rng);
        let (kind, effects, ack): (&str, Vec<(String, Option<String>)>, bool) = match r {
            0..=24 => (
                "append",
                vec![(fresh.clone(), Some(texts::text(&fresh, &tag, n)))],
                false,
            ),
            25..=54 => (
                "set",
                vec![(id.clone(), Some(texts::text(&id, &tag, n)))],
                false,
            ),
            55..=64 => {
                let j = texts::with_id(&own[&id], &id, &fresh);
                (
                    "rename",
                    vec![(id.clone(), None), (fresh.clone(), Some(j))],
                    false,
                )
            }
            65..=76 => ("delete", vec![(id.clone(), None)], false),
            77..=86 => (
                "import",
                (0..3)
                    .map(|k| {
                        let i = format!("{fresh}i{k}");
                        let j = texts::text(&i, &texts::tag(0, &cfg.name, seq * 10 + k), n);
                        (i, Some(j))
                    })
                    .collect(),
                false,
            ),
            87..=92 => ("reload", vec![], true),
            _ => ("save", vec![], true),
        };
        log.begin(seq, kind, &effects);
        let outcome: Result<(), String> = match kind {
            "append" => dam
                .append(Document::from_json(effects[0].1.clone().unwrap()).unwrap())
                .map_err(|e| e.to_string()),
            "set" => dam
                .set_by_id(
                    &id,
                    Document::from_json(effects[0].1.clone().unwrap()).unwrap(),
                )
                .map_err(|e| e.to_string()),
            "rename" => dam.rename(&id, &fresh).map_err(|e| e.to_string()),
            "delete" => dam.delete_by_id(&id).map_err(|e| e.to_string()),
            "import" => {
                let file = cfg.scratch.join(format!("{fresh}.jsonl"));
                let lines: String = effects
                    .iter()
                    .map(|(_, j)| format!("{}\n", j.as_ref().unwrap()))
                    .collect();
                std::fs::write(&file, lines).expect("writing the import file");
                let out = Command::new(&cfg.bin)
                    .arg("import")
                    .arg(&cfg.store)
                    .arg(&file)
                    .stdin(Stdio::null())
                    .output()
                    .expect("running damfs import");
                if out.status.success() {
                    // Take the imported documents in now, so that they read back.
                    dam.refresh(true).map(|_| ()).map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "damfs import: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            }
            "reload" => dam.reload().map_err(|e| e.to_string()),
            _ => dam.save().map_err(|e| e.to_string()),
        };
        if let Err(e) = outcome {
            log.failed(seq, &format!("{kind}: {e}"));
            break false;
        }
        log.done(seq, ack);
        for (i, j) in effects {
            match j {
                Some(j) => own.insert(i, j),
                None => own.remove(&i),
            };
        }
        if last {
            break true;
        }
        // Read back an own document, and any other one (another process may delete it).
        if let Some((i, j)) = own.iter().nth(rng.below(own.len().max(1) as u64) as usize) {
            match dam.get_by_id(i) {
                Ok(d) if d.json() == j => reads += 1,
                Ok(d) => {
                    log.failed(seq, &format!("own {i} reads {:?}, wrote {j:?}", d.json()));
                    break false;
                }
                Err(e) => {
                    log.failed(seq, &format!("reading own {i}: {e}"));
                    break false;
                }
            }
        }
        if !dam.is_empty() {
            let pos = rng.below(dam.len() as u64) as usize;
            match dam.get(pos as isize) {
                Ok(d) => match texts::check(d.json()) {
                    Ok((_, t)) => {
                        seen.insert(t);
                        reads += 1;
                    }
                    Err(e) => {
                        log.failed(seq, &format!("position {pos}: {e}"));
                        break false;
                    }
                },
                // Another process deleted it since this handle last looked: the memmap
                // store still reads the old version from its files, PostgreSQL's row is gone
                // (README, "Reliability — the mount"). Gone is fine, as for the mount writers.
                Err(damfs::Error::NotFound(_))
                    if !dam.id_at(pos).is_some_and(|i| own.contains_key(i)) =>
                {
                    gone += 1;
                }
                Err(e) => {
                    log.failed(seq, &format!("reading position {pos}: {e}"));
                    break false;
                }
            }
        }
    };
    if result {
        log.summary([seq, reads, 0, 0], &seen);
        eprintln!(
            "soak library writer {}: {gone} reads of documents another process had deleted",
            cfg.name
        );
    }
    result
}
