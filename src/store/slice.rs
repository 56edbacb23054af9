//! Python slice semantics (`start:stop:step`, negative values and steps included).

use std::ops::{Range, RangeFrom, RangeFull, RangeTo};

use crate::error::{Error, Result};

/// The position an index names in a sequence of `len` (negative counts from the end, as in
/// Python), or [`Error::IndexOutOfRange`].
pub fn position(index: isize, len: usize) -> Result<usize> {
    let pos = if index < 0 {
        index + len as isize
    } else {
        index
    };
    if pos < 0 || pos as usize >= len {
        return Err(Error::IndexOutOfRange { index, len });
    }
    Ok(pos as usize)
}

/// A Python-style slice. `None` bounds mean "from the start/end", as in Python.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    pub start: Option<isize>,
    pub stop: Option<isize>,
    pub step: Option<isize>,
}

impl Slice {
    pub fn new(start: Option<isize>, stop: Option<isize>, step: Option<isize>) -> Self {
        Slice { start, stop, step }
    }

    /// `[::step]`
    pub fn step(step: isize) -> Self {
        Slice::new(None, None, Some(step))
    }

    /// The positions this slice selects in a sequence of `len`, in slice order
    /// (what `range(*slice.indices(len))` gives in Python).
    pub fn indices(&self, len: usize) -> Result<Vec<usize>> {
        let step = self.step.unwrap_or(1);
        if step == 0 {
            return Err(Error::ZeroStep);
        }
        let len = len as isize;
        let (lower, upper) = if step > 0 { (0, len) } else { (-1, len - 1) };
        let clamp = |v: isize| {
            if v < 0 {
                (v + len).max(lower)
            } else {
                v.min(upper)
            }
        };
        let start = self
            .start
            .map_or(if step > 0 { lower } else { upper }, clamp);
        let stop = self
            .stop
            .map_or(if step > 0 { upper } else { lower }, clamp);
        let mut out = Vec::new();
        let mut i = start;
        while (step > 0 && i < stop) || (step < 0 && i > stop) {
            out.push(i as usize);
            // A step past the end (e.g. isize::MAX) ends the slice; it must not overflow.
            match i.checked_add(step) {
                Some(next) => i = next,
                None => break,
            }
        }
        Ok(out)
    }
}

impl From<Range<isize>> for Slice {
    fn from(r: Range<isize>) -> Self {
        Slice::new(Some(r.start), Some(r.end), None)
    }
}

impl From<RangeFrom<isize>> for Slice {
    fn from(r: RangeFrom<isize>) -> Self {
        Slice::new(Some(r.start), None, None)
    }
}

impl From<RangeTo<isize>> for Slice {
    fn from(r: RangeTo<isize>) -> Self {
        Slice::new(None, Some(r.end), None)
    }
}

impl From<RangeFull> for Slice {
    fn from(_: RangeFull) -> Self {
        Slice::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(s: Slice, n: usize) -> Vec<usize> {
        s.indices(n).unwrap()
    }

    #[test]
    fn python_semantics() {
        assert_eq!(idx(Slice::step(-1), 4), vec![3, 2, 1, 0]);
        assert_eq!(idx((..2).into(), 4), vec![0, 1]);
        assert_eq!(idx((-2..).into(), 4), vec![2, 3]);
        assert_eq!(idx((-101..-95).into(), 100), vec![0, 1, 2, 3, 4]);
        assert_eq!(idx((95..101).into(), 100).len(), 5);
        assert!(idx((101..105).into(), 100).is_empty());
        assert!(idx(Slice::new(Some(10), Some(0), None), 100).is_empty());
        assert_eq!(idx(Slice::new(Some(5), Some(1), Some(-2)), 10), vec![5, 3]);
        assert_eq!(idx(Slice::new(None, Some(-8), Some(-3)), 10), vec![9, 6, 3]);
        assert_eq!(
            idx(Slice::new(Some(-1), None, Some(-1)), 0),
            Vec::<usize>::new()
        );
        assert!(Slice::step(0).indices(3).is_err());
        assert_eq!(idx(Slice::new(Some(1), None, Some(isize::MAX)), 5), vec![1]);
        assert_eq!(idx(Slice::new(None, None, Some(isize::MIN)), 5), vec![4]);
    }
}
