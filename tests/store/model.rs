//! Model-based test: random sequences of every store operation, with pool sizes 0, 1, 3 and
//! 1000, checked after every step against a plain `Vec<(id, json)>`: ids, order, contents,
//! length, `contains`, and the error of every failing call. Reopening (drop + open) and
//! reload must show exactly the model too.
//!
//! Ids come from a small set so that duplicates, re-created ids and missing ids are common.
//!
//! On both backends: `model::memmap::*` (128 cases per pool size) and `model::postgres::*`
//! (32 cases, each on a fresh table; `PROPTEST_CASES` sets both).

use damfs::{Document, Error, Slice, Store};
use proptest::prelude::*;

use crate::support::place::Place;
use crate::support::properties;
use crate::support::store::*;

const NAMES: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "ünï😀"];
const TEXTS: [&str; 6] = [
    "a",
    "bb",
    "quote \" and \\ slash",
    "ü",
    "",
    "a longer text 0123456789",
];

#[derive(Clone, Debug)]
pub(super) enum Op {
    Append(usize, usize),
    Extend(Vec<(usize, usize)>),
    /// set(index, doc): same id as the one there (`None`) or the given id
    Set(isize, Option<usize>, usize),
    SetById(usize, usize),
    Update(isize, usize),
    UpdateById(usize, usize),
    Delete(isize),
    DeleteById(usize),
    DeleteSlice(Option<isize>, Option<isize>, Option<isize>),
    Pop,
    Rename(usize, usize),
    MoveOnto(usize, usize),
    Get(isize),
    GetById(usize),
    Save,
    Reload,
    Clear,
    Prune,
    CompactIndex,
    Reopen,
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    let text = 0..TEXTS.len();
    let idx = -10isize..10;
    let bound = prop_oneof![Just(None), (-12isize..12).prop_map(Some)];
    let step = prop_oneof![
        Just(None),
        Just(Some(0)),
        (-3isize..4).prop_map(Some),
        Just(Some(isize::MAX)),
        Just(Some(isize::MIN))
    ];
    prop_oneof![
        6 => (name.clone(), text.clone()).prop_map(|(n, t)| Op::Append(n, t)),
        3 => prop::collection::vec((name.clone(), text.clone()), 0..4).prop_map(Op::Extend),
        3 => (idx.clone(), prop::option::of(name.clone()), text.clone())
            .prop_map(|(i, n, t)| Op::Set(i, n, t)),
        2 => (name.clone(), text.clone()).prop_map(|(n, t)| Op::SetById(n, t)),
        3 => (idx.clone(), text.clone()).prop_map(|(i, t)| Op::Update(i, t)),
        2 => (name.clone(), text.clone()).prop_map(|(n, t)| Op::UpdateById(n, t)),
        2 => idx.clone().prop_map(Op::Delete),
        2 => name.clone().prop_map(Op::DeleteById),
        1 => (bound.clone(), bound, step).prop_map(|(a, b, s)| Op::DeleteSlice(a, b, s)),
        1 => Just(Op::Pop),
        2 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::MoveOnto(a, b)),
        2 => idx.prop_map(Op::Get),
        2 => name.prop_map(Op::GetById),
        1 => Just(Op::Save),
        1 => Just(Op::Reload),
        1 => Just(Op::Clear),
        1 => Just(Op::Prune),
        1 => Just(Op::CompactIndex),
        2 => Just(Op::Reopen),
    ]
}

/// The errors a call may give, as the model predicts them.
#[derive(Debug, PartialEq)]
pub(super) enum Fail {
    Range,
    Dup(String),
    Missing(String),
    ZeroStep,
}

fn fail(e: Error) -> Fail {
    match e {
        Error::IndexOutOfRange { .. } => Fail::Range,
        Error::DuplicateId(id) => Fail::Dup(id),
        Error::NotFound(id) => Fail::Missing(id),
        Error::ZeroStep => Fail::ZeroStep,
        other => panic!("unexpected error: {other}"),
    }
}

type Model = Vec<(String, String)>;

fn mk(n: usize, t: usize) -> Document {
    doc(NAMES[n], TEXTS[t])
}

fn pos(m: &Model, id: &str) -> Option<usize> {
    m.iter().position(|(i, _)| i == id)
}

fn resolve(m: &Model, i: isize) -> Result<usize, Fail> {
    let p = if i < 0 { i + m.len() as isize } else { i };
    if p < 0 || p as usize >= m.len() {
        Err(Fail::Range)
    } else {
        Ok(p as usize)
    }
}

fn with_text(json: &str, t: usize) -> String {
    let mut d = Document::from_json(json).unwrap();
    d.set("text", TEXTS[t]).unwrap();
    d.into_json()
}

/// Python's slice.indices, in i128.
fn py_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Vec<usize> {
    let len = len as i128;
    let step = step as i128;
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let adjust = |v: Option<isize>, default: i128| match v {
        None => default,
        Some(v) if v < 0 => (v as i128 + len).max(lower),
        Some(v) => (v as i128).min(upper),
    };
    let (mut i, stop) = (
        adjust(start, if step < 0 { upper } else { lower }),
        adjust(stop, if step < 0 { lower } else { upper }),
    );
    let mut out = Vec::new();
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

/// Applies `op` to the model; returns what the call must return (`Some(json)` for reads).
fn model_apply(m: &mut Model, op: &Op) -> Result<Option<String>, Fail> {
    match op {
        Op::Append(n, t) => {
            let d = mk(*n, *t);
            if pos(m, d.id()).is_some() {
                return Err(Fail::Dup(d.id().into()));
            }
            m.push((d.id().into(), d.json().into()));
        }
        Op::Extend(list) => {
            let mut seen = Vec::new();
            for &(n, _) in list {
                let id = NAMES[n];
                if pos(m, id).is_some() || seen.contains(&id) {
                    return Err(Fail::Dup(id.into()));
                }
                seen.push(id);
            }
            for &(n, t) in list {
                let d = mk(n, t);
                m.push((d.id().into(), d.json().into()));
            }
        }
        Op::Set(i, n, t) => {
            let p = resolve(m, *i)?;
            let id = n.map_or(m[p].0.clone(), |n| NAMES[n].to_owned());
            if id != m[p].0 && pos(m, &id).is_some() {
                return Err(Fail::Dup(id));
            }
            let d = doc(&id, TEXTS[*t]);
            m[p] = (id, d.json().into());
        }
        Op::SetById(n, t) => {
            let p = pos(m, NAMES[*n]).ok_or(Fail::Missing(NAMES[*n].into()))?;
            m[p].1 = mk(*n, *t).json().into();
        }
        Op::Update(i, t) => {
            let p = resolve(m, *i)?;
            m[p].1 = with_text(&m[p].1, *t);
        }
        Op::UpdateById(n, t) => {
            let p = pos(m, NAMES[*n]).ok_or(Fail::Missing(NAMES[*n].into()))?;
            m[p].1 = with_text(&m[p].1, *t);
        }
        Op::Delete(i) => {
            let p = resolve(m, *i)?;
            m.remove(p);
        }
        Op::DeleteById(n) => {
            let p = pos(m, NAMES[*n]).ok_or(Fail::Missing(NAMES[*n].into()))?;
            m.remove(p);
        }
        Op::DeleteSlice(a, b, s) => {
            let step = s.unwrap_or(1);
            if step == 0 {
                return Err(Fail::ZeroStep);
            }
            let mut doomed = py_slice(m.len(), *a, *b, step);
            doomed.sort_unstable();
            for p in doomed.into_iter().rev() {
                m.remove(p);
            }
        }
        Op::Pop => {
            let p = resolve(m, -1)?;
            return Ok(Some(m.remove(p).1));
        }
        Op::Rename(a, b) => {
            let p = pos(m, NAMES[*a]).ok_or(Fail::Missing(NAMES[*a].into()))?;
            // renaming to itself is a no-op; onto any other existing id it is refused
            if a == b {
                return Ok(None);
            }
            if pos(m, NAMES[*b]).is_some() {
                return Err(Fail::Dup(NAMES[*b].into()));
            }
            let d = Document::from_json(m[p].1.clone())
                .unwrap()
                .with_id(NAMES[*b])
                .unwrap();
            m[p] = (NAMES[*b].into(), d.into_json());
        }
        Op::MoveOnto(a, b) => {
            let pa = pos(m, NAMES[*a]).ok_or(Fail::Missing(NAMES[*a].into()))?;
            let pb = pos(m, NAMES[*b]).ok_or(Fail::Missing(NAMES[*b].into()))?;
            if pa != pb {
                let d = Document::from_json(m[pa].1.clone())
                    .unwrap()
                    .with_id(NAMES[*b])
                    .unwrap();
                m[pb].1 = d.into_json();
                m.remove(pa);
            }
        }
        Op::Get(i) => return Ok(Some(m[resolve(m, *i)?].1.clone())),
        Op::GetById(n) => {
            let p = pos(m, NAMES[*n]).ok_or(Fail::Missing(NAMES[*n].into()))?;
            return Ok(Some(m[p].1.clone()));
        }
        Op::Clear => m.clear(),
        Op::Save | Op::Reload | Op::Prune | Op::CompactIndex | Op::Reopen => {}
    }
    Ok(None)
}

pub(super) fn store_apply(
    dam: &mut Option<Store>,
    place: &Place,
    pool: usize,
    op: &Op,
) -> Result<Option<String>, Fail> {
    if let Op::Reopen = op {
        drop(dam.take());
        *dam = Some(place.open(pool));
        return Ok(None);
    }
    let d = dam.as_mut().unwrap();
    let json = |r: damfs::Result<Document>| r.map(|d| Some(d.into_json())).map_err(fail);
    let unit = |r: damfs::Result<()>| r.map(|()| None).map_err(fail);
    match op {
        Op::Append(n, t) => unit(d.append(mk(*n, *t))),
        Op::Extend(list) => unit(d.extend(list.iter().map(|&(n, t)| mk(n, t)))),
        Op::Set(i, n, t) => {
            let id = match n {
                Some(n) => NAMES[*n].to_owned(),
                // the id now at `i`, if any (else any id: the index error comes first)
                None => {
                    let p = if *i < 0 { *i + d.len() as isize } else { *i };
                    usize::try_from(p)
                        .ok()
                        .and_then(|p| d.id_at(p))
                        .unwrap_or("k0")
                        .to_owned()
                }
            };
            unit(d.set(*i, doc(&id, TEXTS[*t])))
        }
        Op::SetById(n, t) => unit(d.set_by_id(NAMES[*n], mk(*n, *t))),
        Op::Update(i, t) => d
            .update(*i, |x| x.set("text", TEXTS[*t]).unwrap())
            .map(|()| None)
            .map_err(fail),
        Op::UpdateById(n, t) => d
            .update_by_id(NAMES[*n], |x| x.set("text", TEXTS[*t]).unwrap())
            .map(|()| None)
            .map_err(fail),
        Op::Delete(i) => unit(d.delete(*i)),
        Op::DeleteById(n) => unit(d.delete_by_id(NAMES[*n])),
        Op::DeleteSlice(a, b, s) => unit(d.delete_slice(Slice::new(*a, *b, *s))),
        Op::Pop => json(d.pop()),
        Op::Rename(a, b) => unit(d.rename(NAMES[*a], NAMES[*b])),
        Op::MoveOnto(a, b) => unit(d.move_onto(NAMES[*a], NAMES[*b])),
        Op::Get(i) => json(d.get(*i)),
        Op::GetById(n) => json(d.get_by_id(NAMES[*n])),
        Op::Save => unit(d.save()),
        Op::Reload => unit(d.reload()),
        Op::Clear => unit(d.clear()),
        Op::Prune => unit(d.prune()),
        // The memmap store's index compaction; PostgreSQL has no index file to compact.
        Op::CompactIndex => match d {
            Store::Memmap(m) => unit(m.compact_index()),
            Store::Postgres(_) => Ok(None),
        },
        Op::Reopen => unreachable!(),
    }
}

fn check(dam: &Store, m: &Model, step: usize, op: &Op) {
    let what = format!("after step {step} ({op:?})");
    assert_same(&snapshot(dam), m, &what);
    assert_eq!(dam.len(), m.len(), "{what}");
    assert_eq!(dam.is_empty(), m.is_empty(), "{what}");
    for name in NAMES {
        assert_eq!(
            dam.contains(name),
            pos(m, name).is_some(),
            "{what}: contains {name}"
        );
        assert_eq!(
            dam.position_of(name),
            pos(m, name),
            "{what}: position of {name}"
        );
    }
    // Positions and ids agree both ways, at every position.
    for (p, (id, _)) in m.iter().enumerate() {
        assert_eq!(dam.id_at(p), Some(id.as_str()), "{what}: id at {p}");
    }
    assert_eq!(dam.id_at(m.len()), None, "{what}");
    let st = dam.stats();
    assert!(st.pool_used <= st.pool_size, "{what}: {st:?}");
    assert!(st.pool_dirty <= st.pool_used, "{what}: {st:?}");
}

fn run(place: &Place, pool: usize, ops: &[Op]) {
    let mut dam = Some(place.open(pool));
    let mut model: Model = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let want = model_apply(&mut model, op);
        let got = store_apply(&mut dam, place, pool, op);
        assert_eq!(got, want, "step {step}: {op:?}");
        check(dam.as_ref().unwrap(), &model, step, op);
    }
    // and what is stored, after closing
    drop(dam);
    let again = place.open(pool);
    assert_same(&snapshot(&again), &model, "final reopen");
    drop(again);
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
}

mod memmap {
    use super::*;

    fn on_memmap(pool: usize, ops: &[Op]) {
        run(&Place::memmap().unwrap(), pool, ops);
    }

    proptest! {
        // 128 cases per pool size, or `PROPTEST_CASES`.
        #![proptest_config(properties::config(128))]

        #[test]
        fn model_pool_0(ops in prop::collection::vec(op(), 1..60)) { on_memmap(0, &ops); }

        #[test]
        fn model_pool_1(ops in prop::collection::vec(op(), 1..60)) { on_memmap(1, &ops); }

        #[test]
        fn model_pool_3(ops in prop::collection::vec(op(), 1..60)) { on_memmap(3, &ops); }

        #[test]
        fn model_pool_1000(ops in prop::collection::vec(op(), 1..60)) { on_memmap(1000, &ops); }
    }
}

mod postgres {
    use super::*;

    fn on_postgres(pool: usize, ops: &[Op]) {
        let Some(place) = Place::postgres_table() else {
            crate::support::postgres::skip_without_server();
            return;
        };
        run(&place, pool, ops);
    }

    proptest! {
        // 32 cases per pool size (each a round trip per call), or `PROPTEST_CASES`.
        #![proptest_config(properties::config(32))]

        #[test]
        fn model_pool_0(ops in prop::collection::vec(op(), 1..60)) { on_postgres(0, &ops); }

        #[test]
        fn model_pool_1(ops in prop::collection::vec(op(), 1..60)) { on_postgres(1, &ops); }

        #[test]
        fn model_pool_3(ops in prop::collection::vec(op(), 1..60)) { on_postgres(3, &ops); }

        #[test]
        fn model_pool_1000(ops in prop::collection::vec(op(), 1..60)) { on_postgres(1000, &ops); }
    }
}
