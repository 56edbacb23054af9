"""Makes the original-store fixtures in tests/fixtures/jina/ with the real jina 2.6.4.

Run with the peer's Python 3.9 (see ../shared/peer/setup.sh):

    /work/peer-venv/bin/python scripts/make_jina_fixtures.py tests/fixtures/jina

Each fixture is a directory holding the original's header.bin and body.bin, and
expected.json: for every live document in the original's order, its header key, the header
entry that holds it, and either the exact text of `doc.to_json()` or the error that
to_json() (or reading the record) raises. `random_id` marks records stored without an id,
which the original gives a fresh id on every read. CI needs neither Python nor jina: the
committed files are the reference.
"""
import json
import os
import shutil
import sys
import warnings

import numpy as np

warnings.filterwarnings('ignore')

from docarray import Document, DocumentArrayMemmap  # noqa: E402
from docarray.proto.docarray_pb2 import DocumentProto  # noqa: E402

ENTRY = np.dtype([('', (np.str_, 36)), ('', np.int64), ('', np.int64), ('', np.int64)])


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def append_raw(path, key, record):
    """Appends a record and its header entry by hand (what jina cannot be made to write)."""
    body = os.path.join(path, 'body.bin')
    start = os.path.getsize(body)
    with open(body, 'ab') as f:
        f.write(record)
    p, r = start // 4096 * 4096, start % 4096
    with open(os.path.join(path, 'header.bin'), 'ab') as f:
        f.write(np.array((key, p, r, r + len(record)), dtype=ENTRY).tobytes())


def expected(path, key_length=36):
    """What a fresh DocumentArrayMemmap gives for every live document."""
    dam = DocumentArrayMemmap(path, key_length=key_length)
    out = []
    for key in list(dam._header_keys):
        idx, p, r, rl = dam._header_map[key]
        raw = dam._mmap[p + r : p + rl]
        item = {'key': key, 'entry': int(idx)}
        try:
            item['random_id'] = DocumentProto.FromString(raw).id == ''
        except Exception:
            pass
        try:
            item['json'] = dam[key].to_json()
        except Exception as e:
            item['error'] = f'{type(e).__name__}: {e}'
        out.append(item)
    del dam
    return out


def write_expected(path, items):
    with open(os.path.join(path, 'expected.json'), 'w') as f:
        json.dump(items, f, indent=1, ensure_ascii=True)
        f.write('\n')


def varied(path):
    fresh(path)
    dam = DocumentArrayMemmap(path)
    rng = np.random.default_rng(7)
    docs = [
        Document(id='text', text='hello world', mime_type='text/plain', uri='a.txt'),
        Document(id='empty-text', text=''),
        Document(text='an auto id'),
        Document(
            id='tags',
            tags={
                'int': 1, 'float': 0.1, 'big': 1e16, 'small': 1e-7, 'neg': -2.5,
                'bool': True, 'none': None, 'str': 'x', 'list': [1, 'two', [3.0, None]],
                'nested': {'a': {'b': {'c': [True, False]}}, 'z': {}},
                'nan': float('nan'), 'inf': float('inf'), '\u00e9\u00e8': 'keys sorted',
                'B': 'upper', 'a': 'lower',
            },
        ),
        Document(id='empty-tags', tags={}),
        Document(id='f32', embedding=np.array([0.1, 0.2, 1e-7, -3.5, 1e20], dtype=np.float32)),
        Document(id='f64', embedding=np.array([0.1, 1 / 3, 1e300, -0.0], dtype=np.float64)),
        Document(id='f16', embedding=np.array([0.1, 65504, -2], dtype=np.float16)),
        Document(id='ints', embedding=np.arange(6, dtype=np.int32).reshape(2, 3)),
        Document(id='i64', embedding=np.array([-(2**63), 2**62], dtype=np.int64)),
        Document(id='u8', blob=np.array([[0, 255], [7, 128]], dtype=np.uint8)),
        Document(id='u64', embedding=np.array([2**64 - 1], dtype=np.uint64)),
        Document(id='bools', embedding=np.array([True, False])),
        Document(id='big-endian', embedding=np.array([1.5, -2.25], dtype='>f4')),
        Document(id='3d', embedding=rng.random((2, 2, 2)).astype(np.float32)),
        Document(id='0d', embedding=np.array(3.5)),
        Document(id='unicode-array', embedding=np.array(['ab', '\u00e9', ''])),
        Document(id='blob-f32', blob=rng.random((3, 2)).astype(np.float32)),
        Document(id='buffer', buffer=b'\x00\x01binary\xff'),
        Document(id='empty-buffer', buffer=b''),
        Document(
            id='numbers', weight=0.3, offset=-0.0, location=[1.5, 0.1, 1e10],
            granularity=2, adjacency=3, modality='image', parent_id='p',
        ),
        Document(id='unicode \u00e9\u00e8 \u4e2d\u6587 \U0001F600 "q" \\ \x7f \t\n', text='\u00e9\U0001F600\u2028\x00'),
        Document(id='a' * 36 + 'long', text='a 40-character id: its header key is truncated'),
    ]
    parent = Document(id='parent', text='root')
    child = Document(id='child', text='chunk', embedding=np.array([1, 2], dtype=np.float32))
    child.chunks.append(Document(id='grandchild', text='deep', tags={'k': 'v'}))
    parent.chunks.append(child)
    parent.chunks.append(Document(text='second chunk'))
    m = Document(id='match', text='m', tags={'score': 0.5})
    m.scores['cosine'] = 0.25
    m.scores['zero'] = 0
    m.scores['l2'].op_name = 'l2'
    m.scores['l2'].description = 'a distance'
    m.scores['l2'].ref_id = 'parent'
    m.scores['l2'].value = 1.5
    m.evaluations['precision'] = 0.75
    parent.matches.append(m)
    parent.scores['s'] = float('nan')
    parent.evaluations['e'].op_name = 'recall'
    docs.append(parent)
    dam.extend(docs)
    # A record stored without an id (the original makes up a new one on every read).
    noid = Document(text='no id at all')
    noid.id = ''
    dam.append(noid)
    dam.append(Document(id='to-delete', text='deleted'))
    dam.append(Document(id='dup', text='first content'))
    dam.append(Document(id='dup', text='last content wins, first position stays'))
    dam.append(Document(id='a' * 36 + 'LONG', text='same truncated key: replaces the 40-char one'))
    dam.append(Document(id='updated', text='before'))
    # (Updates go before the delete: after a delete the original writes the wrong slot.)
    dam['updated'] = Document(id='updated', text='after: updated in place, stale bytes behind')
    dam.flush()
    del dam['to-delete']
    dam.append(Document(id='last', text='the end'))
    dam.flush()
    del dam
    # Reopen and change more, as a second session would.
    dam = DocumentArrayMemmap(path)
    dam['empty-text'] = Document(id='empty-text', text='', weight=1.0)
    dam.append(Document(id='after-reopen', text='appended in a second session'))
    dam.flush()
    del dam
    write_expected(path, expected(path))


def unprintable(path):
    fresh(path)
    dam = DocumentArrayMemmap(path)
    dam.append(Document(id='ok-before', text='fine'))
    dam.append(Document(id='complex', embedding=np.array([1 + 2j])))
    dam.append(Document(id='bytes-dtype', blob=np.array([b'ab', b'c'])))
    d = Document(id='sparse')
    d.proto.embedding.sparse.shape.extend([2, 2])
    d.proto.embedding.cls_name = 'scipy'
    dam.append(d)
    d = Document(id='no-cls-name')
    d.proto.embedding.dense.buffer = np.array([1.0], dtype=np.float32).tobytes()
    d.proto.embedding.dense.dtype = '<f4'
    d.proto.embedding.dense.shape.extend([1])
    dam.append(d)
    d = Document(id='empty-array')
    d.proto.embedding.SetInParent()
    d.proto.embedding.cls_name = 'numpy'
    dam.append(d)
    d = Document(id='bad-shape')
    d.proto.embedding.cls_name = 'numpy'
    d.proto.embedding.dense.buffer = np.array([1, 2], dtype=np.float32).tobytes()
    d.proto.embedding.dense.dtype = '<f4'
    d.proto.embedding.dense.shape.extend([3])
    dam.append(d)
    d = Document(id='zeros')
    d.proto.embedding.cls_name = 'numpy'
    d.proto.embedding.dense.shape.extend([2, 3])
    dam.append(d)
    dam.append(Document(id='nan-embedding', embedding=np.array([np.nan, np.inf], dtype=np.float32)))
    dam.append(Document(id='slash/id', text='a damfs id has no slash'))
    dam.flush()
    del dam
    append_raw(path, 'garbage', b'\xff\xff\xff\xff')
    append_raw(path, 'bad-utf8', b'\x0a\x08bad-utf8\x6a\x02\xff\xfe')
    append_raw(path, 'graph', b'\x0a\x05graph\xda\x01\x02ab\x6a\x01g')  # jina 2.0's graph=27
    # jina 2.0-2.2 wrote offset (18) as a uint32 varint; the float schema skips it, also
    # inside a chunk.
    append_raw(path, 'old-offset', b'\x0a\x0aold-offset\x90\x01\x07\x6a\x01t'
               b'\x22\x06\x0a\x01c\x90\x01\x07')
    # Another key whose record has the id of an existing document (damfs ids are unique).
    append_raw(path, 'alias', DocumentProto(id='ok-before', text='same id').SerializeToString())
    dam = DocumentArrayMemmap(path)
    dam.append(Document(id='ok-after', text='fine too'))
    dam.flush()
    del dam
    write_expected(path, expected(path))


def last_deleted(path):
    """The last header entry is a tombstone: jina 2.6.4 itself cannot reopen this store."""
    fresh(path)
    dam = DocumentArrayMemmap(path)
    dam.extend([Document(id=f'd{i}', text=f'doc {i}') for i in range(3)])
    dam.flush()
    del dam
    items = [i for i in expected(path) if i['key'] != 'd2']
    dam = DocumentArrayMemmap(path)
    del dam['d2']
    del dam
    try:
        DocumentArrayMemmap(path)
        raise SystemExit('expected jina to fail opening a store whose last entry is deleted')
    except OSError:
        pass
    write_expected(path, items)


def empty(path):
    fresh(path)
    DocumentArrayMemmap(path)
    write_expected(path, expected(path))


def key_length(k):
    """A store made with another key_length (jina's SimpleIndexer exposes it): ids up to k
    characters, one longer (its header key truncated), a replacement and a delete."""
    def make(path):
        fresh(path)
        dam = DocumentArrayMemmap(path, key_length=k)
        dam.extend([Document(id=f'k{i}', text=f'doc {i}', tags={'i': i}) for i in range(5)])
        dam.append(Document(id='x' * (k + 3), text=f'an id of {k + 3} characters'))
        dam['k1'] = Document(id='k1', text='replaced')
        dam.flush()
        del dam['k3']
        dam.append(Document(id='last', text='the end'))
        dam.flush()
        del dam
        write_expected(path, expected(path, key_length=k))
    make.__name__ = f'key_length_{k}'
    return make


def overwritten(path):
    """What the original's own bugs and older writers leave: jina's parser (protobuf's C++
    one) ends a record at a top-level end-group tag or a zero tag, keeping what came before
    (with a warning); inside a nested message either is an error."""
    fresh(path)
    dam = DocumentArrayMemmap(path)
    dam.extend([Document(id=f'b5-{i}', text=f'doc {i}') for i in range(3)])
    # jina-dam-notes B5: update, reopen, append. The append starts where the last header
    # entry's record ends, over b5-0's new record, whose tail is left behind b5-new's record:
    # the original reads b5-0's entry as b5-new's document up to that tail ("d" is 0x64, an
    # end-group tag).
    dam['b5-0'] = Document(id='b5-0', text='updated ' * 20)
    dam.flush()
    del dam
    dam = DocumentArrayMemmap(path)
    dam.append(Document(id='b5-new', text='appended after reopening'))
    dam.flush()
    del dam
    append_raw(path, 'end-group', b'\x0a\x09end-group\x6a\x01t\x0c' + b'not read\xff')
    append_raw(path, 'end-group-13', b'\x0a\x0cend-group-13\x6a\x01t\x6c\xff\xff')
    append_raw(path, 'zero-tag', b'\x0a\x08zero-tag\x6a\x01t\x00\xff\xff')
    append_raw(path, 'only-end-group', b'\x0c\x0a\x02no')
    append_raw(path, 'nested-end-group', b'\x0a\x10nested-end-group\x22\x04\x0a\x01c\x0c\x6a\x01t')
    append_raw(path, 'nested-zero-tag', b'\x0a\x0fnested-zero-tag\x22\x04\x0a\x01c\x00\x6a\x01t')
    append_raw(path, 'field-zero', b'\x0a\x0afield-zero\x6a\x01t\x02\x01a')
    dam = DocumentArrayMemmap(path)
    dam.append(Document(id='last', text='the end'))
    dam.flush()
    del dam
    write_expected(path, expected(path))


def floats(path):
    """Float texts: repr() of doubles (many are float32 values widened, where two shortest
    candidates can tie), and protobuf's ToShortestFloat of float32 values."""
    import random
    import struct

    from google.protobuf.internal.type_checkers import ToShortestFloat

    rnd = random.Random(11)
    lines = []
    for i in range(600):
        if i % 3 == 0:
            bits = rnd.getrandbits(64)
        else:
            bits32 = rnd.getrandbits(32) if i % 3 == 1 else struct.unpack('<I', struct.pack('<f', rnd.uniform(-1e4, 1e4)))[0]
            x = struct.unpack('<f', struct.pack('<I', bits32))[0]
            bits = struct.unpack('<Q', struct.pack('<d', x))[0]
        x = struct.unpack('<d', struct.pack('<Q', bits))[0]
        if x == x and abs(x) != float('inf'):
            lines.append(f'd {bits:016x} {x!r}')
    for i in range(400):
        bits32 = rnd.getrandbits(32)
        x = struct.unpack('<f', struct.pack('<I', bits32))[0]
        if x == x and abs(x) != float('inf'):
            lines.append(f'f {bits32:08x} {ToShortestFloat(x)!r}')
    with open(os.path.join(path, 'floats.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    # Names after the directory make only those fixtures (the others keep their bytes).
    out = sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/jina'
    only = sys.argv[2:]
    makers = (varied, unprintable, last_deleted, empty, key_length(8), key_length(64), overwritten)
    for make in makers:
        name = make.__name__.replace('_', '-')
        if not only or name in only:
            make(os.path.join(out, name))
    if not only or 'floats' in only:
        floats(out)
    print('fixtures written to', out)
