/**
 * `npm run e2e:layouts`, second file: Debian 12 (bookworm) as the target. A plain server ISO built
 * with `--suite bookworm` (its own kernel and bookworm's zfs, compiled once), installed on one disk
 * and checked by `kldload test` exactly like trixie. PASS/FAIL per check in
 * bench/results/bookworm-<stamp>.json.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { newRunDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import type { TestResult } from '../../src/vm/harness.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { recorder } from './results.ts';

const STAMP = utcStamp();
const WORK = newRunDir('bookworm-', 2, STAMP);
const ISO = join(WORK, 'kldload.iso');
const { check, checkAll, scenario } = recorder('bookworm', STAMP);
test(
  'bookworm: build a plain server ISO',
  { timeout: 3600_000 },
  scenario('build', async () => {
    const t0 = Date.now();
    const r = vmCli(['build', '--profile', 'server', '--suite', 'bookworm', '-o', ISO]);
    check(
      'build',
      'kldload build --profile server --suite bookworm',
      () => assert.equal(r.code, 0, r.stderr.slice(-3000)),
      (Date.now() - t0) / 1000,
    );
  }),
);

test(
  'bookworm: installs on one disk, boots and passes every kldload test check',
  { timeout: 3600_000 },
  scenario('bookworm', async () => {
    const t0 = Date.now();
    const r = vmCli(['test', ISO, '--workdir', join(WORK, 'test'), '--json']);
    const res = JSON.parse(r.stdout) as TestResult;
    checkAll('bookworm', [
      ...res.phases.map((p) => ({ ...p, name: `phase ${p.name}` })),
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
