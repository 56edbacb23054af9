//! A PostgreSQL server of a test's own that asks for passwords: its Unix socket lets the
//! superuser `postgres` in without one (for the test's own SQL) and asks every other user
//! for a SCRAM password.

use super::postgres::PgServer;

/// A server that asks `user` (created with `password`, owner of database `db`) for its
/// password; `None` (the test skips) where PostgreSQL is not installed.
pub struct PasswordServer {
    pub server: PgServer,
    pub db: String,
    pub user: String,
}

impl PasswordServer {
    pub fn start(user: &str, password: &str) -> Option<PasswordServer> {
        let server = PgServer::start()?;
        let quoted = password.replace('\'', "''");
        server.sql(
            "postgres",
            &format!("CREATE ROLE {user} LOGIN PASSWORD '{quoted}'"),
        );
        let db = server.fresh_db();
        server.sql("postgres", &format!("ALTER DATABASE {db} OWNER TO {user}"));
        server.sql(&db, &format!("GRANT CREATE ON SCHEMA public TO {user}"));
        // The first matching line wins: the superuser keeps its way in.
        let hba = server.socket_dir().join("data/pg_hba.conf");
        std::fs::write(
            &hba,
            "local all postgres trust\nlocal all all scram-sha-256\n",
        )
        .expect("writing pg_hba.conf");
        server.sql("postgres", "SELECT pg_reload_conf()");
        // The server reloads on its own time: wait until it asks for the password.
        let without = format!(
            "host={} user={user} dbname={db}",
            server.socket_dir().display()
        );
        let asks = super::process::wait_for(std::time::Duration::from_secs(10), || {
            postgres::Client::connect(&without, postgres::NoTls).is_err()
        });
        assert!(asks, "the server did not start asking for passwords");
        Some(PasswordServer {
            server,
            db,
            user: user.to_owned(),
        })
    }

    /// A store URL for `table` without a password; `userinfo` replaces the user part when
    /// given (`user:password`, percent-encoded as the test wants it).
    pub fn url(&self, userinfo: Option<&str>, table: &str) -> String {
        format!(
            "postgresql://{}@/{}?host={}&table={table}",
            userinfo.unwrap_or(&self.user),
            self.db,
            self.server.socket_dir().display()
        )
    }
}
