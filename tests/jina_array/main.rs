//! The array API and the original's formats against what jina 2.6.4 gives: the array
//! scenarios, the array fixtures, the jina store fixtures.

#[path = "../support/mod.rs"]
mod support;

mod array_api;
mod array_fixtures;
mod array_wide;
mod jina_fixtures;
