//! Telling systemd about the daemon (`Type=notify` units): the sd_notify(3) protocol, which
//! is one datagram of `KEY=VALUE` lines sent to the unix socket named by `$NOTIFY_SOCKET`
//! (a path, or an abstract socket when it starts with `@`). Without that variable (not run
//! by systemd) nothing is sent.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (for example `"READY=1"`) to systemd. `Ok(false)`: not run under a
/// notify-aware manager.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None if bytes.starts_with(b"/") => SocketAddr::from_pathname(&path)?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "NOTIFY_SOCKET={} is not a socket path",
                    path.to_string_lossy()
                ),
            ))
        }
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

/// The mount is live: `READY=1`, the daemon's pid (it may have forked away from the process
/// systemd started) and a status line.
pub fn ready(status: &str) -> io::Result<bool> {
    notify(&format!(
        "READY=1\nMAINPID={}\nSTATUS={}",
        std::process::id(),
        status.replace('\n', " ")
    ))
}

/// The daemon is saving and unmounting.
pub fn stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}
