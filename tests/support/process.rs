//! Processes: waiting for a condition, signals, and this test binary re-run as a child.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// The name libtest gives test `test` of the module whose `module_path!()` is `module`:
/// the path without the crate's (the binary's) name.
pub fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}

/// This test binary, set to run only test `test` of module `module` (pass `module_path!()`)
/// with its output shown: how a test starts a child process of its own without a second
/// binary. The child test finds what to do in environment variables the caller sets (run
/// normally, without them, it does nothing).
pub fn child_test(module: &str, test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let name = test_name(module, test);
    assert_listed(&exe, &name);
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", &name, "--nocapture", "--test-threads=1"]);
    cmd
}

/// Panics unless the test binary `exe` has a test named `name`: a child started with a name
/// that matches nothing would run no test and exit 0, as if it had done its work. Checked
/// once per name.
fn assert_listed(exe: &Path, name: &str) {
    static LISTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut listed = LISTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if listed.contains(name) {
        return;
    }
    let out = Command::new(exe)
        .args(["--list", "--exact", name])
        .output()
        .expect("listing the test binary's tests");
    let line = format!("{name}: test");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == line),
        "this test binary has no test {name:?} to run as a child"
    );
    listed.insert(name.to_owned());
}
