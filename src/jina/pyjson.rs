//! A JSON value as Python's `json.dumps(obj, indent=2, sort_keys=True)` prints it (the
//! defaults `ensure_ascii=True`, `allow_nan=True`), which is what `MessageToJson` returns.

use std::borrow::Cow;
use std::fmt::Write;

use super::ndarray::DenseView;
use super::pyfloat;

/// A value about to be printed. Strings borrow from the decoded record.
pub enum Py<'a> {
    Null,
    Bool(bool),
    Int(i128),
    /// Printed with `repr`; NaN and infinities as the bare tokens `NaN`, `Infinity`.
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<Py<'a>>),
    /// Keys are sorted when printed.
    Dict(Vec<(Cow<'a, str>, Py<'a>)>),
    /// A dense array, printed as `ndarray.tolist()` (already checked to be printable).
    Array(DenseView<'a>),
}

impl<'a> Py<'a> {
    pub fn str(s: &'a str) -> Py<'a> {
        Py::Str(Cow::Borrowed(s))
    }
}

/// Appends the text of `value` at nesting depth `depth` (the first line is not indented).
pub fn write_value(value: &Py<'_>, depth: usize, out: &mut String) {
    match value {
        Py::Null => out.push_str("null"),
        Py::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Py::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Py::Float(x) => write_float(*x, out),
        Py::Str(s) => write_str(s, out),
        Py::List(items) => write_seq(items.len(), depth, out, '[', ']', |i, out| {
            write_value(&items[i], depth + 1, out)
        }),
        Py::Dict(fields) => {
            let mut order: Vec<usize> = (0..fields.len()).collect();
            order.sort_by(|&a, &b| fields[a].0.cmp(&fields[b].0));
            write_seq(fields.len(), depth, out, '{', '}', |i, out| {
                let (key, v) = &fields[order[i]];
                write_str(key, out);
                out.push_str(": ");
                write_value(v, depth + 1, out);
            })
        }
        Py::Array(view) => view.write(depth, out),
    }
}

/// `[`/`{`, one item per line indented by 2 more, `]`/`}`; empty as `[]`/`{}`.
pub fn write_seq(
    n: usize,
    depth: usize,
    out: &mut String,
    open: char,
    close: char,
    mut item: impl FnMut(usize, &mut String),
) {
    out.push(open);
    if n > 0 {
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            newline(depth + 1, out);
            item(i, out);
        }
        newline(depth, out);
    }
    out.push(close);
}

pub fn newline(depth: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A float as `json.dumps` prints a Python float.
pub fn write_float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        pyfloat::write_repr(x, out);
    }
}

/// A string with `ensure_ascii`: everything outside `' '..='~'` is escaped, non-BMP
/// characters as a surrogate pair, hex digits in lower case.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        if (' '..='~').contains(&c) && c != '"' && c != '\\' {
            continue;
        }
        out.push_str(&s[plain_from..i]);
        plain_from = i + c.len_utf8();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Py<'_>) -> String {
        let mut s = String::new();
        write_value(v, 0, &mut s);
        s
    }

    #[test]
    fn nested_values_print_like_json_dumps_indent_2() {
        let v = Py::Dict(vec![
            (
                "b".into(),
                Py::List(vec![Py::Int(1), Py::Float(2.0), Py::Null]),
            ),
            ("a".into(), Py::Dict(vec![])),
            ("c".into(), Py::List(vec![])),
            ("é".into(), Py::Str("x\"\\\n\u{7f}😀".into())),
        ]);
        assert_eq!(
            text(&v),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2.0,\n    null\n  ],\n  \"c\": [],\n  \
             \"\\u00e9\": \"x\\\"\\\\\\n\\u007f\\ud83d\\ude00\"\n}"
        );
    }

    #[test]
    fn non_finite_floats_are_bare_tokens() {
        assert_eq!(text(&Py::Float(f64::NAN)), "NaN");
        assert_eq!(text(&Py::Float(f64::NEG_INFINITY)), "-Infinity");
    }
}
