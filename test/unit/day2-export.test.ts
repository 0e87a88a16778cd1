/**
 * kexport and identity renew planners: fixed facts → plan text (test/fixtures/day2-plans), the
 * refusals, the disk geometry and the OVF descriptor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSize } from '../../src/cli/commands/export-facts.ts';
import { type BootFacts, type KernelPair, parseEntry } from '../../src/day2/be-entry.ts';
import { diskBytes, ESP_BYTES, type ExportFacts, poolBytes } from '../../src/day2/export.ts';
import { planExportDisk, planExportImage } from '../../src/day2/export-disk.ts';
import { planExportSeal } from '../../src/day2/export-seal.ts';
import { planIdentityBoot, planIdentityRenew } from '../../src/day2/identity.ts';
import { ovfDescriptor } from '../../src/day2/ovf.ts';
import { golden, refused } from './day2-golden.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const K = '6.12.57+deb13-amd64';
const kernel: KernelPair = {
  version: K,
  vmlinuz: { path: `/boot/vmlinuz-${K}`, sha256: 'a'.repeat(64), size: 12 * MiB },
  initrd: { path: `/boot/initrd.img-${K}`, sha256: 'd'.repeat(64), size: 40 * MiB },
};
const boot: BootFacts = {
  pool: 'rpool',
  bes: ['rpool/ROOT/default', 'rpool/ROOT/test'],
  booted: 'rpool/ROOT/default',
  esp: {
    path: '/boot/efi',
    freeBytes: 300 * MiB,
    files: ['aaaaaaaaaaaaaaaa-linux', 'bbbbbbbbbbbbbbbb-initrd'],
  },
  entries: [
    parseEntry(
      'kldload-default+2-1.conf',
      `title T\nversion ${K}\noptions root=ZFS=rpool/ROOT/default boot=zfs rw\nlinux /kldload/aaaaaaaaaaaaaaaa-linux\ninitrd /kldload/bbbbbbbbbbbbbbbb-initrd\n`,
    ),
    parseEntry(
      'kldload-test.conf',
      `title T\nversion ${K}\noptions root=ZFS=rpool/ROOT/test boot=zfs rw\nlinux /kldload/aaaaaaaaaaaaaaaa-linux\ninitrd /kldload/bbbbbbbbbbbbbbbb-initrd\n`,
    ),
  ],
  cmdline: ['boot=zfs', 'rw', 'console=ttyS0'],
  osName: 'Debian GNU/Linux 13 (trixie)',
  stamp: '20261122-031800',
};
const facts: ExportFacts = {
  boot,
  name: 'default',
  root: {
    dataset: 'rpool/ROOT/default',
    rel: 'ROOT/default',
    props: { canmount: 'noauto', mountpoint: '/' },
    snapshot: 'rpool/ROOT/default@kexport-20261122-031800',
    taken: true,
    bytes: 1200 * MiB,
  },
  data: [
    {
      dataset: 'rpool/home',
      rel: 'home',
      props: { mountpoint: '/home' },
      snapshot: 'rpool/home@kexport-20261122-031800',
      taken: true,
      bytes: 10 * MiB,
    },
  ],
  tree: [
    { dataset: 'rpool/home', rel: 'home', props: { mountpoint: '/home' } },
    { dataset: 'rpool/var', rel: 'var', props: { canmount: 'off', mountpoint: '/var' } },
    { dataset: 'rpool/var/log', rel: 'var/log', props: {} },
    { dataset: 'rpool/tmp', rel: 'tmp', props: { mountpoint: '/tmp', exec: 'off', sync: 'disabled' } },
  ],
  poolFs: { compression: 'lz4', acltype: 'posix', xattr: 'sa', normalization: 'formD', utf8only: 'on' },
  ashift: '12',
  kernel: K,
  kernels: [K, '6.12.48+deb13-amd64'],
  formats: ['qcow2', 'ova'],
  outDir: '/var/tmp',
  base: 'kldload-default-20261122-031800',
  outFree: 20 * GiB,
  espGuid: '0b5e8f3c-1111-4222-8333-944445555666',
  espVolumeId: '1A2B3C4D',
};

test('kexport: seal (snapshot, clone, seal, initrd, @sealed) then the disk (pool, send, ESP, formats, sums, tidy)', () => {
  golden(
    'export-qcow2-ova',
    planExportSeal(facts),
    planExportImage(facts),
    planExportDisk(facts, kernel, '/dev/loop3'),
  );
});

test('kexport of a given snapshot takes none and destroys none; raw is the assembled disk itself', () => {
  const f: ExportFacts = {
    ...facts,
    root: { ...facts.root, snapshot: 'rpool/ROOT/default@kpkg-20261121-100000', taken: false },
    data: [],
    formats: ['raw', 'vhd', 'vmdk'],
  };
  const seal = planExportSeal(f);
  assert.ok(!seal.steps.some((s) => s.name === 'snapshot'), 'a given snapshot is not taken again');
  const disk = planExportDisk(f, kernel, '/dev/loop3');
  const tidy = disk.steps.find((s) => s.name === 'tidy');
  assert.ok(tidy);
  assert.ok(
    !tidy.actions.some((a) => a.kind === 'run' && a.argv.includes('rpool/ROOT/default@kpkg-20261121-100000')),
    "the user's snapshot is never destroyed",
  );
  golden('export-snapshot-raw-vhd-vmdk', seal, planExportImage(f), disk);
});

test('disk geometry: ESP at 1 MiB, pool from 513 MiB, a third more than the data, whole GiB, at least 2 GiB', () => {
  assert.equal(ESP_BYTES, 512 * MiB);
  const small = { ...facts, root: { ...facts.root, bytes: 100 * MiB }, data: [] };
  assert.equal(poolBytes(small), 2 * GiB);
  assert.equal(poolBytes(facts), 3 * GiB, '1210 MiB × 1.34 + 512 MiB → 3 GiB');
  assert.equal(diskBytes(facts), 513 * MiB + 3 * GiB + MiB);
  assert.equal(
    poolBytes({ ...facts, sizeBytes: 10 * GiB }),
    10 * GiB - 514 * MiB,
    '--size is the whole disk',
  );
  refused(
    () => poolBytes({ ...facts, sizeBytes: 3 * GiB }),
    /--size 3G is too small: the copy needs at least 4G/,
  );
  assert.equal(parseSize('40G'), 40 * GiB);
  assert.equal(parseSize('512m'), 512 * MiB);
  refused(() => parseSize('4T'), /--size 4T: a whole number of bytes, or with M or G/);
});

test('kexport refuses before anything is written: no room, a bad BE name, a --with whose parent is not on the copy', () => {
  refused(
    () => planExportSeal({ ...facts, outFree: 2 * GiB }),
    /\/var\/tmp has 2\.0 GiB free; qcow2, ova of rpool\/ROOT\/default need about/,
  );
  refused(() => planExportSeal({ ...facts, name: 'Bad Name' }), /boot environment name "Bad Name"/);
  refused(() => planExportSeal({ ...facts, formats: [] }), /name at least one format/);
  const orphan: ExportFacts = {
    ...facts,
    data: [
      {
        ...facts.root,
        dataset: 'rpool/srv/www',
        rel: 'srv/www',
        props: {},
        snapshot: 'rpool/srv/www@kexport-x',
      },
    ],
  };
  refused(
    () => planExportSeal(orphan),
    /--with rpool\/srv\/www: its parent rpool\/srv is not on the copy; name it too/,
  );
});

test('the OVF descriptor names the disk and its capacity, boots UEFI, and escapes what it quotes', () => {
  const x = ovfDescriptor({
    name: 'kldload-a&b',
    disk: 'kldload-a-disk1.vmdk',
    capacity: 4 * GiB,
    os: 'Debian <13>',
  });
  assert.match(x, /<File ovf:id="file1" ovf:href="kldload-a-disk1.vmdk"\/>/);
  assert.match(x, new RegExp(`ovf:capacity="${4 * GiB}"`));
  assert.match(x, /vmw:key="firmware" vmw:value="efi"/);
  assert.match(x, /<Name>kldload-a&amp;b<\/Name>/);
  assert.match(x, /<Description>Debian &lt;13&gt;<\/Description>/);
  // Every element opened is closed (a small well-formedness check without an XML library).
  const open = [...x.matchAll(/<([A-Za-z:]+)[ >]/g)].map((m) => m[1]);
  const selfClosed = [...x.matchAll(/<([A-Za-z:]+)[^>]*\/>/g)].map((m) => m[1]);
  const closed = [...x.matchAll(/<\/([A-Za-z:]+)>/g)].map((m) => m[1]);
  assert.equal(open.length, selfClosed.length + closed.length);
});

test('identity renew: keys, cache and a hostid into the initrd first; the entries of this BE and kernel, then /etc/hostid', () => {
  const a = planIdentityRenew({ boot, running: K, kernels: [K, '6.12.48+deb13-amd64'] });
  const k2: KernelPair = {
    ...kernel,
    initrd: { ...kernel.initrd, path: `/boot/initrd.img-${K}`, sha256: 'e'.repeat(64) },
  };
  const b = planIdentityBoot(boot, k2);
  golden('identity-renew', a, b);
  const esp = b.steps.find((s) => s.name === 'esp');
  const writes = esp?.actions.filter((x) => x.kind === 'write') ?? [];
  assert.deepEqual(
    writes.map((w) => (w.kind === 'write' ? w.path : '')),
    ['/boot/efi/loader/entries/kldload-default+2-1.conf'],
    'only the running BE’s entry is rewritten, in place (boot counting renames it later)',
  );
  assert.ok(
    !esp?.actions.some(
      (x) => x.kind === 'run' && x.argv.includes('/boot/efi/kldload/bbbbbbbbbbbbbbbb-initrd'),
    ),
    'the old initrd stays while BE test still boots it',
  );
  const order = b.steps.map((s) => s.name);
  assert.deepEqual(order, ['esp', 'commit'], '/etc/hostid only after the initrd on the ESP carries it');
});
