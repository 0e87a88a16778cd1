/**
 * The backports pin (`name/backports` in a package set) with the real trixie-backports index,
 * mirror, apt-ftparchive, gpg and apt-get for a darksite (the selection rule on fixture indexes:
 * test/unit/darksite-backports.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { buildDarksite } from '../../src/darksite/darksite.ts';
import { listRepo, simulateInstall, verifyRepo } from '../../src/darksite/repo.ts';
import { ensureSigningKey } from '../../src/darksite/signing-key.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { useThrowAwayCache } from '../unit/cache.ts';
import { killAgent } from './darksite-helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'kl-bpo-'));

const exec = new SystemExecutor();
const log = new Logger({ quiet: true });
after(() => {
  killAgent(join(work, 'gnupg'));
  rmSync(work, { recursive: true, force: true });
});

test('real trixie-backports: the pinned package and what it needs are on the darksite; apt installs them', async () => {
  // A throw-away cache; the run's index and .deb downloads are shared (test/unit/cache.ts).
  useThrowAwayCache({ downloads: true });
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
