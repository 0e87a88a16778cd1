/**
 * The backports pin (`name/backports` in a package set): fixture indexes for the selection rule
 * (the real trixie-backports index and a darksite: test/integration/darksite-backports.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { pinBackports } from '../../src/darksite/backports.ts';
import { resolve } from '../../src/darksite/resolve.ts';
import { buildIndex } from '../../src/darksite/resolve-index.ts';
import { parseControl } from '../../src/debian/control.ts';
import {
  entryText,
  mergeEntries,
  type PackageEntry,
  parseEntry,
  profilePackages,
  readPackageSet,
} from '../../src/package-sets/package-sets.ts';

const work = mkdtempSync(join(tmpdir(), 'kl-bpo-'));

const MAIN = parseControl(`
Package: app
Version: 1.0-1
Architecture: amd64
Depends: libapp1 (>= 1.0), libc6

Package: libapp1
Version: 1.0-1
Architecture: amd64
Depends: libc6

Package: libhelper
Version: 1.5-1
Architecture: all

Package: libc6
Version: 2.41-1
Architecture: amd64

Package: strict
Version: 1.0-1
Architecture: amd64
Depends: libapp1 (= 1.0-1)
`);

const BPO = parseControl(`
Package: app
Version: 2.0-1~bpo13+1
Architecture: amd64
Depends: libapp1 (>= 2.0), libc6 (>= 2.36), libhelper (>= 1.2) | libhelper-ng

Package: libapp1
Version: 2.0-1~bpo13+1
Architecture: amd64
Depends: libc6, libdata (>= 2)

Package: libdata
Version: 2.0-1~bpo13+1
Architecture: all

Package: libhelper
Version: 3.0-1~bpo13+1
Architecture: all
`);

function pinned(requests: PackageEntry[]) {
  const b = pinBackports(
    { stanzas: MAIN, index: buildIndex(MAIN) },
    BPO,
    requests.filter((r) => r.pin),
    'trixie',
  );
  const r = resolve(buildIndex(b.stanzas), requests, { includePriorities: [], essential: false });
  return { ...b, r, versions: Object.fromEntries(r.packages.map((p) => [p.name, p.version])) };
}

test('name/backports takes the package and only the dependencies that need it from backports', () => {
  const p = pinned([{ name: 'app', from: 'web.list:3', pin: 'backports' }]);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.r.errors, []);
  assert.deepEqual(p.versions, {
    app: '2.0-1~bpo13+1',
    // The suite's libapp1 1.0 does not satisfy (>= 2.0): backports', and what it needs in turn.
    libapp1: '2.0-1~bpo13+1',
    libdata: '2.0-1~bpo13+1',
    // The suite's versions satisfy these: they stay the suite's.
    libc6: '2.41-1',
    libhelper: '1.5-1',
  });
  assert.deepEqual(Object.fromEntries(p.chosen), {
    app: 'web.list:3',
    libapp1: 'Depends of app (libapp1 (>= 2.0))',
    libdata: 'Depends of libapp1 (libdata (>= 2))',
  });
  // Without the pin nothing comes from backports.
  assert.deepEqual(pinned([{ name: 'app', from: 'web.list:3' }]).versions, {
    app: '1.0-1',
    libapp1: '1.0-1',
    libc6: '2.41-1',
  });
});

test('a pin on a package backports does not have names file:line; a clash is the resolver’s error', () => {
  const p = pinned([
    { name: 'libc6', from: 'roles/web/packages.list:2', pin: 'backports' },
    { name: 'nothing', from: 'server.list:9', pin: 'backports' },
  ]);
  assert.deepEqual(
    p.errors.map((e) => e.message),
    [
      'roles/web/packages.list:2: libc6/backports: libc6 is not in trixie-backports (trixie has 2.41-1: drop /backports)',
      'server.list:9: nothing/backports: nothing is not in trixie-backports',
    ],
  );
  // strict needs the suite's libapp1 exactly; app/backports needs backports' libapp1.
  const c = pinned([
    { name: 'app', from: 'a.list:1', pin: 'backports' },
    { name: 'strict', from: 'a.list:2' },
  ]);
  assert.equal(c.r.errors.length, 1);
  assert.match(
    c.r.errors[0]?.message ?? '',
    /'libapp1 \(= 1\.0-1\)' of strict ← a\.list:2 cannot be satisfied/,
  );
});

test('package sets: name/backports in lists and --packages; anything else after / names file:line', () => {
  assert.deepEqual(parseEntry('nginx/backports', 'x:1'), { name: 'nginx', from: 'x:1', pin: 'backports' });
  assert.deepEqual(parseEntry('nginx', 'x:1'), { name: 'nginx', from: 'x:1' });
  for (const bad of ['nginx/sid', 'nginx=1.2/backports', '/backports', 'Nginx/backports'])
    assert.equal(parseEntry(bad, 'x:1'), undefined, bad);
  assert.equal(entryText({ name: 'nginx', from: 'x', pin: 'backports' }), 'nginx/backports');
  const f = join(work, 'set.list');
  writeFileSync(f, '# a set\ncurl nginx/backports\n\njq\n');
  assert.deepEqual(readPackageSet(f), [
    { name: 'curl', from: 'set.list:2' },
    { name: 'nginx', from: 'set.list:2', pin: 'backports' },
    { name: 'jq', from: 'set.list:4' },
  ]);
  writeFileSync(f, 'curl\nnginx/sid\n');
  assert.throws(
    () => readPackageSet(f),
    (e: unknown) =>
      e instanceof KldloadError &&
      e.exitCode === EXIT.badInput &&
      /^set\.list:2: 'nginx\/sid' is not a Debian package name .* or name\/backports$/.test(e.message),
  );
  assert.throws(() => profilePackages('core', ['jq/testing']), /--packages: 'jq\/testing' is not/);
  const extra = profilePackages('core', ['jq/backports']).find((p) => p.name === 'jq');
  assert.deepEqual(extra, { name: 'jq', from: '--packages', pin: 'backports' });
  // One entry per name; a pin anywhere wins.
  assert.deepEqual(
    mergeEntries([
      { name: 'jq', from: 'a:1' },
      { name: 'jq', from: 'b:2', pin: 'backports' },
      { name: 'jq', from: 'c:3' },
    ]),
    [{ name: 'jq', from: 'b:2', pin: 'backports' }],
  );
});

after(() => rmSync(work, { recursive: true, force: true }));
