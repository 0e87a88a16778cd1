/** installTimes reads the live boot and the installer's steps from a real install's serial log. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { installTimes, renderLiveBoot } from '../../src/vm/serial-times.ts';

const LOG = readFileSync(new URL('../fixtures/vm/install-serial-excerpt.log', import.meta.url), 'utf8');

test('the live boot splits at the kernel, init, systemd, the installer unit and the first step', () => {
  const t = installTimes(LOG);
  // Host seconds in the excerpt: 10.47, 27.21, 71.39, 100.53, 117.23.
  assert.deepEqual(t.liveBoot, {
    initramfs: 16.7,
    initExec: 44.2,
    systemd: 29.1,
    installerStart: 16.7,
    total: 106.8,
  });
  assert.match(
    renderLiveBoot(t.liveBoot as NonNullable<typeof t.liveBoot>),
    /^live boot 106.8s .*initramfs 16.7s/,
  );
});

test('install, its floor and each step', () => {
  const t = installTimes(LOG);
  assert.equal(t.install, 145);
  assert.equal(t.unsquashfs, 46);
  assert.equal(t.ratio, 3.15);
  assert.equal(t.steps.bootloader, 33.8);
  assert.equal(Object.keys(t.steps).length, 24);
});

test('a log without the marks has no live boot, and says so by leaving it out', () => {
  const t = installTimes(LOG.split('\n').slice(5).join('\n'));
  assert.equal(t.liveBoot, undefined);
  assert.equal(t.steps.bootloader, 33.8);
});
