//! Mounting a store and the daemon's life.
//!
//! `damfs mount` checks its arguments, then (without `--foreground`) forks a detached daemon
//! and waits on a pipe until the daemon reports that the mount answers requests, so a zero
//! exit status means "the mount is live". The daemon:
//!
//! - logs to `--log-file`, or else (detached) to `STORE_DIR.damfs.log` next to the store
//!   directory (appended; panics land there too, as it is the daemon's stderr);
//! - writes a pid file under `/run/damfs/` (root) or `$XDG_RUNTIME_DIR/damfs/`, keyed by the
//!   mountpoint, which `damfs unmount` uses when `MNT/.stats` does not name a pid;
//! - on SIGTERM, SIGINT or SIGHUP saves every dirty document, unmounts (lazily if the mount
//!   is busy: it then exits when the last user lets go; a second signal exits at once) and
//!   exits 0;
//! - when the kernel ends the session (`umount MNT`, `fusermount3 -u MNT`) saves and exits 0.
//!
//! `damfs unmount MNT` unmounts and returns only once that daemon has exited, i.e. saved.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::backend::Store;
use crate::fs::{Filesystem, FsConfig};
use crate::fuse::FuseAdapter;
use crate::store::Options;

/// What `damfs mount` was asked to do.
#[derive(Clone, Debug)]
pub struct MountOptions {
    pub store: PathBuf,
    pub mountpoint: PathBuf,
    pub foreground: bool,
    pub pool_size: usize,
    pub read_only: bool,
    pub allow_other: bool,
    pub log_file: Option<PathBuf>,
    pub max_doc_size: u64,
    /// How long the kernel may cache names and attributes (`FsConfig::ttl`); `None`: the
    /// filesystem's default.
    pub ttl: Option<Duration>,
    /// Kernel mount flags from `-o` (`nosuid`, `noexec`, …).
    pub kernel_flags: Vec<fuser::MountOption>,
}

/// A mount or unmount failure, with a message meant for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DaemonError(pub String);

pub type Result<T> = std::result::Result<T, DaemonError>;

fn err(msg: impl Into<String>) -> DaemonError {
    DaemonError(msg.into())
}

/// Event-loop threads: enough to overlap a slow save or flush with reads.
const N_THREADS: usize = 4;
/// How long the daemon waits for its own mount to answer before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `umount` is retried while the mount is busy before detaching it lazily.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Mounts a store. Without `foreground` the calling process returns `Ok` once the detached
/// daemon reports the mount live (the daemon itself returns when its session ends).
pub fn mount(opts: MountOptions) -> Result<()> {
    // A PostgreSQL URL is passed on as it is; a directory is made and made canonical.
    let is_url = crate::backend::is_url(&opts.store);
    let store = if is_url {
        opts.store.clone()
    } else {
        prepare_store(&opts.store, opts.read_only)?
    };
    let mountpoint = check_mountpoint(&opts.mountpoint)?;
    // The daemon reopens store files by path (prune, clear): they must stay reachable.
    if !is_url && store.starts_with(&mountpoint) {
        return Err(err(format!(
            "the store {} would be hidden by mounting on {}",
            store.display(),
            mountpoint.display()
        )));
    }
    let log_file = match &opts.log_file {
        Some(p) => Some(std::path::absolute(p).map_err(|e| err(format!("{}: {e}", p.display())))?),
        None => None,
    };

    if opts.foreground {
        let target = match &log_file {
            Some(p) => Some(open_log(p)?),
            None => None,
        };
        init_logging(target);
        return serve(&opts, &store, &mountpoint, Ready(None));
    }

    // A URL has no directory to log beside: the log goes beside the mount point.
    let log_path =
        log_file.unwrap_or_else(|| default_log_path(if is_url { &mountpoint } else { &store }));
    let log = open_log(&log_path)?;
    let (rd, wr) = pipe().map_err(|e| err(format!("creating a pipe: {e}")))?;
    // SAFETY: umask only swaps the process's file mode mask; we restore it at once.
    let umask = unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    };
    let outcome = daemonize::Daemonize::new()
        .working_directory("/")
        .umask(umask as u32)
        .stderr(log)
        .execute();
    match outcome {
        daemonize::Outcome::Parent(Ok(_)) => {
            drop(wr);
            wait_ready(rd, &log_path)
        }
        daemonize::Outcome::Parent(Err(e)) => Err(err(format!("starting the daemon: {e}"))),
        daemonize::Outcome::Child(Ok(_)) => {
            drop(rd);
            init_logging(None);
            let r = serve(&opts, &store, &mountpoint, Ready(Some(File::from(wr))));
            if let Err(e) = &r {
                error!("{e}");
            }
            r
        }
        daemonize::Outcome::Child(Err(e)) => {
            let mut ready = Ready(Some(File::from(wr)));
            ready.fail(&format!("daemonizing: {e}"));
            std::process::exit(1);
        }
    }
}

/// A STORE argument as logs may show it: a URL without its password.
fn shown_store(store: &Path) -> String {
    match store.to_str().map(crate::postgres::PgUrl::parse) {
        Some(Ok(url)) if crate::backend::is_url(store) => url.redacted(),
        _ => store.display().to_string(),
    }
}

/// Creates the store directory if needed; gives its canonical path.
fn prepare_store(store: &Path, read_only: bool) -> Result<PathBuf> {
    if !read_only {
        std::fs::create_dir_all(store)
            .map_err(|e| err(format!("creating store directory {}: {e}", store.display())))?;
    }
    let canon = store.canonicalize().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            err(format!("store {} does not exist", store.display()))
        } else {
            err(format!("store {}: {e}", store.display()))
        }
    })?;
    if !canon.is_dir() {
        return Err(err(format!("store {} is not a directory", store.display())));
    }
    Ok(canon)
}

/// Checks that `mnt` can be mounted on; gives its canonical path.
fn check_mountpoint(mnt: &Path) -> Result<PathBuf> {
    let shown = mnt.display();
    match std::fs::metadata(mnt) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(err(format!("mountpoint {shown} is not a directory"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(err(format!("mountpoint {shown} does not exist")))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(dead_mount(&shown.to_string()))
        }
        Err(e) => return Err(err(format!("mountpoint {shown}: {e}"))),
    }
    let canon = mnt
        .canonicalize()
        .map_err(|e| err(format!("mountpoint {shown}: {e}")))?;
    if find_mount(&canon).is_some_and(|m| m.is_damfs()) {
        // The kernel may answer stat from its cache even when the daemon is gone.
        return Err(match daemon_pid(&canon) {
            Some(pid) => err(format!(
                "{shown} is already a damfs mount (daemon pid {pid})"
            )),
            None => dead_mount(&shown.to_string()),
        });
    }
    Ok(canon)
}

fn dead_mount(shown: &str) -> DaemonError {
    err(format!(
        "{shown} is a dead FUSE mount (its daemon is gone): run `damfs unmount {shown}` first"
    ))
}

fn default_log_path(store: &Path) -> PathBuf {
    let name = store
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    let parent = store.parent().unwrap_or(Path::new("/"));
    parent.join(format!("{name}.damfs.log"))
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            err(format!(
                "cannot open log file {}: {e} (choose another with --log-file)",
                path.display()
            ))
        })
}

/// `RUST_LOG` filters (default `info`); lines go to `target` or stderr.
fn init_logging(target: Option<File>) {
    // fuser::session warns "Failed to umount" whenever the kernel already ended the mount
    // (every `umount MNT`): not worth a line unless RUST_LOG asks for it.
    let mut b = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,fuser::session=error"),
    );
    if let Some(f) = target {
        b.target(env_logger::Target::Pipe(Box::new(f)));
    }
    // Another logger may be set already (tests, a CLI that set one up): keep it.
    let _ = b.try_init();
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The daemon's end of the readiness pipe: says "ok" or the error, once.
struct Ready(Option<File>);

impl Ready {
    fn ok(&mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(b"ok\n");
        }
    }

    fn fail(&mut self, msg: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(format!("error: {msg}\n").as_bytes());
        }
    }
}

/// The parent side: waits until the daemon says the mount is live, fails, or dies.
fn wait_ready(rd: OwnedFd, log_path: &Path) -> Result<()> {
    let mut msg = String::new();
    let _ = File::from(rd).read_to_string(&mut msg);
    let msg = msg.trim();
    if msg == "ok" {
        Ok(())
    } else if let Some(e) = msg.strip_prefix("error: ") {
        Err(err(e))
    } else {
        Err(err(format!(
            "the daemon exited while starting; see {}",
            log_path.display()
        )))
    }
}

/// Runs the daemon: opens the store, mounts, serves until the session ends, saves.
fn serve(opts: &MountOptions, store: &Path, mnt: &Path, mut ready: Ready) -> Result<()> {
    // Before any thread exists, so that every thread inherits the mask and only the
    // signal thread ever sees these signals.
    let signals = match block_signals() {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("blocking signals: {e}");
            ready.fail(&msg);
            return Err(err(msg));
        }
    };
    let (session, fs) = match start_session(opts, store, mnt) {
        Ok(x) => x,
        Err(e) => {
            ready.fail(&e.0);
            return Err(e);
        }
    };
    let pidfile = pidfile_path(mnt);
    if let Err(e) = write_pidfile(&pidfile, mnt) {
        warn!("cannot write pid file {}: {e}", pidfile.display());
    }
    info!(
        "damfs {} (pid {}) serving {} at {}{}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        shown_store(store),
        mnt.display(),
        if opts.read_only { " read-only" } else { "" }
    );

    {
        let fs = fs.clone();
        let mnt = mnt.to_path_buf();
        let pidfile = pidfile.clone();
        let spawned = std::thread::Builder::new()
            .name("damfs-signals".into())
            .spawn(move || signal_loop(signals, &fs, &mnt, &pidfile));
        if let Err(e) = spawned {
            warn!("cannot start the signal thread: {e}");
        }
    }
    {
        let at = mnt.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("damfs-ready".into())
            .spawn(move || match wait_live(&at) {
                Ok(()) => {
                    info!("mount {} is live", at.display());
                    ready.ok();
                    // Type=notify units: the mount is live now.
                    if let Err(e) = crate::sd_notify::ready(&format!("serving {}", at.display())) {
                        warn!("cannot notify systemd: {e}");
                    }
                }
                Err(e) => {
                    let msg = format!("the mount at {} does not answer: {e}", at.display());
                    error!("{msg}");
                    ready.fail(&msg);
                    let _ = umount_path(&at, libc::MNT_DETACH);
                }
            });
        if let Err(e) = spawned {
            // No readiness report: the parent sees EOF and says the daemon failed.
            error!("cannot start the readiness thread: {e}");
            let _ = umount_path(mnt, libc::MNT_DETACH);
        }
    }

    let run = session.run();
    info!("session ended; saving");
    let saved = fs.save();
    let _ = std::fs::remove_file(&pidfile);
    match (run, saved) {
        (_, Err(e)) => {
            let lost = fs.unsaved_ids();
            if !lost.is_empty() {
                const SHOWN: usize = 50;
                let more = lost.len().saturating_sub(SHOWN);
                let ids: Vec<&str> = lost.iter().take(SHOWN).map(String::as_str).collect();
                error!(
                    "these {} document(s) were changed through the mount and never saved; \
                     their changes are lost: {}{}",
                    lost.len(),
                    ids.join(", "),
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                );
            }
            Err(err(format!("saving the store after unmount failed: {e}")))
        }
        (Err(e), Ok(())) => Err(err(format!("the FUSE session failed: {e}"))),
        (Ok(()), Ok(())) => {
            info!("saved; exiting");
            Ok(())
        }
    }
}

fn start_session(
    opts: &MountOptions,
    store: &Path,
    mnt: &Path,
) -> Result<(fuser::Session<FuseAdapter>, Arc<Filesystem>)> {
    // A Jina store is served from a private converted copy (read-only only: src/jina/mount.rs).
    let served = crate::jina::mount::store_to_serve(store, opts.read_only).map_err(err)?;
    let store = served.as_path();
    let dam = Store::open_with(
        store,
        Options {
            buffer_pool_size: opts.pool_size,
            read_only: opts.read_only,
        },
    )
    .map_err(|e| err(format!("opening store {}: {e}", shown_store(store))))?;
    let config = FsConfig {
        read_only: opts.read_only,
        max_doc_size: opts.max_doc_size,
        ..FsConfig::default()
    };
    let config = FsConfig {
        ttl: opts.ttl.unwrap_or(config.ttl),
        ..config
    };
    let fs = Arc::new(Filesystem::new(dam, config));
    let adapter = FuseAdapter::new(fs.clone())
        .map_err(|e| err(format!("starting the notification thread: {e}")))?;
    let channel = adapter.channel();

    // The store as the mount's source (as sshfs shows its remote): mount(8) then sees that
    // an fstab line is mounted already, and `mount -a` leaves it alone. fusermount3 reads
    // the name from a comma-separated option list, so a path with a comma goes unnamed.
    let fsname = store
        .to_str()
        .filter(|s| !s.contains([',', '\\']))
        .unwrap_or("damfs");
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName(fsname.to_owned()),
        // Passed to the kernel directly: fuser's Subtype option only reaches fusermount,
        // and `damfs unmount` recognises our mounts by the type `fuse.damfs`.
        fuser::MountOption::CUSTOM("subtype=damfs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    if opts.read_only {
        cfg.mount_options.push(fuser::MountOption::RO);
    }
    cfg.mount_options.extend(opts.kernel_flags.iter().cloned());
    cfg.acl = if opts.allow_other {
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::Owner
    };
    cfg.n_threads = Some(N_THREADS);
    cfg.clone_fd = true;

    let session = fuser::Session::new(adapter, mnt, &cfg)
        .map_err(|e| err(format!("mounting on {}: {e}", mnt.display())))?;
    // The handshake is done, the adapter is inside the session: connect its way back to
    // the kernel (the notifier, and the device for epoch bumps).
    let device = session
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| err(format!("duplicating the FUSE descriptor: {e}")))?;
    channel.connect(session.notifier(), device);
    if !opts.read_only {
        crate::fuse::start_live_view(fs.clone(), channel)
            .map_err(|e| err(format!("starting the live view thread: {e}")))?;
    }
    Ok((session, fs))
}

/// Waits until `mnt` shows our filesystem (its device differs from its parent's) and
/// answers a stat.
fn wait_live(mnt: &Path) -> io::Result<()> {
    let parent_dev = match mnt.parent() {
        Some(p) => std::fs::metadata(p)?.dev(),
        None => return Ok(()),
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let last = match std::fs::metadata(mnt) {
            Ok(m) if m.dev() != parent_dev => return Ok(()),
            Ok(_) => io::Error::other("still the underlying directory"),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- signals ----------------------------------------------------------------------------

const SHUTDOWN_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn block_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset/pthread_sigmask only touch it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SHUTDOWN_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(set)
    }
}

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

fn signal_loop(set: libc::sigset_t, fs: &Filesystem, mnt: &Path, pidfile: &Path) {
    let mut first = true;
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised signal set; sigwait writes the signal number.
        let r = unsafe { libc::sigwait(&set, &mut sig) };
        if r != 0 {
            error!("sigwait failed: {}", io::Error::from_raw_os_error(r));
            return;
        }
        let name = signal_name(sig);
        if first {
            first = false;
            info!("{name}: saving and unmounting {}", mnt.display());
            let _ = crate::sd_notify::stopping();
            if let Err(e) = fs.save() {
                error!("saving the store failed: {e}");
            }
            unmount_own(mnt);
        } else {
            warn!("{name} again: exiting now; processes still using the mount get ENOTCONN");
            let code = match fs.save() {
                Ok(()) => 0,
                Err(e) => {
                    error!("saving the store failed: {e}");
                    1
                }
            };
            let _ = std::fs::remove_file(pidfile);
            std::process::exit(code);
        }
    }
}

/// Unmounts our own mount; the session then ends and `serve` saves and returns.
fn unmount_own(mnt: &Path) {
    match umount_retrying(mnt) {
        Ok(false) => {}
        Ok(true) => warn!(
            "{} is busy: detached it; exiting once no process uses it (signal again to exit now)",
            mnt.display()
        ),
        Err(e) => error!("unmounting {} failed: {e}", mnt.display()),
    }
}

/// umount(2), retried while EBUSY, then lazily detached. Gives whether it had to detach.
fn umount_retrying(mnt: &Path) -> io::Result<bool> {
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        match umount_path(mnt, 0) {
            Ok(()) => return Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    umount_path(mnt, libc::MNT_DETACH)?;
                    return Ok(true);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

fn umount_path(mnt: &Path, flags: libc::c_int) -> io::Result<()> {
    let c = CString::new(mnt.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path; umount2 reads it only.
    if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// ---- pid file ---------------------------------------------------------------------------

fn runtime_dir() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return PathBuf::from("/run/damfs");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("damfs"),
        _ => std::env::temp_dir().join(format!("damfs-{euid}")),
    }
}

/// Where the daemon serving `mnt` (a canonical path) records its pid.
pub fn pidfile_path(mnt: &Path) -> PathBuf {
    // FNV-1a: stable across builds and Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in mnt.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    runtime_dir().join(format!("{h:016x}.pid"))
}

/// Start time of a process in clock ticks since boot (tells a pid's reuse apart).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn write_pidfile(path: &Path, mnt: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let pid = std::process::id();
    let text = format!(
        "{pid}\n{}\n{}\n",
        start_time(pid).unwrap_or(0),
        mnt.display()
    );
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The pid recorded for `mnt`, if that process is still the one that wrote it.
fn pid_from_pidfile(mnt: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pidfile_path(mnt)).ok()?;
    let mut lines = text.lines();
    let pid: u32 = lines.next()?.parse().ok()?;
    let started: u64 = lines.next()?.parse().ok()?;
    if lines.next()? != mnt.display().to_string() {
        return None;
    }
    (start_time(pid)? == started && !is_zombie(pid)).then_some(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// The pid in `MNT/.stats`, read with a timeout (a hung daemon must not hang us).
fn pid_from_stats(mnt: &Path) -> Option<u32> {
    let path = mnt.join(".stats");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("damfs-stats".into())
        .spawn(move || {
            let _ = tx.send(std::fs::read(path));
        })
        .ok()?;
    let bytes = rx.recv_timeout(Duration::from_secs(2)).ok()?.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    (!is_zombie(pid)).then_some(pid)
}

/// The pid of the daemon serving the damfs mount at `mnt`, if it can be found.
pub fn daemon_pid(mnt: &Path) -> Option<u32> {
    let mnt = mount_path(mnt).ok()?;
    pid_from_stats(&mnt).or_else(|| pid_from_pidfile(&mnt))
}

// ---- unmount ----------------------------------------------------------------------------

/// An absolute path for `mnt` without touching `mnt` itself (a dead mount fails stat).
fn mount_path(mnt: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(mnt)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => Ok(parent.canonicalize()?.join(name)),
        _ => Ok(abs),
    }
}

/// Unmounts the damfs mount at `mountpoint` and waits until its daemon has saved and exited.
pub fn unmount(mountpoint: &Path) -> Result<()> {
    let shown = mountpoint.display();
    let mnt = mount_path(mountpoint).map_err(|e| err(format!("{shown}: {e}")))?;
    let Some(m) = find_mount(&mnt) else {
        return Err(err(format!("{shown} is not mounted")));
    };
    if !m.is_damfs() {
        return Err(err(format!(
            "{shown} is not a damfs mount (it is a {} mount of {})",
            m.fstype, m.source
        )));
    }
    let pid = daemon_pid(&mnt);
    // Taken before unmounting: a pidfd cannot be confused by a reused pid.
    let pidfd = pid.and_then(|p| pidfd_open(p).ok());

    match umount_retrying(&mnt) {
        Ok(false) => {}
        Ok(true) => eprintln!(
            "damfs: {shown} is busy: detached it; its daemon saves and exits once no process uses it"
        ),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => fusermount_u(&mnt)?,
        Err(e) => return Err(err(format!("unmounting {shown}: {e}"))),
    }

    match (pid, pidfd) {
        (Some(pid), Some(fd)) => wait_exit(pid, &fd),
        (Some(pid), None) => wait_gone(pid),
        (None, _) => {
            // Either the daemon died (dead mount) or it is too old to tell us its pid.
            eprintln!("damfs: no running daemon found for {shown}; unmounted");
        }
    }
    Ok(())
}

/// Unprivileged users unmount through the setuid helper.
fn fusermount_u(mnt: &Path) -> Result<()> {
    for helper in ["fusermount3", "fusermount"] {
        match std::process::Command::new(helper)
            .arg("-u")
            .arg(mnt)
            .status()
        {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => return Err(err(format!("{helper} -u {} failed ({s})", mnt.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(format!("running {helper}: {e}"))),
        }
    }
    Err(err(format!(
        "unmounting {}: permission denied, and no fusermount3 helper is installed",
        mnt.display()
    )))
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until the process behind `fd` exits (a pidfd polls readable then).
fn wait_exit(pid: u32, fd: &OwnedFd) {
    let started = Instant::now();
    loop {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 10_000) };
        if r > 0 {
            return;
        }
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            wait_gone(pid);
            return;
        }
        if r == 0 {
            eprintln!(
                "damfs: still waiting for the daemon (pid {pid}) to save and exit ({}s)",
                started.elapsed().as_secs()
            );
        }
    }
}

/// Fallback without pidfds: polls /proc.
fn wait_gone(pid: u32) {
    while !is_zombie(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- /proc/self/mountinfo ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct MountEntry {
    mount_point: PathBuf,
    fstype: String,
    source: String,
}

impl MountEntry {
    fn is_damfs(&self) -> bool {
        self.fstype == "fuse.damfs" || (self.fstype.starts_with("fuse") && self.source == "damfs")
    }
}

/// The topmost mount at `path`, if any.
fn find_mount(path: &Path) -> Option<MountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .rfind(|m| m.mount_point == path)
}

fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let source = r.next()?;
            Some(MountEntry {
                mount_point: PathBuf::from(OsStr::from_bytes(&unescape_octal(mount_point))),
                fstype: String::from_utf8_lossy(&unescape_octal(fstype)).into_owned(),
                source: String::from_utf8_lossy(&unescape_octal(source)).into_owned(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let text =
            "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - fuse.damfs damfs rw,user_id=0\n\
                    37 35 0:52 / /proc rw,nosuid - proc proc rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/a b"));
        assert!(m[0].is_damfs());
        assert_eq!(m[1].fstype, "proc");
        assert!(!m[1].is_damfs());
    }

    #[test]
    fn unescape_leaves_plain_backslashes() {
        assert_eq!(unescape_octal("a\\134b"), b"a\\b");
        assert_eq!(unescape_octal("a\\9"), b"a\\9");
        assert_eq!(unescape_octal("end\\04"), b"end\\04");
    }

    #[test]
    fn pidfile_names_differ_per_mountpoint() {
        assert_ne!(pidfile_path(Path::new("/a")), pidfile_path(Path::new("/b")));
        assert_eq!(pidfile_path(Path::new("/a")), pidfile_path(Path::new("/a")));
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_time(std::process::id()).is_some());
        assert!(!is_zombie(std::process::id()));
    }
}
