//! Running under systemd: the daemon's sd_notify messages, read from a real unix datagram
//! socket named by `$NOTIFY_SOCKET` as systemd would, and the units in contrib/ checked with
//! `systemd-analyze verify`.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::place::Place;
use crate::support::*;

/// A socket standing in for systemd's notification socket.
fn notify_socket(dir: &Path) -> (UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (sock, path)
}

fn receive(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .expect("no notification from the daemon within 20 s");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn field<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    msg.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

fn a_foreground_daemon_says_ready_once_the_mount_is_live_and_stopping_on_sigterm(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 3);
    let (sock, path) = notify_socket(m.dir.path());
    let child = Command::new(BIN)
        .arg("mount")
        .arg("--foreground")
        .arg(&m.store)
        .arg(&m.mnt)
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let ready = receive(&sock);
    // At the moment READY=1 arrives the documents are there.
    assert!(m.is_mounted(), "READY=1 before the mount was live");
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("2")).unwrap(),
        doc_json(2)
    );
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    assert_eq!(
        field(&ready, "MAINPID"),
        Some(child.id().to_string().as_str())
    );
    let status = field(&ready, "STATUS").unwrap();
    assert!(status.contains(&m.mnt.display().to_string()), "{status}");

    // systemctl stop: SIGTERM saves, unmounts and exits 0.
    std::fs::write(m.mnt.join("1"), r#"{"id":"doc1","text":"saved on stop"}"#).unwrap();
    signal(child.id(), libc::SIGTERM);
    assert_eq!(field(&receive(&sock), "STOPPING"), Some("1"));
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "log:\n{log}");
    // Under systemd stderr is the journal: the log lines are there.
    assert!(log.contains("is live"), "log:\n{log}");
    assert!(!m.is_mounted());
    assert_eq!(m.contents()[1].1, r#"{"id":"doc1","text":"saved on stop"}"#);
}

fn a_detached_daemon_reports_its_own_pid_on_an_abstract_socket(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 1);
    let name = format!("damfs-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let r = run(Command::new(BIN)
        .arg("mount")
        .arg(&m.store)
        .arg(&m.mnt)
        .env("NOTIFY_SOCKET", format!("@{name}")));
    r.assert_ok();
    let ready = receive(&sock);
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    // The process systemd started has exited; MAINPID names the daemon that serves.
    let pid = m.pid();
    assert_eq!(field(&ready, "MAINPID"), Some(pid.to_string().as_str()));
    m.unmount();
    assert!(wait_for(Duration::from_secs(20), || pid_exited(pid)));
}

fn without_notify_socket_nothing_is_sent_and_a_bad_one_is_only_logged(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 1);
    let r = run(Command::new(BIN)
        .arg("mount")
        .arg(&m.store)
        .arg(&m.mnt)
        .env("NOTIFY_SOCKET", m.dir.path().join("nobody-listens.sock")));
    r.assert_ok();
    assert!(m.is_mounted());
    m.unmount();
    // Without --log-file the log is beside the store directory, or for a URL beside the
    // mountpoint (README, `damfs mount`).
    let beside = if place.postgres { &m.mnt } else { &m.store };
    let log = std::fs::read_to_string(format!("{}.damfs.log", beside.display())).unwrap();
    assert!(log.contains("cannot notify systemd"), "log:\n{log}");
}

/// The contrib/ units, with ExecStart pointing at the binary under test (verify checks
/// that the program exists), in a scratch directory.
fn units_for_verify(dir: &Path) -> Vec<String> {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&contrib).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".mount")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(dir.join(&name), text.replace("/usr/bin/damfs", BIN)).unwrap();
        // A template is verified through an instance.
        names.push(name.replace("@.service", "@srv-docs.service"));
    }
    names.sort();
    names
}

#[test]
fn the_contrib_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        // CI installs Debian's systemd package (.ci/run), so this only skips elsewhere.
        eprintln!("skipping: systemd-analyze is not installed");
        return;
    }
    let dir = scratch();
    let units = units_for_verify(dir.path());
    assert_eq!(units, ["damfs@srv-docs.service", "srv-docs.mount"]);
    for unit in &units {
        // --man=no: the man pages are installed by the package, not here.
        let r = run(Command::new("systemd-analyze")
            .args(["verify", "--man=no", unit])
            .current_dir(dir.path()));
        assert_eq!(r.code, 0, "{unit}: {r:#?}");
        // verify only warns about many mistakes (an unknown Type=, a bad key): none allowed.
        assert_eq!(r.stderr.trim(), "", "{unit}: {r:#?}");
    }
    // The check can fail: a misspelt setting is reported.
    let broken = dir.path().join("damfs@.service");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(&broken, text.replace("Type=notify", "Type=notifyy")).unwrap();
    let r = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no", "damfs@srv-docs.service"])
        .current_dir(dir.path()));
    assert!(r.stderr.contains("notifyy"), "{r:#?}");
}

/// The generator systemd runs at boot to turn /etc/fstab lines into mount units.
const FSTAB_GENERATOR: &str = "/lib/systemd/system-generators/systemd-fstab-generator";

#[test]
fn the_documented_fstab_line_becomes_a_mount_unit_systemd_accepts() {
    if !Path::new(FSTAB_GENERATOR).exists() {
        eprintln!("skipping: {FSTAB_GENERATOR} is not installed");
        return;
    }
    // The fstab line quoted in contrib/srv-docs.mount (the README shows the same one).
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/srv-docs.mount");
    let unit = std::fs::read_to_string(&contrib).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("#   ").filter(|l| l.contains("fuse.damfs")))
        .expect("an fstab line in contrib/srv-docs.mount")
        .to_owned();
    let dir = scratch();
    let fstab = dir.path().join("fstab");
    std::fs::write(&fstab, format!("{line}\n")).unwrap();
    let out = dir.path().join("generated");
    std::fs::create_dir(&out).unwrap();
    let r = run(Command::new(FSTAB_GENERATOR)
        .args([&out, &out, &out])
        .env("SYSTEMD_FSTAB", &fstab)
        .env("SYSTEMD_PROC_CMDLINE", ""));
    r.assert_ok();
    let generated = std::fs::read_to_string(out.join("srv-docs.mount"))
        .unwrap_or_else(|e| panic!("no srv-docs.mount generated ({e}): {r:#?}"));
    // The same mount as the hand-written unit.
    for key in ["What=", "Where=", "Type="] {
        let of = |text: &str| text.lines().find(|l| l.starts_with(key)).map(str::to_owned);
        assert_eq!(of(&generated), of(&unit), "{key}\n{generated}");
    }
    assert!(generated.contains("pool_size=1000"), "{generated}");
    let r = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no", "srv-docs.mount"])
        .current_dir(&out));
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(r.stderr.trim(), "", "{r:#?}");
}

/// A `KEY=` line of the contrib service unit, split into words as systemd splits an
/// unquoted command line, with the instance's specifiers and variables filled in.
fn unit_command(key: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/damfs@.service"),
    )
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in the unit"));
    // A leading "-" only tells systemd to ignore the exit status.
    let line = line.strip_prefix('-').unwrap_or(line);
    line.split_whitespace()
        .flat_map(|word| {
            let mut w = word.replace("/usr/bin/damfs", BIN);
            for (name, value) in vars {
                w = w.replace(name, value);
            }
            // $VAR (not ${VAR}) is split into words, as systemd does.
            w.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

fn the_service_units_commands_mount_notify_and_clean_up(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 2);
    let (sock, path) = notify_socket(m.dir.path());
    let mnt = m.mnt.display().to_string();
    let store = m.store.display().to_string();
    let vars = [
        ("$DAMFS_OPTIONS", "-o pool_size=7,nosuid"),
        ("${STORE}", store.as_str()),
        ("%f", mnt.as_str()),
    ];
    let start = unit_command("ExecStart=", &vars);
    let child = Command::new(&start[0])
        .args(&start[1..])
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = receive(&sock);
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    assert_eq!(
        field(&ready, "MAINPID"),
        Some(child.id().to_string().as_str())
    );
    assert_eq!(m.stats()["pool_size"], 7);
    // systemctl stop.
    signal(child.id(), libc::SIGTERM);
    assert_eq!(field(&receive(&sock), "STOPPING"), Some("1"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!m.is_mounted());
    // ExecStopPost after a clean stop finds nothing to do, and says so.
    let post = unit_command("ExecStopPost=", &vars);
    let r = run(Command::new(&post[0]).args(&post[1..]));
    assert!(r.stderr.contains("is not mounted"), "{r:#?}");
    assert_eq!(m.contents(), expected_docs(2));

    // A crash (kill -9) leaves a dead mount; ExecStopPost clears it, so a restart mounts.
    let mut crashed = Command::new(&start[0])
        .args(&start[1..])
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    receive(&sock);
    signal(crashed.id(), libc::SIGKILL);
    crashed.wait().unwrap();
    assert!(m.is_mounted(), "a killed daemon leaves its mount behind");
    run(Command::new(&post[0]).args(&post[1..]));
    assert!(!m.is_mounted(), "ExecStopPost did not clear the dead mount");
    let mut restarted = Command::new(&start[0])
        .args(&start[1..])
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(field(&receive(&sock), "READY"), Some("1"));
    signal(restarted.id(), libc::SIGTERM);
    assert_eq!(restarted.wait().unwrap().code(), Some(0));
}

both_backends!(
    a_foreground_daemon_says_ready_once_the_mount_is_live_and_stopping_on_sigterm,
    a_detached_daemon_reports_its_own_pid_on_an_abstract_socket,
    without_notify_socket_nothing_is_sent_and_a_bad_one_is_only_logged,
    the_service_units_commands_mount_notify_and_clean_up,
);
