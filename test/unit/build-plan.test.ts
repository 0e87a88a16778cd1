import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { PROFILES } from '../../src/core/debian.ts';
import { sha256 } from '../../src/core/paths.ts';
import { darksiteMarker, remotePackages } from '../../src/darksite/darksite.ts';
import { poolName } from '../../src/darksite/repo.ts';
import type { SuppliedDeb } from '../../src/darksite/supplied.ts';
import type { SuiteIndex } from '../../src/debian/archive.ts';
import { parseControl, type Stanza } from '../../src/debian/control.ts';
import { buildSpec } from '../../src/image/build.ts';
import { scanCache } from '../../src/image/build-facts.ts';
import { type BuildPlan, layer, planBuild } from '../../src/image/plan.ts';
import { buildPlanJson, renderBuildPlan } from '../../src/image/plan-render.ts';
import { availableRoles, expandRoles, rolePackages } from '../../src/image/role-library.ts';
import { LAYER_MARKER } from '../../src/image/rootfs.ts';
import type { BuildFacts, BuildOptions } from '../../src/image/spec.ts';
import { moduleDebPath } from '../../src/image/zfs-module.ts';
import { profilePackages } from '../../src/package-sets/package-sets.ts';
import { matchesGolden } from './golden.ts';

const FIXTURE = 'test/fixtures/suite-index';
const GOLDEN = 'test/fixtures/build-plans';
const ROOT = '/cache';
const SIGNER = 'F1E2D3C4B5A697887766554433221100FFEEDDCC';

/** A made-up stanza for a name the fixture does not list (see test/fixtures/suite-index/README.md). */
function stub(name: string): Stanza {
  return new Map([
    ['Package', name],
    ['Version', '1.0-1'],
    ['Architecture', 'amd64'],
    ['Priority', 'optional'],
    ['Filename', `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`],
    ['Size', '10000'],
    ['SHA256', sha256(name)],
  ]);
}

/** The fixture suite; `old` is the same suite before its kernel and zfs update. */
function fixtureIndex(old = false): SuiteIndex {
  let text = readFileSync(join(FIXTURE, 'Packages'), 'utf8');
  if (old)
    text = text
      .replaceAll('6.12.57+deb13-amd64', '6.12.48+deb13-amd64')
      .replaceAll('6.12.57-1', '6.12.48-1')
      .replaceAll('2.3.4-1', '2.3.2-1');
  const packages = parseControl(text);
  if (old) {
    // A changed stanza stands for another file: it gets its own SHA256, as in a real archive.
    const now = parseControl(readFileSync(join(FIXTURE, 'Packages'), 'utf8'));
    packages.forEach((s, i) => {
      if (s.get('Version') !== now[i]?.get('Version') || s.get('Package') !== now[i]?.get('Package'))
        s.set('SHA256', sha256(`old ${s.get('SHA256')}`));
    });
  }
  const have = new Set(packages.map((s) => s.get('Package')));
  const wanted = [...PROFILES.flatMap((p) => profilePackages(p)), ...rolePackages(availableRoles())].map(
    (p) => p.name,
  );
  for (const name of new Set(wanted)) if (!have.has(name)) packages.push(stub(name));
  const release = parseControl(readFileSync(join(FIXTURE, 'Release'), 'utf8'))[0] ?? new Map();
  return { mirror: 'http://deb.debian.org/debian', suite: 'trixie', release, packages };
}

const OPTS: BuildOptions = {
  profile: 'server',
  suite: 'trixie',
  mirror: 'http://deb.debian.org/debian',
  output: 'kldload.iso',
  bundle: 'dist/kldload.mjs',
  extraPackages: [],
  roles: [],
};

const VENDOR: SuppliedDeb = (() => {
  const d = { name: 'vendor-agent', version: '3.1.0', arch: 'amd64' };
  const sha = sha256('vendor-agent_3.1.0_amd64.deb');
  return {
    ...d,
    path: '/home/op/vendor-agent_3.1.0_amd64.deb',
    from: '--deb',
    sha256: sha,
    size: 5000,
    stanza: new Map([
      ['Package', d.name],
      ['Version', d.version],
      ['Architecture', d.arch],
      ['Depends', 'libc6'],
      ['Filename', poolName(d)],
      ['SHA256', sha],
      ['Size', '5000'],
    ]),
  };
})();

function plan(o: Partial<BuildOptions>, facts: Partial<BuildFacts>, supplied: SuppliedDeb[] = []): BuildPlan {
  const opts = { ...OPTS, ...o };
  const spec = buildSpec(opts, expandRoles(opts.roles), supplied);
  return planBuild(spec, { index: fixtureIndex(), cache: { root: ROOT, entries: [] }, ...facts });
}

/** The cache a successful build of `p` leaves: its module, repository, layers and downloaded .debs. */
function cacheAfter(p: BuildPlan): string[] {
  return [
    ...p.layers.flatMap((l) => (l.path ? [l.path] : [])),
    ...remotePackages(p.darksite.resolution, []).map((x) => `debs/${x.sha256}`),
  ];
}

const warm = cacheAfter(plan({}, { signer: SIGNER }));
const CASES: Record<string, () => BuildPlan> = {
  // First build on this machine: no cache, no signing key.
  cold: () => plan({}, {}),
  // The same build again: only the index is fetched and the ISO written.
  warm: () => plan({}, { signer: SIGNER, cache: { root: ROOT, entries: warm } }),
  // The suite moved to a new kernel and zfs since the last build.
  'new-kernel': () =>
    plan(
      {},
      {
        signer: SIGNER,
        cache: {
          root: ROOT,
          entries: cacheAfter(
            planBuild(buildSpec(OPTS, [], []), {
              index: fixtureIndex(true),
              signer: SIGNER,
              cache: { root: ROOT, entries: [] },
            }),
          ),
        },
      },
    ),
  // More packages, a role and a vendor .deb: the darksite changes, the images do not.
  'packages-role-deb': () =>
    plan(
      { extraPackages: ['hello'], roles: ['docker'], answers: 'answers.env' },
      { signer: SIGNER, cache: { root: ROOT, entries: warm } },
      [VENDOR],
    ),
};

for (const [name, make] of Object.entries(CASES)) {
  test(`golden build plan: ${name}`, () => {
    const text = `${renderBuildPlan(make())}\n`;
    matchesGolden(join(GOLDEN, `${name}.plan.txt`), text);
  });
}

test('what each case rebuilds', () => {
  const rebuild = (name: string) => buildPlanJson((CASES[name] as () => BuildPlan)()).rebuild;
  const all = ['index', 'zfs-module', 'darksite', 'target-layer', 'live-layer', 'iso'];
  assert.deepEqual(rebuild('cold'), all);
  assert.deepEqual(rebuild('warm'), ['index', 'iso']);
  assert.deepEqual(rebuild('new-kernel'), all);
  // --packages, roles and .debs ride on the darksite; the images hold the profile alone.
  assert.deepEqual(rebuild('packages-role-deb'), ['index', 'darksite', 'iso']);
});

test('a cold cache has no darksite key yet (the signing key is made by the first build)', () => {
  const d = layer(plan({}, {}), 'darksite');
  assert.equal(d.key, undefined);
  assert.equal(d.path, undefined);
  assert.match(d.why, /signing key does not exist yet/);
});

test('the zfs module is never pulled from the archive: the prebuilt one provides zfs-modules', () => {
  const names = plan({}, {}).darksite.resolution.packages.map((p) => p.name);
  assert.ok(names.includes('zfsutils-linux'));
  assert.ok(!names.includes('zfs-dkms') && !names.includes('dkms'));
});

test('a package the index lacks stops the plan like the build (exit 2, named)', () => {
  assert.throws(
    () => plan({ extraPackages: ['no-such-package'] }, {}),
    (e: unknown) =>
      e instanceof Error && /cannot resolve server/.test(e.message) && /no-such-package/.test(e.message),
  );
});

test('the plan names the module deb where the builder keeps it', () => {
  const saved = process.env.KLDLOAD_CACHE;
  process.env.KLDLOAD_CACHE = ROOT;
  try {
    const p = plan({}, {});
    assert.equal(p.moduleDeb, moduleDebPath(p.kernel));
    assert.deepEqual(p.target.debs, [p.moduleDeb]);
  } finally {
    if (saved === undefined) delete process.env.KLDLOAD_CACHE;
    else process.env.KLDLOAD_CACHE = saved;
  }
});

test('scanCache counts what the builders count as done, and nothing half-built', () => {
  const root = mkdtempSync(join(tmpdir(), 'kl-cache-'));
  const p = plan({}, { signer: SIGNER });
  const touch = (rel: string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), '');
  };
  const path = (n: Parameters<typeof layer>[1]) => layer(p, n).path ?? '';
  touch(path('zfs-module'));
  touch(join(path('darksite'), darksiteMarker('trixie')));
  touch(join(path('target-layer'), LAYER_MARKER));
  touch(join(path('live-layer'), LAYER_MARKER));
  for (const x of remotePackages(p.darksite.resolution, []))
    touch(`debs/${x.sha256.slice(0, 2)}/${x.sha256}.deb`);
  // Left by killed builds: a layer without its marker, an unsigned repository, partial files.
  touch('layers/target-server-0123456789abcdef/filesystem.squashfs');
  touch('darksite/trixie-server-0123456789abcdef/pool/x.deb');
  touch(`${path('zfs-module')}.tmp`);
  touch('debs/ab/abcd.deb.123.part');
  const scanned = scanCache(root, 'trixie');
  assert.deepEqual(scanned.entries, [...warm].sort());
  const again = plan({}, { signer: SIGNER, cache: scanned });
  assert.deepEqual(buildPlanJson(again).rebuild, ['index', 'iso']);
});

test('the layers install what needs the zfs module after it (the compile runs beside them); the rest at once', () => {
  const p = plan({}, {});
  // The fixture's zfsutils-linux depends on zfs-modules | zfs-dkms (trixie's only recommends it):
  // zfs-initramfs, zfs-zed and sanoid need it through zfsutils-linux: all four wait for the module.
  assert.deepEqual(p.target.late, ['zfsutils-linux', 'zfs-initramfs', 'zfs-zed', 'sanoid']);
  assert.deepEqual(p.live.late, ['zfsutils-linux']);
  const rest = p.target.packages.filter((x) => !p.target.late.includes(x));
  assert.ok(rest.includes('linux-image-6.12.57+deb13-amd64') && !rest.some((x) => x.startsWith('zfs')));
  assert.deepEqual(p.target.debs, [p.moduleDeb]);
  assert.deepEqual(p.live.debs, [p.moduleDeb]);
});
