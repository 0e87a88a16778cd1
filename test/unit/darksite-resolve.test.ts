import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type Request,
  type ResolveOptions,
  type ResolveResult,
  resolve,
} from '../../src/darksite/resolve.ts';
import { buildIndex } from '../../src/darksite/resolve-index.ts';
import { parseControl } from '../../src/debian/control.ts';
import { readPackageSet } from '../../src/package-sets/package-sets.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/darksite');
const index = buildIndex(parseControl(readFileSync(join(FIXTURES, 'Packages'), 'utf8')));

/** Resolve fixture names without the priority/Essential roots unless a test asks for them. */
function run(names: string[], opts: ResolveOptions = {}): ResolveResult {
  const requests: Request[] = names.map((name, i) => ({ name, from: `test.list:${i + 1}` }));
  return resolve(index, requests, { includePriorities: [], essential: false, ...opts });
}

const names = (r: ResolveResult): string[] => r.packages.map((p) => p.name);
const reason = (r: ResolveResult, name: string): string | undefined =>
  r.packages.find((p) => p.name === name)?.reason;

test('the index keeps native and all packages, drops foreign architectures, sorts versions', () => {
  assert.ok(index.packages.has('alt-b'), 'arch all');
  assert.ok(!index.packages.has('only-i386'));
  assert.deepEqual(
    index.packages.get('multi')?.map((c) => c.version),
    ['2.0-1', '1.0-1'],
  );
  assert.deepEqual(
    index.provides.get('libapi')?.map((p) => `${p.pkg.name}=${p.version ?? ''}`),
    ['api-old=1', 'api-unversioned=', 'api-new=2.5'],
  );
});

test('alternatives: the first satisfiable one, skipping names not in the index', () => {
  const r = run(['alt-user']);
  assert.deepEqual(names(r), ['alt-b', 'alt-user']);
  assert.equal(reason(r, 'alt-b'), 'Depends of alt-user');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.choices, [{ group: 'missing-x | alt-b | alt-c', chosen: 'alt-b', for: 'alt-user' }]);
});

test('alternatives: one already selected wins over the first, whatever the request order', () => {
  for (const order of [
    ['pref-user', 'alt-c'],
    ['alt-c', 'pref-user'],
  ]) {
    const r = run(order);
    assert.deepEqual(names(r), ['alt-c', 'pref-user'], order.join(','));
  }
  // Also when alt-c only arrives as someone else's dependency: choices wait for plain dependencies.
  for (const order of [
    ['pref-user', 'pulls-c'],
    ['pulls-c', 'pref-user'],
  ])
    assert.deepEqual(names(run(order)), ['alt-c', 'pref-user', 'pulls-c'], order.join(','));
});

test('virtual packages: a provider is chosen by priority, then name; a real package beats a provider', () => {
  const r = run(['mailer-user', 'dual-user']);
  assert.deepEqual(names(r), ['dual', 'dual-user', 'mailer-user', 'mta-z']);
  assert.equal(reason(r, 'mta-z'), 'Depends of mailer-user via mail-agent');
  assert.equal(reason(r, 'dual'), 'Depends of dual-user');
  // A provider that is already selected is taken over a better-ranked one.
  assert.deepEqual(names(run(['mta-a', 'mailer-user'])), ['mailer-user', 'mta-a']);
  // A real package requested by name is taken even when a selected package provides that name.
  assert.deepEqual(names(run(['dual-provider', 'dual'])), ['dual', 'dual-provider']);
  assert.deepEqual(names(run(['dual-provider', 'dual-user'])), ['dual-provider', 'dual-user']);
  // A virtual name can be requested directly.
  const v = run(['mail-agent']);
  assert.deepEqual(names(v), ['mta-z']);
  assert.equal(reason(v, 'mta-z'), 'test.list:1 via mail-agent');
});

test('versioned Provides satisfy versioned dependencies; unversioned ones do not', () => {
  const r = run(['vp-user']);
  assert.deepEqual(names(r), ['api-new', 'vp-user']);
  const u = run(['vp-unversioned-user']);
  assert.equal(u.errors.length, 1);
  assert.match(u.errors[0]?.message ?? '', /libother \(>= 1\)/);
  assert.match(u.errors[0]?.message ?? '', /other-prov provides libother/);
  // Unversioned dependencies take any provider.
  assert.deepEqual(names(run(['api-unversioned', 'vp-user'])), ['api-new', 'api-unversioned', 'vp-user']);
});

test('version constraints: a too-old first alternative forces the second; tilde, epochs, older versions', () => {
  const r = run(['ver-user']);
  assert.deepEqual(names(r), ['libv-compat', 'ver-user']);
  assert.deepEqual(names(run(['tilde-user'])), ['libv', 'tilde-user']);
  const m = run(['multi-old-user']);
  assert.equal(m.packages.find((p) => p.name === 'multi')?.version, '1.0-1');
  // One version per name: a second, incompatible constraint on a chosen package is an error.
  const twice = run(['multi', 'multi-old-user']);
  assert.match(
    twice.errors[0]?.message ?? '',
    /'multi \(<< 2\)' has no match .*multi 2\.0-1 is already chosen/,
  );
  assert.equal(run(['multi']).packages[0]?.version, '2.0-1');
  assert.equal(run(['multi=1.0-1']).packages[0]?.version, '1.0-1');
  assert.deepEqual(names(run(['epoch-user'])), ['epoch-user', 'epoched']);
  const bad = run(['epoch-bad-user']);
  assert.match(bad.errors[0]?.message ?? '', /'epoched \(>= 2:0\)' has no match among epoched 1:0\.9-1/);
  const pin = run(['multi=3.0']);
  assert.match(pin.errors[0]?.message ?? '', /^test\.list:1: 'multi \(= 3\.0\)' has no match/);
});

test('cycles terminate and every member is selected once', () => {
  for (const start of ['cyc-a', 'cyc-b', 'cyc-c']) {
    const r = run([start]);
    assert.deepEqual(names(r), ['cyc-a', 'cyc-b', 'cyc-c']);
    assert.deepEqual(r.errors, []);
  }
  assert.equal(reason(run(['cyc-b']), 'cyc-a'), 'Pre-Depends of cyc-c');
});

test('missing packages: the name with its file:line, and the chain for transitive misses', () => {
  const requests = readPackageSet(join(FIXTURES, 'test.list'));
  const r = resolve(index, requests, { includePriorities: [], essential: false });
  assert.deepEqual(
    r.errors.map((e) => ({ name: e.name, chain: e.chain })),
    [
      { name: 'no-such-pkg', chain: ['test.list:5'] },
      { name: 'chain-gone', chain: ['chain-mid', 'chain-top', 'test.list:2'] },
    ],
  );
  assert.equal(
    r.errors[0]?.message,
    "test.list:5: unknown package 'no-such-pkg' (not in the index, not provided by any package)",
  );
  assert.match(
    r.errors[1]?.message ?? '',
    /Depends 'chain-gone \(>= 1\)' of chain-mid ← chain-top ← test\.list:2/,
  );
  assert.match(r.errors[1]?.message ?? '', /'chain-gone' is not in the index/);
  // The rest of the closure is still computed.
  assert.ok(names(r).includes('libc-fixture'));
});

test('Pre-Depends are followed and named in the reason', () => {
  const r = run(['pre-user']);
  assert.deepEqual(names(r), ['libc-fixture', 'pre-lib', 'pre-user']);
  assert.equal(reason(r, 'pre-lib'), 'Pre-Depends of pre-user');
  assert.equal(reason(r, 'pre-user'), 'test.list:1');
});

test('Multi-Arch: foo:any needs allowed (or foreign), foo:<arch> needs that architecture', () => {
  const ok = run(['ma-user', 'ma-virtual-user']);
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(names(ok), [
    'all-tool',
    'ma-user',
    'ma-virtual-user',
    'perl-provider',
    'tool-allowed',
    'tool-foreign',
    'tool-same',
  ]);
  const bad = run(['ma-bad', 'ma-arch-bad']);
  assert.deepEqual(
    bad.errors.map((e) => e.name),
    ['tool-same', 'tool-same'],
  );
  assert.match(
    bad.errors[0]?.message ?? '',
    /'tool-same:any' has no match among tool-same 1\.0-1 amd64 \(Multi-Arch: same\)/,
  );
  assert.match(bad.errors[1]?.message ?? '', /'tool-same:i386'/);
  assert.equal(run(['only-i386']).errors[0]?.name, 'only-i386');
});

test('Priority required and important (and Essential) are included by default, others on request', () => {
  const r = resolve(index, []);
  assert.deepEqual(names(r), ['ess-e', 'imp-b', 'imp-lib', 'req-a']);
  assert.equal(reason(r, 'req-a'), 'Priority: required');
  assert.equal(reason(r, 'imp-b'), 'Priority: important');
  assert.equal(reason(r, 'ess-e'), 'Essential: yes');
  assert.equal(reason(r, 'imp-lib'), 'Depends of imp-b');
  assert.deepEqual(names(resolve(index, [], { includePriorities: ['standard'], essential: false })), [
    'mta-z',
    'std-c',
  ]);
  // A requested name keeps its provenance even if its priority would pull it in anyway.
  assert.equal(reason(resolve(index, [{ name: 'req-a', from: 'x.list:1' }]), 'req-a'), 'x.list:1');
});

test('Recommends: off by default; on follows them transitively and only warns when missing', () => {
  const off = run(['rec-user']);
  assert.deepEqual(names(off), ['rec-dep', 'rec-user']);
  assert.deepEqual(off.warnings, []);
  const on = run(['rec-user'], { recommends: true });
  assert.deepEqual(names(on), ['rec-deep', 'rec-dep', 'rec-lib', 'rec-user']);
  assert.equal(reason(on, 'rec-lib'), 'Recommends of rec-user');
  assert.deepEqual(on.errors, []);
  assert.equal(on.warnings.length, 1);
  assert.match(on.warnings[0] ?? '', /Recommends 'rec-missing' of rec-user ← test\.list:1 skipped/);
});

test('Conflicts and Breaks: avoided when an alternative exists, otherwise reported as warnings', () => {
  const avoided = run(['conf-a', 'conf-chooser']);
  assert.deepEqual(names(avoided), ['conf-a', 'conf-c', 'conf-chooser']);
  assert.deepEqual(avoided.warnings, []);
  const clash = run(['conf-a', 'conf-b', 'brk-a', 'brk-b', 'virt-conf', 'mta-a']);
  assert.deepEqual(clash.warnings, [
    'brk-a 1.0-1 Breaks: brk-b (<< 2), but brk-b 1.5-1 is selected (test.list:4)',
    'conf-a 1.0-1 Conflicts: conf-b, but conf-b 1.0-1 is selected (test.list:2)',
    'virt-conf 1.0-1 Conflicts: mail-agent, but mta-a 1.0-1 is selected (test.list:6)',
  ]);
});

test('assumeProvided names are satisfied outside the index (a locally built module .deb)', () => {
  assert.deepEqual(names(run(['zfs-like'])), ['mods-dkms', 'zfs-like']);
  assert.deepEqual(names(run(['zfs-like'], { assumeProvided: ['mods'] })), ['zfs-like']);
});

test('output is sorted by name, carries the index fields, and does not depend on request order', () => {
  const all = ['alt-user', 'mailer-user', 'vp-user', 'ver-user', 'cyc-b', 'pre-user', 'ma-user', 'rec-user'];
  const a = run(all, { recommends: true });
  const b = run([...all].reverse(), { recommends: true });
  assert.deepEqual(names(a), [...names(a)].sort());
  assert.deepEqual(
    a.packages.map((p) => [p.name, p.version]),
    b.packages.map((p) => [p.name, p.version]),
  );
  const p = a.packages.find((x) => x.name === 'alt-b');
  assert.deepEqual(
    { ...p, sha256: p?.sha256.length },
    {
      name: 'alt-b',
      version: '1.0-1',
      arch: 'all',
      filename: 'pool/main/a/alt-b/alt-b_1.0-1_all.deb',
      sha256: 64,
      size: 1006,
      reason: 'Depends of alt-user',
    },
  );
});
