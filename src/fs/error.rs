//! Filesystem errors: an errno for the kernel plus a message for the log.

use std::fmt;

use crate::error::Error as StoreError;

/// An error of the filesystem core. The adapter replies with `errno` and logs `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    pub errno: i32,
    pub message: String,
    /// An expected outcome that needs no log line above debug.
    pub quiet: bool,
    /// Worth a log line although its errno is ENOENT (which is otherwise a missing name).
    pub loud: bool,
}

impl FsError {
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        FsError {
            errno,
            message: message.into(),
            quiet: false,
            loud: false,
        }
    }

    /// An ENOENT that is no missing name but lost data (a write to a document deleted
    /// while open): logged like any failure.
    pub fn loudly(mut self) -> Self {
        self.loud = true;
        self.quiet = false;
        self
    }

    /// Marks an error as expected (see [`FsError::is_quiet`]).
    pub fn quietly(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Expected outcomes (a missing name; bash's flush of a redirection before it writes)
    /// are not worth a log line above debug.
    pub fn is_quiet(&self) -> bool {
        self.quiet || (self.errno == libc::ENOENT && !self.loud)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for FsError {}

/// Each store error has one errno.
impl From<StoreError> for FsError {
    fn from(e: StoreError) -> Self {
        let errno = match &e {
            StoreError::IndexOutOfRange { .. } | StoreError::NotFound(_) => libc::ENOENT,
            StoreError::DuplicateId(_) => libc::EEXIST,
            StoreError::IdMismatch { .. }
            | StoreError::InvalidDocument(_)
            | StoreError::InvalidId { .. }
            | StoreError::ZeroStep => libc::EINVAL,
            StoreError::ReadOnly => libc::EROFS,
            StoreError::Corrupt { .. }
            | StoreError::UnsupportedVersion { .. }
            | StoreError::StoreGone { .. } => libc::EIO,
            StoreError::NotAStore { .. } => libc::EINVAL,
            StoreError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        };
        FsError::new(errno, e.to_string())
    }
}

pub type FsResult<T> = Result<T, FsError>;
