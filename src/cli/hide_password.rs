//! A mount daemon lives for as long as the mount, and its command line is world-readable in
//! `/proc/PID/cmdline` (`ps`). A password given in a store URL must not stay there: before
//! anything else, `damfs mount` with such a URL runs itself again with the URL's password
//! moved into `PGPASSWORD` (which `/proc/PID/environ` shows to its owner only) and the URL
//! without it. The new process finds no password in its URL and goes on as usual.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::postgres::{is_url, PgUrl};

/// Runs the process again without the password of `store` in its arguments, when it has
/// one; returns only if it has none (or the new process could not be started: then the
/// error, for the caller to report).
pub fn reexec_without_password(store: &Path) -> std::io::Result<()> {
    let Some(text) = store.to_str().filter(|s| is_url(s)) else {
        return Ok(());
    };
    let Ok(url) = PgUrl::parse(text) else {
        return Ok(()); // the mount itself reports a bad URL
    };
    let Some(password) = url.url_password() else {
        return Ok(());
    };
    let redacted = OsString::from(url.redacted());
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args
        .map(|a| if a == *text { redacted.clone() } else { a })
        .collect();
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(rest)
        .env("PGPASSWORD", password)
        .exec();
    Err(err)
}
