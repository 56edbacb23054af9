use damfs::{Document, DocumentArrayMemmap, Options};

fn doc(id: &str, text: &str) -> Document {
    Document::from_json(format!("{{\"id\":\"{id}\",\"text\":\"{text}\"}}")).unwrap()
}

#[test]
fn smoke_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut dam = DocumentArrayMemmap::open_with(
            dir.path(),
            Options {
                buffer_pool_size: 2,
                read_only: false,
            },
        )
        .unwrap();
        dam.extend((0..5).map(|i| doc(&format!("id_{i}"), "x")))
            .unwrap();
        dam.delete(1).unwrap();
        dam.delete(2).unwrap();
        dam.set(0, doc("id_0", "NEW")).unwrap();
        dam.set(1, doc("other", "renamed")).unwrap();
        dam.delete(-1).unwrap();
        let ids: Vec<String> = dam.ids().map(String::from).collect();
        assert_eq!(ids, ["id_0", "other"]);
    }
    let mut dam = DocumentArrayMemmap::open(dir.path()).unwrap();
    let ids: Vec<String> = dam.ids().map(String::from).collect();
    assert_eq!(ids, ["id_0", "other"]);
    assert_eq!(dam.get(0).unwrap().text().unwrap(), "NEW");
    dam.append(doc("z", "z")).unwrap();
    let before = dam.stats();
    dam.prune().unwrap();
    let after = dam.stats();
    assert!(after.bytes < before.bytes, "{before:?} {after:?}");
    assert_eq!(dam.len(), 3);
    drop(dam);
    let dam = DocumentArrayMemmap::open(dir.path()).unwrap();
    assert_eq!(dam.to_vec().unwrap().len(), 3);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}
