//! Bulk views: `/.all.jsonl` reads every document as one JSON line, in order, streamed from
//! the store (one file for `grep`/`jq` instead of thousands); JSON Lines written to
//! `/.append.jsonl` are appended as new documents when the file is closed, all or nothing,
//! validated as `damfs import` validates.

use std::collections::HashSet;

use super::*;
use crate::document::compact_json;

/// Most problems reported for one rejected `.append.jsonl` write (as `damfs import`).
const MAX_PROBLEMS: usize = 20;

/// Where a reader of `/.all.jsonl` is: the lines of documents `next_pos..` are still to be
/// produced; `buf` holds produced bytes from stream offset `buf_start` on.
#[derive(Default)]
pub struct AllLinesCursor {
    next_pos: usize,
    buf_start: u64,
    buf: Vec<u8>,
}

/// A document's text as one line of JSON Lines (without the newline): as stored, or with
/// the whitespace outside strings removed if it spans lines (as `damfs export` writes it).
fn push_line(text: &[u8], out: &mut Vec<u8>) {
    if text.iter().any(|&b| b == b'\n' || b == b'\r') {
        compact_json(text, out);
    } else {
        out.extend_from_slice(text);
    }
    out.push(b'\n');
}

/// A document of the view that the store no longer has has no line: a PostgreSQL handle
/// reads texts from the table, where another mount may have deleted it a moment before this
/// mount hears of it (the memmap store still reads the old version from its files).
fn gone_is_empty<T: Default>(read: crate::error::Result<T>) -> crate::error::Result<T> {
    match read {
        Err(crate::error::Error::NotFound(_)) => Ok(T::default()),
        other => other,
    }
}

fn line_len(text: &[u8]) -> u64 {
    if text.iter().any(|&b| b == b'\n' || b == b'\r') {
        let mut v = Vec::new();
        compact_json(text, &mut v);
        v.len() as u64 + 1
    } else {
        text.len() as u64 + 1
    }
}

impl Filesystem {
    /// The exact size of `/.all.jsonl` (what `stat` and `wc -c` show), remembered until a
    /// document changes.
    pub(super) fn all_lines_len(&self, st: &State) -> FsResult<u64> {
        if let Some((version, len)) = st.all_lines_len.get() {
            if version == st.view_version {
                return Ok(len);
            }
        }
        let view = View::of(st);
        let mut len = 0;
        for pos in 0..view.len() {
            let Some(id) = view.id_at(pos) else { break };
            len += gone_is_empty(st.store.with_json(id, line_len))?;
        }
        st.all_lines_len.set(Some((st.view_version, len)));
        Ok(len)
    }

    /// Bytes `offset..offset+size` of `/.all.jsonl` for the reader with this cursor. A
    /// sequential reader (cat, grep, jq) costs one pass over the store; a read before the
    /// cursor starts again from the first document.
    pub(super) fn read_all_lines(
        st: &State,
        cursor: &mut AllLinesCursor,
        offset: u64,
        size: u32,
    ) -> FsResult<Vec<u8>> {
        if offset < cursor.buf_start {
            *cursor = AllLinesCursor::default();
        }
        let want_end = offset.saturating_add(u64::from(size));
        let view = View::of(st);
        while cursor.buf_start + (cursor.buf.len() as u64) < want_end
            && cursor.next_pos < view.len()
        {
            let Some(id) = view.id_at(cursor.next_pos) else {
                break;
            };
            gone_is_empty(
                st.store
                    .with_json(id, |text| push_line(text, &mut cursor.buf)),
            )?;
            cursor.next_pos += 1;
        }
        // Keep only what a later read may still ask for (from this offset on).
        let drop = (offset.saturating_sub(cursor.buf_start) as usize).min(cursor.buf.len());
        cursor.buf.drain(..drop);
        cursor.buf_start += drop as u64;
        let n = ((want_end - offset) as usize).min(cursor.buf.len());
        Ok(cursor.buf[..n].to_vec())
    }

    /// Validates what was written to `/.append.jsonl` through handle `fh` and appends it as
    /// new documents, all or nothing. The buffer is emptied once appended.
    pub(super) fn commit_append(&self, st: &mut State, fh: u64) -> FsResult<()> {
        let Some(Handle {
            kind: HandleKind::Append { buf },
            ..
        }) = st.handles.get(fh)
        else {
            return Ok(());
        };
        if buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(()); // nothing written (yet): bash flushes `> file` before it writes
        }
        // Documents deleted a moment ago are gone for good before their ids are reused.
        st.apply_recent_deletes(true);
        let Some(Handle {
            kind: HandleKind::Append { buf },
            ..
        }) = st.handles.get(fh)
        else {
            return Ok(());
        };
        let mut docs = Vec::new();
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let problem = match std::str::from_utf8(line) {
                Err(_) => Some("not UTF-8 text".to_owned()),
                Ok(text) => match Document::from_json(text) {
                    Err(e) => Some(e.to_string()),
                    Ok(doc) if !seen.insert(doc.id().to_owned()) => Some(format!(
                        "duplicate id {:?} (earlier in the input)",
                        doc.id()
                    )),
                    Ok(doc) if st.store.contains(doc.id()) => {
                        Some(format!("id {:?} exists in the store", doc.id()))
                    }
                    Ok(doc) => {
                        docs.push(doc);
                        None
                    }
                },
            };
            if let Some(p) = problem {
                problems.push(format!("line {}: {p}", i + 1));
                if problems.len() == MAX_PROBLEMS {
                    problems.push("(more problems not shown)".into());
                    break;
                }
            }
        }
        if !problems.is_empty() {
            return Err(err(
                libc::EINVAL,
                format!(
                    "/{}: nothing appended: {}",
                    namespace::APPEND_NAME,
                    problems.join("; ")
                ),
            ));
        }
        let before = View::of(st).len();
        let n = docs.len();
        st.store.extend(docs)?;
        log::info!("/{}: appended {n} documents", namespace::APPEND_NAME);
        st.view_version += 1;
        st.shadow_temps_from(before);
        st.appended(true);
        let freed = match st.handles.get_mut(fh) {
            Some(Handle {
                kind: HandleKind::Append { buf },
                ..
            }) => std::mem::take(buf).len(),
            _ => 0,
        };
        st.pending_bytes -= freed as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_texts_or_their_compacted_form() {
        let mut out = Vec::new();
        push_line(br#"{"id":"a", "x": 1}"#, &mut out);
        push_line(b"{\n  \"id\": \"b\",\n  \"s\": \"a b\"\n}", &mut out);
        assert_eq!(
            out,
            b"{\"id\":\"a\", \"x\": 1}\n{\"id\":\"b\",\"s\":\"a b\"}\n"
        );
        assert_eq!(line_len(br#"{"id":"a", "x": 1}"#), 19);
        assert_eq!(line_len(b"{\n  \"id\": \"b\"\n}"), 11);
    }
}
