//! The heavy campaigns, in a binary of their own so that they never share the machine with
//! the timing-sensitive tests of the others: kill -9 of store writers and of the mount's
//! daemon at random moments, and the concurrency soak. The heaviest take
//! [`support::campaign::one_at_a_time`], as when each was a binary of its own.

#[path = "../support/mod.rs"]
mod support;

mod mount_crash_campaign;
mod mount_soak;
mod store_crash_campaign;

/// The mount campaigns' child process ([`support::campaign::spawn_child`] runs this binary
/// with `--exact mount_campaign_child`). Run normally it does nothing.
#[test]
fn mount_campaign_child() {
    support::campaign::child_main();
}
