//! Every fixture store made by the real jina 2.6.4 reads back in the original's order, and
//! every document prints exactly as the original's `to_json()`, byte for byte; records the
//! original cannot print are reported with their id and why.

use damfs::jina::convert::decode_record;
use damfs::jina::convert::Documents;
use damfs::jina::plan::Plan;
use damfs::jina::to_json::write_document;
use damfs::jina::JinaStore;

use crate::support::jina::*;

#[test]
fn live_documents_come_in_the_originals_order_with_its_key_rules() {
    for name in FIXTURES {
        let store = JinaStore::open(&fixture(name)).unwrap();
        let got: Vec<(String, u64)> = store
            .live()
            .iter()
            .map(|l| (l.key.to_string(), l.entry))
            .collect();
        let want: Vec<(String, u64)> = expected(name)
            .into_iter()
            .map(|e| (e.key, e.entry))
            .collect();
        assert_eq!(got, want, "fixture {name}");
    }
}

#[test]
fn every_record_prints_exactly_as_the_originals_to_json() {
    let mut checked = 0;
    for name in FIXTURES {
        let store = JinaStore::open(&fixture(name)).unwrap();
        let mut reader = store.body_reader();
        for (live, want) in store.live().iter().zip(expected(name)) {
            let bytes = reader.record(live).unwrap().unwrap().to_vec();
            let printed = decode_record(bytes.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|doc| {
                    let mut text = String::new();
                    let id = doc.id.is_empty().then(|| "fresh".to_owned());
                    write_document(&doc, id.as_deref(), &mut text)
                        .map(|_| text)
                        .map_err(|e| e.to_string())
                });
            match (&want.json, printed) {
                (Ok(json), Ok(text)) if want.random_id => {
                    assert_eq!(text, with_id(json, "fresh"), "{name}: {}", want.key)
                }
                (Ok(json), Ok(text)) => assert_eq!(&text, json, "{name}: {}", want.key),
                (Err(_), Err(_)) => {}
                (want_json, got) => panic!(
                    "{name}: document {:?}: the original gave {want_json:?}, damfs {got:?}",
                    want.key
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} documents checked");
}

#[test]
fn conversion_gives_documents_or_problems_naming_the_id_and_the_reason() {
    for name in FIXTURES {
        let store = JinaStore::open(&fixture(name)).unwrap();
        // The check pass finds clashing ids; the conversion itself the rest.
        let plan = Plan::make(&store, None, &|_| {}).unwrap();
        let mut docs = Documents::new(&store);
        let mut items = Vec::new();
        while let Some(item) = docs.next() {
            let entry = docs.records.entry;
            items.push(match plan.problems.iter().find(|p| p.entry == entry) {
                Some(p) => Err(p.clone()),
                None => item.unwrap(),
            });
        }
        let expected = expected(name);
        assert_eq!(items.len(), expected.len(), "fixture {name}");
        for (item, want) in items.iter().zip(&expected) {
            match item {
                Ok(doc) => {
                    assert!(converts(want), "{name}: {:?} should not convert", want.key);
                    let json = want.json.as_ref().unwrap();
                    if want.random_id {
                        assert_eq!(doc.id().len(), 32);
                        assert_eq!(doc.json(), with_id(json, doc.id()));
                    } else {
                        assert_eq!(doc.json(), json.as_str(), "{name}: {}", want.key);
                        assert_eq!(doc.id(), id_of(json));
                    }
                }
                Err(problem) => {
                    assert!(!converts(want), "{name}: {:?}: {problem}", want.key);
                    assert_eq!(problem.key.as_deref(), Some(want.key.as_str()));
                    assert_eq!(problem.entry, want.entry);
                    let text = problem.to_string();
                    assert!(text.contains(&format!("{:?}", want.key)), "{text}");
                    if want.json.is_err() {
                        assert!(problem.why.by_original, "{text}");
                    } else {
                        let (_, word) = DAMFS_REFUSES.iter().find(|(k, _)| *k == want.key).unwrap();
                        assert!(!problem.why.by_original && text.contains(word), "{text}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_originals_own_errors_are_explained() {
    let store = JinaStore::open(&fixture("unprintable")).unwrap();
    let reasons: Vec<(String, String)> = Documents::new(&store)
        .filter_map(|r| r.unwrap().err())
        .map(|p| (p.key.unwrap(), p.why.reason))
        .collect();
    let reason = |k: &str| &reasons.iter().find(|(key, _)| key == k).unwrap().1;
    assert!(reason("complex").contains("complex"));
    assert!(reason("bytes-dtype").contains("bytes"));
    assert!(reason("sparse").contains("sparse"));
    assert!(reason("bad-shape").contains("cannot reshape an array of size 2 into shape [3]"));
    assert!(reason("garbage").contains("not a valid DocumentProto"));
    assert!(reason("bad-utf8").contains("not a valid DocumentProto"));
    assert!(reason("empty-array").contains("embedding"));
}

#[test]
fn float_texts_match_cpython_and_protobuf() {
    let text = std::fs::read_to_string(fixture("floats.txt")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (kind, bits, want) = (parts.next(), parts.next(), parts.next().unwrap());
        let mut got = String::new();
        match (kind, bits) {
            (Some("d"), Some(b)) => damfs::jina::pyfloat::write_repr(
                f64::from_bits(u64::from_str_radix(b, 16).unwrap()),
                &mut got,
            ),
            (Some("f"), Some(b)) => damfs::jina::pyfloat::write_repr(
                damfs::jina::pyfloat::shortest_float32(f32::from_bits(
                    u32::from_str_radix(b, 16).unwrap(),
                )),
                &mut got,
            ),
            _ => panic!("bad line {line}"),
        }
        assert_eq!(got, want, "{line}");
        n += 1;
    }
    assert!(n > 900);
}
