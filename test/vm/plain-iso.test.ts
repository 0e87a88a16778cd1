/**
 * `kldload test` proves any ISO: one built with no options beyond the profile (no --packages, no
 * roles, no payload) installs, boots and passes every check, the reboot check included. The ISO is
 * built from the layers the spine test left in the cache; only the darksite and the ISO are new.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cacheDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import { kldloadTestPasses } from './kldload-test.ts';

const WORK = cacheDir('vm', `plain-${utcStamp()}`);
const ISO = join(WORK, 'plain.iso');
mkdirSync(WORK, { recursive: true });

test('kldload test of a plain `kldload build --profile server` ISO passes', { timeout: 3600_000 }, () => {
  const b = spawnSync('node', ['dist/kldload.mjs', 'build', '--profile', 'server', '-o', ISO], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(b.status, 0, `build failed: ${b.stderr.slice(-3000)}`);
  kldloadTestPasses(ISO, join(WORK, 'test'));
});
