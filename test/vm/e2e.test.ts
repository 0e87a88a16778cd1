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
import { bootDisk } from '../../src/vm/boot.ts';
import { installPhase, TARGET_DISK } from '../../src/vm/harness.ts';

const CLI = 'dist/kldload.mjs';
/** The ISO under test: server profile, one darksite extra, two library roles (same as scripts/e2e.sh). */
const BUILD = ['build', '--profile', 'server', '--packages', 'tree', '--role', 'web', '--role', 'postgres'];
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
  const first = cli([...BUILD, '--payload', 'test/vm/payload', '-o', ISO]);
  assert.equal(first.code, 0, `build failed: ${first.stderr.slice(-3000)}`);
  const payload2 = join(WORK, 'payload2');
  mkdirSync(payload2, { recursive: true });
  execFileSync('cp', ['-a', 'test/vm/payload/.', payload2]);
  writeFileSync(join(payload2, 'extra.txt'), `changed ${Date.now()}\n`);
  const second = cli([...BUILD, '--payload', payload2, '-o', join(WORK, 'rebuild.iso')]);
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

const TEST_PASSWORD = 'kl-test-Secret-7';

test(
  'power cut during first boot: the next boot runs it again and it completes',
  { timeout: 1800_000 },
  async () => {
    const installed = join(WORK, 'test', 'target.qcow2');
    assert.ok(existsSync(installed), 'needs the disk installed by the kldload test above');
    const disk = join(WORK, 'powercut.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', installed, '-F', 'qcow2', disk]);
    const o = {
      disk,
      workDir: WORK,
      key: join(WORK, 'test', 'id_ed25519'),
      user: 'admin',
      password: TEST_PASSWORD,
      timeoutSec: 1200,
    };
    const first = await bootDisk(exec, { ...o, name: 'powercut-1' });
    assert.ok(await first.up(900), 'no ssh on the first boot');
    // Cut the power once a role is installing packages (first boot is busy on the disk).
    let busy = '';
    for (let i = 0; i < 120 && !/phase: (packages|cluster|site)/.test(busy); i++) {
      busy = (
        await first.root(
          'grep -h "phase:" /var/log/kldload/postinstall.log 2>/dev/null | tail -n1; systemctl is-active kldload-firstboot.service || true',
        )
      ).stdout;
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.match(busy, /activating/, `first boot was not running when the power was cut: ${busy}`);
    await first.stop();

    const second = await bootDisk(exec, { ...o, name: 'powercut-2' });
    try {
      assert.ok(await second.up(900), 'no ssh after the power cut');
      const r = await second.root(
        'timeout 1200 systemctl is-system-running --wait; kldload firstboot status --json | tr -d " \\n"; echo; grep -c "verification: all" /var/log/kldload/postinstall.log; wc -l < /var/lib/kldload-test/postinstall-runs',
      );
      const [running, status, verified, runs] = r.stdout.trim().split('\n');
      assert.equal(running, 'running', r.all);
      assert.match(status ?? '', /"status":"ok"/);
      assert.ok(Number(verified) >= 2, `role verifications: ${verified}`);
      assert.equal(runs, '1', 'a role that completed before the cut ran again');

      // A deliberately failing postinstall: status names line and command, the system stays up,
      // and run --again after the fix succeeds.
      const fail = await second.root(
        'cp /root/darksite/postinstall.sh /root/postinstall.good && printf "#!/bin/bash\\necho step one\\nfalse --deliberate\\n" > /root/darksite/postinstall.sh && kldload firstboot run --again >/dev/null; kldload firstboot status; kldload firstboot status --json | tr -d " \\n"',
      );
      assert.match(
        fail.stdout,
        /failed: \/root\/darksite\/postinstall\.sh line 3: false --deliberate \(exit 1\)/,
      );
      assert.match(fail.stdout, /"line":"3","command":"false--deliberate"/);
      const fixed = await second.root(
        'cp /root/postinstall.good /root/darksite/postinstall.sh && kldload firstboot run --again && kldload firstboot status && systemctl is-system-running',
      );
      assert.equal(fixed.exitCode, 0, fixed.all);
      assert.match(fixed.stdout, /^ok$/m);
    } finally {
      await second.stop();
    }
  },
);
