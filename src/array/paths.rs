//! Traversal paths, as the original's: a comma-separated list of paths, each a word over
//! `r` (the documents themselves), `c` (their chunks) and `m` (their matches). `c` is every
//! chunk at granularity 1, `cc` at granularity 2, `cm` the matches of the chunks, and
//! `r,c` the documents and then all their chunks.
//!
//! [`traverse`] yields one sequence per leaf reached (the store itself for `r`, else one
//! document's `chunks` or `matches` array); [`traverse_flat`] joins them into one array, and
//! gives back the store itself for the path `r`; [`flatten`] lists every document and every
//! nested chunk and match, each with its own `chunks` and `matches` removed.

use serde_json::{Map, Value};

use super::error::{ArrayError, ArrayResult};
use crate::store::Iter;
use crate::{Document, DocumentArrayMemmap};

/// One step down a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Chunks,
    Matches,
}

impl Step {
    fn field(self) -> &'static str {
        match self {
            Step::Chunks => "chunks",
            Step::Matches => "matches",
        }
    }
}

/// One traversal path: the steps below the root (`r` adds none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraversalPath {
    pub text: String,
    pub steps: Vec<Step>,
}

impl TraversalPath {
    /// Whether the path stays at the root (`r`, `rr` or empty).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Parses `"r,c,cm"` into paths. Whitespace around each path is ignored, as in the original.
pub fn parse_paths(paths: &str) -> ArrayResult<Vec<TraversalPath>> {
    paths
        .split(',')
        .map(|p| {
            let text = p.trim();
            let steps = text
                .chars()
                .filter(|&c| c != 'r')
                .map(|c| match c {
                    'c' => Ok(Step::Chunks),
                    'm' => Ok(Step::Matches),
                    other => Err(ArrayError::InvalidPath {
                        path: paths.to_owned(),
                        reason: format!("{other:?} is not one of `c`, `r`, `m`"),
                    }),
                })
                .collect::<ArrayResult<Vec<_>>>()?;
            Ok(TraversalPath {
                text: text.to_owned(),
                steps,
            })
        })
        .collect()
}

/// A sequence reached by a path: the store itself, or one document's chunks or matches.
pub enum Leaf<'a> {
    Root(&'a DocumentArrayMemmap),
    Docs(Vec<Document>),
}

/// The nested documents of `field` (chunks or matches) of a parsed document. A nested
/// document without an id gets a fresh one, as the original's Document does.
pub(crate) fn nested(owner: &str, doc: &Map<String, Value>, step: Step) -> ArrayResult<Vec<Value>> {
    match doc.get(step.field()) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            for item in items {
                if !item.is_object() {
                    return Err(ArrayError::bad_field(
                        owner,
                        format!("an element of {:?} is not a JSON object", step.field()),
                    ));
                }
            }
            Ok(items.clone())
        }
        Some(_) => Err(ArrayError::bad_field(
            owner,
            format!("{:?} is not a list of documents", step.field()),
        )),
    }
}

fn into_document(value: Value) -> ArrayResult<Document> {
    Ok(Document::from_value(value)?)
}

fn map_of(doc: &Document) -> ArrayResult<Map<String, Value>> {
    Ok(doc.to_map()?)
}

/// The leaves `steps` reaches below one root document, depth first, in order.
fn leaves_of(root: &Document, steps: &[Step]) -> ArrayResult<Vec<Vec<Document>>> {
    let mut frontier = vec![vec![root.clone()]];
    for &step in steps {
        let mut next = Vec::new();
        for doc in frontier.iter().flatten() {
            let children = nested(doc.id(), &map_of(doc)?, step)?;
            next.push(
                children
                    .into_iter()
                    .map(into_document)
                    .collect::<ArrayResult<Vec<_>>>()?,
            );
        }
        frontier = next;
    }
    Ok(frontier)
}

/// Iterator of [`traverse`].
pub struct Traverse<'a> {
    dam: &'a DocumentArrayMemmap,
    paths: std::vec::IntoIter<TraversalPath>,
    current: Option<(Vec<Step>, Iter<'a>)>,
    pending: std::vec::IntoIter<Vec<Document>>,
}

impl<'a> Iterator for Traverse<'a> {
    type Item = ArrayResult<Leaf<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(docs) = self.pending.next() {
                return Some(Ok(Leaf::Docs(docs)));
            }
            if let Some((steps, docs)) = &mut self.current {
                match docs.next() {
                    Some(Ok(doc)) => match leaves_of(&doc, steps) {
                        Ok(leaves) => self.pending = leaves.into_iter(),
                        Err(e) => return Some(Err(e)),
                    },
                    Some(Err(e)) => return Some(Err(e.into())),
                    None => self.current = None,
                }
                continue;
            }
            let path = self.paths.next()?;
            if path.is_root() {
                return Some(Ok(Leaf::Root(self.dam)));
            }
            self.current = Some((path.steps, self.dam.iter()));
        }
    }
}

/// The sequences each path reaches, path by path (see the module docs).
pub fn traverse<'a>(dam: &'a DocumentArrayMemmap, paths: &str) -> ArrayResult<Traverse<'a>> {
    Ok(Traverse {
        dam,
        paths: parse_paths(paths)?.into_iter(),
        current: None,
        pending: Vec::new().into_iter(),
    })
}

/// [`traverse`] with the original's `filter_fn`: each sequence a path reaches keeps only the
/// documents `keep` accepts (the root too: then it is a filtered copy, not the store).
pub fn traverse_filtered<'a>(
    dam: &'a DocumentArrayMemmap,
    paths: &str,
    keep: impl Fn(&Document) -> bool + 'a,
) -> ArrayResult<impl Iterator<Item = ArrayResult<Vec<Document>>> + 'a> {
    Ok(traverse(dam, paths)?.map(move |leaf| {
        let docs = match leaf? {
            Leaf::Root(dam) => dam.iter().collect::<Result<Vec<_>, _>>()?,
            Leaf::Docs(docs) => docs,
        };
        Ok(docs.into_iter().filter(|d| keep(d)).collect())
    }))
}

/// What [`traverse_flat`] returns: the store itself for the path `r`, else the documents.
pub enum Flat<'a> {
    Root(&'a DocumentArrayMemmap),
    Docs(Vec<Document>),
}

impl Flat<'_> {
    pub fn len(&self) -> usize {
        match self {
            Flat::Root(dam) => dam.len(),
            Flat::Docs(docs) => docs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The documents, read from the store when this is the root.
    pub fn into_docs(self) -> ArrayResult<Vec<Document>> {
        match self {
            Flat::Root(dam) => Ok(dam.to_vec()?),
            Flat::Docs(docs) => Ok(docs),
        }
    }
}

/// Every document the paths reach, in one array; the store itself for exactly `r`.
pub fn traverse_flat<'a>(dam: &'a DocumentArrayMemmap, paths: &str) -> ArrayResult<Flat<'a>> {
    if paths == "r" {
        return Ok(Flat::Root(dam));
    }
    let mut out = Vec::new();
    for leaf in traverse(dam, paths)? {
        match leaf? {
            Leaf::Root(dam) => {
                for doc in dam.iter() {
                    out.push(doc?);
                }
            }
            Leaf::Docs(docs) => out.extend(docs),
        }
    }
    Ok(Flat::Docs(out))
}

/// [`traverse_flat`] with the original's `filter_fn`: every reached document `keep`
/// accepts, in one array (never the store itself, even for `r`).
pub fn traverse_flat_filtered(
    dam: &DocumentArrayMemmap,
    paths: &str,
    keep: impl Fn(&Document) -> bool,
) -> ArrayResult<Vec<Document>> {
    let mut out = Vec::new();
    for_each_reached(dam, paths, |doc| {
        if keep(doc) {
            out.push(doc.clone());
        }
        Ok(())
    })?;
    Ok(out)
}

/// One flat array per path (the original's `traverse_flat_per_path`): for `"r,c"`, the
/// store itself and then all the chunks.
pub fn traverse_flat_per_path<'a>(
    dam: &'a DocumentArrayMemmap,
    paths: &str,
) -> ArrayResult<Vec<Flat<'a>>> {
    parse_paths(paths)?
        .into_iter()
        .map(|path| {
            if path.is_root() {
                return Ok(Flat::Root(dam));
            }
            let mut out = Vec::new();
            for leaf in traverse(dam, &path.text)? {
                if let Leaf::Docs(docs) = leaf? {
                    out.extend(docs);
                }
            }
            Ok(Flat::Docs(out))
        })
        .collect()
}

/// Calls `f` with every document the paths reach, without collecting them (what
/// `damfs traverse` uses: memory for one root document's leaves at a time).
pub fn for_each_reached(
    dam: &DocumentArrayMemmap,
    paths: &str,
    mut f: impl FnMut(&Document) -> ArrayResult<()>,
) -> ArrayResult<()> {
    for leaf in traverse(dam, paths)? {
        match leaf? {
            Leaf::Root(dam) => {
                for doc in dam.iter() {
                    f(&doc?)?;
                }
            }
            Leaf::Docs(docs) => docs.iter().try_for_each(&mut f)?,
        }
    }
    Ok(())
}

fn flatten_into(id: &str, mut doc: Map<String, Value>, out: &mut Vec<Document>) -> ArrayResult<()> {
    for step in [Step::Chunks, Step::Matches] {
        for child in nested(id, &doc, step)? {
            let child = into_document(child)?;
            let map = map_of(&child)?;
            flatten_into(child.id(), map, out)?;
        }
    }
    doc.shift_remove("chunks");
    doc.shift_remove("matches");
    out.push(Document::from_map(doc)?);
    Ok(())
}

/// Every document and every nested chunk and match (chunks first, then matches, then the
/// document itself: the original's order), each without `chunks` and `matches`.
pub fn flatten(dam: &DocumentArrayMemmap) -> ArrayResult<Vec<Document>> {
    let mut out = Vec::new();
    for doc in dam.iter() {
        let doc = doc?;
        flatten_into(doc.id(), map_of(&doc)?, &mut out)?;
    }
    Ok(out)
}
