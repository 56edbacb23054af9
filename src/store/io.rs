//! The store's file I/O seam: every open, read, write, size change, sync, rename and removal
//! of a store file goes through here, so that tests can make any one of them fail (the way
//! SQLite tests its I/O error paths) and check that the error reaches the caller and that
//! nothing saved is lost.
//!
//! Production cost: one relaxed atomic load per call (faults are never armed), next to a
//! system call. Faults are armed per thread ([`faults::arm`]), so tests running in parallel
//! do not disturb each other; the store does all its I/O on the calling thread.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once any thread arms a fault; until then every call takes the fast path.
static ANY_ARMED: AtomicBool = AtomicBool::new(false);

/// What a call does, for choosing the fault it can get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Read,
    Write,
    Other,
}

/// Fault injection for tests (not part of the stable API).
#[doc(hidden)]
pub mod faults {
    use super::*;

    /// The error a call gets.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Fault {
        /// ENOSPC (reads get EIO: a read never runs out of space).
        NoSpace,
        /// EIO.
        Io,
        /// A write writes half of its bytes, then fails with ENOSPC (other calls get ENOSPC
        /// and reads EIO).
        ShortWrite,
    }

    /// Which calls fail: call number `at` (counted from 0 since `arm`) and, if
    /// `persistent`, every call after it too (a disk that stays full or broken).
    #[derive(Clone, Copy, Debug)]
    pub struct Plan {
        pub at: u64,
        pub fault: Fault,
        pub persistent: bool,
    }

    #[derive(Default)]
    pub(super) struct State {
        pub(super) plan: Option<Plan>,
        pub(super) calls: u64,
        pub(super) injected: u64,
    }

    thread_local! {
        pub(super) static STATE: RefCell<State> = RefCell::new(State::default());
    }

    /// Arms a plan for this thread and restarts its call count.
    pub fn arm(plan: Plan) {
        ANY_ARMED.store(true, Ordering::Relaxed);
        STATE.with(|s| {
            *s.borrow_mut() = State {
                plan: Some(plan),
                ..State::default()
            }
        });
    }

    /// Counts this thread's calls from now on without failing any (to size a campaign).
    pub fn count_only() {
        arm(Plan {
            at: u64::MAX,
            fault: Fault::Io,
            persistent: false,
        });
    }

    /// Stops failing calls on this thread (the fault "clears").
    pub fn disarm() {
        STATE.with(|s| s.borrow_mut().plan = None);
    }

    /// Calls made on this thread since `arm`.
    pub fn calls() -> u64 {
        STATE.with(|s| s.borrow().calls)
    }

    /// Faults injected on this thread since `arm`.
    pub fn injected() -> u64 {
        STATE.with(|s| s.borrow().injected)
    }
}

use faults::Fault;

/// Whether this call fails, and how.
#[inline]
fn hit(call: Call) -> Option<Fault> {
    if !ANY_ARMED.load(Ordering::Relaxed) {
        return None;
    }
    faults::STATE.with(|s| {
        let mut s = s.borrow_mut();
        let plan = s.plan?;
        let n = s.calls;
        s.calls += 1;
        let fails = n == plan.at || (plan.persistent && n > plan.at);
        if !fails {
            return None;
        }
        s.injected += 1;
        Some(match (plan.fault, call) {
            (_, Call::Read) => Fault::Io,
            (Fault::ShortWrite, Call::Other) => Fault::NoSpace,
            (f, _) => f,
        })
    })
}

fn error(f: Fault) -> io::Error {
    let errno = match f {
        Fault::Io => libc::EIO,
        Fault::NoSpace | Fault::ShortWrite => libc::ENOSPC,
    };
    io::Error::from_raw_os_error(errno)
}

fn check(call: Call) -> io::Result<()> {
    match hit(call) {
        None => Ok(()),
        Some(f) => Err(error(f)),
    }
}

/// A store file: `File`'s methods, through the seam.
pub(super) struct StoreFile(File);

impl StoreFile {
    /// The file itself, for what the seam does not cover (memory maps, metadata).
    pub fn file(&self) -> &File {
        &self.0
    }

    pub fn metadata(&self) -> io::Result<fs::Metadata> {
        self.0.metadata()
    }

    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match hit(Call::Write) {
            None => self.0.write_all_at(buf, offset),
            Some(Fault::ShortWrite) => {
                self.0.write_all_at(&buf[..buf.len() / 2], offset)?;
                Err(error(Fault::ShortWrite))
            }
            Some(f) => Err(error(f)),
        }
    }

    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check(Call::Read)?;
        self.0.read_exact_at(buf, offset)
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        check(Call::Read)?;
        self.0.read_at(buf, offset)
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        check(Call::Other)?;
        self.0.set_len(len)
    }

    pub fn sync_data(&self) -> io::Result<()> {
        check(Call::Other)?;
        self.0.sync_data()
    }

    pub fn sync_all(&self) -> io::Result<()> {
        check(Call::Other)?;
        self.0.sync_all()
    }
}

/// Sequential writes (a new generation's files), through the seam.
impl Write for StoreFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match hit(Call::Write) {
            None => self.0.write(buf),
            Some(Fault::ShortWrite) => {
                self.0.write_all(&buf[..buf.len() / 2])?;
                Err(error(Fault::ShortWrite))
            }
            Some(f) => Err(error(f)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

pub(super) fn open(opts: &OpenOptions, path: &Path) -> io::Result<StoreFile> {
    open_file(opts, path).map(StoreFile)
}

/// Opens a plain `File` (the lock file) through the seam.
pub(super) fn open_file(opts: &OpenOptions, path: &Path) -> io::Result<File> {
    check(Call::Other)?;
    opts.open(path)
}

pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(Call::Other)?;
    fs::rename(from, to)
}

pub(super) fn remove_file(path: &Path) -> io::Result<()> {
    check(Call::Other)?;
    fs::remove_file(path)
}

pub(super) fn create_dir_all(path: &Path) -> io::Result<()> {
    check(Call::Other)?;
    fs::create_dir_all(path)
}

/// fsync of a directory (after creating or renaming a file in it).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    check(Call::Other)?;
    File::open(dir).and_then(|d| d.sync_all())
}
