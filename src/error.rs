//! The store's error type. Every variant says what went wrong in words a user can act on;
//! the filesystem core maps each one to an errno (see `fs::error`).

use std::io;
use std::path::PathBuf;

/// Errors of the store and of documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An integer index outside `-len..len`.
    #[error("index {index} is out of range for a store of {len} documents")]
    IndexOutOfRange { index: isize, len: usize },
    /// No document has this id.
    #[error("no document with id {0:?}")]
    NotFound(String),
    /// A document with this id already exists (append/extend/rename onto it).
    #[error("a document with id {0:?} already exists")]
    DuplicateId(String),
    /// A document's id differs from the id it is stored under.
    #[error("document id {found:?} does not match {expected:?}")]
    IdMismatch { expected: String, found: String },
    /// The text is not a valid document (not JSON, not an object, bad id, ...).
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// The id breaks the id rules (1..=255 bytes, a valid file name, not starting with '.').
    #[error("invalid id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// A slice with step 0.
    #[error("slice step cannot be zero")]
    ZeroStep,
    /// A file of the store is damaged.
    #[error("{}: corrupt at offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A file of the store was written by a newer or unknown version of damfs.
    #[error("{}: unsupported format version {found} (this damfs reads version {supported})", file.display())]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The directory is not a store and cannot become one.
    #[error("{} is not a damfs store: {reason}", path.display())]
    NotAStore { path: PathBuf, reason: String },
    /// The store's directory was removed or replaced while this handle had it open: nothing
    /// was written, and the handle still holds its `unsaved` changes.
    #[error(
        "{}: the store is gone: {reason}; nothing was written, {unsaved} unsaved document(s) kept in memory",
        path.display()
    )]
    StoreGone {
        path: PathBuf,
        reason: String,
        unsaved: usize,
    },
    /// The store was opened read-only and a write was attempted.
    #[error("the store is open read-only")]
    ReadOnly,
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
