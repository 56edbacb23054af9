//! Raw system calls, so that a test sees the errno of the exact call that failed
//! (`std::fs::write` cannot: dropping a `File` ignores the error of `close`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The call that failed and its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub call: &'static str,
    pub errno: i32,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
}

/// open(path, flags, 0644); one write(2) per chunk; fsync if asked; close.
pub fn write_chunks(path: &Path, flags: i32, chunks: &[&[u8]], fsync: bool) -> Result<(), Failed> {
    let p = cpath(path);
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return Err(Failed {
            call: "open",
            errno: errno(),
        });
    }
    let mut result = Ok(());
    for chunk in chunks {
        // SAFETY: the buffer is valid for its length; fd is ours.
        let n = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
        if n < 0 {
            result = Err(Failed {
                call: "write",
                errno: errno(),
            });
            break;
        }
        assert_eq!(n as usize, chunk.len(), "short write");
    }
    // SAFETY: fd is ours.
    if result.is_ok() && fsync && unsafe { libc::fsync(fd) } != 0 {
        result = Err(Failed {
            call: "fsync",
            errno: errno(),
        });
    }
    // SAFETY: fd is ours and closed once.
    if unsafe { libc::close(fd) } != 0 && result.is_ok() {
        result = Err(Failed {
            call: "close",
            errno: errno(),
        });
    }
    result
}

/// open(path, flags); write(data); close — the result of the first call that failed.
pub fn write_close(path: &Path, flags: i32, data: &[u8]) -> Result<(), Failed> {
    write_chunks(path, flags, &[data], false)
}

/// `echo DATA > path` done by hand: O_WRONLY|O_CREAT|O_TRUNC, write, close.
pub fn overwrite(path: &Path, data: &[u8]) -> Result<(), Failed> {
    write_close(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, data)
}

/// The errno of a failed `std` call (panics if it succeeded).
#[track_caller]
pub fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected a failure, got Ok({v:?})"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("no errno in {e}")),
    }
}
