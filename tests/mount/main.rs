//! Real mounts of a store with the built `damfs` binary (root and /dev/fuse needed; see
//! `require_fuse!`): tools, editors, bad input, durability, lifecycle, the mount helper and
//! systemd, concurrency, access by other users.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod adapter;
mod backups;
mod bad_input;
mod bulk_views;
mod concurrency;
mod control_writes;
mod deleted_while_open;
mod durability;
mod editors;
mod full_disk;
mod helper;
mod lifecycle;
mod live_view;
mod name_cache;
mod put_then_read;
mod recreate;
mod rm_rf;
mod rsync;
mod store_gone;
mod systemd;
mod times;
mod tools;
mod unmount_paths;
mod whole_mount;
