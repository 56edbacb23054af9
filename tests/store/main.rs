//! The memmap store as a library: scenarios, durability, the buffer pool, two processes,
//! crashes (a child killed at random moments), faults injected into its I/O, damaged files,
//! a full disk, and property tests against a model.

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod damage;
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
