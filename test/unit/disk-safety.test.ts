/**
 * Installer safety against fixture machines (test/unit/fake-host.ts): what the disk checks refuse,
 * through blkid's exit codes, imported pools, whole holder chains, the ISO's own marker and the
 * firmware, and how KLDLOAD_DISK= empty picks a disk. Nothing here touches the host's disks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateAnswersFile } from '../../src/answers/validate.ts';
import { applyPlan } from '../../src/apply/apply.ts';
import { checkDiskSafe, checkUefi, type DiskSafeArgs } from '../../src/apply/checks.ts';
import { install } from '../../src/cli/commands/install.ts';
import { Logger } from '../../src/core/log.ts';
import { diskInventory, pickDisk } from '../../src/live/disk-pick.ts';
import type { InstallFacts } from '../../src/plan/install.ts';
import { FIRST_WRITING_STEP, planInstall } from '../../src/plan/install-plan.ts';
import { disk, fakeMachine, type Machine, part, zdbWithComment } from './fake-host.ts';

const GIB = 1024 ** 3;

/** Fixed facts of a medium (as in plan.test.ts, not imported: that would run its tests twice). */
const FACTS: InstallFacts = {
  root: '/mnt',
  kabi: '6.12.107+deb13-amd64',
  suite: 'trixie',
  image: '/run/live/medium/kldload/target.squashfs',
  bundle: '/run/live/medium/kldload/kldload.mjs',
  hostid: '1abc0fee',
  espGuid: '6a2c7f3e-0b1d-4c55-9e0f-5d7c2b8a9e11',
  stamp: '20261122T031800Z',
  efiVars: true,
  diskReal: '/dev/vda',
  console: [],
  logFile: '/var/log/kldload/installer.log',
  secureBoot: false,
  tpm: false,
  isoBuild: '5eed1e55c0ffee00',
};

/** A UEFI VM booted from the ISO on a CD: root is the live overlay, the medium is /dev/sr0. */
function vm(extra: Partial<Machine> = {}): Machine {
  return {
    devices: [
      disk('sr0', { type: 'rom', model: 'QEMU DVD-ROM', mountpoints: ['/run/live/medium'] }),
      disk('vda'),
      disk('vdb'),
      ...(extra.devices ?? []),
    ],
    mounts: { '/run/live/medium': '/dev/sr0', ...(extra.mounts ?? {}) },
    links: {
      '/dev/disk/by-id/virtio-kltarget': '/dev/vda',
      '/dev/disk/by-id/virtio-second': '/dev/vdb',
      ...(extra.links ?? {}),
    },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => !['devices', 'mounts', 'links'].includes(k))),
  };
}

const args = (o: Partial<DiskSafeArgs> = {}): DiskSafeArgs => ({
  disks: ['/dev/vda'],
  forceWipe: false,
  pool: 'rpool',
  ...o,
});

async function refusal(m: Machine, o: Partial<DiskSafeArgs> = {}): Promise<string> {
  const { host } = fakeMachine(m);
  try {
    await checkDiskSafe(host, args(o));
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return '';
}

// --- a. blkid -p: only exit 2 means "nothing found" -------------------------------------------------

test('blkid -p exit 8 (ambivalent: stale second signature) is not empty: refused without FORCE_WIPE', async () => {
  const m = vm({
    blkid: {
      '/dev/vda': {
        exitCode: 8,
        all: 'ambivalent result (probably more filesystems on the device, use wipefs(8) to see more details)',
      },
    },
  });
  assert.match(
    await refusal(m),
    /\/dev\/vda: is not empty \(ambivalent signatures \(blkid -p exit 8.*\). Set KLDLOAD_FORCE_WIPE=1/,
  );
  assert.equal(await refusal(m, { forceWipe: true }), '', 'FORCE_WIPE=1 erases it');
});

test('blkid -p: exit 2 is empty; any other failure or a signature is not', async () => {
  assert.equal(await refusal(vm({ blkid: { '/dev/vda': { exitCode: 2 } } })), '');
  assert.match(
    await refusal(vm({ blkid: { '/dev/vda': { exitCode: 4, all: 'blkid: bad usage' } } })),
    /blkid -p could not probe it \(exit 4: blkid: bad usage\), so it is not known to be empty/,
  );
  assert.match(
    await refusal(
      vm({
        blkid: { '/dev/vda': { exitCode: 0, stdout: 'DEVNAME=/dev/vda\nTYPE=ext4\nUSAGE=filesystem\n' } },
      }),
    ),
    /not empty \(signature: filesystem ext4\)/,
  );
  assert.match(
    await refusal(
      vm({ blkid: { '/dev/vda': { exitCode: 0, stdout: 'DEVNAME=/dev/vda\n', all: 'DEVNAME=/dev/vda' } } }),
    ),
    /not empty \(signature \(blkid -p: DEVNAME=\/dev\/vda\)\)/,
    'exit 0 with nothing we name still means something was found',
  );
});

// --- b. a pool already imported under the target name ------------------------------------------------

/** rpool imported from vdb (an old install on the second disk); the target is vda. */
const withForeignRpool = (): Machine => {
  const m = vm({ zpool: foreignRpool });
  m.devices = m.devices.map((d) =>
    d.name === 'vdb' ? { ...d, pttype: 'gpt', children: [part('vdb2', { fstype: 'zfs_member' })] } : d,
  );
  return m;
};
const foreignRpool =
  'rpool\t15.5G\t1.2G\t14.3G\t-\t-\t0%\t7%\t1.00x\tONLINE\t-\n\t/dev/vdb2\t15.5G\t1.2G\t14.3G\t-\t-\t0%\t7.7%\t-\tONLINE\n';

test('an imported pool of the target name on another disk is refused, FORCE_WIPE or not', async () => {
  const m = withForeignRpool();
  for (const forceWipe of [false, true])
    assert.match(
      await refusal(m, { forceWipe }),
      /a ZFS pool named rpool is already imported \(vdevs \/dev\/vdb2\), not only on the target disks \(also on \/dev\/vdb\).*zpool export rpool/,
    );
});

test('an imported pool of the target name on the target disks goes only with FORCE_WIPE', async () => {
  const devices = [
    disk('vda', {
      pttype: 'gpt',
      children: [part('vda1', { fstype: 'vfat' }), part('vda2', { fstype: 'zfs_member' })],
    }),
  ];
  const zpool =
    'rpool\t15.5G\t1.2G\t14.3G\t-\t-\t0%\t7%\t1.00x\tONLINE\t-\n\t/dev/vda2\t15.5G\t1.2G\t14.3G\t-\t-\t0%\t7.7%\t-\tONLINE\n';
  const m: Machine = {
    ...vm({ zpool }),
    devices: [disk('sr0', { type: 'rom', mountpoints: ['/run/live/medium'] }), ...devices],
  };
  assert.match(
    await refusal(m),
    /on the target disks, but KLDLOAD_FORCE_WIPE is not 1.*or set KLDLOAD_FORCE_WIPE=1/,
  );
  assert.equal(await refusal(m, { forceWipe: true }), '');
  // …and then the wipe step destroys it before wiping, instead of the pool step reusing it.
  const a = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(a.ok, 'basic.env validates');
  const wipe = planInstall({ ...a.answers, KLDLOAD_FORCE_WIPE: true }, FACTS).steps.find(
    (s) => s.name === 'wipe',
  );
  assert.deepEqual(wipe?.actions[0], {
    kind: 'run',
    argv: ['zpool', 'destroy', '-f', 'rpool'],
    unless: ['sh', '-c', '! zpool list -H -o name rpool >/dev/null 2>&1'],
  });
});

test('a foreign rpool: the install stops at preflight, nothing is written and cleanup never destroys it', async () => {
  const a = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(a.ok, 'basic.env validates');
  const { host, exec } = fakeMachine(withForeignRpool());
  const root = mkdtempSync(join(tmpdir(), 'kl-root-'));
  const plan = planInstall({ ...a.answers, KLDLOAD_FORCE_WIPE: true }, { ...FACTS, root });
  const r = await applyPlan(exec, new Logger({ quiet: true }), plan, {
    root,
    cleanupFrom: FIRST_WRITING_STEP,
    host,
  });
  assert.equal(r.failed?.step, 'preflight');
  assert.match(r.failed?.error ?? '', /already imported/);
  const ran = exec.calls.map((c) => c.argv.join(' '));
  assert.ok(!ran.some((c) => /destroy|wipefs|sgdisk|labelclear|zpool create/.test(c)), ran.join('\n'));
  assert.deepEqual(readdirSync(root), []);
});

test('without the zfs module no pool can be imported: zpool is not asked', async () => {
  const { host, exec } = fakeMachine({ ...vm({ zpool: 'garbage' }), zfsLoaded: false });
  await checkDiskSafe(host, args());
  assert.ok(!exec.calls.some((c) => c.argv[0] === 'zpool'), 'zpool ran');
});

// --- c. the whole holder chain -----------------------------------------------------------------------

test('boot medium through a stack: root on LVM on md on sda1+sdb1 refuses sdb, not just md0', async () => {
  const lv = { name: 'vg-root', path: '/dev/mapper/vg-root', type: 'lvm', mountpoints: ['/'] };
  const md = { name: 'md0', path: '/dev/md0', type: 'raid1', children: [lv] };
  const m: Machine = {
    devices: [
      disk('sda', {
        pttype: 'gpt',
        children: [part('sda1', { fstype: 'linux_raid_member', children: [md] })],
      }),
      disk('sdb', {
        pttype: 'gpt',
        children: [part('sdb1', { fstype: 'linux_raid_member', children: [md] })],
      }),
    ],
    mounts: { '/': '/dev/mapper/vg-root' },
    links: { '/dev/mapper/vg-root': '/dev/dm-0' },
  };
  for (const d of ['/dev/sda', '/dev/sdb'])
    assert.match(await refusal(m, { disks: [d], forceWipe: true }), /is the boot medium of this system/);
});

test('boot medium through a loop: the live medium on an ISO file on sdc1 refuses sdc', async () => {
  const m: Machine = {
    devices: [
      disk('loop0', { type: 'loop', mountpoints: ['/run/live/medium'] }),
      disk('sdc', { pttype: 'gpt', children: [part('sdc1', { fstype: 'ext4', mountpoints: ['/srv'] })] }),
    ],
    mounts: { '/srv': '/dev/sdc1', '/run/live/medium': '/dev/loop0' },
    files: { '/sys/block/loop0/loop/backing_file': '/srv/isos/kldload.iso\n' },
  };
  assert.match(
    await refusal(m, { disks: ['/dev/sdc'], forceWipe: true }),
    /is the boot medium of this system/,
  );
});

test('in use two levels down: a dm-crypt volume on a target partition, mounted', async () => {
  const crypt = { name: 'luks-data', path: '/dev/mapper/luks-data', type: 'crypt', mountpoints: ['/data'] };
  const m = vm({
    devices: [
      disk('sdd', { pttype: 'gpt', children: [part('sdd1', { fstype: 'crypto_LUKS', children: [crypt] })] }),
    ],
    links: { '/dev/mapper/luks-data': '/dev/dm-3' },
  });
  const msg = await refusal(m, { disks: ['/dev/sdd'], forceWipe: true });
  assert.match(msg, /\/dev\/sdd: is in use: .*\/dev\/mapper\/luks-data is mounted at \/data/);
  assert.match(msg, /held by \/dev\/mapper\/luks-data \(crypt\)/);
});

test('in use without a mount: an active LVM volume, a loop device over the disk, a pool of another name', async () => {
  const lv = { name: 'vg-data', path: '/dev/mapper/vg-data', type: 'lvm', mountpoints: [null] };
  const lvm = vm({
    devices: [disk('sde', { children: [part('sde1', { fstype: 'LVM2_member', children: [lv] })] })],
  });
  assert.match(
    await refusal(lvm, { disks: ['/dev/sde'], forceWipe: true }),
    /held by \/dev\/mapper\/vg-data \(lvm\)/,
  );

  const loop = vm({
    devices: [disk('loop3', { type: 'loop' })],
    files: { '/sys/block/loop3/loop/backing_file': '/dev/vda\n' },
  });
  assert.match(await refusal(loop, { forceWipe: true }), /backs loop device \/dev\/loop3/);

  const crypt = { name: 'tank-c', path: '/dev/mapper/tank-c', type: 'crypt' };
  const tank = vm({
    devices: [disk('sdf', { children: [part('sdf1', { fstype: 'crypto_LUKS', children: [crypt] })] })],
    zpool:
      'tank\t1G\t0\t1G\t-\t-\t0%\t0%\t1.00x\tONLINE\t-\n\t/dev/mapper/tank-c\t1G\t0\t1G\t-\t-\t0%\t0%\t-\tONLINE\n',
  });
  assert.match(
    await refusal(tank, { disks: ['/dev/sdf'], forceWipe: true }),
    /in the imported ZFS pool tank \(zpool export tank first\)/,
  );
});

test('the KLDLOADSEED answers volume is never a target, even named and with FORCE_WIPE', async () => {
  const m = vm({ devices: [disk('vdc', { size: 64 * 1024 ** 2, fstype: 'vfat', label: 'KLDLOADSEED' })] });
  assert.match(
    await refusal(m, { disks: ['/dev/vdc'], forceWipe: true }),
    /holds the KLDLOADSEED answers volume/,
  );
});

// --- e. a disk this same ISO installed ---------------------------------------------------------------

test('a disk installed by this same ISO is not wiped again without kldload.reinstall=1', async () => {
  const installed = vm({
    devices: [
      disk('vdx', {
        pttype: 'gpt',
        children: [part('vdx1', { fstype: 'vfat' }), part('vdx2', { fstype: 'zfs_member' })],
      }),
    ],
    zdb: { '/dev/vdx2': zdbWithComment('rpool', 'kldload-iso:5eed1e55c0ffee00') },
  });
  const o = { disks: ['/dev/vdx'], forceWipe: true, isoBuild: '5eed1e55c0ffee00' };
  assert.match(
    await refusal(installed, o),
    /was installed by this same ISO \(build 5eed1e55c0ffee00\).*kldload\.reinstall=1/,
  );
  assert.equal(await refusal(installed, { ...o, reinstall: true }), '', 'a human asked for it');
  assert.equal(
    await refusal(installed, { ...o, isoBuild: '0123456789abcdef' }),
    '',
    'another ISO may (FORCE_WIPE)',
  );
  assert.match(
    await refusal(installed, { ...o, forceWipe: false, isoBuild: '0123456789abcdef' }),
    /is not empty/,
  );
  // Without FORCE_WIPE the answer stays the plain "not empty" one (the VM negative test expects it).
  assert.match(
    await refusal(installed, { ...o, forceWipe: false }),
    /is not empty \(.*\)\. Set KLDLOAD_FORCE_WIPE=1/,
  );
});

// --- f. legacy BIOS ----------------------------------------------------------------------------------

test('legacy BIOS boot is refused at preflight, before any command or write', async () => {
  const { host, exec } = fakeMachine(vm({ efi: false }));
  assert.throws(
    () => checkUefi(host),
    /booted the installer in legacy BIOS mode \(no \/sys\/firmware\/efi\).*Switch the firmware to UEFI/,
  );
  const a = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(a.ok, 'basic.env validates');
  const root = mkdtempSync(join(tmpdir(), 'kl-root-'));
  const r = await applyPlan(exec, new Logger({ quiet: true }), planInstall(a.answers, { ...FACTS, root }), {
    root,
    cleanupFrom: FIRST_WRITING_STEP,
    host,
  });
  assert.equal(r.failed?.step, 'preflight', 'install prints KLDLOAD-INSTALL-FAIL step=preflight');
  assert.match(r.failed?.error ?? '', /legacy BIOS/);
  assert.deepEqual(exec.calls, []);
  assert.deepEqual(readdirSync(root), []);
  assert.doesNotThrow(() => checkUefi(fakeMachine(vm()).host));
});

// --- h. KLDLOAD_DISK= empty: pick the one eligible disk ----------------------------------------------

const inventory = (m: Machine, forceWipe = false) =>
  diskInventory(fakeMachine(m).host, { forceWipe, exclude: [], pool: 'rpool' });

test('pick: the one eligible disk is chosen and named; seed, medium, small and busy disks are not candidates', async () => {
  const m: Machine = {
    devices: [
      disk('sr0', { type: 'rom', mountpoints: ['/run/live/medium'] }),
      disk('vda', { size: 20 * GIB, model: 'QEMU HARDDISK' }),
      disk('vdb', { size: 64 * 1024 ** 2, fstype: 'vfat', label: 'KLDLOADSEED' }),
      disk('sdb', {
        size: 32 * GIB,
        rm: true,
        children: [part('sdb1', { mountpoints: ['/run/live/medium2'] })],
      }),
      disk('zram0', { size: 4 * GIB, mountpoints: ['[SWAP]'] }),
      disk('vdc', { size: 2 * GIB }),
    ],
    mounts: { '/run/live/medium': '/dev/sr0', '/run/live/medium2': '/dev/sdb1' },
    links: { '/dev/disk/by-id/virtio-kltarget': '/dev/vda', '/dev/disk/by-id/wwn-0x5000': '/dev/vda' },
  };
  const inv = await inventory(m);
  const p = pickDisk(undefined, inv);
  assert.ok('disk' in p, JSON.stringify(p));
  assert.equal(p.disk, '/dev/vda');
  assert.equal(
    p.message,
    'KLDLOAD_DISK is empty: installing to /dev/vda (20.0 GiB, QEMU HARDDISK, /dev/disk/by-id/virtio-kltarget), the only eligible disk',
  );
  const why = Object.fromEntries(inv.map((d) => [d.path, d.excluded.join('; ')]));
  assert.match(why['/dev/vdb'] ?? '', /KLDLOADSEED/);
  assert.match(why['/dev/sdb'] ?? '', /boot medium/);
  assert.match(why['/dev/zram0'] ?? '', /RAM/);
  assert.match(why['/dev/vdc'] ?? '', /smaller than 4.0 GiB/);
  assert.ok(!('/dev/sr0' in why), 'a CD drive is no disk');
  assert.deepEqual(pickDisk('/dev/sdz', inv), {
    disk: '/dev/sdz',
    message: 'target disk /dev/sdz (KLDLOAD_DISK)',
  });
});

test('pick: two eligible disks or none is a refusal listing every disk with size, model and by-id path', async () => {
  const two = pickDisk(undefined, await inventory(vm()));
  assert.ok('refusal' in two, `expected a refusal, got ${JSON.stringify(two)}`);
  assert.match(two.refusal, /2 disks are eligible, and the installer will not guess between them/);
  assert.match(
    two.refusal,
    /\/dev\/vda {2}16\.0 GiB {2}QEMU HARDDISK {2}\/dev\/disk\/by-id\/virtio-kltarget {2}— eligible/,
  );
  assert.match(
    two.refusal,
    /\/dev\/vdb {2}16\.0 GiB {2}QEMU HARDDISK {2}\/dev\/disk\/by-id\/virtio-second {2}— eligible/,
  );
  assert.match(two.refusal, /Set KLDLOAD_DISK/);

  const full = vm({
    blkid: { '/dev/vda': { exitCode: 0, stdout: 'PTTYPE=gpt\n' }, '/dev/vdb': { exitCode: 8 } },
  });
  const none = pickDisk(undefined, await inventory(full));
  assert.ok('refusal' in none, `expected a refusal, got ${JSON.stringify(none)}`);
  assert.match(none.refusal, /no disk is eligible/);
  assert.match(
    none.refusal,
    /\/dev\/vda .*not eligible: not empty \(signature: partition table gpt\); KLDLOAD_FORCE_WIPE=1 allows it/,
  );
  assert.match(none.refusal, /\/dev\/vdb .*not eligible: not empty \(ambivalent signatures/);
  const forced = pickDisk(
    undefined,
    await inventory({ ...full, devices: (full.devices ?? []).filter((d) => d.name !== 'vdb') }, true),
  );
  assert.ok('disk' in forced && forced.disk === '/dev/vda', 'FORCE_WIPE makes a non-empty disk eligible');
});

test('install with KLDLOAD_DISK= empty: a refused pick exits 2, lists the disks and writes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-ans-'));
  const cfg = join(dir, 'answers.env');
  writeFileSync(
    cfg,
    'KLDLOAD_HOSTNAME=test-01\nKLDLOAD_DISK=\nKLDLOAD_USERNAME=admin\nKLDLOAD_PASSWORD="correct horse"\n',
  );
  const { host, exec } = fakeMachine(vm());
  const root = mkdtempSync(join(tmpdir(), 'kl-root-'));
  const r = await install({ config: cfg, root }, { exec, host, log: new Logger({ quiet: true }) });
  assert.equal(r.exitCode, 2);
  assert.match(r.text, /KLDLOAD_DISK is empty.*2 disks are eligible[\s\S]*\/dev\/vda[\s\S]*\/dev\/vdb/);
  const ran = exec.calls.map((c) => c.argv[0]);
  assert.ok(
    ran.every((c) => ['lsblk', 'blkid', 'zpool', 'zdb'].includes(c ?? '')),
    ran.join(' '),
  );
  assert.ok(!exec.calls.some((c) => c.argv[0] === 'zpool' && c.argv[1] !== 'list'), 'zpool only lists');
  assert.deepEqual(readdirSync(root), []);

  // Off the target machine, a dry run shows where the picked disk goes and asks nothing of this host.
  const dry = fakeMachine(vm());
  const d = await install(
    { config: cfg, root, dryRun: true },
    { exec: dry.exec, host: dry.host, log: new Logger({ quiet: true }) },
  );
  assert.equal(d.exitCode, 0);
  assert.deepEqual(dry.exec.calls, []);
  assert.match(d.text, /sgdisk .* '\/dev\/<picked>'/);
});
