/**
 * The backports pin (`name/backports` in a package set): fixture indexes for the selection rule,
 * then the real trixie-backports index, mirror, apt-ftparchive, gpg and apt-get for a darksite.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { cacheDir } from '../../src/core/paths.ts';
import { pinBackports } from '../../src/darksite/backports.ts';
import { buildDarksite } from '../../src/darksite/darksite.ts';
import { ensureSigningKey, listRepo, simulateInstall, verifyRepo } from '../../src/darksite/repo.ts';
import { buildIndex, resolve } from '../../src/darksite/resolve.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { parseControl } from '../../src/debian/control.ts';
import {
  entryText,
  mergeEntries,
  type PackageEntry,
  parseEntry,
  profilePackages,
  readPackageSet,
} from '../../src/package-sets/package-sets.ts';
import { killAgent } from './darksite-helpers.ts';

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

const exec = new SystemExecutor();
const log = new Logger({ quiet: true });
after(() => {
  killAgent(join(work, 'gnupg'));
  rmSync(work, { recursive: true, force: true });
});

test('real trixie-backports: the pinned package and what it needs are on the darksite; apt installs them', async () => {
  // Darksites go to a throw-away cache; index and .deb caches are shared with the real one.
  const realCache = cacheDir();
  const cache = join(work, 'cache');
  mkdirSync(cache, { recursive: true });
  for (const sub of ['index', 'debs']) {
    mkdirSync(join(realCache, sub), { recursive: true });
    symlinkSync(join(realCache, sub), join(cache, sub));
  }
  process.env.KLDLOAD_CACHE = cache;
  const mirror = hostMirror();
  const suite = 'trixie';
  const index = await loadSuiteIndex(exec, mirror, suite);
  const bpo = await loadSuiteIndex(exec, mirror, `${suite}-backports`);
  // A small backports library package that needs the matching backports library (the suite has
  // an older one), chosen from the live index so the test follows the archive.
  const inSuite = new Map(index.packages.map((s) => [s.get('Package'), s.get('Version')]));
  const pick = bpo.packages.find((s) => {
    const m = /^([a-z0-9.+-]+) \(= ([^)]+)\)$/.exec(s.get('Depends') ?? '');
    const lib = m && bpo.packages.find((l) => l.get('Package') === m[1] && l.get('Version') === m[2]);
    return (
      m &&
      lib &&
      Number(s.get('Size')) < 500_000 &&
      Number(lib.get('Size')) < 500_000 &&
      inSuite.has(m[1]) &&
      inSuite.get(m[1]) !== m[2] &&
      /^(libc6 \([^)]*\)(, )?)*$/.test(lib.get('Depends') ?? '')
    );
  });
  assert.ok(pick, 'no small backports package with a backports-only library dependency');
  const name = pick.get('Package') ?? '';
  const lib = /^([a-z0-9.+-]+)/.exec(pick.get('Depends') ?? '')?.[1] ?? '';
  const r = await buildDarksite(exec, log, index, {
    mirror,
    suite,
    profile: 'bpotest',
    extra: [],
    localDebs: [],
    packageSet: [
      { name, from: 'test.list:1', pin: 'backports' },
      { name: 'tree', from: 'test.list:2' },
    ],
    resolve: { includePriorities: [], essential: false },
    signingKey: await ensureSigningKey(exec, join(work, 'gnupg')),
  });
  const v = Object.fromEntries(listRepo(r.dir, suite).map((p) => [p.name, p.version]));
  assert.equal(v[name], pick.get('Version'));
  assert.match(v[lib] ?? '', /~bpo/);
  assert.equal(v.libc6, inSuite.get('libc6'), 'libc6 must stay the suite’s');
  assert.equal(v.tree, inSuite.get('tree'));
  assert.deepEqual(r.backports.map((b) => b.name).sort(), [lib, name].sort());
  assert.deepEqual(await verifyRepo(exec, r.dir, suite), []);
  const sim = await simulateInstall(exec, {
    dir: r.dir,
    suite,
    packages: [name, 'tree'],
    scratch: join(work, 'sim'),
  });
  assert.ok(sim.ok, sim.output);
  assert.match(
    sim.output,
    new RegExp(
      `^Inst ${name.replace(/[.+]/g, '\\$&')} \\(${pick.get('Version')?.replace(/[.+~]/g, '\\$&')} `,
      'm',
    ),
  );

  // A pin on a package backports does not carry: a build error naming file:line.
  await assert.rejects(
    buildDarksite(exec, log, index, {
      mirror,
      suite,
      profile: 'bpotest',
      extra: [],
      localDebs: [],
      packageSet: [{ name: 'tree', from: 'roles/x/packages.list:3', pin: 'backports' }],
      resolve: { includePriorities: [], essential: false },
    }),
    (e: unknown) =>
      e instanceof KldloadError &&
      e.exitCode === EXIT.badInput &&
      /roles\/x\/packages\.list:3: tree\/backports: tree is not in trixie-backports \(trixie has .*: drop \/backports\)/.test(
        e.message,
      ),
  );
});
