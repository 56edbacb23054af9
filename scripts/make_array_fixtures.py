#!/usr/bin/env python3
"""Generates tests/fixtures/array/: a small data set and what the original (jina 2.6.4's
docarray 0.0.4, in /work/peer-venv) returns for the array API on it. CI compares damfs's
results with these files and needs no Python.

    /work/peer-venv/bin/python scripts/make_array_fixtures.py [OUTDIR]
"""
import json
import os
import sys
import tempfile
import warnings

import numpy as np
from docarray import Document, DocumentArray, DocumentArrayMemmap
from docarray.math.dimensionality_reduction import PCA

warnings.filterwarnings('ignore')
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), '..', 'tests', 'fixtures', 'array')
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)
DIM = 8
CATS = ['c', 'c', 'b', 'a', 'a']


def make_docs():
    docs = []
    for i in range(30):
        d = Document(id=f'd{i}', text=f'text {i}', embedding=rng.random(DIM, dtype=np.float32))
        d.tags['category'] = CATS[i % 5]
        d.tags['nested'] = {'level': i % 3}
        for j in range(2):
            c = Document(id=f'd{i}-c{j}', text=f'chunk {j} of {i}')
            if j == 0:
                c.chunks.append(Document(id=f'd{i}-c{j}-c0', text='grandchild'))
                c.matches.append(Document(id=f'd{i}-c{j}-m0', text='chunk match'))
            d.chunks.append(c)
        if i % 4 == 0:
            d.matches.append(Document(id=f'd{i}-m0', text=f'old match of {i}'))
        docs.append(d)
    return docs


def ids(docs):
    return [d.id for d in docs]


def matches_of(da):
    return {q.id: [[m.id, float(m.scores[next(iter(m.scores))].value)] for m in q.matches] for q in da}


docs = make_docs()
with open(os.path.join(OUT, 'docs.jsonl'), 'w') as f:
    for d in docs:
        f.write(json.dumps(d.to_dict()) + '\n')
queries = [Document(id=f'q{i}', embedding=rng.random(DIM, dtype=np.float32)) for i in range(5)]
with open(os.path.join(OUT, 'queries.jsonl'), 'w') as f:
    for q in queries:
        f.write(json.dumps(q.to_dict()) + '\n')

expected = {}


def fresh_dam():
    dam = DocumentArrayMemmap(tempfile.mkdtemp())
    dam.extend(Document(d.to_dict()) for d in docs)
    return dam


dam = fresh_dam()
expected['traverse_flat'] = {p: ids(dam.traverse_flat(p)) for p in ['c', 'cc', 'm', 'cm', 'r,c', 'c,m', 'mc']}
expected['traverse_leaves_c'] = [len(leaf) for leaf in dam.traverse('c')][:3]
expected['flatten'] = ids(dam.flatten())
expected['get_attributes'] = dam.get_attributes('text', 'tags__category', 'tags__nested__level', 'id')
expected['sample'] = {str(s): ids(dam.sample(5, seed=s)) for s in [1, 2, 42]}
expected['shuffle'] = {str(s): ids(dam.shuffle(seed=s)) for s in [1, 3]}
expected['split'] = [[k, ids(v)] for k, v in dam.split('category').items()]
expected['embeddings'] = dam.embeddings.tolist()
expected['texts'] = dam.texts
pca = PCA(n_components=2).fit_transform(dam.embeddings.astype(np.float64))
expected['pca'] = pca.tolist()

cases = {
    'cosine': dict(metric='cosine', limit=4),
    'euclidean': dict(metric='euclidean', limit=4),
    'sqeuclidean': dict(metric='sqeuclidean', limit=4),
    'norm01': dict(metric='cosine', limit=4, normalization=(0, 1)),
    'norm10': dict(metric='euclidean', limit=4, normalization=(1, 0)),
}
# (metric_name is not compared: the original passes it to cdist as the metric, so any name
# other than a metric's fails there. damfs uses it only as the score's key.)
expected['match_queries'] = {}
for name, kw in cases.items():
    da = DocumentArray(Document(q.to_dict()) for q in queries)
    da.match(fresh_dam(), **kw)
    expected['match_queries'][name] = matches_of(da)
da = DocumentArray(Document(q.to_dict()) for q in queries)
da.match(fresh_dam(), limit=3)
# One full match: a copy of the right-hand document, its own matches kept (not on the left).
expected['match_full_first'] = da[0].matches[0].to_dict()
expected['match_full_first_of'] = [m.id for m in da]
da = DocumentArray(Document(q.to_dict()) for q in queries)
da.match(fresh_dam(), limit=30)
# Which copies keep the right-hand document's own matches (all: no right id is on the left).
expected['match_keeps_matches'] = {m.id: 'matches' in m.to_dict() for m in da[0].matches}
da = DocumentArray(Document(q.to_dict()) for q in queries)
da.match(fresh_dam(), limit=3, only_id=True)
expected['match_only_id_first'] = da[0].matches[0].to_dict()

dam = fresh_dam()
dam.match(dam, limit=3, exclude_self=True)
dam.flush()
expected['match_self_exclude'] = matches_of(dam)
expected['match_self_any_nested'] = any('matches' in m.to_dict() for d in dam for m in d.matches)
expected['match_self_first'] = dam[0].matches[0].to_dict()
dam = fresh_dam()
dam.match(dam, limit=3)
expected['match_self'] = matches_of(dam)

with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print('wrote', OUT)
