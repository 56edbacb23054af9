//! `damfs unmount`: unmount, then wait until the daemon has saved and exited.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

/// An absolute path for `mnt` without touching `mnt` itself (a dead mount fails stat).
/// A symlink to the mountpoint names it too, as for `umount`: it is read, never followed
/// into the mount (at most 40 of them, the kernel's own bound).
pub(super) fn mount_path(mnt: &Path) -> io::Result<PathBuf> {
    let mut abs = std::path::absolute(mnt)?;
    for _ in 0..40 {
        if abs.ends_with("..") {
            // `damfs unmount ..` from inside the mount: the directory above the one left.
            let left = abs.parent().map(Path::canonicalize).transpose()?;
            match left.as_deref().and_then(Path::parent) {
                Some(above) => abs = above.to_path_buf(),
                None => return Ok(PathBuf::from("/")),
            }
            continue;
        }
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Ok(abs);
        };
        let parent = parent.canonicalize()?;
        let path = parent.join(name);
        // A mountpoint is no symlink, and a hung daemon must not be asked; lstat of a dead
        // mount fails (ENOTCONN): no symlink either.
        let link = find_mount(&path).is_none()
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !link {
            return Ok(path);
        }
        abs = std::path::absolute(parent.join(std::fs::read_link(&path)?))?;
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// Unmounts the damfs mount at `mountpoint` and waits until its daemon has saved and exited.
pub fn unmount(mountpoint: &Path) -> Result<()> {
    let shown = mountpoint.display();
    let mnt = mount_path(mountpoint).map_err(io_err(shown.to_string()))?;
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
    // This process must not keep the mount busy itself; the shell that runs it may (`cd
    // MNT && damfs unmount .`), and then waiting for the daemon would never end.
    if std::env::current_dir().is_ok_and(|d| d.starts_with(&mnt)) {
        let _ = std::env::set_current_dir("/");
    }
    let caller_inside = ancestor_inside(&mnt);
    if caller_inside.is_some() {
        match save_through(&mnt) {
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => {} // nothing to save
            r => r.map_err(io_err(format!("saving {shown} through its .save")))?,
        }
    }

    match umount_retrying(&mnt) {
        Ok(false) => {}
        Ok(true) => {
            if let Some((p, comm)) = caller_inside {
                return Err(err(format!(
                    "{shown} is busy: saved it and detached it, but {comm} (pid {p}), which \
                     runs this command, has its working directory or a file inside, so the \
                     daemon exits only once that process leaves it (cd out or close it first)"
                )));
            }
            eprintln!(
                "damfs: {shown} is busy: detached it; its daemon saves and exits once no process uses it"
            )
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => fusermount_u(&mnt)?,
        Err(e) => return Err(io_err(format!("unmounting {shown}"))(e)),
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

/// The first of this process's ancestors whose working directory or an open file is
/// inside `mnt`, with its name. Read from /proc (links read, never followed into the mount).
fn ancestor_inside(mnt: &Path) -> Option<(u32, String)> {
    let mut pid = std::os::unix::process::parent_id();
    while pid > 1 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(').map_or("?", |(_, c)| c).to_owned();
        let ppid: u32 = tail.split_whitespace().nth(1)?.parse().ok()?;
        let inside = |link: PathBuf| std::fs::read_link(link).is_ok_and(|p| p.starts_with(mnt));
        let open_inside = || {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| inside(fd.path()))
        };
        if inside(format!("/proc/{pid}/cwd").into()) || open_inside() {
            return Some((pid, comm));
        }
        pid = ppid;
    }
    None
}

/// Saves the mount at once through its control file (`echo 1 > MNT/.save`).
fn save_through(mnt: &Path) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(mnt.join(".save"))?;
    f.write_all(b"1")?;
    Ok(())
}

/// Unprivileged users unmount through the setuid helper.
pub(super) fn fusermount_u(mnt: &Path) -> Result<()> {
    for helper in ["fusermount3", "fusermount"] {
        match std::process::Command::new(helper)
            .arg("-u")
            .arg(mnt)
            .status()
        {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => return Err(err(format!("{helper} -u {} failed ({s})", mnt.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("running {helper}"))(e)),
        }
    }
    Err(err(format!(
        "unmounting {}: permission denied, and no fusermount3 helper is installed",
        mnt.display()
    )))
}

pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until the process behind `fd` exits (a pidfd polls readable then).
pub(super) fn wait_exit(pid: u32, fd: &OwnedFd) {
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
pub(super) fn wait_gone(pid: u32) {
    while !is_zombie(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
}
