//! The one support module of the integration tests. Every test binary (`tests/<feature>/
//! main.rs`) declares it with `#[path = "../support/mod.rs"] mod support;`.
//!
//! One file per concept: [`run`] (the built binary and what a command did), [`process`]
//! (waiting, signals, this test binary re-run as a child), [`fuse`] (whether mounts can be
//! made, fusectl), [`mount`] (a mounted store in a scratch directory), [`sys`] (raw system
//! calls), [`store`] (memmap stores on disk), [`crash`] (the store's kill -9 model and
//! check), [`rng`] (the seeded generator), [`properties`] (proptest's settings), [`place`]
//! (a store on either backend), [`postgres`] (a real PostgreSQL server), [`jina`] (the
//! original's fixtures) and [`campaign`] (the mount campaigns' child processes).

// Each binary uses only part of the module: what one binary leaves unused another needs.
#![allow(dead_code)]

pub mod campaign;
pub mod crash;
pub mod fuse;
pub mod jina;
pub mod mount;
pub mod pg_password;
pub mod place;
pub mod postgres;
pub mod process;
pub mod properties;
pub mod rng;
pub mod run;
pub mod store;
pub mod sys;

// The names most tests use, for `use crate::support::*`; not every binary uses them all.
#[allow(unused_imports)]
pub use self::{
    fuse::{fuse_abort, fuse_available, fuse_connection, is_mount_root},
    mount::{Mount, ROOT_FILES},
    process::{pid_exited, signal, wait_for},
    rng::Rng,
    run::{damfs, damfs_output, damfs_with, run, Run, BIN},
    store::{doc, doc_json, expected_docs, make_store, read_store, scratch},
};
// The macros (exported at the crate root, as `#[macro_export]` does), here too.
#[allow(unused_imports)]
pub use crate::{both_backends, require_fuse, require_pg};
