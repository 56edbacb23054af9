//! Whether FUSE mounts can be made here, where a mount's root is, and fusectl.

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

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
        if !$crate::support::fuse_available() {
            if std::env::var_os("DAMFS_REQUIRE_FUSE").is_some() {
                panic!("/dev/fuse is not usable, and DAMFS_REQUIRE_FUSE says mount tests must run");
            }
            eprintln!("skipping: /dev/fuse is not usable here");
            return;
        }
    };
}

/// Whether `path` is the root of a mount (its device differs from its parent's).
pub fn is_mount_root(path: &Path) -> bool {
    let (Ok(m), Some(Ok(p))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        // A dead FUSE mount fails stat with ENOTCONN (ECONNABORTED while the
        // connection is being torn down): still mounted.
        return std::fs::metadata(path)
            .err()
            .and_then(|e| e.raw_os_error())
            .is_some_and(|e| matches!(e, libc::ENOTCONN | libc::ECONNABORTED));
    };
    m.dev() != p.dev()
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
