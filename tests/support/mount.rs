//! A store mounted with the real `damfs` binary.
//!
//! Each [`Mount`] lives in its own scratch directory under Cargo's target dir (never under
//! /tmp: vim's default `backupskip` ignores /tmp, so editor tests would not behave as for
//! users). The daemon logs to `store.damfs.log` beside the store (the default), which is
//! printed when a test panics. Dropping a `Mount` unmounts it (`damfs unmount`, falling
//! back to `umount -l`).
//!
//! [`Mount::at`] mounts a store at a [`Place`] (a memmap directory or a PostgreSQL database),
//! so one mount test runs on both backends with `both_backends!`; [`Mount::contents`] reads
//! the store back on either.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::fuse::is_mount_root;
use super::place::{fill, Place};
use super::process::wait_for;
use super::run::{damfs, run, Run, BIN};
use super::store::{make_store, read_only, scratch, snapshot};

/// The fixed files of a mount's root directory (besides positions and `by-id`).
pub const ROOT_FILES: [&str; 7] = [
    ".stats",
    ".reload",
    ".save",
    ".prune",
    ".clear",
    ".all.jsonl",
    ".append.jsonl",
];

/// A mounted store in a scratch directory.
pub struct Mount {
    pub dir: tempfile::TempDir,
    /// The STORE argument: a directory or a postgresql:// URL.
    pub store: PathBuf,
    pub mnt: PathBuf,
    /// The `--log-file` every background mount gets, when the store is not in `dir` (a URL,
    /// or a place's directory): the log is then still `store.damfs.log` in `dir`.
    pub log_file: Option<PathBuf>,
}

impl Mount {
    /// A store with `n` documents, mounted in the background with default options.
    pub fn with_docs(n: usize) -> Mount {
        Mount::with_args(n, &[])
    }

    /// A store with `n` documents, mounted in the background with extra `damfs mount` args.
    pub fn with_args(n: usize, args: &[&str]) -> Mount {
        let m = Mount::unmounted(n);
        m.mount(args).assert_ok();
        m
    }

    /// A scratch directory with a store of `n` documents (none: no store directory) and an
    /// empty mountpoint, not mounted yet.
    pub fn unmounted(n: usize) -> Mount {
        let dir = scratch();
        let store = dir.path().join("store");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("creating the mountpoint");
        if n > 0 {
            make_store(&store, n);
        }
        Mount {
            dir,
            store,
            mnt,
            log_file: None,
        }
    }

    /// The store at `place` (either backend) with `n` test documents put in first (as
    /// `with_docs` has them), mounted in the background with `args`.
    pub fn at(place: &Place, n: usize, args: &[&str]) -> Mount {
        let m = Mount::unmounted_at(place, n);
        m.mount(args).assert_ok();
        m
    }

    /// The store at `place` with `n` test documents (none: the store is not made), and an
    /// empty mountpoint in a scratch directory of its own, not mounted yet.
    pub fn unmounted_at(place: &Place, n: usize) -> Mount {
        if n > 0 {
            fill(place, n);
        }
        Mount::unmounted_of(place.store.clone())
    }

    /// A scratch directory with an empty mountpoint for `store`, which lives elsewhere.
    fn unmounted_of(store: PathBuf) -> Mount {
        let dir = scratch();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("creating the mountpoint");
        let log_file = Some(dir.path().join("store.damfs.log"));
        Mount {
            dir,
            store,
            mnt,
            log_file,
        }
    }

    /// Whether the store is a PostgreSQL database (its STORE argument a URL).
    pub fn is_postgres(&self) -> bool {
        self.store.to_string_lossy().starts_with("postgresql://")
    }

    /// (id, JSON) of every document, as a fresh read-only handle of the store sees them now
    /// (either backend; the mount stays as it is).
    pub fn contents(&self) -> Vec<(String, String)> {
        contents_of(&self.store)
    }

    /// Runs `damfs mount STORE MNT ARGS...` in the scratch directory (returns once the mount
    /// is live, or failed).
    pub fn mount(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.arg("mount").arg(&self.store).arg(&self.mnt);
        if let Some(log) = &self.log_file {
            cmd.arg("--log-file").arg(log);
        }
        run(cmd.args(args).current_dir(self.dir.path()))
    }

    /// Starts `damfs mount --foreground STORE MNT ARGS...` as a child and waits until the
    /// mount is live. Its stderr (the log) goes to `foreground.log` in the scratch dir.
    pub fn mount_foreground(&self, args: &[&str]) -> Child {
        let log = std::fs::File::create(self.dir.path().join("foreground.log"))
            .expect("creating foreground.log");
        let mut child = Command::new(BIN)
            .arg("mount")
            .arg("--foreground")
            .arg(&self.store)
            .arg(&self.mnt)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting damfs mount --foreground");
        let live = wait_for(Duration::from_secs(10), || {
            is_mount_root(&self.mnt) || matches!(child.try_wait(), Ok(Some(_)))
        });
        if !live || !is_mount_root(&self.mnt) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "foreground mount did not come up; log:\n{}",
                self.read_log("foreground.log")
            );
        }
        child
    }

    /// Runs `sh -c SCRIPT` in the scratch directory with `$MNT` and `$STORE` set.
    pub fn sh(&self, script: &str) -> Run {
        run(Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env("MNT", &self.mnt)
            .env("STORE", &self.store))
    }

    /// The pid of the daemon serving this mount.
    #[track_caller]
    pub fn pid(&self) -> u32 {
        damfs::daemon::daemon_pid(&self.mnt).expect("finding the daemon's pid")
    }

    pub fn is_mounted(&self) -> bool {
        is_mount_root(&self.mnt)
    }

    /// `damfs unmount MNT`, which must succeed.
    #[track_caller]
    pub fn unmount(&self) {
        damfs(["unmount".as_ref(), self.mnt.as_os_str()]).assert_ok();
        assert!(!self.is_mounted(), "still mounted after damfs unmount");
    }

    /// Unmounts if mounted, then reads the store back as (id, JSON) pairs.
    pub fn unmount_and_read(&self) -> Vec<(String, String)> {
        if self.is_mounted() {
            self.unmount();
        }
        self.contents()
    }

    /// A log file in the scratch directory (the daemon's default log is `store.damfs.log`).
    pub fn read_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// A path inside the mount (`m.path("by-id/doc3")`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// `bash -c SCRIPT` in the scratch directory with `$MNT` and `$STORE` set.
    pub fn bash(&self, script: &str) -> Run {
        self.shell("bash", script, &[])
    }

    /// `SHELL -c SCRIPT` (`sh` is dash on Debian) in the scratch directory with `$MNT`,
    /// `$STORE` and `$HOME` (a fresh `home/` in the scratch dir: no rc files) set, plus `env`.
    pub fn shell(&self, shell: &str, script: &str, env: &[(&str, &str)]) -> Run {
        let home = self.home();
        run(Command::new(shell)
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env("MNT", &self.mnt)
            .env("STORE", &self.store)
            .env("HOME", &home)
            .envs(env.iter().copied()))
    }

    /// An empty home directory in the scratch dir (no .vimrc, .nanorc, ...).
    pub fn home(&self) -> PathBuf {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("creating the test home");
        home
    }

    /// Sorted names in a directory of the mount (`""` for the root), `.` and `..` excluded.
    pub fn names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.mnt.join(rel))
            .unwrap_or_else(|e| panic!("listing {rel:?} in the mount: {e}"))
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    }

    /// The documents as the mount shows them by position: (id, JSON) of `/0`, `/1`, ...
    pub fn docs_by_position(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for i in 0.. {
            let json = match std::fs::read_to_string(self.mnt.join(i.to_string())) {
                Ok(j) => j,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => panic!("reading /{i} of the mount: {e}"),
            };
            let v: serde_json::Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("/{i} is not JSON ({e}): {json:?}"));
            let id = v["id"].as_str().expect("a string id").to_string();
            out.push((id, json));
        }
        out
    }

    /// `.stats` as JSON.
    /// Read as `cat` reads it, with 128 KiB reads (its size is 0 on a read-write mount, as
    /// `/proc`'s files: `read_to_string` would probe with small reads), so that what it
    /// costs in requests is the same every time: an OPEN, two READs, a FLUSH, a RELEASE.
    pub fn stats(&self) -> serde_json::Value {
        use std::io::Read;
        let mut f = std::fs::File::open(self.mnt.join(".stats")).expect("opening .stats");
        let mut text = Vec::new();
        let mut buf = vec![0u8; 128 << 10];
        loop {
            let n = f.read(&mut buf).expect("reading .stats");
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        serde_json::from_slice(&text).expect(".stats is JSON")
    }

    /// Checks that the mount shows exactly the documents `docs`, in order, under both names,
    /// and nothing else: no temporaries left in `/` or `/by-id/`.
    #[track_caller]
    pub fn assert_shows(&self, docs: &[(String, String)]) {
        assert_eq!(self.docs_by_position(), docs, "documents by position");
        let mut root: Vec<String> = (0..docs.len()).map(|i| i.to_string()).collect();
        root.extend(ROOT_FILES.map(String::from));
        root.push("by-id".into());
        root.sort();
        assert_eq!(self.names(""), root, "names in the root directory");
        let mut ids: Vec<String> = docs.iter().map(|d| d.0.clone()).collect();
        ids.sort();
        assert_eq!(self.names("by-id"), ids, "names in by-id/");
        for (id, json) in docs {
            let by_id = std::fs::read_to_string(self.mnt.join("by-id").join(id))
                .unwrap_or_else(|e| panic!("reading by-id/{id}: {e}"));
            assert_eq!(&by_id, json, "by-id/{id}");
        }
        for (i, (id, json)) in docs.iter().enumerate() {
            for name in [i.to_string(), format!("by-id/{id}")] {
                let st = std::fs::metadata(self.mnt.join(&name))
                    .unwrap_or_else(|e| panic!("stat {name}: {e}"));
                assert_eq!(st.len(), json.len() as u64, "stat size of {name}");
                assert_eq!(st.nlink(), 2, "links of {name}");
            }
        }
        assert_eq!(self.stats()["temporary_files"], 0, "temporary files left");
    }

    /// A second mount of this mount's store, in its own scratch directory (unmounted on drop).
    pub fn second_mount(&self, args: &[&str]) -> Mount {
        Mount::of_store(self.store.clone(), args)
    }

    /// A mount of `store` (a directory or a URL) in a scratch directory of its own, logging
    /// to `store.damfs.log` there (a URL has no directory beside it for the default log).
    pub fn of_store(store: PathBuf, args: &[&str]) -> Mount {
        let m = Mount::unmounted_of(store);
        m.mount(args).assert_ok();
        m
    }
}

/// (id, JSON) of every document of `store` (a directory or a URL), as a fresh read-only
/// handle sees them now.
pub fn contents_of(store: &Path) -> Vec<(String, String)> {
    let store = damfs::Store::open_with(store, read_only()).expect("opening the store read-only");
    snapshot(&store)
}

impl Drop for Mount {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["store.damfs.log", "foreground.log"] {
                let log = self.read_log(name);
                if !log.is_empty() {
                    eprintln!("---- {name} ----\n{log}---- end of {name} ----");
                }
            }
        }
        if !self.is_mounted() {
            return;
        }
        let r = damfs(["unmount".as_ref(), self.mnt.as_os_str()]);
        if r.code != 0 || self.is_mounted() {
            eprintln!(
                "damfs unmount failed ({}); using umount -l",
                r.stderr.trim()
            );
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}
