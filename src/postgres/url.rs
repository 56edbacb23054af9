//! Store addresses: `postgresql://[user[:password]@]host[:port]/dbname?table=NAME`, with
//! libpq's `host=/socket/dir` (and `port=`, `user=`, `password=`) in the query as well. The
//! password comes from the URL, else `PGPASSWORD`, else `~/.pgpass` (or `PGPASSFILE`), and is
//! never shown: [`PgUrl::redacted`] is what logs and `.stats` print.

use std::fmt;
use std::path::PathBuf;

/// The table used when the URL names none.
pub const DEFAULT_TABLE: &str = "damfs";

/// Longest table name: the backend's own tables add up to 8 characters (`_changes`), and
/// PostgreSQL identifiers stop at 63 bytes.
const MAX_TABLE_LEN: usize = 48;

/// Whether a STORE argument is a PostgreSQL URL rather than a directory.
pub fn is_url(store: &str) -> bool {
    store.starts_with("postgresql://") || store.starts_with("postgres://")
}

/// Why a STORE argument that is not a URL was surely meant as one (`postgresql:/db`,
/// `postgres:db`): it is refused rather than taken for a directory of that name.
pub fn mistyped_url(store: &str) -> Option<String> {
    is_mistyped(store).then(|| {
        format!(
            "it looks like a PostgreSQL URL, but those start with postgresql:// (or \
             postgres://); a directory of that name is written ./{}",
            redact_text(store)
        )
    })
}

fn is_mistyped(store: &str) -> bool {
    let meant = store.starts_with("postgresql:") || store.starts_with("postgres:");
    meant && !is_url(store)
}

/// A parsed store URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    password: Option<String>,
    /// A host name or address, or (starting with '/') the directory of a Unix socket.
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub table: String,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn percent_decode(s: &str, what: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in the {what}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8"))
}

/// Percent-encodes all but letters, digits, `-._~` and the characters of `keep`.
fn encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A STORE argument as a message may show it, whether it parses or not: a URL without its
/// password (of its user part, or a `password=` of its query); any other text as given. A
/// URL that does not parse is cut by its text: everything between `://` and the last `@`
/// after a `:` is taken for a password (a malformed URL must not leak one either).
pub fn redact_text(store: &str) -> String {
    if is_url(store) {
        if let Ok(url) = PgUrl::parse(store) {
            return url.redacted();
        }
    } else if !is_mistyped(store) {
        return store.to_owned();
    }
    // The scheme with its ':' and slashes as given (a mistyped URL has one or none).
    let after_colon = store.find(':').map_or(0, |i| i + 1);
    let slashes = store[after_colon..].len() - store[after_colon..].trim_start_matches('/').len();
    let (scheme, rest) = store.split_at(after_colon + slashes);
    let rest = match rest.rsplit_once('@') {
        Some((info, after)) if info.contains(':') => {
            let user = info.split(':').next().unwrap_or_default();
            format!("{user}@{after}")
        }
        _ => rest.to_owned(),
    };
    // Each `password=` pair of the query is left out.
    let mut shown = scheme.to_owned();
    match rest.split_once('?') {
        Some((before, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| !pair.starts_with("password"))
                .collect();
            shown.push_str(before);
            shown.push('?');
            shown.push_str(&kept.join("&"));
        }
        None => shown.push_str(&rest),
    }
    shown
}

/// Checks a table name: it is spliced into SQL, so only plain lower-case identifiers.
pub fn check_table(name: &str) -> Result<(), String> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok_start || !ok_rest || name.len() > MAX_TABLE_LEN {
        return Err(format!(
            "table name {name:?} must be 1 to {MAX_TABLE_LEN} characters of a-z, 0-9 and _, \
             not starting with a digit"
        ));
    }
    // PostgreSQL looks in its own catalog before any other schema: a table `pg_class` of
    // the user's would be shadowed by the catalog's.
    if name.starts_with("pg_") {
        return Err(format!(
            "table name {name:?} must not start with pg_ (PostgreSQL's own tables have those names)"
        ));
    }
    Ok(())
}

impl PgUrl {
    /// Parses a store URL. Errors say which part is wrong (never echoing a password).
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or("a PostgreSQL URL starts with postgresql://")?;
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_query, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut user = None;
        let mut password = None;
        if let Some(info) = userinfo {
            let (u, p) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            if !u.is_empty() {
                user = Some(percent_decode(u, "user name")?);
            }
            if let Some(p) = p {
                password = Some(percent_decode(p, "password")?);
            }
        }
        let mut host = None;
        let mut port = None;
        if !hostport.is_empty() {
            let (h, p) = if let Some(inner) = hostport.strip_prefix('[') {
                // [ipv6]:port
                let (h, after) = inner
                    .split_once(']')
                    .ok_or("an IPv6 host must end with ']'")?;
                (h, after.strip_prefix(':'))
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (hostport, None),
                }
            };
            if !h.is_empty() {
                host = Some(percent_decode(h, "host")?);
            }
            if let Some(p) = p.filter(|p| !p.is_empty()) {
                port = Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?);
            }
        }
        let mut dbname = if path.is_empty() {
            None
        } else {
            Some(percent_decode(path, "database name")?)
        };
        let mut table = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("query parameter {pair:?} has no '='"))?;
            let value = percent_decode(value, key)?;
            match key {
                "table" => table = Some(value),
                "host" => host = Some(value),
                "port" => port = Some(value.parse().map_err(|_| format!("bad port {value:?}"))?),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value),
                // libpq's modes that may go without TLS; damfs has none to offer.
                "sslmode" if matches!(value.as_str(), "disable" | "allow" | "prefer") => {}
                "sslmode" => {
                    return Err(format!(
                        "sslmode={value} asks for TLS, which damfs does not speak (use a Unix \
                         socket, a private network or an SSH tunnel; sslmode=disable is accepted)"
                    ))
                }
                other => return Err(format!("unknown query parameter {other:?} (known: table, host, port, user, password, dbname, sslmode=disable)")),
            }
        }
        let table = table.unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        check_table(&table)?;
        let user = user
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "postgres".to_owned());
        let dbname = dbname
            .or_else(|| env("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        let host = host
            .or_else(|| env("PGHOST"))
            .unwrap_or_else(|| "/var/run/postgresql".to_owned());
        let port = match port {
            Some(p) => p,
            None => env("PGPORT").and_then(|p| p.parse().ok()).unwrap_or(5432),
        };
        Ok(PgUrl {
            user,
            password,
            host,
            port,
            dbname,
            table,
        })
    }

    /// Whether the URL itself carries a password (in its user part or its query).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The URL's own password, if it has one.
    pub fn url_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The URL without its password: what may appear in a log or in `.stats`. Its parts are
    /// percent-encoded, so it parses back to the same URL (a mount whose URL had a password
    /// runs itself again with this one: `cli::hide_password`).
    pub fn redacted(&self) -> String {
        let (host, socket) = if self.host.starts_with('/') {
            (String::new(), format!("host={}&", encode(&self.host, "/")))
        } else if self.host.contains(':') {
            (format!("[{}]", encode(&self.host, ":")), String::new())
        } else {
            (encode(&self.host, ""), String::new())
        };
        format!(
            "postgresql://{}@{host}:{}/{}?{socket}table={}",
            encode(&self.user, ""),
            self.port,
            encode(&self.dbname, ""),
            self.table
        )
    }

    /// The password to send: the URL's, else `PGPASSWORD`, else a matching `.pgpass` line.
    fn password(&self) -> Option<String> {
        self.password
            .clone()
            .or_else(|| env("PGPASSWORD"))
            .or_else(|| self.pgpass())
    }

    fn pgpass(&self) -> Option<String> {
        let path = env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
        let text = std::fs::read_to_string(&path).ok()?;
        self.pgpass_match(&text)
    }

    /// The password of the first `.pgpass` line that matches this URL.
    fn pgpass_match(&self, text: &str) -> Option<String> {
        // libpq's host for a socket is "localhost" in .pgpass (or the socket directory).
        let hosts: Vec<&str> = if self.host.starts_with('/') {
            vec!["localhost", self.host.as_str()]
        } else {
            vec![self.host.as_str()]
        };
        let port = self.port.to_string();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                // As libpq: a password ends at its first unescaped ':'.
                let mut fields = split_pgpass(l);
                fields.truncate(5);
                let [h, p, d, u, pw] = <[String; 5]>::try_from(fields).ok()?;
                let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
                (hosts.iter().any(|host| matches(&h, host))
                    && matches(&p, &port)
                    && matches(&d, &self.dbname)
                    && matches(&u, &self.user))
                .then_some(pw)
            })
            .next()
    }

    /// The client configuration (with the password resolved).
    pub fn config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .application_name("damfs")
            .connect_timeout(std::time::Duration::from_secs(5));
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        if let Some(pw) = self.password() {
            c.password(pw);
        }
        c
    }
}

/// Splits a `.pgpass` line on unescaped ':' (`\:` and `\\` are literal).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u =
            PgUrl::parse("postgresql://alice:s%40cret@db.example:6543/docs?table=papers").unwrap();
        assert_eq!(u.user, "alice");
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!((u.host.as_str(), u.port), ("db.example", 6543));
        assert_eq!((u.dbname.as_str(), u.table.as_str()), ("docs", "papers"));
        assert!(!u.redacted().contains("cret"), "{}", u.redacted());
    }

    #[test]
    fn socket_directory_in_the_query_and_default_table() {
        let u = PgUrl::parse("postgresql://bob@/mydb?host=/tmp/pg%20sock").unwrap();
        assert_eq!(u.host, "/tmp/pg sock");
        assert_eq!(u.table, DEFAULT_TABLE);
        assert_eq!(u.dbname, "mydb");
    }

    #[test]
    fn bad_parts_are_named() {
        assert!(PgUrl::parse("postgresql://h:99999/db")
            .unwrap_err()
            .contains("port"));
        assert!(PgUrl::parse("postgresql://h/db?table=Robert');DROP")
            .unwrap_err()
            .contains("table name"));
        assert!(PgUrl::parse("postgresql://h/db?sslmode=require")
            .unwrap_err()
            .contains("does not speak"));
        assert!(PgUrl::parse("postgresql://h/db?sslmode=disable&table=t").is_ok());
        assert!(PgUrl::parse("postgresql://h/db?application_name=x")
            .unwrap_err()
            .contains("unknown query parameter \"application_name\""));
    }

    #[test]
    fn pgpass_matching() {
        let u = PgUrl::parse("postgresql://alice@db.example:5433/docs").unwrap();
        let text = "# comment\nother:5433:docs:alice:no\ndb.example:5433:*:bob:no\n\
                    db.example:5433:*:alice:yes\n*:*:*:*:late\n";
        assert_eq!(u.pgpass_match(text).as_deref(), Some("yes"));
        let sock = PgUrl::parse("postgresql://alice@/docs?host=/run/pg").unwrap();
        assert_eq!(
            sock.pgpass_match("localhost:5432:docs:alice:s\\:1\n")
                .as_deref(),
            Some("s:1")
        );
        assert_eq!(sock.pgpass_match("db.example:*:*:*:x\n"), None);
        assert_eq!(sock.pgpass_match("*:*:*:*:pa:ss\n").as_deref(), Some("pa"));
    }

    #[test]
    fn a_url_that_does_not_parse_is_shown_without_its_password() {
        for (url, secret) in [
            ("postgresql://alice:s3cret@h:99999/db?table=a", "s3cret"),
            ("postgresql://alice:pa/ss@h/db", "ss"),
            ("postgresql://alice:pa?ss@h/db?table=A", "ss"),
            ("postgresql://h/db?table=A&password=s3cret&port=1", "s3cret"),
            ("postgresql://h/db?password=s3:cr@et&table=A", "s3"),
        ] {
            let shown = redact_text(url);
            assert!(!shown.contains(secret), "{url} shown as {shown}");
        }
        assert_eq!(
            redact_text("postgresql://alice:x@h:1/db?table=A&port=2"),
            "postgresql://alice@h:1/db?table=A&port=2"
        );
        assert_eq!(redact_text("/some/dir"), "/some/dir");
        assert_eq!(
            redact_text("postgresql:/alice:s3cret@h/db"),
            "postgresql:/alice@h/db"
        );
        assert_eq!(redact_text("postgres:alice:s3cret@h"), "postgres:alice@h");
    }

    #[test]
    fn the_redacted_url_parses_back_to_the_same_place() {
        for url in [
            "postgresql://we%3Aird%40x:pw@/my%20db%3F?host=/tmp/a%26b%25c&table=t",
            "postgresql://u:pw@[::1]:5433/d%2Fb?table=t",
            "postgresql://u@db.example/docs",
        ] {
            let u = PgUrl::parse(url).unwrap();
            let again = PgUrl::parse(&u.redacted()).unwrap();
            assert_eq!(
                (
                    &again.user,
                    &again.host,
                    again.port,
                    &again.dbname,
                    &again.table
                ),
                (&u.user, &u.host, u.port, &u.dbname, &u.table),
                "{url} shown as {}",
                u.redacted()
            );
            assert!(!again.has_password(), "{}", u.redacted());
        }
    }

    #[test]
    fn pgpass_lines() {
        assert_eq!(
            split_pgpass(r"host:5432:db:u:pa\:ss"),
            vec!["host", "5432", "db", "u", "pa:ss"]
        );
    }
}
