//! `mount -t fuse.damfs` and `/etc/fstab`: the mount helper and `-o` options.
//!
//! util-linux's `mount` runs `/sbin/mount.<type>` for a filesystem type it does not know, so
//! for `fuse.damfs` it runs `/sbin/mount.fuse.damfs` (mount(8), "External helpers"). That
//! helper is the damfs binary itself under that name (a symlink): it is called as
//!
//! ```text
//! mount.fuse.damfs STORE MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t fuse.damfs]
//! ```
//!
//! and becomes `damfs mount STORE MOUNTPOINT -o OPTIONS`. `damfs mount` itself accepts `-o`
//! too: each option in the list becomes the `damfs mount` flag of the same name
//! (`pool_size=100` is `--pool-size=100`, `ro` is `--read-only`), so every flag has an `-o`
//! form and both are validated by the same parser. The options `mount` and fstab add for
//! themselves (`defaults`, `_netdev`, `noauto`, `nofail`, `x-systemd.*`, …) are accepted and
//! ignored; the kernel's flags (`nosuid`, `noexec`, …) are applied to the mount; anything
//! else is an error that names it.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Names the binary answers to as a mount helper.
pub const HELPER_NAMES: [&str; 2] = ["mount.fuse.damfs", "mount.damfs"];

/// Kernel mount flags passed through to the FUSE mount (each pair: the last one wins).
pub const KERNEL_FLAGS: [&str; 9] = [
    "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
];

/// The fuser option for one of [`KERNEL_FLAGS`].
pub fn kernel_flag(name: &str) -> Option<fuser::MountOption> {
    use fuser::MountOption as M;
    Some(match name {
        "nosuid" => M::NoSuid,
        "suid" => M::Suid,
        "nodev" => M::NoDev,
        "dev" => M::Dev,
        "noexec" => M::NoExec,
        "exec" => M::Exec,
        "sync" => M::Sync,
        "async" => M::Async,
        "dirsync" => M::DirSync,
        _ => return None,
    })
}

/// The kernel flag that undoes `flag`.
fn opposite(flag: &str) -> &str {
    match flag {
        "sync" => "async",
        "async" => "sync",
        f => f
            .strip_prefix("no")
            .or_else(|| {
                KERNEL_FLAGS
                    .iter()
                    .copied()
                    .find(|o| o.strip_prefix("no") == Some(f))
            })
            .unwrap_or(f),
    }
}

/// Options that are meaningful to `mount`, fstab or systemd, not to damfs.
fn is_ignored(name: &str) -> bool {
    const IGNORED: [&str; 25] = [
        "defaults",
        "auto",
        "noauto",
        "_netdev",
        "nofail",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "silent",
        "loud",
        // damfs never updates access times (every mount is noatime), so these change nothing.
        "atime",
        "noatime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "diratime",
        "nodiratime",
        "lazytime",
        "nolazytime",
        "iversion",
        "noiversion",
        "nomand",
    ];
    IGNORED.contains(&name) || name.starts_with("x-") || name.starts_with("comment=")
}

/// A `damfs mount` flag, as the `-o` translation needs to know it.
#[derive(Clone, Debug)]
pub struct Flag {
    /// The long name (`pool-size`).
    pub long: String,
    /// Whether it takes a value (`--pool-size N`) or is a switch (`--read-only`).
    pub takes_value: bool,
}

/// Splits an `-o` list at commas (a value may not contain one; mount(8) has the same rule
/// unless quoted, and damfs's values never need one).
fn split(options: &str) -> impl Iterator<Item = &str> {
    options.split(',').map(str::trim).filter(|o| !o.is_empty())
}

/// What `-o` lists say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Translated {
    /// `damfs mount` flags (`--pool-size=100`, `--read-only`).
    pub args: Vec<String>,
    /// Kernel mount flags (see [`KERNEL_FLAGS`]), for `MountOptions::kernel_flags`.
    pub kernel_flags: Vec<String>,
}

/// Turns `-o` option lists into `damfs mount` arguments. `flags` are the flags of
/// `damfs mount`; `sloppy` (mount's `-s`) drops unknown options instead of failing.
pub fn translate(lists: &[String], flags: &[Flag], sloppy: bool) -> Result<Translated, String> {
    let mut args = Vec::new();
    let mut read_only: Option<bool> = None;
    // The last of each kernel flag pair wins, as with mount(8).
    let mut kernel: Vec<&str> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for opt in lists.iter().flat_map(|l| split(l)) {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (opt, None),
        };
        match (name, value) {
            ("ro", None) | ("read_only", None) | ("read-only", None) => read_only = Some(true),
            ("rw", None) => read_only = Some(false),
            // libmount hands helpers `user=NAME` for user mounts.
            ("user", Some(_)) => {}
            _ if is_ignored(opt) => {}
            (k, None) if KERNEL_FLAGS.contains(&k) => {
                kernel.retain(|f| *f != k && *f != opposite(k));
                kernel.push(k);
            }
            _ => {
                let long = name.replace('_', "-");
                let flag = flags
                    .iter()
                    .find(|f| f.long == long && !["options", "help"].contains(&f.long.as_str()));
                match (flag, value) {
                    (Some(f), Some(v)) if f.takes_value => args.push(format!("--{long}={v}")),
                    (Some(f), None) if !f.takes_value => args.push(format!("--{long}")),
                    (Some(_), Some(_)) => problems.push(format!("option {name} takes no value")),
                    (Some(_), None) => {
                        problems.push(format!("option {name} needs a value ({name}=…)"))
                    }
                    (None, _) => unknown.push(opt.to_owned()),
                }
            }
        }
    }
    if !unknown.is_empty() && !sloppy {
        let s = if unknown.len() == 1 { "" } else { "s" };
        problems.insert(
            0,
            format!(
                "unknown mount option{s} {} (see `damfs mount --help`)",
                unknown.join(", ")
            ),
        );
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    if read_only == Some(true) {
        args.push("--read-only".into());
    }
    Ok(Translated {
        args,
        kernel_flags: kernel.iter().map(|k| k.to_string()).collect(),
    })
}

/// Is the program called as the mount helper?
pub fn is_helper(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| HELPER_NAMES.contains(&n))
}

/// What the helper was asked: mount's own flags, then the `damfs mount` command line.
#[derive(Debug, PartialEq, Eq)]
pub struct HelperCall {
    /// `-f`: fake, do everything but mount.
    pub fake: bool,
    /// `-s`: tolerate unknown options.
    pub sloppy: bool,
    /// `damfs mount STORE MOUNTPOINT [-o OPTIONS]…` (program name first).
    pub argv: Vec<OsString>,
}

/// Reads the helper's command line (`mount.fuse.damfs STORE MNT [-sfnv] [-N NS] [-o OPTS]
/// [-t TYPE]`, flags in any order, as libmount passes them).
pub fn parse_helper_args(args: &[OsString]) -> Result<HelperCall, String> {
    let mut call = HelperCall {
        fake: false,
        sloppy: false,
        argv: vec![OsString::from("damfs"), OsString::from("mount")],
    };
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "-o" | "-t" | "-N" => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("mount helper: {text} needs a value"))?;
                if text == "-o" {
                    options.push(value.clone());
                } else if text == "-t" {
                    let t = value.to_string_lossy();
                    if t != "fuse.damfs" && t != "damfs" {
                        return Err(format!("mount helper: type {t} is not fuse.damfs"));
                    }
                } else {
                    return Err(
                        "mount helper: -N (mounting in another namespace) is not supported".into(),
                    );
                }
            }
            "--" => positional.extend(it.by_ref().cloned()),
            t if t.starts_with("-o") && t.len() > 2 => options.push(OsString::from(&t[2..])),
            t if t.starts_with('-') && t.len() > 1 => {
                for c in t[1..].chars() {
                    match c {
                        'f' => call.fake = true,
                        's' => call.sloppy = true,
                        'n' | 'v' => {} // no mtab to skip; damfs logs anyway
                        other => return Err(format!("mount helper: unknown flag -{other}")),
                    }
                }
            }
            _ => positional.push(arg.clone()),
        }
    }
    if positional.len() != 2 {
        return Err(format!(
            "mount helper: expected STORE MOUNTPOINT, got {} arguments \
             (usage: mount.fuse.damfs STORE MOUNTPOINT [-o OPTIONS])",
            positional.len()
        ));
    }
    call.argv.extend(positional);
    for o in options {
        call.argv.push("-o".into());
        call.argv.push(o);
    }
    Ok(call)
}

/// Pulls every `-o LIST`, `-oLIST`, `--options LIST` and `--options=LIST` out of a
/// `damfs mount` argument list (everything after `mount`), up to a `--`. Gives the lists
/// and the remaining arguments.
pub fn take_option_lists(args: &[OsString]) -> Result<(Vec<String>, Vec<OsString>), String> {
    let mut lists = Vec::new();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(text) = arg.to_str() else {
            rest.push(arg.clone());
            continue;
        };
        if text == "--" {
            rest.push(arg.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        let list = if text == "-o" || text == "--options" {
            let v = it.next().ok_or_else(|| format!("{text} needs a value"))?;
            v.to_str()
                .ok_or_else(|| format!("{text}: the options are not UTF-8"))?
                .to_owned()
        } else if let Some(v) = text.strip_prefix("--options=") {
            v.to_owned()
        } else if let Some(v) = text.strip_prefix("-o").filter(|_| !text.starts_with("--")) {
            v.to_owned()
        } else {
            rest.push(arg.clone());
            continue;
        };
        lists.push(list);
    }
    Ok((lists, rest))
}

/// The binary the helper should run: this one.
fn helper_target() -> std::io::Result<std::path::PathBuf> {
    std::env::current_exe()?.canonicalize()
}

/// How [`install`]'s target is shown.
pub fn current_exe_display() -> String {
    helper_target()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("(this binary: {e})"))
}

/// Makes `dir/mount.fuse.damfs` a symlink to this binary (replacing an older link or file
/// of that name atomically). Gives the link's path.
pub fn install(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let target = helper_target()?;
    let link = dir.join(HELPER_NAMES[0]);
    let tmp = dir.join(format!(".{}.tmp{}", HELPER_NAMES[0], std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp)?;
    std::fs::rename(&tmp, &link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Vec<Flag> {
        let f = |long: &str, takes_value| Flag {
            long: long.into(),
            takes_value,
        };
        vec![
            f("pool-size", true),
            f("read-only", false),
            f("allow-other", false),
            f("ttl", true),
            f("options", true),
        ]
    }

    fn tr(list: &str) -> Result<Vec<String>, String> {
        let t = translate(&[list.to_owned()], &flags(), false)?;
        let kernel = t.kernel_flags.iter().map(|k| format!("kernel:{k}"));
        Ok(t.args.into_iter().chain(kernel).collect())
    }

    #[test]
    fn options_become_flags() {
        assert_eq!(
            tr("pool_size=100,ro,allow_other,ttl=2s").unwrap(),
            [
                "--pool-size=100",
                "--allow-other",
                "--ttl=2s",
                "--read-only"
            ]
        );
        assert_eq!(tr("ro,rw").unwrap(), Vec::<String>::new());
        assert_eq!(tr("rw,ro").unwrap(), ["--read-only"]);
    }

    #[test]
    fn generic_options_are_ignored_and_kernel_flags_kept() {
        let got = tr("defaults,_netdev,noauto,nofail,user,x-systemd.automount,noatime,comment=x,nosuid,suid,noexec,sync,async").unwrap();
        assert_eq!(got, ["kernel:suid", "kernel:noexec", "kernel:async"]);
    }

    #[test]
    fn unknown_and_malformed_options_are_named() {
        let e = tr("pool_size=1,bogus,fsname=x").unwrap_err();
        assert!(e.contains("unknown mount options bogus, fsname=x"), "{e}");
        assert!(tr("allow_other=1")
            .unwrap_err()
            .contains("allow_other takes no value"));
        assert!(tr("pool_size")
            .unwrap_err()
            .contains("pool_size needs a value"));
        assert!(tr("options=ro").is_err());
        // mount -s: unknown options are dropped.
        let sloppy = translate(&["bogus,ro".into()], &flags(), true).unwrap();
        assert_eq!(sloppy.args, ["--read-only"]);
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn helper_arguments_parse_as_libmount_passes_them() {
        let call = parse_helper_args(&os(&[
            "/sbin/mount.fuse.damfs",
            "/srv/store",
            "/mnt/x",
            "-n",
            "-o",
            "rw,pool_size=5",
            "-t",
            "fuse.damfs",
        ]))
        .unwrap();
        assert!(!call.fake && !call.sloppy);
        assert_eq!(
            call.argv,
            os(&[
                "damfs",
                "mount",
                "/srv/store",
                "/mnt/x",
                "-o",
                "rw,pool_size=5"
            ])
        );
        let call = parse_helper_args(&os(&["mount.damfs", "-sf", "a", "b"])).unwrap();
        assert!(call.fake && call.sloppy);
        assert!(parse_helper_args(&os(&["mount.damfs", "a"])).is_err());
        assert!(parse_helper_args(&os(&["mount.damfs", "a", "b", "-t", "ext4"])).is_err());
        assert!(is_helper(OsStr::new("/usr/sbin/mount.fuse.damfs")));
        assert!(!is_helper(OsStr::new("damfs")));
    }

    #[test]
    fn option_lists_are_taken_out() {
        let (lists, rest) = take_option_lists(&os(&[
            "s",
            "-o",
            "ro",
            "m",
            "-opool_size=3",
            "--options=a",
            "--",
            "-o",
        ]))
        .unwrap();
        assert_eq!(lists, ["ro", "pool_size=3", "a"]);
        assert_eq!(rest, os(&["s", "m", "--", "-o"]));
        assert!(take_option_lists(&os(&["s", "-o"])).is_err());
    }
}
