//! The `damfs` command line without a mount (and the jina store's mount): import and
//! export, single documents, the array commands, completions and man pages, the original's
//! stores.

#[path = "../support/mod.rs"]
mod support;

mod array;
mod array_bad_input;
mod bad_stores;
mod completions_man;
mod documents;
mod import_export;
mod import_memory;
mod jina_export;
mod jina_import;
mod jina_mount;
mod killed;
