//! `mount -t fuse.damfs`, /etc/fstab lines and `-o` options, driven through util-linux's
//! real `mount` and `umount`. Each scenario runs in a scratch mount namespace
//! (`unshare -m`) where `damfs install-helper` puts the helper into a directory bound over
//! /usr/sbin (where mount(8) looks for /sbin/mount.fuse.damfs), so the host is never
//! touched; the fstab is a scratch file read with `mount -T`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::place::Place;
use crate::support::*;

/// Whether the namespace scenarios can run: root and util-linux's `unshare -m`.
fn can_use_namespaces() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let unshare = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success());
    root && unshare
}

/// FUSE as `require_fuse!` wants it (so under CI these cannot pass by skipping), and root
/// with `unshare -m`, which CI runs as (also required under `DAMFS_REQUIRE_FUSE`).
macro_rules! require_namespaces {
    () => {
        require_fuse!();
        if !can_use_namespaces() {
            if std::env::var_os("DAMFS_REQUIRE_FUSE").is_some() {
                panic!("root and unshare -m are needed, and DAMFS_REQUIRE_FUSE says mount tests must run");
            }
            eprintln!("skipping: needs root and unshare -m");
            return;
        }
    };
}

/// Runs `script` with bash in a private mount namespace in which `mount.fuse.damfs` is
/// installed (by `damfs install-helper`). `$STORE`, `$MNT`, `$DIR` and `$DAMFS` are set;
/// whatever is still mounted at `$MNT` is detached when the script ends.
fn in_namespace(m: &Mount, script: &str) -> Run {
    let sbin = m.dir.path().join("sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    let full = format!(
        "set -u\n\
         trap 'umount -l \"$MNT\" 2>/dev/null || true' EXIT\n\
         \"$DAMFS\" install-helper --dir \"$DIR/sbin\" >/dev/null || exit 97\n\
         mount --bind \"$DIR/sbin\" /usr/sbin\n\
         {script}"
    );
    run(Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c", &full])
        .current_dir(m.dir.path())
        .env("STORE", &m.store)
        .env("MNT", &m.mnt)
        .env("DIR", m.dir.path())
        .env("DAMFS", BIN))
}

/// The value after `KEY=` on its own line of the script's output.
fn field<'a>(r: &'a Run, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key}= line in {r:#?}"))
}

/// `.stats` of the mount, as the script printed it between STATS-BEGIN and STATS-END.
fn stats_in(r: &Run) -> serde_json::Value {
    let text = r
        .stdout
        .split("STATS-BEGIN\n")
        .nth(1)
        .and_then(|t| t.split("STATS-END").next())
        .unwrap_or_else(|| panic!("no stats in {r:#?}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("stats {text:?}: {e}"))
}

const SHOW: &str = r#"
echo "MOUNTINFO=$(grep " $MNT " /proc/self/mountinfo)"
echo STATS-BEGIN; cat "$MNT/.stats"; echo; echo STATS-END
"#;

fn wait_exited(pid: u64) {
    assert!(
        wait_for(Duration::from_secs(20), || pid_exited(pid as u32)),
        "daemon {pid} still running after umount"
    );
}

fn mount_t_fuse_damfs_applies_every_option_and_umount_ends_it(place: &Place) {
    require_namespaces!();
    let m = Mount::unmounted_at(place, 3);
    let r = in_namespace(
        &m,
        &format!(
            r#"
mount -t fuse.damfs "$STORE" "$MNT" \
  -o pool_size=100,ro,allow_other,noexec,_netdev,nofail,x-systemd.automount,noatime,ttl=2s,max_doc_size=1M
echo "MOUNTED=$?"
{SHOW}
echo "DOC0=$(cat "$MNT/0")"
if printf '{{}}' > "$MNT/by-id/new" 2>/dev/null; then echo WRITE=accepted; else echo WRITE=refused; fi
umount "$MNT"
echo "UMOUNTED=$?"
echo "LEFT=$(grep -c " $MNT " /proc/self/mountinfo)"
"#
        ),
    );
    assert_eq!(field(&r, "MOUNTED"), "0", "{r:#?}");
    let info = field(&r, "MOUNTINFO");
    assert!(info.contains(" - fuse.damfs "), "{info}");
    // The mount's flags (before " - ") and the FUSE options (after it).
    let (flags, fuse_opts) = info.split_once(" - ").unwrap();
    for f in [" ro,", "noexec", "nosuid", "nodev"] {
        assert!(flags.contains(f), "{f} missing in {info}");
    }
    assert!(fuse_opts.contains("allow_other"), "{info}");
    let stats = stats_in(&r);
    assert_eq!(stats["pool_size"], 100);
    assert_eq!(stats["read_only"], true);
    assert_eq!(stats["length"], 3);
    assert_eq!(field(&r, "DOC0"), doc_json(0));
    assert_eq!(field(&r, "WRITE"), "refused");
    assert_eq!(field(&r, "UMOUNTED"), "0");
    assert_eq!(field(&r, "LEFT"), "0");
    wait_exited(stats["pid"].as_u64().unwrap());
    assert_eq!(m.contents(), expected_docs(3));
}

fn an_fstab_line_mounts_and_umount_saves_what_was_written(place: &Place) {
    require_namespaces!();
    let m = Mount::unmounted_at(place, 3);
    let fstab = m.dir.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# a scratch fstab\n{} {} fuse.damfs defaults,_netdev,nofail,pool_size=7,nosuid,nodev 0 0\n",
            m.store.display(),
            m.mnt.display()
        ),
    )
    .unwrap();
    let r = in_namespace(
        &m,
        &format!(
            r#"
mount -T "$DIR/fstab" "$MNT"
echo "MOUNTED=$?"
{SHOW}
# mount -a knows the line is mounted already (the mount's source is the store).
mount -a -T "$DIR/fstab"
echo "AGAIN=$?"
echo "MOUNTS=$(grep -c " $MNT " /proc/self/mountinfo)"
printf '%s' '{{"id":"doc1","text":"written through the fstab mount"}}' > "$MNT/1"
echo "DOC1=$(cat "$MNT/1")"
umount "$MNT"
echo "UMOUNTED=$?"
"#
        ),
    );
    assert_eq!(field(&r, "MOUNTED"), "0", "{r:#?}");
    let stats = stats_in(&r);
    assert_eq!(stats["pool_size"], 7);
    assert_eq!(stats["read_only"], false);
    assert!(field(&r, "MOUNTINFO").contains(" rw,"), "{r:#?}");
    let source = format!(" - fuse.damfs {} ", m.store.display());
    assert!(field(&r, "MOUNTINFO").contains(&source), "{r:#?}");
    assert_eq!(field(&r, "AGAIN"), "0", "{r:#?}");
    assert_eq!(field(&r, "MOUNTS"), "1");
    assert_eq!(
        field(&r, "DOC1"),
        r#"{"id":"doc1","text":"written through the fstab mount"}"#
    );
    assert_eq!(field(&r, "UMOUNTED"), "0");
    wait_exited(stats["pid"].as_u64().unwrap());
    let docs = m.contents();
    assert_eq!(
        docs[1].1,
        r#"{"id":"doc1","text":"written through the fstab mount"}"#
    );
    assert_eq!(docs.len(), 3);
}

fn mount_refuses_unknown_options_by_name_and_mounts_nothing(place: &Place) {
    require_namespaces!();
    let m = Mount::unmounted_at(place, 1);
    let r = in_namespace(
        &m,
        r#"
mount -t fuse.damfs "$STORE" "$MNT" -o pool_size=5,colour=blue,bogus
echo "MOUNTED=$?"
mount -t fuse.damfs "$STORE" "$MNT" -o allow_other=yes
echo "VALUE=$?"
echo "LEFT=$(grep -c " $MNT " /proc/self/mountinfo)"
mount -s -t fuse.damfs "$STORE" "$MNT" -o bogus,pool_size=2
echo "SLOPPY=$?"
echo STATS-BEGIN; cat "$MNT/.stats"; echo; echo STATS-END
umount "$MNT"
"#,
    );
    assert_ne!(field(&r, "MOUNTED"), "0");
    assert!(
        r.stderr
            .contains("unknown mount options colour=blue, bogus"),
        "{r:#?}"
    );
    assert_ne!(field(&r, "VALUE"), "0");
    assert!(
        r.stderr.contains("option allow_other takes no value"),
        "{r:#?}"
    );
    assert_eq!(field(&r, "LEFT"), "0");
    // mount -s (sloppy): unknown options are dropped, the rest applies.
    assert_eq!(field(&r, "SLOPPY"), "0", "{r:#?}");
    assert_eq!(stats_in(&r)["pool_size"], 2);
}

fn damfs_mount_takes_the_same_o_options(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 2);
    m.mount(&["-o", "pool_size=3,ro", "-o", "ttl=500ms,nodev"])
        .assert_ok();
    let stats = m.stats();
    assert_eq!(stats["pool_size"], 3);
    assert_eq!(stats["read_only"], true);
    m.unmount();

    // The TTL reaches the filesystem: with 0 the kernel may cache no names at all.
    m.mount(&["-o", "ro,ttl=0"]).assert_ok();
    assert_eq!(m.stats()["names_cached"], false);
    m.unmount();
    m.mount(&["-o", "ro"]).assert_ok();
    assert_eq!(m.stats()["names_cached"], true);
    m.unmount();

    m.mount(&["-o", "pool_size=3,frobnicate"])
        .assert_fails_with("unknown mount option frobnicate");
    m.mount(&["-o", "pool_size=lots"])
        .assert_fails_with("invalid value 'lots' for '--pool-size");
    m.mount(&["-o", "ttl=soon"])
        .assert_fails_with("is not a duration");
    // A flag given after -o wins, as with mount(8)'s last-one-wins.
    m.mount(&["-o", "pool_size=3", "--pool-size", "9"])
        .assert_ok();
    assert_eq!(m.stats()["pool_size"], 9);
    m.unmount();
    assert!(!m.is_mounted());
}

#[test]
fn install_helper_links_mount_fuse_damfs_to_the_binary() {
    let dir = scratch();
    let sbin = dir.path().join("sbin");
    std::fs::create_dir(&sbin).unwrap();
    for _ in 0..2 {
        // Twice: a second install replaces the link.
        damfs([
            "install-helper".as_ref(),
            "--dir".as_ref(),
            sbin.as_os_str(),
        ])
        .assert_ok();
        let link = sbin.join("mount.fuse.damfs");
        let target = std::fs::read_link(&link).unwrap();
        assert_eq!(target, Path::new(BIN).canonicalize().unwrap());
    }
    assert_eq!(
        std::fs::read_dir(&sbin).unwrap().count(),
        1,
        "leftover files"
    );
    damfs(["install-helper", "--dir", "/nonexistent/dir"])
        .assert_fails_with("installing the mount helper into /nonexistent/dir");
}

#[test]
fn the_helper_checks_its_arguments_like_mount_expects() {
    let dir = scratch();
    let helper = dir.path().join("mount.fuse.damfs");
    std::os::unix::fs::symlink(BIN, &helper).unwrap();
    // mount(8)'s conventions: 1 for a bad invocation.
    let r = run(Command::new(&helper).arg("only-one-arg"));
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains("expected STORE MOUNTPOINT"), "{r:#?}");
    let r = run(Command::new(&helper).args(["s", "m", "-t", "ext4"]));
    assert_eq!(r.code, 1, "{r:#?}");
    // -f (fake): everything is checked, nothing is mounted.
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let store = dir.path().join("s");
    let r = run(Command::new(&helper)
        .arg(&store)
        .arg(&mnt)
        .args(["-f", "-o", "pool_size=4"]));
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(!is_mount_root(&mnt));
    assert!(!store.exists(), "a fake mount must not create the store");
    let r = run(Command::new(&helper)
        .arg(&store)
        .arg(&mnt)
        .args(["-f", "-o", "nonsense"]));
    assert_eq!(r.code, 1, "{r:#?}");
    // A failure to mount is 32 ("mount failure").
    let r = run(Command::new(&helper)
        .arg(&store)
        .arg(dir.path().join("missing")));
    assert_eq!(r.code, 32, "{r:#?}");
    assert!(r.stderr.contains("does not exist"), "{r:#?}");
}

both_backends!(
    mount_t_fuse_damfs_applies_every_option_and_umount_ends_it,
    an_fstab_line_mounts_and_umount_saves_what_was_written,
    mount_refuses_unknown_options_by_name_and_mounts_nothing,
    damfs_mount_takes_the_same_o_options,
);
