#!/usr/bin/env python3
"""The PostgreSQL backend against the memmap store and against the engine's own floor (psql on a
plain table), side by side in one run.

    python3 scripts/bench_pg.py                # 50,000 documents
    python3 scripts/bench_pg.py --n 1000000    # the issue's 1M figures (needs ~3 GB of /tmp)
    python3 scripts/bench_pg.py --n 2000 --quick

It starts its own PostgreSQL 15 (initdb in /tmp as the `postgres` user, a Unix socket there, the
server's default durability settings), builds nothing (run `cargo build --release` first), and
prints a Markdown table (also written to target/bench-pg/results.md with raw.json beside it).

Figures: import; mount ready (the `damfs mount` command returning once the mount is live); export
of every document; random `cat` of /by-id/ files p50/p99, cold (first read after mounting) and
warm (the same files again); `sed -i` of 1,000 documents through the mount plus `.save`; save
latency (one changed document, then `.save`); catch-up latency between two mounts (a save on one
until the change is visible on the other); the daemon's memory per document. The floor: `COPY` of
the same documents into a plain table, `COPY ... TO` of the table, and psql point reads.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAMFS = ROOT / 'target' / 'release' / 'damfs'
PG_BIN = Path('/usr/lib/postgresql/15/bin')


def log(*a):
    print('[bench_pg]', *a, file=sys.stderr, flush=True)


def as_pg(cmd):
    return (['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []) + [str(c) for c in cmd]


def sh(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f'{cmd} failed: {p.stderr[-2000:]}')
    return p.stdout


def timed(cmd, **kw):
    t = time.perf_counter()
    sh(cmd, **kw)
    return time.perf_counter() - t


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Server:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix='damfs-bench-pg-', dir='/tmp'))
        if os.geteuid() == 0:
            shutil.chown(self.dir, 'postgres', 'postgres')
        self.data = self.dir / 'data'
        sh(as_pg([PG_BIN / 'initdb', '-D', self.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8']))
        sh(as_pg([PG_BIN / 'pg_ctl', '-D', self.data, '-l', self.dir / 'server.log', '-o',
                  f"-c listen_addresses='' -k {self.dir} -c shared_buffers=256MB -c max_wal_size=4GB",
                  '-w', 'start']))
        self.psql('postgres', 'CREATE DATABASE bench')

    def url(self, table):
        return f'postgresql://postgres@/bench?host={self.dir}&table={table}'

    def psql(self, db, sql, out=subprocess.DEVNULL, stdin=None):
        subprocess.run(['psql', '-h', str(self.dir), '-U', 'postgres', '-d', db, '-qAt', '-v',
                        'ON_ERROR_STOP=1', '-c', sql], check=True, stdout=out, stdin=stdin)

    def stop(self):
        subprocess.run(as_pg([PG_BIN / 'pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop']),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_input(path, n):
    rnd = random.Random(7)
    with open(path, 'w') as f:
        for i in range(n):
            words = ' '.join(rnd.choice(['alpha', 'beta', 'gamma', 'delta', 'x']) for _ in range(20))
            emb = [round(rnd.random(), 4) for _ in range(16)]
            f.write(json.dumps({'id': f'doc{i:08d}', 'text': words, 'tags': {'n': i},
                                'embedding': emb}, separators=(',', ':')) + '\n')


def wait_for(cond, timeout=10.0, step=0.001):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def mount(store, mnt, log_file):
    mnt.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    sh([DAMFS, 'mount', store, mnt, '--log-file', log_file])
    return time.perf_counter() - t


def unmount(mnt):
    subprocess.run([DAMFS, 'unmount', mnt], capture_output=True)


def daemon_rss(mnt):
    """The daemon's resident memory (its pid is in .stats)."""
    try:
        pid = json.loads((mnt / '.stats').read_text())['pid']
        for line in open(f'/proc/{pid}/status'):
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def read_times(paths):
    out = []
    for p in paths:
        t = time.perf_counter()
        with open(p, 'rb') as f:
            f.read()
        out.append(time.perf_counter() - t)
    return out


def bench_store(name, store, mnt_root, inp, n, res, quick):
    r = res[name] = {}
    r['import_s'] = timed([DAMFS, 'import', store, inp])
    r['export_s'] = timed(['bash', '-c', f'{DAMFS} export "$0" > /dev/null', store])
    a, b = mnt_root / f'{name}-a', mnt_root / f'{name}-b'
    r['mount_ready_s'] = mount(store, a, mnt_root / f'{name}-a.log')
    r['rss_bytes'] = daemon_rss(a)
    rnd = random.Random(1)
    sample = [a / 'by-id' / f'doc{rnd.randrange(n):08d}' for _ in range(200 if quick else 1000)]
    cold = read_times(sample)
    warm = read_times(sample)
    r['cat_cold_p50_ms'], r['cat_cold_p99_ms'] = pct(cold, .5) * 1e3, pct(cold, .99) * 1e3
    r['cat_warm_p50_ms'], r['cat_warm_p99_ms'] = pct(warm, .5) * 1e3, pct(warm, .99) * 1e3
    k = min(1000, n)
    files = [str(a / 'by-id' / f'doc{i:08d}') for i in range(k)]
    t = time.perf_counter()
    sh(['sed', '-i', 's/alpha/ALPHA/'] + files)
    (a / '.save').write_text('1\n')
    r['sed_1000_s'] = time.perf_counter() - t
    saves = []
    for i in range(20):
        t = time.perf_counter()
        (a / 'by-id' / f'doc{i:08d}').write_text(json.dumps({'text': f'save {i}'}))
        (a / '.save').write_text('1\n')
        saves.append(time.perf_counter() - t)
    r['save_p50_ms'] = pct(saves, .5) * 1e3
    mount(store, b, mnt_root / f'{name}-b.log')
    lat = []
    for i in range(10 if quick else 30):
        target = b / 'by-id' / f'doc{(i * 37) % n:08d}'
        text = json.dumps({'text': f'catch {i}'})
        (b / '.stats').read_text()
        target.read_bytes()
        t = time.perf_counter()
        (a / 'by-id' / target.name).write_text(text)
        (a / '.save').write_text('1\n')
        ok = wait_for(lambda: f'catch {i}"' in target.read_text())
        lat.append(time.perf_counter() - t if ok else float('inf'))
    r['catchup_p50_ms'], r['catchup_p99_ms'] = pct(lat, .5) * 1e3, pct(lat, .99) * 1e3
    unmount(b)
    unmount(a)


def bench_floor(server, inp, n, res, quick):
    r = res['psql'] = {}
    server.psql('bench', 'CREATE TABLE floor (id text PRIMARY KEY, body text NOT NULL)')
    # The floor's input: the same texts, as COPY text rows (id, body).
    rows = inp.with_suffix('.copy')
    with open(inp) as f, open(rows, 'w') as g:
        for line in f:
            doc = json.loads(line)
            body = line.rstrip('\n').replace('\\', '\\\\').replace('\t', '\\t')
            g.write(f"{doc['id']}\t{body}\n")
    with open(rows) as f:
        t = time.perf_counter()
        server.psql('bench', 'COPY floor FROM STDIN', stdin=f)
        r['import_s'] = time.perf_counter() - t
    t = time.perf_counter()
    server.psql('bench', 'COPY (SELECT body FROM floor ORDER BY id) TO STDOUT')
    r['export_s'] = time.perf_counter() - t
    # Point reads over one connection (psql reading a script of SELECTs).
    rnd = random.Random(1)
    k = 200 if quick else 1000
    script = ''.join(f"SELECT body FROM floor WHERE id = 'doc{rnd.randrange(n):08d}';\n" for _ in range(k))
    t = time.perf_counter()
    subprocess.run(['psql', '-h', str(server.dir), '-U', 'postgres', '-d', 'bench', '-qAt'],
                   input=script, text=True, stdout=subprocess.DEVNULL, check=True)
    r['get_mean_ms'] = (time.perf_counter() - t) / k * 1e3


ROWS = [
    ('import_s', 'import (s)'), ('mount_ready_s', 'mount ready (s)'), ('export_s', 'export (s)'),
    ('cat_cold_p50_ms', 'random cat cold p50 (ms)'), ('cat_cold_p99_ms', 'random cat cold p99 (ms)'),
    ('cat_warm_p50_ms', 'random cat warm p50 (ms)'), ('cat_warm_p99_ms', 'random cat warm p99 (ms)'),
    ('get_mean_ms', 'point read, mean (ms)'),
    ('sed_1000_s', 'sed -i of 1,000 + .save (s)'), ('save_p50_ms', 'save p50 (ms)'),
    ('catchup_p50_ms', 'catch-up p50 (ms)'), ('catchup_p99_ms', 'catch-up p99 (ms)'),
    ('rss_per_doc', 'daemon RSS per document (B)'),
]


def report(res, n):
    for r in res.values():
        if r.get('rss_bytes'):
            r['rss_per_doc'] = r['rss_bytes'] / n
    cell = lambda v: '—' if v is None else (f'{v:.3f}' if v < 10 else f'{v:.0f}')
    lines = [f'## PostgreSQL backend, {n:,} documents', '',
             '| figure | postgres | memmap | pg / memmap | psql floor | pg / floor |',
             '|---|---|---|---|---|---|']
    for key, label in ROWS:
        pg, mm, fl = (res.get(s, {}).get(key) for s in ('postgres', 'memmap', 'psql'))
        ratio = lambda x, y: f'{x / y:.1f}x' if x and y else '—'
        lines.append(f'| {label} | {cell(pg)} | {cell(mm)} | {ratio(pg, mm)} | {cell(fl)} | {ratio(pg, fl)} |')
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=50_000)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    if not DAMFS.exists():
        sys.exit('build first: cargo build --release')
    out = ROOT / 'target' / 'bench-pg'
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='damfs-bench-pg-work-', dir=ROOT / 'target'))
    server = Server()
    res = {}
    try:
        inp = work / 'input.jsonl'
        log(f'making {a.n:,} documents')
        make_input(inp, a.n)
        log('postgres')
        bench_store('postgres', server.url('damfs'), work, inp, a.n, res, a.quick)
        log('memmap')
        bench_store('memmap', str(work / 'store'), work, inp, a.n, res, a.quick)
        log('psql floor')
        bench_floor(server, inp, a.n, res, a.quick)
    finally:
        for m in work.glob('*-[ab]'):
            unmount(m)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = report(res, a.n)
    (out / 'raw.json').write_text(json.dumps(res, indent=1))
    (out / 'results.md').write_text(text)
    print(text)


if __name__ == '__main__':
    main()
