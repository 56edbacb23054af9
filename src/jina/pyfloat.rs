//! Python's float text: `repr(float)` (what `json.dumps` prints) and protobuf's
//! `ToShortestFloat` (how `MessageToJson` rounds a proto `float` field before printing it).
//!
//! The shortest digits come from `ryu`, which breaks a tie between two shortest candidates
//! to even as CPython does; Rust's own `{:e}` breaks it upwards (`750.6682739257812` is
//! printed `…813` by Rust, `…812` by Python).

use std::fmt::Write;

/// Appends `repr(x)` for a finite `x` (`1.0`, `1e+16`, `1e-07`, `0.0001`, `-0.0`).
///
/// ryu's own text has CPython's digits and almost its layout: both print plain decimals for
/// `1e-5 <= |x| < 1e16` (`123.0`, `0.001`) and exponents outside. Only two things differ:
/// CPython writes the exponent with a sign and two digits (`1e+16`, `1e-07`, ryu `1e16`,
/// `1e-7`), and switches to an exponent already below `1e-4` (`1.5e-05`, ryu `0.000015`).
pub fn write_repr(x: f64, out: &mut String) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x);
    let (sign, text) = match text.strip_prefix('-') {
        Some(t) => ("-", t),
        None => ("", text),
    };
    out.push_str(sign);
    if let Some((mantissa, exp)) = text.split_once('e') {
        out.push_str(mantissa);
        let (exp_sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        out.push('e');
        out.push(exp_sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
    } else if let Some(digits) = text.strip_prefix("0.0000") {
        // 1e-5 <= |x| < 1e-4: `0.0000ddd` becomes `d.dde-05`.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str("e-05");
    } else {
        out.push_str(text);
    }
}

/// protobuf's `ToShortestFloat`: the `'%.{p}g'` text of the float32 `x` for the smallest
/// `p >= 6` that reads back as the same float32, as a double.
pub fn shortest_float32(x: f32) -> f64 {
    let wide = f64::from(x);
    let mut text = String::with_capacity(24);
    for precision in 6..=17 {
        text.clear();
        // Rust's fixed-precision formatting is exact and rounds ties to even, as C's printf.
        let _ = write!(text, "{:.*e}", precision - 1, wide);
        if let Ok(rounded) = text.parse::<f64>() {
            if rounded as f32 == x {
                return rounded;
            }
        }
    }
    wide
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        write_repr(x, &mut s);
        s
    }

    #[test]
    fn repr_matches_cpython() {
        assert_eq!(repr(1.0), "1.0");
        assert_eq!(repr(1e16), "1e+16");
        assert_eq!(repr(1e-7), "1e-07");
        assert_eq!(repr(0.0001), "0.0001");
        assert_eq!(repr(0.00001), "1e-05");
        assert_eq!(repr(1234567890123456.0), "1234567890123456.0");
        assert_eq!(repr(-2.5e300), "-2.5e+300");
        assert_eq!(repr(-0.0), "-0.0");
        assert_eq!(repr(f64::from(0.1f32)), "0.10000000149011612");
        // A tie between two shortest candidates goes to even, as in CPython.
        assert_eq!(
            repr(f64::from_bits(0x4087_7558_a000_0000)),
            "750.6682739257812"
        );
        assert_eq!(repr(18014398509481992.0), "1.801439850948199e+16");
        assert_eq!(repr(5e-324), "5e-324");
    }

    #[test]
    fn shortest_float32_matches_protobuf() {
        assert_eq!(repr(shortest_float32(0.1)), "0.1");
        assert_eq!(repr(shortest_float32(0.3)), "0.3");
        assert_eq!(repr(shortest_float32(1e16)), "1e+16");
        assert_eq!(repr(shortest_float32(-189880.84)), "-189880.84");
        assert_eq!(repr(shortest_float32(16777217.0)), "16777216.0");
        assert_eq!(repr(shortest_float32(f32::MAX)), "3.4028235e+38");
        assert_eq!(repr(shortest_float32(-0.0)), "-0.0");
    }
}
