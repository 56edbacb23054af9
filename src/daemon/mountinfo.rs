//! Reading `/proc/self/mountinfo`: which mounts are damfs's.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MountEntry {
    pub(super) mount_point: PathBuf,
    pub(super) fstype: String,
    pub(super) source: String,
}

impl MountEntry {
    pub(super) fn is_damfs(&self) -> bool {
        self.fstype == "fuse.damfs" || (self.fstype.starts_with("fuse") && self.source == "damfs")
    }
}

/// The topmost mount at `path`, if any.
pub(super) fn find_mount(path: &Path) -> Option<MountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .rfind(|m| m.mount_point == path)
}

pub(super) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
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
pub(super) fn unescape_octal(s: &str) -> Vec<u8> {
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
    use crate::daemon::pidfile::{is_zombie, pidfile_path, start_time};

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
