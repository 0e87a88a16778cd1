/**
 * `npm run e2e:layouts`: every pool layout the installer offers, installed from one plain server ISO
 * and booted in a VM with `kldload test` (all its checks, plus the vdev tree, encryption and one
 * identical ESP per disk). The CI proves the encrypted by-id mirror and its degraded boot
 * (test/vm/e2e.test.ts); this file the rest: raidz1, encryption on one disk, raidz2, mirror-stripe.
 * Each check prints PASS/FAIL and lands in bench/results/layouts-<stamp>.json with the install time.
 * KLDLOAD_LAYOUTS=raidz1,encrypted runs only those.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { newRunDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import type { TestResult } from '../../src/vm/harness.ts';
import type { InstallTimes } from '../../src/vm/serial-times.ts';
import { DEFAULT_TEST_ANSWERS } from '../../src/vm/test-answers.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { recorder } from './results.ts';

const STAMP = utcStamp();
const WORK = newRunDir('layouts-', 2, STAMP);
const ISO = join(WORK, 'kldload.iso');
const { check, checkAll, scenario } = recorder('layouts', STAMP);

const LAYOUTS: { name: string; answers: string }[] = [
  { name: 'raidz1', answers: 'KLDLOAD_ZFS_TOPOLOGY=raidz1\n' },
  { name: 'encrypted', answers: 'KLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE="kl layouts Phrase 7"\n' },
  { name: 'raidz2', answers: 'KLDLOAD_ZFS_TOPOLOGY=raidz2\n' },
  { name: 'mirror-stripe', answers: 'KLDLOAD_ZFS_TOPOLOGY=mirror-stripe\n' },
];
const only = process.env.KLDLOAD_LAYOUTS?.split(',').filter(Boolean);

/**
 * The installer's own figures from its serial log (kldload test's `install`, src/vm/serial-times.ts):
 * the whole install and each step; base-os is the plain unsquashfs of the target image into the new
 * pool, in the same VM and run: the floor the install is measured against (goal ≤ 1.3×).
 */
const times: Record<string, InstallTimes> = {};
after(() => {
  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `layouts-install-${STAMP}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ bench: 'layouts-install', stamp: STAMP, goal: 'install ≤ 1.3× unsquashfs', times }, null, 1)}\n`,
  );
  for (const [k, t] of Object.entries(times))
    console.log(
      `# ${k}: install ${t.install}s, unsquashfs ${t.unsquashfs}s, ratio ${t.ratio}×, bootloader ${t.steps.bootloader}s`,
    );
});

test(
  'build a plain server ISO',
  { timeout: 3600_000 },
  scenario('build', async () => {
    const t0 = Date.now();
    const r = vmCli(['build', '--profile', 'server', '-o', ISO]);
    check(
      'build',
      'kldload build --profile server',
      () => assert.equal(r.code, 0, r.stderr.slice(-3000)),
      (Date.now() - t0) / 1000,
    );
  }),
);

for (const l of LAYOUTS.filter((x) => !only || only.includes(x.name)))
  test(
    `${l.name}: installs, boots and passes every kldload test check`,
    { timeout: 3600_000 },
    scenario(l.name, async () => {
      const answers = join(WORK, `${l.name}.env`);
      writeFileSync(answers, `${DEFAULT_TEST_ANSWERS}${l.answers}`, { mode: 0o600 });
      const t0 = Date.now();
      const r = vmCli(['test', ISO, '--answers', answers, '--workdir', join(WORK, l.name), '--json']);
      const res = JSON.parse(r.stdout) as TestResult;
      const install = res.phases.find((p) => p.name === 'install');
      check(l.name, 'install', () => assert.ok(install?.ok, install?.detail), install?.seconds);
      if (res.install) times[l.name] = res.install;
      checkAll(l.name, [
        ...res.checks,
        {
          name: 'kldload test exits 0',
          ok: r.code === 0,
          detail: r.stderr.slice(-2000),
          seconds: (Date.now() - t0) / 1000,
        },
      ]);
    }),
  );
