//! A real PostgreSQL 15 for tests: `initdb` into a temporary directory (as the unprivileged
//! `postgres` user when the tests run as root: the server refuses to run as root), `pg_ctl`
//! listening only on a Unix socket in that directory, a fresh database per test.
//!
//! [`shared`] gives one server per test binary, stopped when the binary exits; [`PgServer::start`]
//! gives a server of one's own (stopped when dropped), for tests that stop and restart it.
//! Where the binaries are missing the tests skip with a message (`require_pg!`); CI installs
//! them (.ci/run) and sets `DAMFS_REQUIRE_POSTGRES`, so there a skip is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where Debian's PostgreSQL 15 server binaries live.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Whether the server binaries are installed.
pub fn pg_available() -> bool {
    Path::new(PG_BIN).join("initdb").exists() && Path::new(PG_BIN).join("pg_ctl").exists()
}

/// Says why a PostgreSQL test does not run — or, when `DAMFS_REQUIRE_POSTGRES` is set (CI
/// sets it), fails it: there a test can never pass by skipping.
pub fn skip_without_server() {
    if std::env::var_os("DAMFS_REQUIRE_POSTGRES").is_some() {
        panic!(
            "PostgreSQL 15 is not installed ({PG_BIN}), and DAMFS_REQUIRE_POSTGRES says its tests must run"
        );
    }
    eprintln!("skipping: PostgreSQL 15 is not installed ({PG_BIN})");
}

/// Returns the shared server, or returns from the test (with a note) when PostgreSQL is not
/// installed (a failure under `DAMFS_REQUIRE_POSTGRES`).
#[macro_export]
macro_rules! require_pg {
    () => {
        match $crate::support::postgres::shared() {
            Some(server) => server,
            None => {
                $crate::support::postgres::skip_without_server();
                return;
            }
        }
    };
}

/// A running server in a temporary directory.
pub struct PgServer {
    /// Holds the data directory and the socket; removed on drop.
    dir: tempfile::TempDir,
    next_db: AtomicUsize,
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command for a server binary, run as `postgres` when we are root.
fn pg_command(tool: &str) -> Command {
    let path = Path::new(PG_BIN).join(tool);
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run_ok(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// Starts a server of its own, or `None` when PostgreSQL is not installed.
    pub fn start() -> Option<PgServer> {
        if !pg_available() {
            return None;
        }
        // Under /tmp: the `postgres` user must be able to reach it (the target dir may not be).
        let dir = tempfile::Builder::new()
            .prefix("damfs-pg-")
            .tempdir_in("/tmp")
            .expect("creating the server's directory");
        if running_as_root() {
            run_ok(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(dir.path());
                    c
                },
                "chown of the server's directory",
            );
        }
        let server = PgServer {
            dir,
            next_db: AtomicUsize::new(0),
        };
        let mut init = pg_command("initdb");
        init.arg("-D")
            .arg(server.data_dir())
            .args(["-N", "-A", "trust", "-U", "postgres", "-E", "UTF8"]);
        run_ok(init, "initdb");
        server.start_again();
        Some(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the (stopped) server again on the same socket.
    pub fn start_again(&self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses='' -k {} -c fsync=off -c max_connections=200",
                self.socket_dir().display()
            ))
            .args(["-w", "start"]);
        run_ok(ctl, "pg_ctl start");
    }

    /// Stops the server at once (clients see their connections drop).
    pub fn stop(&self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"]);
        run_ok(ctl, "pg_ctl stop");
    }

    /// The libpq connection string of the admin database.
    fn admin_conninfo(&self) -> String {
        format!(
            "host={} user=postgres dbname=postgres",
            self.socket_dir().display()
        )
    }

    /// Runs SQL as the superuser in database `db`.
    pub fn sql(&self, db: &str, sql: &str) {
        let conninfo = format!(
            "host={} user=postgres dbname={db}",
            self.socket_dir().display()
        );
        let mut client = postgres::Client::connect(&conninfo, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {db}: {e}"));
        client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs SQL as the superuser in database `db`, saying (not panicking) when it fails: for
    /// clean-ups, which run in `drop`.
    pub fn try_sql(&self, db: &str, sql: &str) {
        let conninfo = format!(
            "host={} user=postgres dbname={db}",
            self.socket_dir().display()
        );
        let done = postgres::Client::connect(&conninfo, postgres::NoTls)
            .and_then(|mut client| client.batch_execute(sql));
        if let Err(e) = done {
            eprintln!("{sql}: {e}");
        }
    }

    /// Creates a fresh database; returns its name.
    pub fn fresh_db(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// A store URL for `table` in database `db` (over the Unix socket, as `postgres`).
    pub fn url_for(&self, db: &str, table: &str) -> String {
        format!(
            "postgresql://postgres@/{db}?host={}&table={table}",
            self.socket_dir().display()
        )
    }

    /// A store URL on a fresh database (table `damfs`).
    pub fn fresh_url(&self) -> String {
        let db = self.fresh_db();
        self.url_for(&db, "damfs")
    }

    /// Reads a table with `psql` (the engine's own client): its output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-U", "postgres", "-d", db, "-At", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The admin connection string (for tests that talk to the server directly).
    pub fn conninfo(&self) -> String {
        self.admin_conninfo()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = ctl.status();
    }
}

static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(Some(server)) = SHARED.get() {
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D")
            .arg(server.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = ctl.status();
        let _ = std::fs::remove_dir_all(server.dir.path());
    }
}

/// The test binary's server (started on first use, stopped when the binary exits), or `None`
/// when PostgreSQL is not installed.
pub fn shared() -> Option<&'static PgServer> {
    SHARED
        .get_or_init(|| {
            let server = PgServer::start()?;
            // SAFETY: registers a plain function to run at exit; it only reads the OnceLock.
            unsafe { libc::atexit(stop_shared) };
            Some(server)
        })
        .as_ref()
}
