//! The store as a library. On both backends (memmap and PostgreSQL, `both_backends!`: tests
//! `MODULE::memmap::NAME` and `MODULE::postgres::NAME`): the upstream scenarios, the original's
//! bugs and damfs's own regressions, the buffer pool, the live view's refresh, two processes,
//! and property tests against a model. Memmap only (its files): durability, crashes (a child
//! killed at random moments), faults injected into its I/O, damaged and torn files, a full
//! disk, fuzzing of its files.

#[path = "../support/mod.rs"]
mod support;

mod atomic_extend;
mod crash;
mod damage;
mod damaged_header;
mod durability;
mod faults;
mod full_disk;
mod fuzz;
mod live_view;
mod model;
mod multiprocess;
mod pool;
mod regressions;
mod reliability;
mod scenarios;
mod torn_files;
mod two_handles;
