//! The PostgreSQL backend against a real PostgreSQL 15 (one server for the whole binary,
//! `support::postgres::shared`, plus servers of their own for the tests that stop them):
//! the harness, the engines, server errors, and the scenarios run on both backends.

#[path = "../support/mod.rs"]
mod support;

mod cli_backends;
mod creation;
mod damaged_tables;
mod engines;
mod errors;
mod harness;
mod import_failures;
mod jina_backends;
mod mount_bulk;
mod mount_outage;
mod passwords;
mod privileges;
mod restart;
mod secrets;
mod store_backends;
mod table_names;
mod urls;
