//! Shared by the mount campaigns (`tests/campaigns/`: `mount_crash_campaign`,
//! `mount_soak`): child processes that write through a mount (or through the library) and
//! log what they did, and the checks the parent makes from those logs.
//!
//! Children are the campaigns' test binary re-executed with `DAMFS_CAMPAIGN_CHILD` set,
//! running the test named [`CHILD_TEST`], which `tests/campaigns/main.rs` defines as a call
//! of [`child_main`].

pub mod library;
pub mod log;
pub mod texts;
pub mod writer;

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use crate::support::process::child_test;

/// The environment variable that makes this test binary a campaign child, and its values.
pub const CHILD_ENV: &str = "DAMFS_CAMPAIGN_CHILD";
/// The test `tests/campaigns/main.rs` defines as `fn mount_campaign_child() { child_main() }`.
pub const CHILD_TEST: &str = "mount_campaign_child";

/// Whether the full (hand-run) versions are asked for: `DAMFS_CAMPAIGN=full`.
pub fn full() -> bool {
    std::env::var("DAMFS_CAMPAIGN").is_ok_and(|v| v == "full")
}

/// A number from the environment, or the CI or full default.
pub fn setting(name: &str, ci: u64, full_run: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full() { full_run } else { ci })
}

/// Runs the child this process was started as, if any, and exits with its result.
pub fn child_main() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ok = match kind.as_str() {
        "mount-writer" => writer::Writer::start(writer::Config::from_env()).run(),
        "library-writer" => library::run(library::Config::from_env()),
        other => panic!("unknown campaign child {other:?}"),
    };
    std::process::exit(if ok { 0 } else { 1 });
}

/// Starts a campaign child in its own process group (so that killing the group also ends
/// the tools it runs).
pub fn spawn_child(kind: &str, env: Vec<(&'static str, std::ffi::OsString)>) -> Child {
    // The child test is at the binary's top level: its module path is the crate's alone.
    child_test(env!("CARGO_CRATE_NAME"), CHILD_TEST)
        .env(CHILD_ENV, kind)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("starting a campaign child")
}

/// SIGKILL to a child's process group, then reaps it.
pub fn kill_group(child: &mut Child) {
    // SAFETY: kill takes plain integers; the group is the child's own.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    let _ = child.wait();
}

/// Children killed (with their tools) whichever way the test ends.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            kill_group(c);
        }
    }
}

static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held by each heavy campaign for its whole run, so that they run one after another (as
/// when each was a test binary of its own) instead of loading the 2 cores at once. A
/// campaign that failed leaves the lock poisoned; the next one runs all the same.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
