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

pub mod array;
pub mod backend;
pub mod cli;
pub mod daemon;
pub mod doc_commands;
pub mod docs_gen;
pub mod document;
pub mod error;
pub mod fs;
pub mod fuse;
mod id_set;
pub mod jina;
pub mod mount_helper;
pub mod postgres;
pub mod sd_notify;
pub mod store;

pub use backend::Store;
pub use document::{fresh_id, validate_id, Document, MAX_ID_LEN};

/// The README's Rust examples, compiled and run as doctests (so they stay true).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use error::{Error, Result};
pub use store::{DocumentArrayMemmap, Options, Slice, Stats};
