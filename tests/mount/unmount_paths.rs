//! The ways a script names the mountpoint to `damfs unmount`: a symlink to it (which
//! `umount` follows too), a trailing slash, a relative path. Each unmounts, after the save.
//! And `cd MNT && damfs unmount .`: the caller's own shell keeps the mount busy, so waiting
//! for the daemon would never end; it says so and returns.

use std::time::Duration;

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

fn damfs_unmount_from_inside_the_mount_says_why_and_does_not_wait_for_itself(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    m.sh("printf '{\"id\":\"doc0\",\"v\":1}' > \"$MNT/by-id/doc0\"")
        .assert_ok();
    let pid = m.pid();
    // `timeout` only bounds the test if the fix regresses; the command must end by itself.
    let r = m.sh(&format!(
        "cd \"$MNT/by-id\" && timeout 60 '{BIN}' unmount ..; echo \"rc=$?\""
    ));
    assert!(r.stdout.contains("rc=1"), "{r:#?}");
    assert!(r.stderr.contains("working directory"), "{r:#?}");
    assert!(wait_for(Duration::from_secs(60), || pid_exited(pid)));
    // The same when the shell holds a file open inside instead.
    m.mount(&[]).assert_ok();
    let pid = m.pid();
    let r = m.bash(&format!(
        "exec 3< \"$MNT/0\"; timeout 60 '{BIN}' unmount \"$MNT\"; echo \"rc=$?\""
    ));
    assert!(r.stdout.contains("rc=1"), "{r:#?}");
    assert!(r.stderr.contains("a file inside"), "{r:#?}");
    // The shell has left: the detached mount's daemon saves and exits.
    assert!(wait_for(Duration::from_secs(60), || pid_exited(pid)));
    assert!(!m.is_mounted());
    let mut want = expected_docs(2);
    want[0].1 = "{\"id\":\"doc0\",\"v\":1}".into();
    assert_eq!(m.contents(), want);
}

both_backends!(
    damfs_unmount_takes_a_symlink_a_trailing_slash_and_a_relative_path,
    damfs_unmount_from_inside_the_mount_says_why_and_does_not_wait_for_itself,
);
