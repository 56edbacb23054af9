//! damfs: a crash-safe Rust port of Jina's `DocumentArrayMemmap`, and a FUSE mount that shows
//! every document of a store as a JSON file.
//!
//! Layers, each knowing only the one below it:
//!
//! ```text
//! CLI (main.rs) → daemon → fuse (fuser adapter) → fs (filesystem core) → store
//! ```
//!
//! Below the filesystem core, [`backend::Store`] is either backend: the memmap store
//! ([`store`], a directory) or PostgreSQL ([`postgres`], a `postgresql://` URL).
//!
//! The [`store`] can be used alone as a library:
//!
//! ```no_run
//! use damfs::{Document, DocumentArrayMemmap};
//! # fn main() -> damfs::Result<()> {
//! let mut dam = DocumentArrayMemmap::open("./my-memmap")?;
//! dam.extend([Document::with_text("hello"), Document::with_text("world")])?;
//! dam.update(0, |d| d.set("text", "goodbye"))??;
//! assert_eq!(dam.get(0)?.text().as_deref(), Some("goodbye"));
//! dam.save()?;
//! # Ok(()) }
//! ```

pub mod document;
pub mod error;
#[cfg(feature = "cli")]
mod id_set;
mod pool;
pub mod store;

#[cfg(feature = "array")]
pub mod array;
#[cfg(feature = "jina")]
pub mod jina;

#[cfg(feature = "mount")]
pub mod daemon;
#[cfg(feature = "mount")]
pub mod fs;
#[cfg(feature = "mount")]
pub mod fuse;
#[cfg(feature = "mount")]
pub mod mount_helper;
#[cfg(feature = "mount")]
pub mod sd_notify;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod doc_commands;
#[cfg(feature = "cli")]
pub mod docs_gen;

#[cfg(feature = "postgres")]
pub mod backend;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub use backend::Store;

pub use document::{fresh_id, validate_id, Document, MAX_ID_LEN};

/// The README's Rust examples, compiled as doctests (so they stay true).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use error::{Error, Result};
pub use store::{DocumentArrayMemmap, Options, Slice, Stats};
