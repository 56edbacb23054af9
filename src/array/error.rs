//! Errors of the array API: the store's errors, plus bad arguments and documents whose
//! fields do not have the shape an operation needs.

use std::io;

use crate::error::Error as StoreError;

/// What went wrong in an array operation.
#[derive(Debug, thiserror::Error)]
pub enum ArrayError {
    /// The store failed (reading, writing, a missing id, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A traversal path with a letter other than `r`, `c` or `m`.
    #[error("invalid traversal path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// A value for every document was given, but not one per document.
    #[error("length must match the store: {found} {what} for {expected} documents")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// `sample(k)` with more documents asked for than there are.
    #[error("sample larger than population: {k} documents asked for, the store has {len}")]
    SampleTooLarge { k: usize, len: usize },
    /// A document's field is missing or has the wrong shape for the operation.
    #[error("document {id:?}: {reason}")]
    BadField { id: String, reason: String },
    /// An argument out of its range (a limit of 0, an unknown metric, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// An I/O error outside the store (the embeddings cache, an output file).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Drawing the plot failed.
    #[error("drawing the plot: {0}")]
    Plot(String),
}

impl ArrayError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        ArrayError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn bad_field(id: &str, reason: impl Into<String>) -> Self {
        ArrayError::BadField {
            id: id.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Result of the array API.
pub type ArrayResult<T> = Result<T, ArrayError>;
