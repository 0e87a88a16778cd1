/**
 * kldload spray's helper (payload/target/lib/spray-clone.py) run by the host's python3 against a
 * stand-in libzfs_core.so.3 / libnvpair.so.3 compiled here with cc (LD_LIBRARY_PATH). The stand-in
 * has the C signatures the helper declares with ctypes, records each call, and sleeps 50 ms in every
 * lzc call as the kernel's sync task would wait: the test sees how many ran at once (ctypes releases
 * the GIL only if the helper calls through CDLL).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('../../payload/target/lib/spray-clone.py', import.meta.url));
const d = mkdtempSync(join(tmpdir(), 'kl-spray-'));
const lib = join(d, 'lib');
mkdirSync(lib);
writeFileSync(
  join(d, 'stub.c'),
  `#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
typedef struct { int n; char *names[256]; char *vals[256]; } nvlist_t;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int inside;
static void record(const char *op, const char *a, const char *b, int props) {
  pthread_mutex_lock(&mu);
  int here = ++inside;
  pthread_mutex_unlock(&mu);
  usleep(50000);
  pthread_mutex_lock(&mu);
  inside--;
  FILE *f = fopen(getenv("FAKE_LOG"), "a");
  fprintf(f, "[\\"%s\\", %d, \\"%s\\", \\"%s\\", %d]\\n", op, here, a, b ? b : "", props);
  fclose(f);
  pthread_mutex_unlock(&mu);
}
int libzfs_core_init(void) { return getenv("FAKE_NO_DEV") ? ENOENT : 0; }
nvlist_t *fnvlist_alloc(void) { return calloc(1, sizeof(nvlist_t)); }
void fnvlist_add_boolean(nvlist_t *l, const char *name) { l->names[l->n++] = strdup(name); }
void fnvlist_add_string(nvlist_t *l, const char *name, const char *v) {
  char b[512]; snprintf(b, sizeof b, "%s=s:%s", name, v); l->vals[l->n] = strdup(b); l->names[l->n++] = strdup(name);
}
void fnvlist_add_uint64(nvlist_t *l, const char *name, unsigned long long v) {
  char b[512]; snprintf(b, sizeof b, "%s=u:%llu", name, v); l->vals[l->n] = strdup(b); l->names[l->n++] = strdup(name);
}
int lzc_create(const char *name, int type, nvlist_t *props, void *wkey, unsigned wkeylen) {
  if (strstr(name, "taken")) return EEXIST;
  char all[4096] = "";
  for (int i = 0; props && i < props->n; i++) { if (i) strcat(all, ","); strcat(all, props->vals[i]); }
  record("create", name, all, type * 10 + (wkey != NULL) + (int)wkeylen);
  return 0;
}
int lzc_clone(const char *name, const char *origin, nvlist_t *props) {
  if (strstr(name, "taken")) return EEXIST;
  record("clone", name, origin, props != NULL);
  return 0;
}
int lzc_destroy(const char *name) {
  if (strstr(name, "busy")) return EBUSY;
  record("destroy", name, NULL, 0);
  return 0;
}
int lzc_destroy_snaps(nvlist_t *snaps, int defer, nvlist_t **errlist) {
  char all[8192] = "";
  for (int i = 0; i < snaps->n; i++) { if (i) strcat(all, " "); strcat(all, snaps->names[i]); }
  if (defer) return EINVAL;
  record("destroy_snaps", all, NULL, 0);
  return 0;
}
`,
);
const cc = spawnSync(
  'cc',
  ['-shared', '-fPIC', '-o', join(lib, 'libzfs_core.so.3'), join(d, 'stub.c'), '-lpthread'],
  {
    encoding: 'utf8',
  },
);
if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
// One stand-in for both libraries: dlopen of the second name finds the same file.
symlinkSync('libzfs_core.so.3', join(lib, 'libnvpair.so.3'));

function helper(job: unknown, env: Record<string, string> = {}) {
  const log = join(d, `log-${Math.random()}`);
  writeFileSync(log, '');
  const r = spawnSync('python3', ['-I', '-S', HELPER], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LD_LIBRARY_PATH: lib, FAKE_LOG: log, ...env },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as [string, number, string, string, number]);
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

test('clone: every name cloned from the origin with no property (one sync task each), many at once', () => {
  const names = Array.from({ length: 64 }, (_, i) => `rpool/spray/web/web-${i + 1}`);
  const r = helper({ op: 'clone', origin: 'rpool/golden/web@sealed', names, threads: 32 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out.done, names);
  assert.deepEqual(r.out.failed, []);
  assert.deepEqual(r.calls.map((c) => c[2]).sort(), [...names].sort());
  for (const c of r.calls) assert.deepEqual(c.slice(3), ['rpool/golden/web@sealed', 0]);
  // Each call waits 50 ms in C: with 32 threads and the GIL released, many are inside at once.
  assert.ok(Math.max(...r.calls.map((c) => c[1])) > 8, 'calls ran concurrently');
});

test('clone with create: the parents first, in order, with typed properties; then the clones', () => {
  const create = [
    { name: 'rpool/spray', props: { canmount: 0 } },
    { name: 'rpool/spray/web', props: { canmount: 0, mountpoint: 'none', 'org.kldload:spray': 'rpool/g@s' } },
  ];
  const names = ['rpool/spray/web/web-1', 'rpool/spray/web/web-2'];
  const r = helper({ op: 'clone', origin: 'rpool/g@s', names, create, threads: 2 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out.done, ['rpool/spray', 'rpool/spray/web', ...names]);
  // A filesystem (LZC_DATSET_TYPE_ZFS = 2), no encryption key; strings as strings, numbers as uint64.
  assert.deepEqual(r.calls.slice(0, 2), [
    ['create', 1, 'rpool/spray', 'canmount=u:0', 20],
    ['create', 1, 'rpool/spray/web', 'canmount=u:0,mountpoint=s:none,org.kldload:spray=s:rpool/g@s', 20],
  ]);
  assert.deepEqual(
    r.calls
      .slice(2)
      .map((c) => c[2])
      .sort(),
    names,
  );
  // A create that fails stops the job: no clone is tried.
  const taken = helper({ op: 'clone', origin: 'rpool/g@s', names, create: [{ name: 'rpool/spray/taken' }] });
  assert.equal(taken.status, 1);
  assert.deepEqual(taken.out.done, []);
  assert.deepEqual(taken.out.failed, [{ name: 'rpool/spray/taken', error: 'EEXIST (File exists)' }]);
  // The container that was there is not this job's: nothing is destroyed.
  assert.deepEqual(taken.out.undone, []);
  assert.deepEqual(taken.calls, []);
});

test('clone: a failed clone is reported by name and errno; what the job made goes again, its container last; exit 1', () => {
  const r = helper({
    op: 'clone',
    origin: 'tank/vm@v1',
    create: [{ name: 'tank/s', props: { canmount: 0 } }],
    names: ['tank/s/a-1', 'tank/s/taken', 'tank/s/a-3'],
  });
  assert.equal(r.status, 1);
  assert.deepEqual(r.out.failed, [{ name: 'tank/s/taken', error: 'EEXIST (File exists)' }]);
  assert.deepEqual(r.calls.find((c) => c[2] === 'tank/s/a-1')?.slice(3), ['tank/vm@v1', 0]);
  assert.deepEqual(r.out.done, []);
  assert.deepEqual(new Set(r.out.undone as string[]), new Set(['tank/s/a-1', 'tank/s/a-3', 'tank/s']));
  assert.deepEqual(r.out.left, []);
  const destroyed = r.calls.filter((c) => c[0] === 'destroy').map((c) => c[2]);
  assert.equal(destroyed.at(-1), 'tank/s', 'the container after its clones');
  assert.deepEqual(new Set(destroyed), new Set(['tank/s/a-1', 'tank/s/a-3', 'tank/s']));

  // A clone that cannot go is reported and keeps its container (which could not go either).
  const busy = helper({
    op: 'clone',
    origin: 'tank/vm@v1',
    create: [{ name: 'tank/s' }],
    names: ['tank/s/busy-1', 'tank/s/taken'],
  });
  assert.equal(busy.status, 1);
  assert.deepEqual(busy.out.undone, []);
  assert.deepEqual(busy.out.left, [{ name: 'tank/s/busy-1', error: 'EBUSY (Device or resource busy)' }]);
  assert.deepEqual(busy.out.done, ['tank/s', 'tank/s/busy-1']);
  assert.ok(!busy.calls.some((c) => c[0] === 'destroy' && c[2] === 'tank/s'));
});

test('destroy: snapshots in one call, then each level, deepest first; a failed level stops the rest', () => {
  const levels = [['p/s/w/w-1/data'], ['p/s/w/w-1', 'p/s/w/w-2'], ['p/s/w']];
  const r = helper({ op: 'destroy', snapshots: ['p/s/w/w-1@a', 'p/s/w/w-2@b'], levels, threads: 4 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls[0]?.[0], 'destroy_snaps');
  assert.deepEqual(r.calls[0]?.[2], 'p/s/w/w-1@a p/s/w/w-2@b');
  assert.deepEqual(
    r.calls.slice(1).map((c) => c[2]),
    ['p/s/w/w-1/data', ...r.calls.slice(2, 4).map((c) => c[2]), 'p/s/w'],
  );
  assert.deepEqual(new Set(r.calls.slice(2, 4).map((c) => c[2])), new Set(['p/s/w/w-1', 'p/s/w/w-2']));
  const busy = helper({ op: 'destroy', snapshots: [], levels: [['p/s/w/busy', 'p/s/w/w-2'], ['p/s/w']] });
  assert.equal(busy.status, 1);
  assert.deepEqual(busy.out.done, ['p/s/w/w-2']);
  assert.deepEqual(busy.out.failed, [{ name: 'p/s/w/busy', error: 'EBUSY (Device or resource busy)' }]);
  assert.ok(!busy.calls.some((c) => c[2] === 'p/s/w'), 'the container stays while a clone is left');
});

test('bad jobs, a missing library and no /dev/zfs exit 2 with the fix', () => {
  assert.match(String(helper({ op: 'send' }).out.error), /op 'send': clone or destroy/);
  const missing = helper(
    { op: 'clone', origin: 'a/b@c', names: ['a/x'] },
    { LD_LIBRARY_PATH: join(d, 'none') },
  );
  assert.equal(missing.status, 2);
  assert.match(
    String(missing.out.error),
    /cannot open libzfs_core\.so\.3 or libzfs_core\.so: apt-get install zfsutils-linux/,
  );
  const nodev = helper({ op: 'clone', origin: 'a/b@c', names: ['a/x'] }, { FAKE_NO_DEV: '1' });
  assert.equal(nodev.status, 2);
  assert.match(String(nodev.out.error), /libzfs_core_init: cannot open \/dev\/zfs/);
  assert.deepEqual(nodev.calls, []);
});
