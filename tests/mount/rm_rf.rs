//! Emptying a mount with `rm -rf` (README, "Writing" and "Errors"): `rm -rf MNT/by-id/*`
//! and `rm -rf MNT/*` delete every document, and the fixed directory `/by-id` stays, with
//! EPERM and a log line that says why.

use crate::support::place::Place;
use crate::support::*;

fn rm_rf_of_everything_deletes_every_document_and_keeps_by_id(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 30, &[]);
    m.sh("rm -rf \"$MNT\"/by-id/*").assert_ok();
    assert!(m.names("by-id").is_empty());
    assert!(m
        .names("")
        .iter()
        .all(|n| !n.starts_with(|c: char| c.is_ascii_digit())));
    m.sh("printf '{\"id\":\"again\"}' > \"$MNT/by-id/again\" && echo x > \"$MNT/tmp.1\"")
        .assert_ok();
    m.sh("rm -rf \"$MNT\"/*")
        .assert_fails_with("cannot remove")
        .assert_fails_with("Operation not permitted");
    assert_eq!(m.names("by-id"), Vec::<String>::new());
    assert_eq!(m.stats()["temporary_files"], 0);
    let log = m.read_log("store.damfs.log");
    assert!(
        log.contains("by-id: the mount's directories cannot be removed"),
        "{log}"
    );
    assert!(!log.contains("only regular files can be created"), "{log}");
    assert_eq!(m.unmount_and_read(), Vec::<(String, String)>::new());
}

both_backends!(rm_rf_of_everything_deletes_every_document_and_keeps_by_id,);
