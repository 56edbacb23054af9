//! The schema: three tables per store, named after the URL's `table`:
//!
//! ```sql
//! T         (rank BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, len INT NOT NULL, body TEXT NOT NULL)
//! T_head    (one INT PRIMARY KEY, schema_version INT, version BIGINT, next_rank BIGINT, feed_start BIGINT)
//! T_changes (version BIGINT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL, reset BOOLEAN NOT NULL)
//! ```
//!
//! `T` holds the documents: `rank` is the order key (positions are ranks in increasing
//! order; appends take ranks from `next_rank`, so deletes renumber nothing), `body` the exact
//! text and `len` its length in bytes (so a mount knows sizes without reading texts).
//! `T_head` is one row: the schema version (for later migrations), the version of the last
//! change, and the first version the change feed still holds. Every write locks it (that
//! serialises writers and orders versions as commits), bumps `version`, and records the ranks
//! it touched in `T_changes` under that version — the change feed the other handles catch up
//! from. Plain SQL only: tables, a unique index, `UPDATE ... RETURNING`, `COPY`.

use postgres::Client;

use crate::error::Result;

use super::error::{db_error, not_a_store};

/// The schema version this damfs writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The names of one store's tables: `table` as the URL gives it (for messages and the
/// catalog), and `docs`, `head`, `changes` quoted for SQL, so that a name that is also a
/// keyword (`user`, `order`, `select`) is a table's name all the same.
#[derive(Clone, Debug)]
pub struct Names {
    pub table: String,
    pub docs: String,
    pub head: String,
    pub changes: String,
}

impl Names {
    /// The names of the store `table` (already checked: `url::check_table`, so nothing in it
    /// needs escaping inside the quotes).
    pub fn new(table: &str) -> Self {
        Names {
            table: table.to_owned(),
            docs: format!("\"{table}\""),
            head: format!("\"{table}_head\""),
            changes: format!("\"{table}_changes\""),
        }
    }

    /// The head table's own name, as the catalog lists it.
    fn head_table(&self) -> String {
        format!("{}_head", self.table)
    }
}

/// Whether the store's documents table and head table exist, read in one statement (one
/// snapshot: another process creating the store commits all its tables at once, and two
/// looks could see the head without the documents).
fn tables_exist(client: &mut Client, names: &Names) -> Result<(bool, bool)> {
    let looking = "looking for the store's tables";
    let row = client
        .query_one(
            // pg_tables lists tables without privileges on them too (information_schema
            // hides them, and a missing permission would look like a missing store).
            "SELECT count(*) FILTER (WHERE tablename = $1), count(*) FILTER (WHERE tablename = $2) \
             FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
            &[&names.table, &names.head_table()],
        )
        .map_err(|e| db_error(looking, e))?;
    let docs: i64 = row.try_get(0).map_err(|e| db_error(looking, e))?;
    let head: i64 = row.try_get(1).map_err(|e| db_error(looking, e))?;
    Ok((docs > 0, head > 0))
}

/// Makes sure the store's tables exist (creating them unless `read_only`) and are of a
/// schema version this damfs knows. `what` names the store in errors.
pub fn ensure(client: &mut Client, names: &Names, read_only: bool, what: &str) -> Result<()> {
    let (has_docs, has_head) = tables_exist(client, names)?;
    if has_docs && !has_head {
        return Err(not_a_store(
            what,
            format!(
                "table {} exists but has no {} (it is not a damfs store's)",
                names.table,
                names.head_table()
            ),
        ));
    }
    if has_head && !has_docs {
        // Another store's table can have this name: the documents of store `x_head` are
        // what store `x` would take for its head.
        return Err(not_a_store(
            what,
            format!(
                "table {} exists but there is no table {} (is {} another store's table?)",
                names.head_table(),
                names.table,
                names.head_table()
            ),
        ));
    }
    if !has_head {
        if read_only {
            return Err(not_a_store(
                what,
                format!("there is no table {}", names.table),
            ));
        }
        // Two processes creating the store at once: one wins, the other fails on the
        // catalog's unique names and, a moment later, finds the tables made.
        let mut attempt = 0;
        while let Err(e) = create(client, names) {
            attempt += 1;
            if attempt == 3 {
                return Err(e);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            if tables_exist(client, names)? == (true, true) {
                break;
            }
        }
    }
    let reading = format!("reading {}", names.head_table());
    let row = client
        .query_opt(
            &format!("SELECT schema_version FROM {} WHERE one = 1", names.head),
            &[],
        )
        .map_err(|e| db_error(&reading, e))?;
    let Some(row) = row else {
        return Err(not_a_store(
            what,
            format!(
                "table {} has no row (a damfs store's has one; was it emptied by hand?)",
                names.head_table()
            ),
        ));
    };
    let version: i32 = row.try_get(0).map_err(|e| db_error(&reading, e))?;
    if version != SCHEMA_VERSION {
        return Err(not_a_store(
            what,
            format!("its schema version is {version}; this damfs knows version {SCHEMA_VERSION}"),
        ));
    }
    if !read_only {
        check_write_privileges(client, names)?;
    }
    Ok(())
}

/// A writable open by a user who may only read (README, "Setting up a server") fails at
/// once, naming what is missing: otherwise a mount would come up and fail each write later
/// (a delete it had shown done would come back). Engines without `has_table_privilege`
/// are not checked: their writes fail with the server's words.
fn check_write_privileges(client: &mut Client, names: &Names) -> Result<()> {
    let needed = [
        (&names.docs, "SELECT"),
        (&names.docs, "INSERT"),
        (&names.docs, "UPDATE"),
        (&names.docs, "DELETE"),
        (&names.head, "SELECT"),
        (&names.head, "UPDATE"),
        (&names.changes, "SELECT"),
        (&names.changes, "INSERT"),
        (&names.changes, "DELETE"),
    ];
    let (tables, privileges): (Vec<&str>, Vec<&str>) =
        needed.iter().map(|(t, p)| (t.as_str(), *p)).unzip();
    let rows = client.query(
        "SELECT current_user::text, p || ' on ' || trim(both '\"' from t) \
         FROM unnest($1::text[], $2::text[]) AS x(t, p) WHERE NOT has_table_privilege(t, p)",
        &[&tables, &privileges],
    );
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if e.as_db_error().is_some() => {
            log::debug!("not checking write privileges: {e}");
            return Ok(());
        }
        Err(e) => return Err(db_error("checking write privileges", e)),
    };
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let user: String = first
        .try_get(0)
        .map_err(|e| db_error("checking write privileges", e))?;
    let missing: Vec<String> = rows.iter().filter_map(|r| r.try_get(1).ok()).collect();
    Err(super::error::backend_error(
        "opening the store for writing",
        format!(
            "permission denied: user {user} lacks {} (a user who may only read can export, \
             stat and mount --read-only)",
            missing.join(", ")
        ),
    ))
}

fn create(client: &mut Client, names: &Names) -> Result<()> {
    let Names {
        table,
        docs,
        head,
        changes,
    } = names;
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {docs} (
             rank BIGINT PRIMARY KEY,
             id TEXT NOT NULL UNIQUE,
             len INT NOT NULL,
             body TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS {changes} (
             version BIGINT NOT NULL,
             lo BIGINT NOT NULL,
             hi BIGINT NOT NULL,
             reset BOOLEAN NOT NULL DEFAULT false);
         CREATE INDEX IF NOT EXISTS \"{table}_changes_by_version\" ON {changes} (version);
         CREATE TABLE IF NOT EXISTS {head} (
             one INT PRIMARY KEY CHECK (one = 1),
             schema_version INT NOT NULL,
             version BIGINT NOT NULL,
             next_rank BIGINT NOT NULL,
             feed_start BIGINT NOT NULL);
         INSERT INTO {head} VALUES (1, {SCHEMA_VERSION}, 0, 1, 1) ON CONFLICT DO NOTHING;"
    );
    let mut tx = client
        .transaction()
        .map_err(|e| db_error("creating the store's tables", e))?;
    tx.batch_execute(&sql)
        .map_err(|e| db_error("creating the store's tables", e))?;
    tx.commit()
        .map_err(|e| db_error("creating the store's tables", e))
}
