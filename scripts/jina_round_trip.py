"""Round trip jina -> damfs -> jina against the real jina 2.6.4, run by hand:

    cargo build --release
    /work/peer-venv/bin/python scripts/jina_round_trip.py target/release/damfs [--write-expected]

For every fixture in tests/fixtures/jina/: `damfs import --skip-bad` it, `damfs export --jina`
it back (`--embedding-dtype exact --blob-dtype exact`, so that no value changes, and the
fixture's own `--key-length`), open the
result with jina's DocumentArrayMemmap and compare every document's to_dict() with the
original's. The original's to_dict() is json.loads of the to_json() recorded in the fixture's
expected.json (MessageToJson is json.dumps of the very dict MessageToDict returns), which also
covers the fixture that jina itself cannot reopen. Records stored without an id get a fresh
one on each read: their id is left out of the comparison. Prints one line per fixture and
exits 1 on any difference.

With --write-expected it also writes tests/fixtures/jina/round-trip.json: for each fixture,
the to_json() jina printed for every document of the exported store. CI compares it with what
damfs reads back from its own export, so the damfs side is checked without Python.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings('ignore')

from docarray import DocumentArrayMemmap  # noqa: E402

# Each fixture with the key_length it was made with (the export writes it back with the same).
FIXTURES = {'varied': 36, 'unprintable': 36, 'last-deleted': 36, 'empty': 36,
            'key-length-8': 8, 'key-length-64': 64, 'overwritten': 36}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    damfs = args[0] if args else os.path.join(ROOT, 'target/release/damfs')
    # --default-rules: export with the default float32 rule instead (float64 arrays then come
    # back as float32, so their documents differ; shown for the record).
    default_rules = '--default-rules' in sys.argv
    failures = 0
    printed = {}
    for name, key_length in FIXTURES.items():
        src = os.path.join(ROOT, 'tests/fixtures/jina', name)
        expected = json.load(open(os.path.join(src, 'expected.json')))
        with tempfile.TemporaryDirectory() as tmp:
            store, out = os.path.join(tmp, 'store'), os.path.join(tmp, 'out')
            imp = subprocess.run([damfs, 'import', store, src, '--skip-bad'],
                                 capture_output=True, text=True, check=True)
            skipped = set(re.findall(r'skipped document "((?:[^"\\]|\\.)*)"', imp.stderr))
            skipped = {json.loads(f'"{k}"') for k in skipped}
            rules = [] if default_rules else ['--embedding-dtype', 'exact', '--blob-dtype',
                                              'exact']
            rules += ['--key-length', str(key_length)]
            subprocess.run([damfs, 'export', store, '--jina', out] + rules, check=True,
                           capture_output=True)
            dam = DocumentArrayMemmap(out, key_length=key_length)
            docs = [dam[k] for k in dam._header_keys]
            printed[name] = [d.to_json() for d in docs]
            want = [i for i in expected if 'json' in i and i['key'] not in skipped]
            equal = differ = 0
            if len(want) != len(docs):
                print(f'  {name}: {len(want)} documents expected, {len(docs)} exported')
                differ += 1
            for item, doc in zip(want, docs):
                a, b = json.loads(item['json']), doc.to_dict()
                if item.get('random_id'):
                    a.pop('id'), b.pop('id')
                if a == b:
                    equal += 1
                else:
                    differ += 1
                    print(f'  {name}: {item["key"]!r} differs:\n    jina:       {a}\n'
                          f'    round trip: {b}')
            failures += differ
            print(f'{name}: {equal} documents with equal to_dict() after the round trip, '
                  f'{differ} differ; {len(skipped)} not converted by damfs')
    if '--write-expected' in sys.argv and not default_rules:
        with open(os.path.join(ROOT, 'tests/fixtures/jina/round-trip.json'), 'w') as f:
            json.dump(printed, f, indent=1, ensure_ascii=True)
            f.write('\n')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
