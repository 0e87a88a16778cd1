/**
 * The build plan tells the truth about the darksite: the key it predicts is the key buildDarksite
 * builds under, and the cache scan then finds that repository done. Real dpkg-deb, gpg and apt;
 * no network (nothing is fetched: the repository holds local and supplied .debs only).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { cacheDir } from '../../src/core/paths.ts';
import { buildDarksite } from '../../src/darksite/darksite.ts';
import { suppliedSigningKey } from '../../src/darksite/signing-key.ts';
import { inspectDebs } from '../../src/darksite/supplied.ts';
import type { SuiteIndex } from '../../src/debian/archive.ts';
import { scanCache } from '../../src/image/build-facts.ts';
import { layer, planBuild } from '../../src/image/plan.ts';
import type { BuildSpec } from '../../src/image/spec.ts';
import { moduleDebFields } from '../../src/image/zfs-module.ts';
import { killAgent, makeDeb, makeGpgHome } from './darksite-helpers.ts';

const exec = new SystemExecutor();
const work = mkdtempSync(join(tmpdir(), 'kl-plan-ds-'));
process.env.KLDLOAD_CACHE = join(work, 'cache');
const gnupg = join(work, 'gnupg');

after(() => {
  killAgent(gnupg);
  rmSync(work, { recursive: true, force: true });
});

/** Just enough of a suite for kernelFacts; nothing in it is required, so nothing is fetched. */
const index: SuiteIndex = {
  mirror: 'http://127.0.0.1:9/debian',
  suite: 'trixie',
  release: new Map([['Version', '13.2']]),
  packages: [
    new Map([
      ['Package', 'linux-image-amd64'],
      ['Version', '6.12.57-1'],
      ['Architecture', 'amd64'],
      ['Priority', 'optional'],
      ['Depends', 'linux-image-6.12.57+deb13-amd64'],
    ]),
    new Map([
      ['Package', 'zfs-dkms'],
      ['Version', '2.3.4-1'],
      ['Architecture', 'all'],
      ['Priority', 'optional'],
    ]),
  ],
};

test('the planned darksite key is the built one, and the next plan finds it cached', async () => {
  makeGpgHome(gnupg);
  const key = await suppliedSigningKey(exec, gnupg);
  const supplied = await inspectDebs(exec, [
    { path: makeDeb(join(work, 'debs'), { name: 'kl-plan-agent', version: '1.0' }), from: '--deb' },
  ]);
  const spec: BuildSpec = {
    profile: 'core',
    suite: 'trixie',
    mirror: index.mirror,
    roles: [],
    packageSet: [],
    requested: [],
    supplied,
    darksiteKey: gnupg,
    iso: { output: 'x.iso', bundle: 'dist/kldload.mjs', images: [] },
  };
  const facts = { index, signer: key.fingerprint };
  const plan = planBuild(spec, { ...facts, cache: scanCache(cacheDir(), 'trixie') });
  assert.equal(layer(plan, 'darksite').cached, false);
  // The zfs module as ensureZfsModuleDeb names it inside (a stand-in: the real one takes dkms).
  const m = moduleDebFields(plan.kernel);
  const moduleDeb = makeDeb(join(work, 'module'), { name: m.name, version: m.version, arch: 'amd64' });
  const built = await buildDarksite(exec, new Logger({ quiet: true }), index, {
    mirror: index.mirror,
    suite: 'trixie',
    profile: 'core',
    extra: [],
    localDebs: [moduleDeb],
    supplied,
    packageSet: [],
    signingKey: key,
    resolution: plan.darksite.resolution,
  });
  assert.equal(built.key, plan.darksite.key);
  assert.equal(join(cacheDir(), layer(plan, 'darksite').path ?? ''), built.dir);
  const again = planBuild(spec, { ...facts, cache: scanCache(cacheDir(), 'trixie') });
  assert.equal(layer(again, 'darksite').cached, true);
});
