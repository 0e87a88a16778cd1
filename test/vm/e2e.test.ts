/**
 * The spine, end to end, with real components: mmdebstrap, zfs-dkms, squashfs, GRUB/xorriso, QEMU
 * (TCG) + OVMF, ZFS, systemd-boot. Builds the ISO, installs offline, boots the disk alone, checks it;
 * then proves that bad input never touches a disk.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { newRunDir } from '../../src/core/paths.ts';
import { MEDIUM } from '../../src/layout.ts';
import { TARGET_DISK, targetSerial } from '../../src/vm/drives.ts';
import { installPhase } from '../../src/vm/install-phase.ts';
import { Machine, renderBoots } from '../../src/vm/machine.ts';
import { overlayArgs } from '../../src/vm/qemu.ts';
import { DEFAULT_TEST_ANSWERS } from '../../src/vm/test-answers.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { kldloadTestPasses } from './kldload-test.ts';

/** The ISO under test: server profile, one darksite extra, two library roles (same as scripts/e2e.sh). */
const BUILD = ['build', '--profile', 'server', '--packages', 'tree', '--role', 'web', '--role', 'postgres'];
const WORK = newRunDir('e2e-', 2);
const ISO = join(WORK, 'kldload.iso');

function cli(args: string[]): { code: number; json: Record<string, unknown>; stderr: string } {
  const r = vmCli([...args, '--json']);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = { raw: r.stdout };
  }
  return { code: r.code ?? 1, json, stderr: r.stderr };
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

/**
 * The CI's layout: a mirror of two disks named by-id, natively encrypted (issue 12). The harness
 * types the passphrase at the initramfs prompt over the serial console; kldload test checks the vdev
 * tree, the key and one identical ESP per disk besides everything else.
 */
const PASSPHRASE = 'kl-Crypt-Phrase-42';
const LAYOUT_ANSWERS = `${DEFAULT_TEST_ANSWERS}KLDLOAD_EXTRA_PACKAGES=tree
KLDLOAD_ZFS_TOPOLOGY=mirror
KLDLOAD_ZFS_ENCRYPT=1
KLDLOAD_ZFS_PASSPHRASE=${PASSPHRASE}
`;

test(
  'kldload test: offline install on an encrypted mirror, the disks boot alone, every check passes',
  { timeout: 3600_000 },
  () => {
    const answers = join(WORK, 'mirror-encrypted.env');
    writeFileSync(answers, LAYOUT_ANSWERS, { mode: 0o600 });
    const out = kldloadTestPasses(ISO, join(WORK, 'test'), ['--answers', answers]);
    for (const c of [
      /^PASS pool: mirror of 2 disks, every one ONLINE, named by-id/m,
      /^PASS encryption: aes-256-gcm, encryption root rpool, key loaded/m,
      /^PASS ESPs: 2 \(one per disk\), the same loader, kernels and entries on each/m,
      /^PASS passphrase: on no disk in clear and in no serial log/m,
    ])
      assert.match(out, c);
    // The ISO describes the extras the user asked for (--packages), not the roles' packages, and the
    // test answers asked for exactly those.
    const image = JSON.parse(readFileSync(join(WORK, 'test', 'image.json'), 'utf8')) as {
      extraPackages: string[];
    };
    assert.deepEqual(image.extraPackages, ['tree']);
  },
);

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
    // KLDLOAD_ZFS_DATA_DISKS are the pool's disks, KLDLOAD_DISK among them (the original kldload's meaning).
    assert.match(
      serial,
      /answers\.env:5: KLDLOAD_ZFS_TOPOLOGY: mirror needs at least 2 disks in KLDLOAD_ZFS_DATA_DISKS, the pool's disks with KLDLOAD_DISK among them \(has 0\)/,
    );
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
    execFileSync('qemu-img', overlayArgs(installed, overlay));
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

/** A file's single data extent on the ISO, as xorriso reports it (`-find … -exec report_lba`). */
function isoExtent(iso: string, dir: string, name: string): { path: string; lba: number; size: number } {
  const out = execFileSync(
    'xorriso',
    ['-indev', iso, '-find', dir, '-type', 'f', '-name', name, '-exec', 'report_lba', '--'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // "File data lba:  0 ,   145558 ,       29 ,    59392 , '/kldload/apt/pool/…/tree_….deb'"
  const rows = [
    ...out.matchAll(/^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,\s*'([^']+)'/gm),
  ];
  assert.equal(rows.length, 1, `want one extent of ${dir}/${name} on ${iso}:\n${out}`);
  const [, xt, lba, size, path] = rows[0] as RegExpMatchArray;
  assert.equal(xt, '0');
  return { path: path as string, lba: Number(lba), size: Number(size) };
}

function isoExtract(iso: string, path: string, to: string): Buffer {
  rmSync(to, { force: true });
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', path, to], { stdio: 'ignore' });
  return readFileSync(to);
}

test(
  "a tampered darksite (one flipped byte in tree's .deb on the ISO): the install stops at 'packages' with apt's Hash Sum mismatch",
  { timeout: 1800_000 },
  async () => {
    // The copy differs from the built ISO in exactly one byte, in the middle of the .deb's data: the
    // boot setup, the signed Release and the Packages index are the ones the build wrote.
    const deb = isoExtent(ISO, `/${MEDIUM.apt}/pool`, 'tree_*.deb');
    const tampered = join(WORK, 'tampered.iso');
    execFileSync('cp', ['--reflink=auto', ISO, tampered]);
    const at = deb.lba * 2048 + Math.floor(deb.size / 2);
    const fd = openSync(tampered, 'r+');
    try {
      const b = Buffer.alloc(1);
      assert.equal(readSync(fd, b, 0, 1, at), 1);
      b[0] = (b[0] as number) ^ 0xff;
      assert.equal(writeSync(fd, b, 0, 1, at), 1);
    } finally {
      closeSync(fd);
    }
    const good = isoExtract(ISO, deb.path, join(WORK, 'tree-good.deb'));
    const bad = isoExtract(tampered, deb.path, join(WORK, 'tree-tampered.deb'));
    assert.equal(bad.length, good.length);
    const diff = [...good.keys()].filter((i) => good[i] !== bad[i]);
    assert.deepEqual(diff, [Math.floor(deb.size / 2)], 'want exactly one flipped byte in the .deb');

    const disk = join(WORK, 'neg-tamper.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16G']);
    const r = await installPhase(exec, quietLog, {
      iso: tampered,
      workDir: WORK,
      answersFile: answersFile('tamper', `${GOOD}KLDLOAD_EXTRA_PACKAGES=tree\n`),
      disk,
      timeoutSec: 1500,
      name: 'neg-tamper',
    });
    assert.ok(!r.ok, 'the install succeeded from a tampered darksite');
    assert.ok(r.refused, `the installer did not fail with its marker: ${r.detail}`);
    const serial = readFileSync(r.serialLog, 'utf8');
    // The tampered ISO booted and the installer ran up to the step that installs the extras.
    assert.match(serial, /==> \[1\/\d+\] preflight:/);
    assert.match(serial, /network done in/);
    assert.match(serial, /==> \[\d+\/\d+\] packages: install tree from the signed darksite/);
    // The verdict names the step, the failing command and apt's own reason.
    assert.match(serial, /install failed in step 'packages'/);
    assert.match(serial, /command: \$ chroot \/mnt apt-get .* install -y --no-install-recommends tree/);
    assert.match(
      serial,
      /E: Failed to fetch file:\S+\/pool\/main\/t\/tree\/tree_\S+\.deb\s+Hash Sum mismatch/,
    );
    assert.match(serial, /Hashes of expected file:/);
    // The failure path ran its cleanup (unmount, destroy the half-made pool, clear partition tables).
    assert.match(serial, /cleaning up: unmount, destroy the half-made pool/);
    assert.match(serial, /KLDLOAD-INSTALL-FAIL step=packages/);
    assert.doesNotMatch(serial, /KLDLOAD-INSTALL-OK/);
    assert.doesNotMatch(serial, /neg-Secret-123/, 'password reached the console');
    rmSync(tampered, { force: true });
  },
);

const TEST_PASSWORD = 'kl-test-Secret-7';

test(
  'the mirror without its first disk boots from the second (a wrong passphrase refused, then the right one): pool DEGRADED naming the missing disk, /boot/efi the second ESP; a power cut during first boot: the next boot runs it again and it completes',
  { timeout: 1800_000 },
  async () => {
    // The second disk as the install left it; the first is not attached at all.
    const installed = join(WORK, 'test', 'target2.qcow2');
    assert.ok(existsSync(installed), 'needs the mirror installed by the kldload test above');
    const disk = join(WORK, 'powercut.qcow2');
    execFileSync('qemu-img', overlayArgs(installed, disk));
    const m = await Machine.start(
      exec,
      {
        disk,
        drives: [{ file: disk, serial: targetSerial(1) }],
        passphrase: PASSPHRASE,
        workDir: WORK,
        name: 'powercut',
        key: join(WORK, 'test', 'id_ed25519'),
        user: 'admin',
        password: TEST_PASSWORD,
        log: quietLog,
      },
      'first boot, first disk gone',
    );
    m.typeFirst.push('not-the-passphrase');
    try {
      await m.mustBeUp(900);
      const serial = readFileSync(m.current.serialLog, 'utf8');
      assert.equal(
        [...serial.matchAll(/\[harness: a line typed at "Enter passphrase for 'rpool':"\]/g)].length,
        2,
        'want one wrong and one right passphrase, typed at two prompts',
      );
      assert.match(
        serial,
        /Incorrect key|Key load error/,
        'the wrong passphrase was not refused on the console',
      );
      assert.doesNotMatch(serial, new RegExp(PASSPHRASE), 'the passphrase reached the console');
      const deg = await m.root(
        'zpool status -P rpool; echo "@@esp $(readlink -f "$(findmnt -no SOURCE /boot/efi)") $(readlink -f /dev/disk/by-id/virtio-kltarget2-part1)"',
      );
      assert.match(deg.stdout, /^\s+state: DEGRADED$/m, deg.all);
      // The missing disk is named (its last path), and the present one is ONLINE.
      assert.match(
        deg.stdout,
        /(UNAVAIL|REMOVED|FAULTED).*virtio-kltarget-part2|virtio-kltarget-part2.*(UNAVAIL|REMOVED|FAULTED)/,
        deg.all,
      );
      assert.match(deg.stdout, /\/dev\/disk\/by-id\/virtio-kltarget2-part2\s+ONLINE/, deg.all);
      const esp = /^@@esp (\S+) (\S+)$/m.exec(deg.stdout);
      assert.ok(esp && esp[1] === esp[2], `/boot/efi is not the second disk's ESP: ${esp?.[0]}`);
      // Cut the power once a role is installing packages (first boot is busy on the disk).
      let busy = '';
      for (let i = 0; i < 120 && !/phase: (packages|cluster|site)/.test(busy); i++) {
        busy = (
          await m.root(
            'grep -h "phase:" /var/log/kldload/postinstall.log 2>/dev/null | tail -n1; systemctl is-active kldload-firstboot.service || true',
          )
        ).stdout;
        await new Promise((r) => setTimeout(r, 2000));
      }
      assert.match(busy, /activating/, `first boot was not running when the power was cut: ${busy}`);
      // Same disk, same EFI variables: only the power went away.
      await m.powerCut('after the power cut');
      await m.mustBeUp(900);
      assert.equal(await m.settled(1200), 'running');
      const r = await m.root(
        'kldload firstboot status --json | tr -d " \\n"; echo; grep -c "verification: all" /var/log/kldload/postinstall.log; wc -l < /var/lib/kldload-test/postinstall-runs',
      );
      const [status, verified, runs] = r.stdout.trim().split('\n');
      assert.match(status ?? '', /"status":"ok"/, r.all);
      assert.ok(Number(verified) >= 2, `role verifications: ${verified}`);
      assert.equal(runs, '1', 'a role that completed before the cut ran again');

      // A deliberately failing postinstall: status names line and command, the system stays up,
      // and run --again after the fix succeeds.
      const fail = await m.root(
        'cp /root/darksite/postinstall.sh /root/postinstall.good && printf "#!/bin/bash\\necho step one\\nfalse --deliberate\\n" > /root/darksite/postinstall.sh && kldload firstboot run --again >/dev/null; kldload firstboot status; kldload firstboot status --json | tr -d " \\n"',
      );
      assert.match(
        fail.stdout,
        /failed: \/root\/darksite\/postinstall\.sh line 3: false --deliberate \(exit 1\)/,
      );
      assert.match(fail.stdout, /"line":"3","command":"false--deliberate"/);
      const fixed = await m.root(
        'cp /root/postinstall.good /root/darksite/postinstall.sh && kldload firstboot run --again && kldload firstboot status && systemctl is-system-running',
      );
      assert.equal(fixed.exitCode, 0, fixed.all);
      assert.match(fixed.stdout, /^ok$/m);
    } finally {
      await m.stop();
      for (const line of renderBoots(m.boots)) console.log(`# ${line}`);
    }
  },
);
