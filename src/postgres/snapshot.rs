//! Read-only handles read in one snapshot. The memmap store's read-only handle maps files
//! that writers only append to, so what it reads always matches the order it loaded, however
//! long it reads. Here the order is read in a REPEATABLE READ transaction; a read-only
//! handle keeps that transaction open, and every text it reads afterwards comes from the same
//! snapshot, until its next catch-up or reload starts a new one. So an export or a read-only
//! mount never meets a row deleted or replaced under it: no missing document, and no text
//! that disagrees with the length it showed. Writable handles read the latest committed rows
//! (they must see their own writes) and catch up through the feed.
//!
//! The cost is PostgreSQL's: an open snapshot holds back VACUUM of rows deleted after it
//! began, as a read-only memmap handle holds the disk space of files prune replaced. Where a
//! server ends idle transactions (`idle_in_transaction_session_timeout`), the handle loses
//! its connection and re-reads the order in a new snapshot.

use postgres::Client;

const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// Runs `read` (of the order, or of the feed) in one snapshot. With `pin` (a read-only
/// handle) the snapshot before is ended and the new one stays open for the reads that
/// follow; otherwise the transaction is committed at once. A failed read ends it.
pub(super) fn read_in<R>(
    client: &mut Client,
    pin: bool,
    read: impl FnOnce(&mut Client) -> Result<R, postgres::Error>,
) -> Result<R, postgres::Error> {
    if pin {
        // COMMIT outside a transaction (a connection just made) is only a warning.
        client.batch_execute(&format!("COMMIT; {BEGIN}"))?;
    } else {
        client.batch_execute(BEGIN)?;
    }
    match read(client) {
        Ok(r) if pin => Ok(r),
        Ok(r) => client.batch_execute("COMMIT").map(|()| r),
        Err(e) => {
            end(client);
            Err(e)
        }
    }
}

/// Ends a pinned snapshot after a failed statement (which aborted it): the reads that
/// follow run on their own until the next catch-up or reload pins a new one.
pub(super) fn end(client: &mut Client) {
    if let Err(e) = client.batch_execute("ROLLBACK") {
        log::debug!("ending a read snapshot: {e}");
    }
}

/// Runs a statement that may fail by design (a function some engines lack) without
/// aborting a pinned snapshot: inside a savepoint.
pub(super) fn tolerant<R>(
    client: &mut Client,
    pin: bool,
    run: impl FnOnce(&mut Client) -> Result<R, postgres::Error>,
) -> Result<R, postgres::Error> {
    if !pin {
        return run(client);
    }
    client.batch_execute("SAVEPOINT damfs_tolerant")?;
    match run(client) {
        Ok(r) => client
            .batch_execute("RELEASE SAVEPOINT damfs_tolerant")
            .map(|()| r),
        Err(e) => {
            client.batch_execute("ROLLBACK TO SAVEPOINT damfs_tolerant")?;
            Err(e)
        }
    }
}
