//! The ways a script names the mountpoint to `damfs unmount`: a symlink to it (which
//! `umount` follows too), a trailing slash, a relative path. Each unmounts, after the save.

use crate::support::place::Place;
use crate::support::*;

fn damfs_unmount_takes_a_symlink_a_trailing_slash_and_a_relative_path(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    std::os::unix::fs::symlink(&m.mnt, m.dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink("link", m.dir.path().join("link2")).unwrap();
    for (i, name) in ["link2", "link", "mnt/", "./mnt"].into_iter().enumerate() {
        m.sh(&format!(
            "printf '{{\"id\":\"doc1\",\"v\":{i}}}' > \"$MNT/by-id/doc1\""
        ))
        .assert_ok();
        let pid = m.pid();
        m.sh(&format!("'{BIN}' unmount {name}")).assert_ok();
        assert!(pid_exited(pid), "{name}: daemon {pid} still running");
        assert!(!m.is_mounted(), "{name}");
        let mut want = expected_docs(2);
        want[1].1 = format!("{{\"id\":\"doc1\",\"v\":{i}}}");
        assert_eq!(m.contents(), want, "{name}");
        m.mount(&[]).assert_ok();
    }
    m.unmount();
}

both_backends!(damfs_unmount_takes_a_symlink_a_trailing_slash_and_a_relative_path,);
