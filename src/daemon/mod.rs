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

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::backend::Store;
use crate::fs::{Filesystem, FsConfig};
use crate::fuse::FuseAdapter;
use crate::store::Options;

mod mountinfo;
mod pidfile;
mod signals;
mod unmount;

use mountinfo::*;
use pidfile::*;
pub use pidfile::{daemon_pid, pidfile_path};
use signals::*;
pub use unmount::unmount;
use unmount::*;

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

/// A mount or unmount failure; `Display` gives a message meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The request cannot be carried out as asked: a mountpoint that is not a directory, a
    /// path that is not a damfs mount, a dead mount in the way, a daemon that did not start.
    #[error("{0}")]
    Refused(String),
    /// A system call failed while doing `what`.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The store could not be opened or saved.
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: crate::Error,
    },
}

/// `map_err` for a failed system call while doing `what`.
fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// `map_err` for a store that could not be opened or saved while doing `what`.
fn store_err(what: impl Into<String>) -> impl FnOnce(crate::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Store { what, source }
}

pub type Result<T> = std::result::Result<T, DaemonError>;

fn err(msg: impl Into<String>) -> DaemonError {
    DaemonError::Refused(msg.into())
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
    if let Some(reason) = opts.store.to_str().and_then(crate::postgres::mistyped_url) {
        return Err(err(format!("store {}: {reason}", shown_store(&opts.store))));
    }
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
        Some(p) => Some(std::path::absolute(p).map_err(io_err(p.display().to_string()))?),
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
    let (rd, wr) = pipe().map_err(io_err("creating a pipe"))?;
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
    match store.to_str() {
        Some(text) => crate::postgres::redact_text(text),
        None => store.display().to_string(),
    }
}

/// The mount's source for /proc/mounts: the STORE argument as given (so that mount(8) can
/// match it with an fstab line), unless it is a URL carrying a password (`user:pw@` or
/// `password=`), which is then shown redacted. `None`: not UTF-8.
fn mount_source(store: &Path) -> Option<String> {
    let text = store.to_str()?;
    if crate::backend::is_url(store) && url_has_password(text) {
        return Some(shown_store(store));
    }
    Some(text.to_owned())
}

/// Whether a store URL's text holds a password, in its user part or its query.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = rest
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|kv| kv.starts_with("password=")));
    in_userinfo || in_query
}

/// Creates the store directory if needed; gives its canonical path.
fn prepare_store(store: &Path, read_only: bool) -> Result<PathBuf> {
    if !read_only {
        std::fs::create_dir_all(store).map_err(io_err(format!(
            "creating store directory {}",
            store.display()
        )))?;
    }
    let canon = store.canonicalize().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            err(format!("store {} does not exist", store.display()))
        } else {
            io_err(format!("store {}", store.display()))(e)
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
        // ENOTCONN once the connection is gone; ECONNABORTED for a request caught
        // in flight while the killed daemon's threads were still exiting.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED)) => {
            return Err(dead_mount(&shown.to_string()))
        }
        Err(e) => return Err(io_err(format!("mountpoint {shown}"))(e)),
    }
    let canon = mnt
        .canonicalize()
        .map_err(io_err(format!("mountpoint {shown}")))?;
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
            ready.fail(&e.to_string());
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
    let named = store.to_owned();
    let store = served.as_path();
    let dam = Store::open_with(
        store,
        Options {
            buffer_pool_size: opts.pool_size,
            read_only: opts.read_only,
        },
    )
    .map_err(store_err(format!("opening store {}", shown_store(store))))?;
    let config = FsConfig {
        read_only: opts.read_only,
        max_doc_size: opts.max_doc_size,
        shown_store: (served != named).then_some(named),
        ..FsConfig::default()
    };
    let config = FsConfig {
        ttl: opts.ttl.unwrap_or(config.ttl),
        ..config
    };
    let fs = Arc::new(Filesystem::new(dam, config));
    let adapter =
        FuseAdapter::new(fs.clone()).map_err(io_err("starting the notification thread"))?;
    let channel = adapter.channel();

    // The store as the mount's source (as sshfs shows its remote): mount(8) then sees that
    // an fstab line is mounted already, and `mount -a` leaves it alone. fusermount3 reads
    // the name from a comma-separated option list, so a path with a comma goes unnamed.
    // Every local user reads /proc/mounts: a URL with a password is shown without it.
    let source = mount_source(store);
    let fsname = source
        .as_deref()
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
        .map_err(io_err(format!("mounting on {}", mnt.display())))?;
    // The handshake is done, the adapter is inside the session: connect its way back to
    // the kernel (the notifier, and the device for epoch bumps).
    let device = session
        .as_fd()
        .try_clone_to_owned()
        .map_err(io_err("duplicating the FUSE descriptor"))?;
    channel.connect(session.notifier(), device);
    // Read-only mounts follow other writers too (unless the kernel cannot drop names).
    crate::fuse::start_live_view(fs.clone(), channel)
        .map_err(io_err("starting the live view thread"))?;
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

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn errors_say_what_failed_and_keep_their_cause() {
        let e = io_err("creating a pipe")(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(&e, DaemonError::Io { .. }));
        assert!(e.to_string().starts_with("creating a pipe: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let s = store_err("opening store x")(crate::Error::ReadOnly);
        assert!(matches!(&s, DaemonError::Store { .. }));
        assert_eq!(err("x is not mounted").to_string(), "x is not mounted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_found_in_the_user_part_or_the_query() {
        assert!(url_has_password("postgresql://u:pw@host/db"));
        assert!(url_has_password("postgresql://u:p%40w@/db?host=/run/pg"));
        assert!(url_has_password(
            "postgresql://u@host/db?table=t&password=pw"
        ));
        assert!(!url_has_password("postgresql://u@host:5432/db?table=t"));
        assert!(!url_has_password("postgresql://host/db?host=/tmp/a:b"));
        assert!(!url_has_password("postgresql://u@/db?host=/tmp/x@y:z"));
    }

    #[test]
    fn the_mount_source_is_the_argument_unless_it_carries_a_password() {
        let plain = "postgresql://u@/db?host=/run/pg&table=t";
        assert_eq!(mount_source(Path::new(plain)).as_deref(), Some(plain));
        let dir = "/srv/store";
        assert_eq!(mount_source(Path::new(dir)).as_deref(), Some(dir));
        let secret = mount_source(Path::new("postgresql://u:s3cret@/db?host=/run/pg")).unwrap();
        assert!(!secret.contains("s3cret"), "{secret}");
        assert!(secret.starts_with("postgresql://u@"), "{secret}");
    }
}
