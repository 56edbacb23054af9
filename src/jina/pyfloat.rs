//! Python's float text: `repr(float)` (what `json.dumps` prints) and protobuf's
//! `ToShortestFloat` (how `MessageToJson` rounds a proto `float` field before printing it).
//!
//! The shortest digits come from `ryu`, which breaks a tie between two shortest candidates
//! to even as CPython does; Rust's own `{:e}` breaks it upwards (`750.6682739257812` is
//! printed `…813` by Rust, `…812` by Python).

use std::fmt::Write;

/// Appends `repr(x)` for a finite `x` (`1.0`, `1e+16`, `1e-07`, `0.0001`, `-0.0`).
pub fn write_repr(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    let mut buf = ryu::Buffer::new();
    let mut digits = [0u8; 24];
    let (n, decpt) = split_digits(buf.format_finite(x.abs()), &mut digits);
    // ASCII digits only, so this cannot fail.
    let digits = std::str::from_utf8(&digits[..n]).unwrap_or("0");
    // CPython's 'r' format: exponent notation outside 1e-4 <= |x| < 1e16.
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(
            out,
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..decpt.unsigned_abs() {
            out.push('0');
        }
        out.push_str(digits);
    } else if decpt as usize >= digits.len() {
        out.push_str(digits);
        for _ in digits.len()..decpt as usize {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
}

/// Splits ryu's text (`1.5e16`, `0.0001`, `123.0`) into its significant digits (written to
/// `digits`, their count returned) and the decimal point's position: the value is
/// `0.DIGITS × 10^decpt`.
fn split_digits(text: &str, digits: &mut [u8; 24]) -> (usize, i32) {
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let mut n = 0;
    let mut leading = 0i32;
    for b in mantissa.bytes().filter(|b| b.is_ascii_digit()) {
        if n == 0 && b == b'0' {
            leading += 1;
        } else if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    (n, exp + int_len - leading)
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
