/**
 * Day-2 facts read from a fixture machine (files under a scratch root, zfs answered by a recorder),
 * and the BE table kbe list prints from them.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { beMount, beRename, beRows, renderBeRows } from '../../src/cli/commands/be.ts';
import { efiString } from '../../src/cli/day2.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { planBeActivate } from '../../src/day2/be.ts';
import { kernelIn, newestKernel, prettyName, readBootFacts, rootDataset } from '../../src/day2/facts.ts';

function machine(): string {
  const r = mkdtempSync(join(tmpdir(), 'kl-day2-'));
  const put = (p: string, text: string) => {
    mkdirSync(join(r, p, '..'), { recursive: true });
    writeFileSync(join(r, p), text);
  };
  put('proc/cmdline', 'BOOT_IMAGE=/x initrd=/y root=ZFS=rpool/ROOT/default boot=zfs rw console=ttyS0\n');
  put('etc/kernel/cmdline', 'root=ZFS=rpool/ROOT/default boot=zfs rw console=ttyS0\n');
  put('etc/os-release', 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n');
  put(
    'boot/efi/loader/entries/0a1b-6.12.117+deb13-amd64.conf',
    'title Debian\nversion 6.12.117+deb13-amd64\noptions root=ZFS=rpool/ROOT/default boot=zfs rw\nlinux /0a1b/6.12.117+deb13-amd64/linux\ninitrd /0a1b/6.12.117+deb13-amd64/initrd.img-6.12.117+deb13-amd64\n',
  );
  put(
    'boot/efi/loader/entries/kldload-test+2-1.conf',
    'title Debian (BE test)\noptions root=ZFS=rpool/ROOT/test boot=zfs rw\nlinux /kldload/aaaa-linux\ninitrd /kldload/bbbb-initrd\n',
  );
  put('boot/efi/kldload/aaaa-linux', 'k');
  put('boot/efi/kldload/bbbb-initrd', 'i');
  for (const v of ['6.12.9+deb13-amd64', '6.12.10+deb13-amd64']) {
    put(`boot/vmlinuz-${v}`, `kernel ${v}`);
    put(`boot/initrd.img-${v}`, `initrd ${v}`);
  }
  put('boot/vmlinuz-6.12.11+deb13-amd64', 'no initrd beside it');
  return r;
}

const zfsList = new RecordingExecutor((argv) =>
  argv[0] === 'zfs' && argv[1] === 'list'
    ? { stdout: 'rpool/ROOT\nrpool/ROOT/default\nrpool/ROOT/test\n' }
    : undefined,
);

test('boot facts: booted BE from /proc/cmdline, BEs from zfs, entries and shared files from the ESP', async () => {
  const root = machine();
  const f = await readBootFacts({ exec: zfsList, root });
  assert.equal(f.pool, 'rpool');
  assert.equal(f.booted, 'rpool/ROOT/default');
  assert.deepEqual(f.bes, ['rpool/ROOT/default', 'rpool/ROOT/test']);
  assert.deepEqual(zfsList.calls.at(-1)?.argv, ['zfs', 'list', '-Hp', '-o', 'name', '-d', '1', 'rpool/ROOT']);
  assert.deepEqual(f.cmdline, ['boot=zfs', 'rw', 'console=ttyS0']);
  assert.equal(f.osName, 'Debian GNU/Linux 13 (trixie)');
  assert.deepEqual(f.esp.files.sort(), ['aaaa-linux', 'bbbb-initrd']);
  assert.ok(f.esp.freeBytes > 0);
  assert.deepEqual(
    f.entries.map((e) => [e.id, e.root]),
    [
      ['0a1b-6.12.117+deb13-amd64.conf', 'rpool/ROOT/default'],
      ['kldload-test.conf', 'rpool/ROOT/test'],
    ],
  );
});

test('boot facts refuse a system that did not boot from a ZFS boot environment', async () => {
  const root = machine();
  writeFileSync(join(root, 'proc/cmdline'), 'root=UUID=1234 ro\n');
  await assert.rejects(readBootFacts({ exec: zfsList, root }), /did not boot from a ZFS boot environment/);
});

test('kernel of a BE: the running one when present, else the newest that has an initrd', () => {
  const root = machine();
  assert.equal(kernelIn(root, '6.12.9+deb13-amd64').version, '6.12.9+deb13-amd64');
  const k = kernelIn(root, '6.99.0-other');
  assert.equal(k.version, '6.12.10+deb13-amd64', '6.12.11 has no initrd; 6.12.10 sorts after 6.12.9');
  assert.equal(k.initrd.path, '/boot/initrd.img-6.12.10+deb13-amd64');
  assert.equal(k.vmlinuz.size, 'kernel 6.12.10+deb13-amd64'.length);
  assert.match(k.vmlinuz.sha256, /^[0-9a-f]{64}$/);
  assert.throws(() => kernelIn(join(root, 'nowhere'), 'x'), /no kernel with an initrd/);
});

test('small parsers: root=ZFS=, PRETTY_NAME, kernel order, EFI strings', () => {
  assert.equal(rootDataset('quiet root=ZFS=tank/ROOT/b2 rw'), 'tank/ROOT/b2');
  assert.equal(rootDataset('root=/dev/sda1'), undefined);
  assert.equal(prettyName("PRETTY_NAME='Debian 12'\n"), 'Debian 12');
  assert.equal(newestKernel(['6.12.9-amd64', '6.12.117-amd64', '6.12.10-amd64']), '6.12.117-amd64');
  const v = Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from('kldload-test.conf\0', 'utf16le')]);
  assert.equal(efiString(v), 'kldload-test.conf');
  assert.equal(efiString(Buffer.from([7, 0, 0, 0])), undefined);
});

test('kbe list: running now, default next and next-boot-only come from the loader variables', async () => {
  const f = await readBootFacts({ exec: zfsList, root: machine() });
  const rows = beRows(f, { default: '0a1b-6.12.117+deb13-amd64.conf', oneshot: 'kldload-test.conf' });
  assert.deepEqual(
    rows.map((r) => [r.name, r.active, r.default, r.once]),
    [
      ['default', true, true, false],
      ['test', false, false, true],
    ],
  );
  // Without LoaderEntryDefault the pool's bootfs says what boots next.
  const byBootfs = beRows(f, { bootfs: 'rpool/ROOT/test' });
  assert.deepEqual(
    byBootfs.map((r) => r.default),
    [false, true],
  );
  const table = renderBeRows(rows);
  assert.match(table, /^default\s+now\s+next\s+0a1b-6\.12\.117\+deb13-amd64\.conf$/m);
  assert.match(table, /^test\s+yes\s+kldload-test\.conf$/m);
  // activate --once picks the BE's own entry by its id (boot counting is not part of it).
  const once = planBeActivate(f, 'test', true);
  assert.deepEqual(once.steps[0]?.actions[0], {
    kind: 'run',
    argv: ['bootctl', '--esp-path=/boot/efi', 'set-oneshot', 'kldload-test.conf'],
  });
});

test('kbe rename / mount read the running system: mounts, and the default entry from LoaderEntryDefault', async () => {
  const root = machine();
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  writeFileSync(
    join(root, 'proc/self/mountinfo'),
    '22 1 0:22 / / rw shared:1 - zfs rpool/ROOT/default rw,xattr\n30 22 0:30 / /home rw - zfs rpool/home rw\n',
  );
  // systemd-boot's vendor GUID; 4 attribute bytes, then UTF-16LE, as efivarfs shows it.
  const vars = join(root, 'sys/firmware/efi/efivars');
  mkdirSync(vars, { recursive: true });
  writeFileSync(
    join(vars, 'LoaderEntryDefault-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'),
    Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from('kldload-test.conf\0', 'utf16le')]),
  );
  const env = { exec: zfsList, root };
  const r = await beRename(env, 'test', 'attic', { dryRun: true });
  assert.equal(r.exitCode, 0);
  assert.match(r.text, /^ {4}\$ bootctl --esp-path=\/boot\/efi set-default kldload-attic\.conf$/m);
  assert.match(r.text, /^ {4}write \/boot\/efi\/loader\/entries\/kldload-attic\+2-1\.conf$/m);
  assert.match(r.text, /^ {4}\$ rm -f \/boot\/efi\/loader\/entries\/kldload-test\+2-1\.conf$/m);
  const m = await beMount(env, 'test', 'rel/dir', { dryRun: true });
  assert.match(m.text, new RegExp(`mount -t zfs -o zfsutil rpool/ROOT/test ${process.cwd()}/rel/dir$`, 'm'));
  appendFileSync(
    join(root, 'proc/self/mountinfo'),
    '40 22 0:40 / /mnt/my\\040be rw - zfs rpool/ROOT/test rw\n',
  );
  await assert.rejects(
    beRename(env, 'test', 'attic', { dryRun: true }),
    /test is mounted at \/mnt\/my be; kbe umount test first/,
  );
});
