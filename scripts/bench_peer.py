"""The original (jina 2.6.4 DocumentArrayMemmap) doing what examples/bench_store.rs does.

One mode per process; prints one JSON object. Run with the peer venv's python:

    bench_peer.py ops N DIR     extend (prebuilt docs), flush, open, iterate, 10k gets by id and
                                by index, set 10k, delete 100 from the end, prune, flush; disk
    bench_peer.py write N DIR   writer process: extend N docs built by a generator, flush
    bench_peer.py read DIR      reader process: open + iterate all
"""
import json
import os
import random
import shutil
import sys
import time

from docarray import Document, DocumentArrayMemmap

GETS = 10_000
SETS = 10_000
DELETES = 100


def disk_bytes(path):
    return sum(
        os.path.getsize(os.path.join(path, f))
        for f in os.listdir(path)
        if os.path.isfile(os.path.join(path, f))
    )


def doc(i):
    return Document(text=f'short text number {i}')


def ops(n, path):
    shutil.rmtree(path, ignore_errors=True)
    out = {'n': n}
    docs = [doc(i) for i in range(n)]
    dam = DocumentArrayMemmap(path)
    t = time.perf_counter()
    dam.extend(docs)
    out['extend_s'] = time.perf_counter() - t
    t = time.perf_counter()
    dam.flush()
    out['save_after_extend_s'] = time.perf_counter() - t
    del dam, docs
    out['disk_bytes'] = disk_bytes(path)

    t = time.perf_counter()
    dam = DocumentArrayMemmap(path)
    out['open_s'] = time.perf_counter() - t
    out['len'] = len(dam)
    t = time.perf_counter()
    total = 0
    for d in dam:
        total += len(d.text)
    out['iterate_s'] = time.perf_counter() - t

    rng = random.Random(42)
    ids = [dam._header_keys[rng.randrange(len(dam))] for _ in range(GETS)]
    del dam

    dam = DocumentArrayMemmap(path)
    t = time.perf_counter()
    for k in ids:
        dam[k]
    out['get_by_id_s'] = time.perf_counter() - t

    t = time.perf_counter()
    for _ in range(GETS):
        dam[rng.randrange(len(dam))]
    out['get_by_index_s'] = time.perf_counter() - t

    t = time.perf_counter()
    for k in range(SETS):
        i = rng.randrange(len(dam))
        dam[i] = Document(id=dam._header_keys[i], text=f'changed text number {k}')
    out['set_s'] = time.perf_counter() - t

    t = time.perf_counter()
    for _ in range(DELETES):
        del dam[len(dam) - 1]
    out['delete_last_s'] = time.perf_counter() - t

    t = time.perf_counter()
    dam.prune()
    out['prune_s'] = time.perf_counter() - t

    t = time.perf_counter()
    dam.flush()
    out['save_s'] = time.perf_counter() - t
    out['len_after'] = len(dam)
    del dam
    out['disk_bytes_after_prune'] = disk_bytes(path)
    return out


def write(n, path):
    shutil.rmtree(path, ignore_errors=True)
    t = time.perf_counter()
    dam = DocumentArrayMemmap(path)
    dam.extend(doc(i) for i in range(n))
    dam.flush()
    del dam
    return {'n': n, 'write_s': time.perf_counter() - t, 'disk_bytes': disk_bytes(path)}


def read(path):
    t = time.perf_counter()
    dam = DocumentArrayMemmap(path)
    out = {'open_s': time.perf_counter() - t}
    t2 = time.perf_counter()
    total = 0
    for d in dam:
        total += len(d.text)
    out['iterate_s'] = time.perf_counter() - t2
    out['total_s'] = time.perf_counter() - t
    out['n'] = len(dam)
    return out


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == 'ops':
        out = ops(int(args[1]), args[2])
    elif len(args) == 3 and args[0] == 'write':
        out = write(int(args[1]), args[2])
    elif len(args) == 2 and args[0] == 'read':
        out = read(args[1])
    else:
        sys.exit('usage: bench_peer.py ops|write N DIR | read DIR')
    out['impl'] = 'jina'
    out['mode'] = args[0]
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve (the driver's RSS would leak in)
    with open('/proc/self/status') as f:
        hwm = [l for l in f if l.startswith('VmHWM:')][0]
    out['peak_rss_bytes'] = int(hwm.split()[1]) * 1024
    print(json.dumps(out))


if __name__ == '__main__':
    main()
