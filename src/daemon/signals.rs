//! Signals: SIGTERM, SIGINT and SIGHUP save, unmount (lazily when busy) and exit.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::*;

pub(super) const SHUTDOWN_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

pub(super) fn block_signals() -> io::Result<libc::sigset_t> {
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

pub(super) fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

pub(super) fn signal_loop(set: libc::sigset_t, fs: &Filesystem, mnt: &Path, pidfile: &Path) {
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
pub(super) fn unmount_own(mnt: &Path) {
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
pub(super) fn umount_retrying(mnt: &Path) -> io::Result<bool> {
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

pub(super) fn umount_path(mnt: &Path, flags: libc::c_int) -> io::Result<()> {
    let c = CString::new(mnt.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path; umount2 reads it only.
    if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
