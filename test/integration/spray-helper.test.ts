/**
 * kldload spray's helper (payload/target/lib/spray-clone.py) run by the host's python3 against a
 * stand-in `libzfs_core` module on PYTHONPATH. The stand-in checks what python3-pyzfs 2.3.9 checks
 * and what the kernel takes (bytes names, a dict of bytes keys, an index property as a number: the
 * ioctl refuses canmount as a string), records each call, and sleeps in every call as a C call that
 * released the GIL would wait: the test sees how many ran at once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('../../payload/target/lib/spray-clone.py', import.meta.url));
const d = mkdtempSync(join(tmpdir(), 'kl-spray-'));
mkdirSync(join(d, 'libzfs_core'));
writeFileSync(
  join(d, 'libzfs_core', '__init__.py'),
  `import json, os, threading, time
_lock = threading.Lock()
_now = [0]
class FilesystemExists(Exception):
    pass
def _call(op, *args):
    with _lock:
        _now[0] += 1
        here = _now[0]
    time.sleep(0.05)
    with _lock:
        _now[0] -= 1
        with open(os.environ["FAKE_LOG"], "a") as f:
            f.write(json.dumps([op, here] + [a.decode() if isinstance(a, bytes) else a for a in args]) + "\\n")
def lzc_clone(name, origin, props=None):
    assert isinstance(name, bytes) and isinstance(origin, bytes), "names are bytes"
    for k, v in (props or {}).items():
        assert isinstance(k, bytes), "property names are bytes"
        assert isinstance(v, (bytes, int)) and not isinstance(v, bool), "values are bytes or numbers"
    if props and b"canmount" in props:
        assert isinstance(props[b"canmount"], int), "an index property is a number"
    if b"taken" in name:
        raise FilesystemExists(name)
    _call("clone", name, origin, sorted((k.decode(), v) for k, v in (props or {}).items()))
def lzc_destroy_snaps(snaps, defer):
    assert all(isinstance(s, bytes) for s in snaps) and defer is False
    _call("destroy_snaps", [s.decode() for s in snaps])
def lzc_destroy(name):
    assert isinstance(name, bytes)
    if b"busy" in name:
        raise OSError(16, "dataset is busy")
    _call("destroy", name)
`,
);

function helper(job: unknown, pythonPath = d) {
  const log = join(d, `log-${Math.random()}`);
  writeFileSync(log, '');
  const r = spawnSync('python3', [HELPER], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONPATH: pythonPath, FAKE_LOG: log },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as [string, number, ...unknown[]]);
  return {
    status: r.status,
    out: JSON.parse(r.stdout || '{}') as Record<string, unknown>,
    calls,
    stderr: r.stderr,
  };
}

test('spray-clone.py compiles (py_compile, its .pyc outside the tree)', () => {
  const compile = 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)';
  const r = spawnSync('python3', ['-c', compile, HELPER, join(d, 'spray-clone.pyc')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('clone: every name cloned with bytes and canmount as a number, several at once', () => {
  const names = Array.from({ length: 32 }, (_, i) => `rpool/spray/web/web-${i + 1}`);
  const r = helper({
    op: 'clone',
    origin: 'rpool/golden/web@sealed',
    names,
    props: { canmount: 'noauto' },
    threads: 16,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out.done, names);
  assert.deepEqual(r.out.failed, []);
  assert.deepEqual(r.calls.map((c) => c[2]).sort(), [...names].sort());
  for (const c of r.calls) assert.deepEqual(c.slice(3), ['rpool/golden/web@sealed', [['canmount', 2]]]);
  // Each call waits 50 ms outside the GIL: with 16 threads, more than one is inside at once.
  assert.ok(Math.max(...r.calls.map((c) => c[1])) > 1, 'calls ran concurrently');
});

test('clone: a failed clone is reported by name, the others are made, exit 1', () => {
  const r = helper({
    op: 'clone',
    origin: 'tank/vm@v1',
    names: ['tank/s/a-1', 'tank/s/taken', 'tank/s/a-3'],
    props: {},
  });
  assert.equal(r.status, 1);
  assert.deepEqual(r.out.done, ['tank/s/a-1', 'tank/s/a-3']);
  assert.deepEqual(r.out.failed, [{ name: 'tank/s/taken', error: 'FilesystemExists: tank/s/taken' }]);
  assert.deepEqual(r.calls.find((c) => c[2] === 'tank/s/a-1')?.slice(3), ['tank/vm@v1', []]);
});

test('destroy: snapshots in one call, then each level, deepest first; a failed level stops the rest', () => {
  const levels = [['p/s/w/w-1/data'], ['p/s/w/w-1', 'p/s/w/w-2'], ['p/s/w']];
  const r = helper({ op: 'destroy', snapshots: ['p/s/w/w-1@a', 'p/s/w/w-2@b'], levels, threads: 4 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls[0]?.slice(0, 1).concat(r.calls[0]?.slice(2)), [
    'destroy_snaps',
    ['p/s/w/w-1@a', 'p/s/w/w-2@b'],
  ]);
  assert.deepEqual(
    r.calls.slice(1).map((c) => c[2]),
    ['p/s/w/w-1/data', ...r.calls.slice(2, 4).map((c) => c[2]), 'p/s/w'],
  );
  assert.deepEqual(new Set(r.calls.slice(2, 4).map((c) => c[2])), new Set(['p/s/w/w-1', 'p/s/w/w-2']));
  const busy = helper({ op: 'destroy', snapshots: [], levels: [['p/s/w/busy', 'p/s/w/w-2'], ['p/s/w']] });
  assert.equal(busy.status, 1);
  assert.deepEqual(busy.out.done, ['p/s/w/w-2']);
  assert.match(JSON.stringify(busy.out.failed), /p\/s\/w\/busy.*busy/);
  assert.ok(!busy.calls.some((c) => c[2] === 'p/s/w'), 'the container stays while a clone is left');
});

test('bad jobs and a missing python3-pyzfs exit 2 with the fix', () => {
  const prop = helper({ op: 'clone', origin: 'a/b@c', names: ['a/x'], props: { mountpoint: '/x' } });
  assert.equal(prop.status, 2);
  assert.match(String(prop.out.error), /property mountpoint: spray-clone.py sets only canmount/);
  const val = helper({ op: 'clone', origin: 'a/b@c', names: ['a/x'], props: { canmount: 'maybe' } });
  assert.match(String(val.out.error), /canmount=maybe: one of off, on, noauto/);
  assert.match(String(helper({ op: 'send' }).out.error), /op 'send': clone or destroy/);
  const missing = helper({ op: 'clone', origin: 'a/b@c', names: ['a/x'] }, join(d, 'nothing'));
  assert.equal(missing.status, 2);
  assert.match(String(missing.out.error), /apt-get install python3-pyzfs/);
});
