#!/usr/bin/env python3
"""Jina stores: damfs against the original (jina 2.6.4), side by side in one run.

    cargo build --release --bin damfs --example bench_store --example randcat
    python3 scripts/bench_jina.py [--peer-python /work/peer-venv/bin/python] [--n 50000]
                                  [--runs 5] [--work /var/tmp/damfs-bench-jina] [--no-mount]

1. Conversion: an original store of N documents (made by jina: a text, tags and a float32
   embedding of 8 each) converted by `damfs import STORE JINA_DIR`, against jina opening the
   same store, iterating it and calling to_json() on every document. Wall time of the damfs
   process (start to exit) against the Python loop alone (interpreter start and imports not
   counted), and the peak RSS of each process. Goals: >= 20x faster, damfs <= 20 MB.
2. The mount: `damfs mount JINA_DIR MNT --read-only` against a plain directory of the same
   JSON files (the to_json() texts), warm cat / grep / ls -l / random cat, with the
   workloads and targets of scripts/bench.py. Goal: within 1.15x of the plain directory.

Medians of --runs runs; ratios between medians of the same run. Prints a Markdown report and
writes it to bench/results-jina.md (or --out).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (DAMFS, EX, Target, damfs_target, log, median, read_workload,  # noqa: E402
                   run_json, umount)

MAKE = r'''
import sys, json, time, warnings
warnings.filterwarnings('ignore')
import numpy as np
from docarray import Document, DocumentArrayMemmap
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(1)
emb = rng.random((n, 8), dtype=np.float32)
dam = DocumentArrayMemmap(path)
dam.extend(Document(text=f'short text number {i}', tags={'i': i, 'group': f'g{i % 10}'},
                    embedding=emb[i]) for i in range(n))
dam.flush()
print(json.dumps({'n': len(dam)}))
'''

ITERATE = r'''
import sys, json, time, resource, warnings
warnings.filterwarnings('ignore')
from docarray import DocumentArrayMemmap
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
t, c = time.perf_counter(), cpu()
dam = DocumentArrayMemmap(sys.argv[1])
size = 0
for d in dam:
    size += len(d.to_json())
s, c = time.perf_counter() - t, cpu() - c
print(json.dumps({'s': s, 'cpu_s': c, 'bytes': size, 'peak_rss_bytes':
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
'''


def timed_rss(cmd):
    """Wall time and peak RSS of a child process."""
    t = time.perf_counter()
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    s = time.perf_counter() - t
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'{cmd} failed: {err}')
    return {'s': s, 'cpu_s': ru.ru_utime + ru.ru_stime, 'peak_rss_bytes': ru.ru_maxrss * 1024}


def bench_convert(a, res, jina):
    store = a.work / 'converted'
    conv = res.setdefault('convert', {'n': a.n, 'damfs': [], 'jina': []})
    for r in range(a.runs):
        shutil.rmtree(store, ignore_errors=True)
        log(f'convert {r + 1}/{a.runs}: damfs import')
        conv['damfs'].append(timed_rss([DAMFS, 'import', store, jina]))
        log(f'convert {r + 1}/{a.runs}: jina iterate + to_json')
        conv['jina'].append(run_json([a.peer_python, '-c', ITERATE, jina]))
    return store


def bench_mount(a, res, jina, store):
    plain = a.work / 'plain'
    shutil.rmtree(plain, ignore_errors=True)
    run_json([EX / 'bench_store', 'export', store, plain])
    ids_file = a.work / 'ids.txt'
    run_json([EX / 'bench_store', 'ids', store, ids_file])
    # For context, the same documents in a damfs store mounted read-only the usual way.
    targets = [Target('plain', plain), damfs_target('jina_ro', jina, a.work / 'mnt', True),
               damfs_target('damfs_ro', store, a.work / 'mnt-damfs', True)]
    mres = res.setdefault('mount', {'n': a.n, 'warm': {}})
    try:
        for t in targets:
            t.start()
        res['mount']['mount_s'] = getattr(targets[1], 'mount_s', None)
        for r in range(a.runs):
            for w in ['cat_all', 'grep_rl', 'ls_l', 'randcat']:
                for t in targets:
                    log(f'mount warm {r + 1}/{a.runs}: {w} on {t.name}')
                    read_workload(w, t, ids_file)
                    out = read_workload(w, t, ids_file)
                    mres['warm'].setdefault(w, {}).setdefault(t.name, []).append(out)
    finally:
        for t in targets:
            t.stop()


def fmt(s):
    if s < 1e-3:
        return f'{s * 1e6:.1f} µs'
    return f'{s * 1000:.1f} ms' if s < 1 else f'{s:.2f} s'


def report(a, res):
    lines = [f'# Jina stores: damfs vs jina 2.6.4 ({a.n:,} documents, median of {a.runs} runs)',
             '', 'damfs: `damfs import STORE JINA_DIR`, the whole process (both passes, writing '
             'and fsync). jina: `DocumentArrayMemmap(JINA_DIR)`, iterating it and calling '
             '`to_json()` on each document, inside one Python process (start-up and imports not '
             'counted).', '']
    c = res.get('convert')
    if c:
        lines += convert_lines(c)
    m = res.get('mount')
    if m:
        lines += mount_lines(m)
    text = '\n'.join(lines) + '\n'
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    (a.out.parent / 'raw-jina.json').write_text(json.dumps(res, indent=1))


def convert_lines(c):
    lines = []
    d = median([x['s'] for x in c['damfs']])
    j = median([x['s'] for x in c['jina']])
    dc = median([x.get('cpu_s') for x in c['damfs']])
    jc = median([x.get('cpu_s') for x in c['jina']])
    drss = max(x['peak_rss_bytes'] for x in c['damfs'])
    jrss = max(x['peak_rss_bytes'] for x in c['jina'])
    lines += ['| conversion | damfs `import` | jina iterate + `to_json()` | ratio | goal |',
              '|---|---|---|---|---|',
              f'| time | {fmt(d)} | {fmt(j)} | {j / d:.1f}x faster | >= 20x: '
              f'{"met" if j / d >= 20 else "NOT met"} |',
              f'| CPU time (user + sys) | {fmt(dc)} | {fmt(jc)} | {jc / dc:.1f}x less | |'
              if dc and jc else '| CPU time | n/a | n/a | | |',
              f'| peak RSS | {drss / 1e6:.1f} MB | {jrss / 1e6:.1f} MB | {drss / jrss:.2f}x | '
              f'<= 20 MB: {"met" if drss <= 20e6 else "NOT met"} |', '']
    return lines


def mount_lines(m):
    lines = [f'Read-only mount of the Jina store (`damfs mount JINA_DIR MNT --read-only`, '
             f'live in {fmt(m["mount_s"])} including the conversion) against a plain '
             f'directory of the same JSON files, warm; and, for context, the damfs store '
             f'holding the same documents mounted read-only:', '',
             '| workload | plain | Jina store mounted | ratio | goal <= 1.15x | '
             'damfs store mounted | ratio |',
             '|---|---|---|---|---|---|---|']
    for w, per in m['warm'].items():
        key = 'p50_s' if w == 'randcat' else 's'
        p = median([x[key] for x in per['plain']])
        q = median([x[key] for x in per['jina_ro']])
        r = median([x[key] for x in per.get('damfs_ro', [])])
        name = 'random cat by id, p50' if w == 'randcat' else w
        ctx = f'{fmt(r)} | {r / p:.2f}x' if r else 'n/a | '
        lines.append(f'| {name} | {fmt(p)} | {fmt(q)} | {q / p:.2f}x | '
                     f'{"met" if q / p <= 1.15 else "NOT met"} | {ctx} |')
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--peer-python', default='/work/peer-venv/bin/python')
    ap.add_argument('--n', type=int, default=50000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--work', type=Path, default=Path('/var/tmp/damfs-bench-jina'))
    ap.add_argument('--out', type=Path, default=Path('bench/results-jina.md'))
    ap.add_argument('--no-mount', action='store_true')
    ap.add_argument('--no-convert', action='store_true',
                    help='only the mount (needs the converted store of an earlier run)')
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    jina = a.work / f'jina-{a.n}'
    if not (jina / 'header.bin').exists():
        log(f'making an original store of {a.n} documents with jina')
        run_json([a.peer_python, '-c', MAKE, a.n, jina])
    res = {}
    if a.no_convert and (a.work / 'converted').exists():
        store = a.work / 'converted'
    else:
        store = bench_convert(a, res, jina)
    if not a.no_mount and Path('/dev/fuse').exists():
        bench_mount(a, res, jina, store)
    report(a, res)


if __name__ == '__main__':
    main()
