//! The pieces of Python's `json.dumps(obj, indent=2, sort_keys=True)` text (defaults
//! `ensure_ascii=True`, `allow_nan=True`: what `MessageToJson` returns): strings, floats and
//! indentation.

use std::fmt::Write;

use super::pyfloat;

/// A newline and the indentation of nesting depth `depth` (2 spaces a level).
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
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&s[plain_from..i]);
        // `i` is at a character boundary: everything before it was ASCII or whole chars.
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        i += c.len_utf8();
        plain_from = i;
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

    #[test]
    fn strings_are_escaped_as_python_ensure_ascii() {
        let mut s = String::new();
        write_str("x\"\\\n\u{7f}\u{e9}😀\u{1}", &mut s);
        assert_eq!(s, "\"x\\\"\\\\\\n\\u007f\\u00e9\\ud83d\\ude00\\u0001\"");
    }

    #[test]
    fn non_finite_floats_are_bare_tokens() {
        let mut s = String::new();
        write_float(f64::NAN, &mut s);
        write_float(f64::NEG_INFINITY, &mut s);
        assert_eq!(s, "NaN-Infinity");
    }
}
