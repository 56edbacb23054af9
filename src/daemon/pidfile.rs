//! The pid file under `/run/damfs/` or `$XDG_RUNTIME_DIR/damfs/`, and finding a mount's daemon.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

pub(super) fn runtime_dir() -> PathBuf {
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
pub(super) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub(super) fn write_pidfile(path: &Path, mnt: &Path) -> io::Result<()> {
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
pub(super) fn pid_from_pidfile(mnt: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pidfile_path(mnt)).ok()?;
    let mut lines = text.lines();
    let pid: u32 = lines.next()?.parse().ok()?;
    let started: u64 = lines.next()?.parse().ok()?;
    if lines.next()? != mnt.display().to_string() {
        return None;
    }
    (start_time(pid)? == started && !is_zombie(pid)).then_some(pid)
}

pub(super) fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// The pid in `MNT/.stats`, read with a timeout (a hung daemon must not hang us).
pub(super) fn pid_from_stats(mnt: &Path) -> Option<u32> {
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
