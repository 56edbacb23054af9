//! Names ↔ meaning: what a name in `/` or `/by-id/` stands for, before looking anything up.

use super::types::*;
use crate::document::validate_id;

/// Control files in the root directory: name, inode, what reading it says.
pub const CONTROL_FILES: [(&str, Ino, &str); 4] = [
    (
        ".reload",
        RELOAD_INO,
        "write 1 here to re-read the store from disk (unsaved changes are saved first)\n",
    ),
    (
        ".save",
        SAVE_INO,
        "write 1 here to save every changed document to disk (durable, fsync)\n",
    ),
    (
        ".prune",
        PRUNE_INO,
        "write 1 here to rewrite the store without deleted or replaced documents' old bytes\n",
    ),
    (
        ".clear",
        CLEAR_INO,
        "write 1 here to delete EVERY document of the store\n",
    ),
];

pub const STATS_NAME: &str = ".stats";
pub const ALL_NAME: &str = ".all.jsonl";
pub const APPEND_NAME: &str = ".append.jsonl";
pub const BY_ID_NAME: &str = "by-id";

/// Longest name (bytes), as on other Linux filesystems.
pub const NAME_MAX: usize = 255;

/// What a name in the root directory can be.
#[derive(Debug, PartialEq, Eq)]
pub enum RootName {
    ById,
    Stats,
    /// `.all.jsonl` or `.append.jsonl`.
    Bulk(Ino),
    Control(Ino),
    /// `0`, `1`, … (canonical decimal: no sign, no leading zeros).
    Position(usize),
    /// Anything else: a temporary file's name.
    Other,
}

pub fn classify_root(name: &str) -> RootName {
    if name == BY_ID_NAME {
        return RootName::ById;
    }
    if name == STATS_NAME {
        return RootName::Stats;
    }
    if name == ALL_NAME {
        return RootName::Bulk(ALL_INO);
    }
    if name == APPEND_NAME {
        return RootName::Bulk(APPEND_INO);
    }
    if let Some(&(_, ino, _)) = CONTROL_FILES.iter().find(|(n, _, _)| *n == name) {
        return RootName::Control(ino);
    }
    match parse_position(name) {
        Some(p) => RootName::Position(p),
        None => RootName::Other,
    }
}

fn parse_position(name: &str) -> Option<usize> {
    let canonical = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    if canonical {
        name.parse().ok()
    } else {
        None
    }
}

/// Does a new file in `/by-id/` with this name look like a tool's temporary file, so that it
/// should stay an ordinary file whatever is written to it? (sed's `sedXXXXXX`, vim's
/// `.x.swp` and `x~`, emacs's `#x#`, `mktemp`/Python's `tmp…`, `….tmp`, and the backups
/// of `sed -i.bak`, `perl -pi.bak` and `patch -b`: `….bak`, `….orig`.) Other names of new
/// files are new documents in the making.
pub fn looks_like_tool_temporary(name: &str) -> bool {
    let sed = name.len() == 9
        && name.starts_with("sed")
        && name[3..].bytes().all(|b| b.is_ascii_alphanumeric());
    sed || validate_id(name).is_err()
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || name.starts_with("tmp")
        || name.ends_with(".tmp")
        || name.ends_with(".swp")
        || name.ends_with(".bak")
        || name.ends_with(".orig")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names() {
        assert_eq!(classify_root("0"), RootName::Position(0));
        assert_eq!(classify_root("12"), RootName::Position(12));
        assert_eq!(classify_root("012"), RootName::Other);
        assert_eq!(classify_root("-1"), RootName::Other);
        assert_eq!(classify_root("by-id"), RootName::ById);
        assert_eq!(classify_root(".prune"), RootName::Control(PRUNE_INO));
        assert_eq!(classify_root(".stats"), RootName::Stats);
        assert_eq!(classify_root(".all.jsonl"), RootName::Bulk(ALL_INO));
        assert_eq!(classify_root("sedX1b2c3"), RootName::Other);
        assert_eq!(classify_root("99999999999999999999999999"), RootName::Other);
    }

    #[test]
    fn tool_temporaries() {
        for t in [
            "sedAb12Cd",
            ".x.swp",
            "x~",
            "#x#",
            "tmp.123",
            "tmpab_cd",
            "a.tmp",
            ".#x",
            "x.bak",
            "x.orig",
        ] {
            assert!(looks_like_tool_temporary(t), "{t}");
        }
        for d in ["newid", "4913", "doc-1", "sedan", "bak", "x.bakery"] {
            assert!(!looks_like_tool_temporary(d), "{d}");
        }
    }
}
