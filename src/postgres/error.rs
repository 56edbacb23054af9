//! PostgreSQL errors as the store's errors: a duplicate id is [`Error::DuplicateId`]; an
//! unreachable server, a dropped connection, a missing permission are [`Error::Io`] (EIO on
//! the mount) with what was being done and the server's own words.

use std::path::PathBuf;

use postgres::error::SqlState;

use crate::error::Error;

/// Whether an error means the connection is gone (it is then made again on the next use).
pub fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08 (connection exception), 57P01-03 (the server shut down or is starting).
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P")
        }
        // No SQLSTATE: an I/O error or a protocol error on the socket.
        None => e.as_db_error().is_none(),
    }
}

/// The store error for a failed statement.
pub fn db_error(context: &str, e: postgres::Error) -> Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        if let Some(id) = e
            .as_db_error()
            .and_then(|d| d.detail())
            .and_then(duplicate_key)
        {
            return Error::DuplicateId(id);
        }
    }
    let reason = match e.as_db_error() {
        Some(d) => {
            let mut s = d.message().to_owned();
            if let Some(detail) = d.detail() {
                s.push_str(" (");
                s.push_str(detail);
                s.push(')');
            }
            s
        }
        None if e.is_closed() => "the connection to the PostgreSQL server was lost".to_owned(),
        None => {
            let s = e.to_string();
            match std::error::Error::source(&e) {
                Some(src) if !s.contains(&src.to_string()) => format!("{s}: {src}"),
                _ => s,
            }
        }
    };
    Error::Io {
        context: format!("PostgreSQL: {context}"),
        source: std::io::Error::other(reason),
    }
}

/// The id in a unique violation's detail: `Key (id)=(abc) already exists.` — or the same in
/// the server's language (`lc_messages`): `Schlüssel »(id)=(abc)« existiert bereits.`
fn duplicate_key(detail: &str) -> Option<String> {
    const KEY: &str = "(id)=(";
    let start = detail.find(KEY)? + KEY.len();
    let end = detail.rfind(')')?;
    detail.get(start..end).map(str::to_owned)
}

/// The error for a database that holds no store (or one of an unknown schema).
pub fn not_a_store(what: &str, reason: String) -> Error {
    Error::NotAStore {
        path: PathBuf::from(what),
        reason,
    }
}

/// An error of the backend's own (no server error behind it).
pub fn backend_error(context: &str, reason: impl Into<String>) -> Error {
    Error::Io {
        context: format!("PostgreSQL: {context}"),
        source: std::io::Error::other(reason.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn duplicate_key_detail() {
        assert_eq!(
            super::duplicate_key("Key (id)=(a(b)c) already exists.").as_deref(),
            Some("a(b)c")
        );
        assert_eq!(
            super::duplicate_key("Schlüssel »(id)=(x)« existiert bereits.").as_deref(),
            Some("x")
        );
        assert_eq!(super::duplicate_key("Key (rank)=(5) already exists."), None);
    }
}
