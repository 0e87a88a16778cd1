/**
 * The spine, end to end, with real components: mmdebstrap, zfs-dkms, squashfs, GRUB/xorriso, QEMU
 * (TCG) + OVMF, ZFS, systemd-boot. Builds the ISO, installs offline, boots the disk alone, checks it;
 * then proves that bad input never touches a disk.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { cacheDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import { installPhase, TARGET_DISK } from '../../src/vm/harness.ts';

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
  const first = cli([
    'build',
    '--profile',
    'server',
    '--packages',
    'tree',
    '--role',
    'web',
    '--role',
    'postgres',
    '--payload',
    'test/vm/payload',
    '-o',
    ISO,
  ]);
  assert.equal(first.code, 0, `build failed: ${first.stderr.slice(-3000)}`);
  const payload2 = join(WORK, 'payload2');
  mkdirSync(payload2, { recursive: true });
  execFileSync('cp', ['-a', 'test/vm/payload/.', payload2]);
  writeFileSync(join(payload2, 'extra.txt'), `changed ${Date.now()}\n`);
  const second = cli([
    'build',
    '--profile',
    'server',
    '--packages',
    'tree',
    '--role',
    'web',
    '--role',
    'postgres',
    '--payload',
    payload2,
    '-o',
    join(WORK, 'rebuild.iso'),
  ]);
  assert.equal(second.code, 0, second.stderr.slice(-3000));
  const phases = second.json.phases as { name: string; cached: boolean }[];
  for (const p of phases.filter((x) =>
    ['zfs-module', 'darksite', 'target-layer', 'live-layer'].includes(x.name),
  ))
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

const exec = new SystemExecutor();
const quietLog = new Logger({ file: join(WORK, 'negative.log') });

function answersFile(name: string, text: string): string {
  const p = join(WORK, `${name}.env`);
  writeFileSync(p, text);
  return p;
}

const GOOD = `KLDLOAD_HOSTNAME=neg-test
KLDLOAD_DISK=${TARGET_DISK}
KLDLOAD_USERNAME=admin
KLDLOAD_PASSWORD=neg-Secret-123
`;

test(
  'bad answers: the live installer refuses with file:line and the blank disk stays untouched',
  {
    timeout: 1800_000,
  },
  async () => {
    const disk = join(WORK, 'neg-blank.qcow2');
    const pristine = join(WORK, 'neg-pristine.qcow2');
    for (const d of [disk, pristine]) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', d, '16G']);
    const bad = answersFile('bad', `${GOOD}KLDLOAD_ZFS_TOPOLOGY=mirror\n`);
    const r = await installPhase(exec, quietLog, {
      iso: ISO,
      workDir: WORK,
      answersFile: bad,
      disk,
      timeoutSec: 900,
      name: 'neg-answers',
    });
    assert.ok(r.refused, `installer did not refuse: ${r.detail}`);
    const serial = readFileSync(r.serialLog, 'utf8');
    assert.match(serial, /answers\.env:5: KLDLOAD_ZFS_TOPOLOGY: mirror needs at least 1 disk/);
    assert.doesNotMatch(serial, /neg-Secret-123/, 'password reached the console');
    // qemu-img compare exits 0 only when the guest-visible contents are identical.
    execFileSync('qemu-img', ['compare', '-q', disk, pristine]);
  },
);

test(
  'a disk that is not empty is refused without KLDLOAD_FORCE_WIPE and stays untouched',
  {
    timeout: 1800_000,
  },
  async () => {
    const installed = join(WORK, 'test', 'target.qcow2');
    assert.ok(existsSync(installed), 'needs the disk installed by the previous test');
    const overlay = join(WORK, 'neg-used.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', installed, '-F', 'qcow2', overlay]);
    const r = await installPhase(exec, quietLog, {
      iso: ISO,
      workDir: WORK,
      answersFile: answersFile('used', GOOD),
      disk: overlay,
      timeoutSec: 900,
      name: 'neg-used',
    });
    assert.ok(r.refused, `installer did not refuse: ${r.detail}`);
    const serial = readFileSync(r.serialLog, 'utf8');
    assert.match(serial, /is not empty \(.*\)\. Set KLDLOAD_FORCE_WIPE=1/);
    assert.match(serial, /KLDLOAD-INSTALL-FAIL step=preflight/);
    execFileSync('qemu-img', ['compare', '-q', overlay, installed]);
  },
);
