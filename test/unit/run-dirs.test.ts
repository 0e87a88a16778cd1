/**
 * VM run folders (several GB each) do not pile up: a new run removes its prefix's older runs beyond
 * the newest `keep`, and nothing else in the cache's vm/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { newRunDir } from '../../src/core/paths.ts';
import { useThrowAwayCache } from './cache.ts';

test('a new run keeps the newest `keep` runs of its prefix and touches nothing else', () => {
  const vm = join(useThrowAwayCache(), 'vm');
  const made = [
    'e2e-20261201T010000Z',
    'e2e-20261201T020000Z',
    'e2e-20261202T030000Z',
    'plain-20261201T010000Z',
    'plain-20261201T020000Z',
    '20261201T010000Z', // kldload test's own runs: prefix ''
    'e2e-mine', // a user's --workdir
    'fleet-run2',
    'spray-base',
  ];
  for (const d of made) {
    mkdirSync(join(vm, d), { recursive: true });
    writeFileSync(join(vm, d, 'disk.qcow2'), 'x');
  }
  // A kept folder may point into a removed one; the link goes, never what it points at.
  const outside = join(vm, '..', 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'keep'), 'x');
  symlinkSync(outside, join(vm, 'e2e-20261201T010000Z', 'link'));

  const dir = newRunDir('e2e-', 2, '20261202T040000Z');
  assert.equal(dir, join(vm, 'e2e-20261202T040000Z'));
  assert.ok(existsSync(dir));
  assert.deepEqual(readdirSync(vm).sort(), [
    '20261201T010000Z',
    'e2e-20261202T030000Z',
    'e2e-20261202T040000Z',
    'e2e-mine',
    'fleet-run2',
    'plain-20261201T010000Z',
    'plain-20261201T020000Z',
    'spray-base',
  ]);
  assert.ok(existsSync(join(outside, 'keep')));

  newRunDir('', 1, '20261202T050000Z');
  assert.ok(!existsSync(join(vm, '20261201T010000Z')));
  assert.ok(existsSync(join(vm, 'e2e-20261202T030000Z')), 'prefix "" matches bare stamps only');
});

test('a prefix that would be a pattern, or keep below 1, is refused', () => {
  useThrowAwayCache();
  assert.throws(() => newRunDir('e2e.*', 2), /prefix/);
  assert.throws(() => newRunDir('e2e-', 0), /keep 0/);
});
