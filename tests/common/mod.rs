//! Harness for tests that mount a store with the real `damfs` binary.
//!
//! Each [`Mount`] lives in its own scratch directory under Cargo's target dir (never under
//! /tmp: vim's default `backupskip` ignores /tmp, so editor tests would not behave as for
//! users). The daemon logs to `store.damfs.log` beside the store (the default), which is
//! printed when a test panics. Dropping a `Mount` unmounts it (`damfs unmount`, falling
//! back to `umount -l`).
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use damfs::{Document, DocumentArrayMemmap, Options};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_damfs");

/// Whether FUSE mounts can be made here.
pub fn fuse_available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok()
}

/// Returns from the test (with a note) when FUSE is not available.
#[macro_export]
macro_rules! require_fuse {
    () => {
        if !$crate::common::fuse_available() {
            eprintln!("skipping: /dev/fuse is not usable here");
            return;
        }
    };
}

/// A scratch directory for one test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("damfs-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("creating a scratch directory under the target dir")
}

/// The JSON text of test document `i` (id `doc<i>`).
pub fn doc_json(i: usize) -> String {
    format!(r#"{{"id":"doc{i}","text":"text of document {i}"}}"#)
}

/// Creates (or extends) a store at `path` with documents `doc0..doc<n-1>`, saved.
pub fn make_store(path: &Path, n: usize) {
    let mut dam = DocumentArrayMemmap::open(path).expect("opening the test store");
    let docs = (0..n).map(|i| Document::from_json(doc_json(i)).expect("valid test document"));
    dam.extend(docs).expect("adding test documents");
    dam.save().expect("saving the test store");
}

/// Every document of the store at `path`, in order, as (id, JSON text).
pub fn read_store(path: &Path) -> Vec<(String, String)> {
    let dam = DocumentArrayMemmap::open_with(
        path,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .expect("opening the store read-only");
    dam.to_vec()
        .expect("reading the store")
        .into_iter()
        .map(|d| (d.id().to_string(), d.json().to_string()))
        .collect()
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    /// Exit code, or -1 if killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_fails_with(&self, text: &str) -> &Self {
        assert_ne!(self.code, 0, "command should have failed: {self:#?}");
        assert!(
            self.stderr.contains(text),
            "stderr should mention {text:?}: {self:#?}"
        );
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs a command to completion, capturing its output.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `damfs ARGS...`.
pub fn damfs<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run(Command::new(BIN).args(args))
}

/// Whether `path` is the root of a mount (its device differs from its parent's).
pub fn is_mount_root(path: &Path) -> bool {
    let (Ok(m), Some(Ok(p))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        // A dead FUSE mount fails stat with ENOTCONN: still mounted.
        return std::fs::metadata(path)
            .err()
            .and_then(|e| e.raw_os_error())
            .is_some_and(|e| e == libc::ENOTCONN);
    };
    m.dev() != p.dev()
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
pub fn pid_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rfind(')')
            .is_some_and(|i| s[i + 1..].trim_start().starts_with(['Z', 'X'])),
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; gives whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill takes plain integers.
    let r = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// A mounted store in a scratch directory.
pub struct Mount {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
    pub mnt: PathBuf,
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
        Mount { dir, store, mnt }
    }

    /// Runs `damfs mount STORE MNT ARGS...` in the scratch directory (returns once the mount
    /// is live, or failed).
    pub fn mount(&self, args: &[&str]) -> Run {
        run(Command::new(BIN)
            .arg("mount")
            .arg(&self.store)
            .arg(&self.mnt)
            .args(args)
            .current_dir(self.dir.path()))
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
        read_store(&self.store)
    }

    /// A log file in the scratch directory (the daemon's default log is `store.damfs.log`).
    pub fn read_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
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
