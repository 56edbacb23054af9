//! `NdArrayProto` as numpy sees it: the dtype string, `np.frombuffer(buffer, dtype)
//! .reshape(shape).tolist()` for printing, and the other way round (values to bytes) for
//! writing an original store.

use super::proto::{DenseNdArrayProto, NdArrayContent, NdArrayProto};
use super::pyjson::{newline, write_float, write_str};
use super::Unprintable;

/// The element type of a dtype damfs can read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    Bool,
    Int {
        signed: bool,
        size: u8,
    },
    Float {
        size: u8,
    },
    /// numpy's fixed-width unicode (`<U5`): `chars` UTF-32 code units per element.
    Unicode {
        chars: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    pub elem: Elem,
    pub big_endian: bool,
}

/// Most elements an array may have when printed (a guard against a forged shape).
const MAX_ELEMENTS: u64 = 1 << 26;

impl Dtype {
    pub fn itemsize(&self) -> usize {
        match self.elem {
            Elem::Bool => 1,
            Elem::Int { size, .. } | Elem::Float { size } => size as usize,
            Elem::Unicode { chars } => 4 * chars,
        }
    }

    /// numpy's `dtype.str` (`<f4`, `|u1`, `|b1`, `<U3`): what the original stores.
    pub fn numpy_str(&self) -> String {
        let order = if self.itemsize() == 1 && !matches!(self.elem, Elem::Unicode { .. }) {
            '|'
        } else if self.big_endian {
            '>'
        } else {
            '<'
        };
        match self.elem {
            Elem::Bool => "|b1".to_owned(),
            Elem::Int { signed, size } => {
                format!("{order}{}{size}", if signed { 'i' } else { 'u' })
            }
            Elem::Float { size } => format!("{order}f{size}"),
            Elem::Unicode { chars } => format!("{order}U{chars}"),
        }
    }

    /// Parses a numpy dtype string: `dtype.str` forms (`<f4`, `>i8`, `|b1`, `<U5`) and the
    /// plain names (`float32`, `int64`, `bool`, ...). The error says whether numpy itself
    /// would fail (or print something JSON cannot hold), or only damfs does not know it.
    pub fn parse(s: &str) -> Result<Dtype, Unprintable> {
        let named = match s {
            "bool" | "bool_" | "?" => Some(Elem::Bool),
            "int8" => Some(Elem::Int {
                signed: true,
                size: 1,
            }),
            "int16" => Some(Elem::Int {
                signed: true,
                size: 2,
            }),
            "int32" => Some(Elem::Int {
                signed: true,
                size: 4,
            }),
            "int64" | "int" => Some(Elem::Int {
                signed: true,
                size: 8,
            }),
            "uint8" => Some(Elem::Int {
                signed: false,
                size: 1,
            }),
            "uint16" => Some(Elem::Int {
                signed: false,
                size: 2,
            }),
            "uint32" => Some(Elem::Int {
                signed: false,
                size: 4,
            }),
            "uint64" => Some(Elem::Int {
                signed: false,
                size: 8,
            }),
            "float16" | "half" => Some(Elem::Float { size: 2 }),
            "float32" | "single" => Some(Elem::Float { size: 4 }),
            "float64" | "double" | "float" => Some(Elem::Float { size: 8 }),
            _ => None,
        };
        if let Some(elem) = named {
            return Ok(Dtype {
                elem,
                big_endian: false,
            });
        }
        let (big_endian, rest) = match s.as_bytes().first() {
            Some(b'<' | b'=' | b'|') => (false, &s[1..]),
            Some(b'>') => (true, &s[1..]),
            _ => (false, s),
        };
        let kind = rest.chars().next();
        let size: Option<usize> = rest.get(1..).and_then(|n| n.parse().ok());
        let elem = match (kind, size) {
            (Some('b'), Some(1)) => Elem::Bool,
            (Some(k @ ('i' | 'u')), Some(n @ (1 | 2 | 4 | 8))) => Elem::Int {
                signed: k == 'i',
                size: n as u8,
            },
            (Some('f'), Some(n @ (2 | 4 | 8))) => Elem::Float { size: n as u8 },
            (Some('U'), Some(0)) => {
                return Err(Unprintable::original(format!(
                    "dtype {s:?} has itemsize 0 (numpy cannot read it)"
                )))
            }
            (Some('U'), Some(n)) if n <= 1 << 20 => Elem::Unicode { chars: n },
            (Some('S' | 'a'), _) => {
                return Err(Unprintable::original(format!(
                    "dtype {s:?} holds bytes, which json cannot serialise"
                )))
            }
            (Some('c'), _) => {
                return Err(Unprintable::original(format!(
                    "dtype {s:?} is complex, which json cannot serialise"
                )))
            }
            (Some('O'), _) => {
                return Err(Unprintable::original(format!(
                    "dtype {s:?} holds Python objects, which numpy cannot read from a buffer"
                )))
            }
            _ if s.is_empty() => {
                return Err(Unprintable::original("the array has no dtype".to_owned()))
            }
            _ => {
                return Err(Unprintable::damfs(format!(
                    "dtype {s:?} is not one damfs reads (bool, int8-64, uint8-64, \
                     float16/32/64, unicode)"
                )))
            }
        };
        Ok(Dtype { elem, big_endian })
    }
}

/// Where an array's elements come from.
enum Data<'a> {
    Buffer(&'a [u8]),
    /// No buffer but a shape: numpy's `np.zeros(shape)` (float64).
    Zeros,
}

/// A dense array that is known to print: dtype, shape and data agree.
pub struct DenseView<'a> {
    dtype: Dtype,
    shape: &'a [u32],
    data: Data<'a>,
}

impl<'a> DenseView<'a> {
    /// Checks an `NdArrayProto` the way the original's `NdArray(proto).numpy().tolist()`
    /// treats it. Also says whether any element is NaN or infinite (printed as the bare
    /// tokens `NaN`/`Infinity`, which are not JSON).
    pub fn new(proto: &'a NdArrayProto) -> Result<(DenseView<'a>, bool), Unprintable> {
        let dense = match &proto.content {
            Some(NdArrayContent::Sparse(_)) => {
                // jina's own install has none of them: its to_json() raises ImportError.
                return Err(Unprintable::original(format!(
                    "a sparse array (cls_name {:?}): the original prints one only where \
                     scipy, torch or tensorflow is installed, and damfs does not convert them",
                    proto.cls_name
                )));
            }
            Some(NdArrayContent::Dense(d)) => Some(d),
            None => None,
        };
        // The original converts only these frameworks' arrays (torch, tensorflow and
        // paddle only where they are installed: the values printed are the same).
        if !matches!(
            proto.cls_name.as_str(),
            "numpy" | "torch" | "tensorflow" | "paddle"
        ) {
            return Err(Unprintable::original(format!(
                "the array's cls_name is {:?}, which the original does not convert \
                 ('NoneType' object has no attribute 'tolist')",
                proto.cls_name
            )));
        }
        static EMPTY: DenseNdArrayProto = DenseNdArrayProto {
            buffer: Vec::new(),
            shape: Vec::new(),
            dtype: String::new(),
        };
        let dense = dense.unwrap_or(&EMPTY);
        let elements = dense
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                Unprintable::damfs(format!("the array's shape {:?} is too large", dense.shape))
            })?;
        if dense.buffer.is_empty() {
            if dense.shape.is_empty() {
                return Err(Unprintable::original(
                    "the array has neither a buffer nor a shape \
                     ('NoneType' object has no attribute 'tolist')"
                        .to_owned(),
                ));
            }
            let zeros = Dtype {
                elem: Elem::Float { size: 8 },
                big_endian: false,
            };
            let view = DenseView {
                dtype: zeros,
                shape: &dense.shape,
                data: Data::Zeros,
            };
            return Ok((view, false));
        }
        let dtype = Dtype::parse(&dense.dtype)?;
        let itemsize = dtype.itemsize() as u64;
        let len = dense.buffer.len() as u64;
        if len % itemsize != 0 {
            return Err(Unprintable::original(format!(
                "the array's buffer of {len} bytes is not a multiple of its dtype {:?}'s \
                 size {itemsize}",
                dense.dtype
            )));
        }
        if len / itemsize != elements {
            return Err(Unprintable::original(format!(
                "cannot reshape an array of size {} into shape {:?}",
                len / itemsize,
                dense.shape
            )));
        }
        if let Elem::Unicode { .. } = dtype.elem {
            for item in dense.buffer.chunks_exact(itemsize as usize) {
                if decode_utf32(item, dtype.big_endian).is_none() {
                    return Err(Unprintable::damfs(
                        "the array holds a code point that is not a Unicode scalar value"
                            .to_owned(),
                    ));
                }
            }
        }
        let view = DenseView {
            dtype,
            shape: &dense.shape,
            data: Data::Buffer(&dense.buffer),
        };
        let non_finite = view.has_non_finite();
        Ok((view, non_finite))
    }

    fn has_non_finite(&self) -> bool {
        match (&self.data, self.dtype.elem) {
            (Data::Buffer(b), Elem::Float { size }) => b
                .chunks_exact(size as usize)
                .any(|item| !float_at(item, size, self.dtype.big_endian).is_finite()),
            _ => false,
        }
    }

    /// Appends the value of `tolist()` as `json.dumps(indent=2)` prints it.
    pub fn write(&self, depth: usize, out: &mut String) {
        let mut next = 0usize;
        self.write_dims(0, depth, &mut next, out);
    }

    fn write_dims(&self, dim: usize, depth: usize, next: &mut usize, out: &mut String) {
        if dim == self.shape.len() {
            self.write_element(*next, out);
            *next += 1;
            return;
        }
        let n = self.shape[dim] as usize;
        out.push('[');
        if n > 0 {
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                newline(depth + 1, out);
                self.write_dims(dim + 1, depth + 1, next, out);
            }
            newline(depth, out);
        }
        out.push(']');
    }

    fn write_element(&self, index: usize, out: &mut String) {
        let bytes = match self.data {
            Data::Zeros => {
                out.push_str("0.0");
                return;
            }
            Data::Buffer(b) => b,
        };
        let size = self.dtype.itemsize();
        let item = &bytes[index * size..(index + 1) * size];
        let big = self.dtype.big_endian;
        match self.dtype.elem {
            Elem::Bool => out.push_str(if item[0] != 0 { "true" } else { "false" }),
            Elem::Int { signed, .. } => {
                use std::fmt::Write;
                let _ = write!(out, "{}", int_at(item, signed, big));
            }
            Elem::Float { size } => write_float(float_at(item, size, big), out),
            Elem::Unicode { .. } => {
                let s = decode_utf32(item, big).unwrap_or_default();
                write_str(&s, out);
            }
        }
    }
}

fn ordered<const N: usize>(item: &[u8], big: bool) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&item[..N]);
    if big {
        a.reverse();
    }
    a
}

fn int_at(item: &[u8], signed: bool, big: bool) -> i128 {
    match (item.len(), signed) {
        (1, true) => i128::from(item[0] as i8),
        (1, false) => i128::from(item[0]),
        (2, true) => i128::from(i16::from_le_bytes(ordered(item, big))),
        (2, false) => i128::from(u16::from_le_bytes(ordered(item, big))),
        (4, true) => i128::from(i32::from_le_bytes(ordered(item, big))),
        (4, false) => i128::from(u32::from_le_bytes(ordered(item, big))),
        (_, true) => i128::from(i64::from_le_bytes(ordered(item, big))),
        (_, false) => i128::from(u64::from_le_bytes(ordered(item, big))),
    }
}

fn float_at(item: &[u8], size: u8, big: bool) -> f64 {
    match size {
        2 => half_to_f64(u16::from_le_bytes(ordered(item, big))),
        4 => f64::from(f32::from_le_bytes(ordered(item, big))),
        _ => f64::from_le_bytes(ordered(item, big)),
    }
}

/// IEEE 754 binary16 to double (exact).
pub fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// The nearest binary16 of a double (ties to even), for writing float16 arrays.
pub fn f64_to_half(x: f64) -> u16 {
    if x.is_nan() {
        return 0x7e00;
    }
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    let a = x.abs();
    if a >= 65520.0 {
        return sign | 0x7c00;
    }
    // Scale to units of the smallest subnormal (2^-24) or of the exponent's ulp.
    let (exp, unit) = if a < 2f64.powi(-14) {
        (0u16, 2f64.powi(-24))
    } else {
        let e = a.log2().floor() as i32;
        let e = if 2f64.powi(e) > a { e - 1 } else { e };
        ((e + 15) as u16, 2f64.powi(e - 10))
    };
    let q = a / unit;
    let mut m = q.floor();
    let rest = q - m;
    if rest > 0.5 || (rest == 0.5 && m % 2.0 == 1.0) {
        m += 1.0;
    }
    let bits = if exp == 0 {
        m as u16 // may carry into the first normal exponent, which is right
    } else {
        (exp << 10) + (m as u16 - 1024)
    };
    sign | bits
}

/// One `<U n` element: code points with trailing NULs dropped (as numpy's `tolist`).
fn decode_utf32(item: &[u8], big: bool) -> Option<String> {
    let mut units: Vec<u32> = item
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(ordered(c, big)))
        .collect();
    while units.last() == Some(&0) {
        units.pop();
    }
    units.into_iter().map(char::from_u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_strings_round_trip() {
        for s in [
            "<f4", "<f8", "<f2", ">i8", "|u1", "|i1", "|b1", "<U7", "<u4",
        ] {
            assert_eq!(Dtype::parse(s).unwrap().numpy_str(), s);
        }
        assert_eq!(Dtype::parse("float32").unwrap().numpy_str(), "<f4");
        assert!(Dtype::parse("<c8").unwrap_err().by_original);
        assert!(Dtype::parse("|S3").unwrap_err().by_original);
        assert!(!Dtype::parse("<M8[ns]").unwrap_err().by_original);
    }

    #[test]
    fn halves_convert_both_ways() {
        for h in [
            0u16, 1, 0x3c00, 0xc000, 0x7bff, 0x0400, 0x03ff, 0x3555, 0x7c00,
        ] {
            assert_eq!(f64_to_half(half_to_f64(h)), h, "{h:#x}");
        }
        assert_eq!(f64_to_half(0.1), 0x2e66);
    }
}
