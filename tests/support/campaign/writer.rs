//! A writer process of the mount campaigns: this test binary re-executed with
//! `DAMFS_CAMPAIGN_CHILD=mount-writer`. It owns the documents whose ids start with its name,
//! changes them through the mount with real tools (printf/echo redirections, cp, rm, mv,
//! sed -i, Python with fsync, `echo 1 > .save`, `.prune`), and logs each step to its own log
//! file (see [`super::log`]) before and after it runs, so the parent knows what was
//! acknowledged as durable and what may be half done when the daemon dies.
//!
//! In the soak it also checks, while everyone writes: that it reads back exactly what it
//! wrote (no other process touches its documents), that every other document it reads is
//! one whole version, and that listings of `/by-id/` show its documents exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::log::Log;
use super::texts;
use crate::support::Rng;

/// What the writer does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// The full mix of changes, saves now and then.
    Mixed,
    /// Only `.prune`, in a loop.
    Pruner,
}

pub struct Config {
    pub mnt: PathBuf,
    pub log: PathBuf,
    /// Its ids start with `NAME-`.
    pub name: String,
    pub round: u64,
    pub seed: u64,
    pub profile: Profile,
    /// Where cp's source files go (outside the mount).
    pub scratch: PathBuf,
    /// Soak: stop then, and check reads and listings on the way. Crash: run until killed.
    pub until: Option<Instant>,
    /// The most documents it keeps.
    pub max_docs: usize,
    /// Whether a `.reload` that returned 0 counts as a save (it saves first). Off in the
    /// crash campaign while `.reload` does not save deletes held back for a re-create (see
    /// `reload_makes_a_delete_just_before_it_durable` in tests/campaigns/mount_crash_campaign.rs).
    pub reload_acks: bool,
}

impl Config {
    pub fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
        Config {
            mnt: var("CW_MNT").into(),
            log: var("CW_LOG").into(),
            name: var("CW_NAME"),
            round: var("CW_ROUND").parse().unwrap(),
            seed: var("CW_SEED").parse().unwrap(),
            profile: if var("CW_PROFILE") == "pruner" {
                Profile::Pruner
            } else {
                Profile::Mixed
            },
            scratch: var("CW_SCRATCH").into(),
            until: std::env::var("CW_SECS")
                .ok()
                .map(|s| Instant::now() + Duration::from_secs_f64(s.parse().unwrap())),
            max_docs: var("CW_MAX_DOCS").parse().unwrap(),
            reload_acks: var("CW_RELOAD_ACKS") == "1",
        }
    }

    /// The environment that [`Config::from_env`] reads.
    pub fn to_env(&self) -> Vec<(&'static str, OsString)> {
        let mut v: Vec<(&'static str, OsString)> = vec![
            ("CW_MNT", self.mnt.clone().into()),
            ("CW_LOG", self.log.clone().into()),
            ("CW_NAME", self.name.clone().into()),
            ("CW_ROUND", self.round.to_string().into()),
            ("CW_SEED", self.seed.to_string().into()),
            (
                "CW_PROFILE",
                match self.profile {
                    Profile::Pruner => "pruner",
                    Profile::Mixed => "mixed",
                }
                .into(),
            ),
            ("CW_SCRATCH", self.scratch.clone().into()),
            ("CW_MAX_DOCS", self.max_docs.to_string().into()),
            (
                "CW_RELOAD_ACKS",
                if self.reload_acks { "1" } else { "0" }.into(),
            ),
        ];
        if let Some(u) = self.until {
            let secs = u.saturating_duration_since(Instant::now()).as_secs_f64();
            v.push(("CW_SECS", secs.to_string().into()));
        }
        v
    }
}

/// One planned step: what to run and what it changes if it succeeds.
struct Plan {
    kind: &'static str,
    effects: Vec<(String, Option<String>)>,
    cmd: Command,
    /// A save that returned 0 makes every earlier change durable.
    acks: bool,
}

pub struct Writer {
    cfg: Config,
    rng: Rng,
    log: Log,
    own: BTreeMap<String, String>,
    seq: u64,
    /// Soak figures.
    reads: u64,
    listings: u64,
    /// Reads of names that were still files being written.
    in_the_making: u64,
    seen_tags: BTreeSet<String>,
}

fn sh(script: &str, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).arg("sh").args(args);
    c
}

/// Python (Debian's, when there: a version manager's shim costs a second per start).
fn python() -> Command {
    let debian = Path::new("/usr/bin/python3");
    Command::new(if debian.exists() {
        debian
    } else {
        Path::new("python3")
    })
}

const FSYNC_PY: &str =
    "import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nos.fsync(fd)\nos.close(fd)";
const WRITE_FSYNC_PY: &str = "import os, sys\nf = open(sys.argv[2], 'w')\nf.write(sys.argv[1])\nf.flush()\nos.fsync(f.fileno())\nf.close()";

impl Writer {
    /// Starts from the documents the mount shows for this writer.
    pub fn start(cfg: Config) -> Writer {
        let prefix = format!("{}-", cfg.name);
        let mut own = BTreeMap::new();
        for e in std::fs::read_dir(cfg.mnt.join("by-id")).expect("listing by-id/ at start") {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                let json = std::fs::read_to_string(cfg.mnt.join("by-id").join(&name))
                    .unwrap_or_else(|e| panic!("reading by-id/{name} at start: {e}"));
                if let Err(e) = texts::check(&json) {
                    panic!("by-id/{name} at start: {e}");
                }
                own.insert(name, json);
            }
        }
        // The log appears once the writer is ready: the parent starts its clock then.
        let log = Log::create(&cfg.log);
        let rng = Rng::new(cfg.seed);
        Writer {
            cfg,
            rng,
            log,
            own,
            seq: 0,
            reads: 0,
            listings: 0,
            in_the_making: 0,
            seen_tags: BTreeSet::new(),
        }
    }

    fn by_id(&self, id: &str) -> PathBuf {
        self.cfg.mnt.join("by-id").join(id)
    }

    fn fresh_text(&mut self, id: &str) -> String {
        let tag = texts::tag(self.cfg.round, &self.cfg.name, self.seq);
        let n = texts::reps(&mut self.rng);
        texts::text(id, &tag, n)
    }

    fn fresh_id(&self) -> String {
        format!("{}-r{}n{}", self.cfg.name, self.cfg.round, self.seq)
    }

    fn plan(&mut self) -> Plan {
        let mnt = self.cfg.mnt.clone();
        if self.cfg.profile == Profile::Pruner {
            return Plan {
                kind: "prune",
                effects: vec![],
                cmd: sh("echo 1 > \"$1/.prune\"", &[mnt.as_os_str()]),
                acks: false,
            };
        }
        let ids: Vec<String> = self.own.keys().cloned().collect();
        let mut r = self.rng.below(100);
        if ids.is_empty() {
            r = 40; // a new document
        } else if ids.len() >= self.cfg.max_docs && (40..55).contains(&r) {
            r = 55; // a delete instead
        }
        let id = if ids.is_empty() {
            String::new()
        } else {
            self.rng.pick(&ids).clone()
        };
        let path = self.by_id(&id);
        match r {
            0..=11 => {
                let j = self.fresh_text(&id);
                Plan {
                    kind: "printf",
                    cmd: sh("printf %s \"$1\" > \"$2\"", &[j.as_ref(), path.as_os_str()]),
                    effects: vec![(id, Some(j))],
                    acks: false,
                }
            }
            12..=19 => {
                let j = self.fresh_text(&id);
                Plan {
                    kind: "echo",
                    cmd: sh("echo \"$1\" > \"$2\"", &[j.as_ref(), path.as_os_str()]),
                    effects: vec![(id, Some(format!("{j}\n")))],
                    acks: false,
                }
            }
            20..=24 => {
                // Tools that delete the target and create it again (mv across filesystems,
                // install): the document is briefly gone, then back at its position.
                let j = self.fresh_text(&id);
                let src = self
                    .cfg
                    .scratch
                    .join(format!("{}-{}.json", self.cfg.name, self.seq));
                std::fs::write(&src, &j).expect("writing the source file");
                let (kind, mut cmd) = if r % 2 == 0 {
                    ("mv-in", Command::new("mv"))
                } else {
                    let mut c = Command::new("install");
                    c.args(["-m", "0644"]);
                    ("install", c)
                };
                cmd.arg(&src).arg(&path);
                Plan {
                    kind,
                    cmd,
                    effects: vec![(id.clone(), None), (id, Some(j))],
                    acks: false,
                }
            }
            25..=29 => {
                let j = self.fresh_text(&id);
                let mut cmd = python();
                cmd.arg("-c").arg(WRITE_FSYNC_PY).arg(&j).arg(&path);
                Plan {
                    kind: "python-fsync",
                    cmd,
                    effects: vec![(id, Some(j))],
                    acks: true,
                }
            }
            30..=39 => {
                let tag = texts::tag(self.cfg.round, &self.cfg.name, self.seq);
                let (_, old) = texts::check(&self.own[&id]).expect("own text is valid");
                let mut cmd = Command::new("sed");
                cmd.arg("-i").arg(format!("s/{old}/{tag}/g")).arg(&path);
                let j = self.own[&id].replace(&old, &tag);
                Plan {
                    kind: "sed-i",
                    cmd,
                    effects: vec![(id, Some(j))],
                    acks: false,
                }
            }
            40..=54 => {
                let new = self.fresh_id();
                let j = self.fresh_text(&new);
                let src = self.cfg.scratch.join(format!("{new}.json"));
                std::fs::write(&src, &j).expect("writing cp's source file");
                let mut cmd = Command::new("cp");
                cmd.arg(&src).arg(self.by_id(&new));
                Plan {
                    kind: "cp-new",
                    cmd,
                    effects: vec![(new, Some(j))],
                    acks: false,
                }
            }
            55..=66 => {
                let mut cmd = Command::new("rm");
                cmd.arg(&path);
                Plan {
                    kind: "rm",
                    cmd,
                    effects: vec![(id, None)],
                    acks: false,
                }
            }
            67..=80 => {
                // Onto another own document now and then (it takes that one's place).
                let onto = ids.iter().find(|o| **o != id && self.rng.chance(25));
                let to = onto.cloned().unwrap_or_else(|| self.fresh_id());
                let j = texts::with_id(&self.own[&id], &id, &to);
                let mut cmd = Command::new("mv");
                cmd.arg(&path).arg(self.by_id(&to));
                Plan {
                    kind: if onto.is_some() { "mv-onto" } else { "mv" },
                    cmd,
                    effects: vec![(id, None), (to, Some(j))],
                    acks: false,
                }
            }
            81..=88 => {
                let mut cmd = python();
                cmd.arg("-c").arg(FSYNC_PY).arg(&path);
                Plan {
                    kind: "fsync",
                    cmd,
                    effects: vec![],
                    acks: true,
                }
            }
            89..=95 => Plan {
                kind: "save",
                cmd: sh("echo 1 > \"$1/.save\"", &[mnt.as_os_str()]),
                effects: vec![],
                acks: true,
            },
            // `.reload` saves first, then re-reads the store.
            96..=97 => Plan {
                kind: "reload",
                cmd: sh("echo 1 > \"$1/.reload\"", &[mnt.as_os_str()]),
                effects: vec![],
                acks: self.cfg.reload_acks,
            },
            _ => Plan {
                kind: "prune",
                cmd: sh("echo 1 > \"$1/.prune\"", &[mnt.as_os_str()]),
                effects: vec![],
                acks: false,
            },
        }
    }

    /// Runs until the deadline (soak) or until a step fails (crash: the daemon died).
    /// Gives whether every step succeeded.
    pub fn run(mut self) -> bool {
        loop {
            if self.cfg.until.is_some_and(|u| Instant::now() >= u) {
                return self.finish();
            }
            self.seq += 1;
            let mut plan = self.plan();
            self.log.begin(self.seq, plan.kind, &plan.effects);
            let out = plan
                .cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .expect("starting a tool");
            if !out.status.success() {
                let why = String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .replace('\n', " | ");
                self.log.failed(
                    self.seq,
                    &format!("{} exited {}: {why}", plan.kind, out.status),
                );
                return false;
            }
            self.log.done(self.seq, plan.acks);
            for (id, json) in plan.effects {
                match json {
                    Some(j) => self.own.insert(id, j),
                    None => self.own.remove(&id),
                };
            }
            if self.cfg.until.is_some() {
                if let Err(e) = self.check_views() {
                    self.log.failed(self.seq, &e);
                    return false;
                }
            }
        }
    }

    /// Soak checks after each step: its own documents read back exactly, a random other
    /// document (by id and by position) is one whole version, listings are consistent.
    fn check_views(&mut self) -> Result<(), String> {
        if let Some((id, json)) = self
            .own
            .iter()
            .nth(self.rng.below(self.own.len().max(1) as u64) as usize)
        {
            let got = std::fs::read_to_string(self.by_id(id))
                .map_err(|e| format!("reading back own by-id/{id}: {e}"))?;
            if got != *json {
                return Err(format!("own by-id/{id} reads {got:?}, wrote {json:?}"));
            }
            self.reads += 1;
        }
        let by_id = list(&self.cfg.mnt.join("by-id"))?;
        self.listings += 1;
        let prefix = format!("{}-", self.cfg.name);
        let mine: Vec<&String> = by_id.iter().filter(|n| n.starts_with(&prefix)).collect();
        let want: Vec<&String> = self.own.keys().collect();
        if mine != want {
            return Err(format!("by-id/ lists {mine:?} of mine, I have {want:?}"));
        }
        // Another document (not a tool's temporary, such as another writer's sedXXXXXX).
        let docs: Vec<&String> = by_id
            .iter()
            .filter(|n| n.starts_with("bulk") || n.contains('-'))
            .collect();
        if !docs.is_empty() {
            let other = self.cfg.mnt.join("by-id").join(self.rng.pick(&docs));
            self.read_any(&other)?;
        }
        if self.rng.chance(20) {
            let root = list(&self.cfg.mnt)?;
            self.listings += 1;
            let positions: Vec<&String> =
                root.iter().filter(|n| n.parse::<u64>().is_ok()).collect();
            for n in &root {
                let ok = n.parse::<u64>().is_ok()
                    || n == "by-id"
                    || crate::support::ROOT_FILES.contains(&n.as_str());
                if !ok {
                    return Err(format!("/ lists {n:?}"));
                }
            }
            if let Some(p) = positions.get(self.rng.below(positions.len().max(1) as u64) as usize) {
                let p = self.cfg.mnt.join(p);
                self.read_any(&p)?;
            }
        }
        Ok(())
    }

    /// Reads a document another process may be changing or deleting: gone is fine, else it
    /// must be one whole version. A name that is, when opened, still a file being written
    /// (a new document in the making, or one re-created by install or mv: a temporary,
    /// st_nlink 1, where a document has 2) holds whatever its writer wrote so far; it is
    /// counted, not checked.
    fn read_any(&mut self, path: &Path) -> Result<(), String> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("opening {}: {e}", path.display())),
        };
        let nlink = f
            .metadata()
            .map_err(|e| format!("fstat of {}: {e}", path.display()))?
            .nlink();
        let mut json = String::new();
        f.read_to_string(&mut json)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if nlink < 2 {
            self.in_the_making += 1;
            return Ok(());
        }
        let (_, tag) = texts::check(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        self.seen_tags.insert(tag);
        self.reads += 1;
        Ok(())
    }

    /// Soak: a last save, then the figures and the tags it read.
    fn finish(mut self) -> bool {
        self.seq += 1;
        self.log.begin(self.seq, "save", &[]);
        let st = sh("echo 1 > \"$1/.save\"", &[self.cfg.mnt.as_os_str()])
            .status()
            .expect("running the last save");
        if !st.success() {
            self.log.failed(self.seq, "the last save failed");
            return false;
        }
        self.log.done(self.seq, true);
        self.log.summary(
            [self.seq, self.reads, self.listings, self.in_the_making],
            &self.seen_tags,
        );
        true
    }
}

/// Sorted names of a directory, failing on duplicates.
pub fn list(dir: &Path) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("listing {}: {e}", dir.display()))?;
        v.push(e.file_name().to_string_lossy().into_owned());
    }
    v.sort();
    let n = v.len();
    v.dedup();
    if v.len() != n {
        return Err(format!("{} lists a name twice", dir.display()));
    }
    Ok(v)
}
