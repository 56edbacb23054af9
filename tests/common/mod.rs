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

/// Whether FUSE mounts can be made here.
pub fn fuse_available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok()
}

/// Returns from the test (with a note) when FUSE is not available — unless
/// `DAMFS_REQUIRE_FUSE` is set (CI sets it): then a missing /dev/fuse fails the test, so a
/// mount test can never pass by skipping there.
#[macro_export]
macro_rules! require_fuse {
    () => {
        if !$crate::common::fuse_available() {
            if std::env::var_os("DAMFS_REQUIRE_FUSE").is_some() {
                panic!("/dev/fuse is not usable, and DAMFS_REQUIRE_FUSE says mount tests must run");
            }
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

// ---- helpers for the tool, bad-input and durability tests --------------------------------

/// The documents `make_store(_, n)` writes, as `read_store` gives them back.
pub fn expected_docs(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("doc{i}"), doc_json(i))).collect()
}

impl Mount {
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
    pub fn stats(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.mnt.join(".stats")).expect("reading .stats");
        serde_json::from_str(&text).expect(".stats is JSON")
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
        let dir = scratch();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("creating the second mountpoint");
        let m = Mount {
            dir,
            store: self.store.clone(),
            mnt,
        };
        let log = self.dir.path().join("second.damfs.log");
        let mut all = vec!["--log-file", log.to_str().expect("UTF-8 path")];
        all.extend_from_slice(args);
        m.mount(&all).assert_ok();
        m
    }
}

/// Raw system calls, so that a test sees the errno of the exact call that failed
/// (`std::fs::write` cannot: dropping a `File` ignores the error of `close`).
pub mod sys {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// The call that failed and its errno.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Failed {
        pub call: &'static str,
        pub errno: i32,
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn cpath(path: &Path) -> CString {
        CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
    }

    /// open(path, flags, 0644); one write(2) per chunk; fsync if asked; close.
    pub fn write_chunks(
        path: &Path,
        flags: i32,
        chunks: &[&[u8]],
        fsync: bool,
    ) -> Result<(), Failed> {
        let p = cpath(path);
        // SAFETY: a NUL-terminated path and plain flags.
        let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
        if fd < 0 {
            return Err(Failed {
                call: "open",
                errno: errno(),
            });
        }
        let mut result = Ok(());
        for chunk in chunks {
            // SAFETY: the buffer is valid for its length; fd is ours.
            let n = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
            if n < 0 {
                result = Err(Failed {
                    call: "write",
                    errno: errno(),
                });
                break;
            }
            assert_eq!(n as usize, chunk.len(), "short write");
        }
        // SAFETY: fd is ours.
        if result.is_ok() && fsync && unsafe { libc::fsync(fd) } != 0 {
            result = Err(Failed {
                call: "fsync",
                errno: errno(),
            });
        }
        // SAFETY: fd is ours and closed once.
        if unsafe { libc::close(fd) } != 0 && result.is_ok() {
            result = Err(Failed {
                call: "close",
                errno: errno(),
            });
        }
        result
    }

    /// open(path, flags); write(data); close — the result of the first call that failed.
    pub fn write_close(path: &Path, flags: i32, data: &[u8]) -> Result<(), Failed> {
        write_chunks(path, flags, &[data], false)
    }

    /// `echo DATA > path` done by hand: O_WRONLY|O_CREAT|O_TRUNC, write, close.
    pub fn overwrite(path: &Path, data: &[u8]) -> Result<(), Failed> {
        write_close(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, data)
    }

    /// The errno of a failed `std` call (panics if it succeeded).
    #[track_caller]
    pub fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
        match r {
            Ok(v) => panic!("expected a failure, got Ok({v:?})"),
            Err(e) => e
                .raw_os_error()
                .unwrap_or_else(|| panic!("no errno in {e}")),
        }
    }
}

/// The FUSE connection id of the mount at `mnt` (the minor number of its st_dev); take it
/// while the mount is alive.
pub fn fuse_connection(mnt: &Path) -> Option<u64> {
    std::fs::metadata(mnt)
        .ok()
        .map(|m| u64::from(libc::minor(m.dev())))
}

/// Aborts FUSE connection `id` through fusectl (mounting it if needed): every request
/// waiting on it fails with ENOTCONN. The way out when a dead daemon cannot finish exiting.
pub fn fuse_abort(id: u64) -> bool {
    let ctl = Path::new("/sys/fs/fuse/connections");
    if !ctl.join(id.to_string()).exists() {
        let _ = Command::new("mount")
            .args(["-t", "fusectl", "none"])
            .arg(ctl)
            .status();
    }
    std::fs::write(ctl.join(id.to_string()).join("abort"), "1").is_ok()
}
