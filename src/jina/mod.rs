//! The original's stores: Jina 2.x's `DocumentArrayMemmap` directories (`header.bin` +
//! `body.bin` of protobuf `DocumentProto` records), read, printed exactly as the original's
//! `Document.to_json()`, converted into damfs stores, and written back for jina 2.6.4.
//!
//! - [`proto`]: the records, as `prost` derive structs;
//! - [`header`], [`reader`]: the files and the original's rules for reading them;
//! - [`pyfloat`], [`pyjson`], [`ndarray`], [`to_json`]: the exact `to_json()` text;
//! - [`convert`], [`plan`]: records to damfs documents, with the ones that cannot be
//!   converted (or whose ids clash) reported with id and reason;
//! - [`from_json`], [`writer`]: damfs documents back to an original store;
//! - [`mount`]: what `damfs mount JINA_DIR MNT --read-only` serves.

pub mod convert;
pub mod from_json;
pub mod header;
pub mod mount;
pub mod ndarray;
pub mod plan;
pub mod proto;
pub mod pyfloat;
pub mod pyjson;
pub mod reader;
pub mod to_json;
pub mod wire;
pub mod writer;

pub use convert::{convert_record, Documents, Problem};
pub use reader::{is_original_store, JinaStore, OpenError};

use std::fmt;

/// Why a record cannot be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprintable {
    /// The original fails on it too (its `Document(bytes).to_json()` raises); otherwise the
    /// original prints it but damfs cannot hold or produce that text.
    pub by_original: bool,
    pub reason: String,
}

impl Unprintable {
    pub fn original(reason: String) -> Self {
        Unprintable {
            by_original: true,
            reason,
        }
    }

    pub fn damfs(reason: String) -> Self {
        Unprintable {
            by_original: false,
            reason,
        }
    }

    /// The same problem, said to be in field `path` (`embedding`, `chunks[0].blob`).
    pub fn at(self, path: &str) -> Self {
        Unprintable {
            reason: format!("{path}: {}", self.reason),
            ..self
        }
    }
}

impl fmt::Display for Unprintable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_original {
            write!(f, "the original cannot print it either: {}", self.reason)
        } else {
            write!(f, "damfs cannot convert it: {}", self.reason)
        }
    }
}
