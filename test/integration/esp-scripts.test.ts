/**
 * The two ESP shell pieces baked into every target image (payload/target/kernel), run by the host's
 * /bin/sh against a fake root: the systemd generator that mounts the booted ESP at /boot/efi, and the
 * kernel-install plugin that runs `kldload esp sync` (a recording stand-in here).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SystemExecutor } from '../../src/core/exec.ts';
import { espGuidFor, formatEspList } from '../../src/day2/esp.ts';

const KDIR = fileURLToPath(new URL('../../payload/target/kernel/', import.meta.url));
const exec = new SystemExecutor();
const base = mkdtempSync(join(tmpdir(), 'kl-esp-sh-'));
after(() => rmSync(base, { recursive: true, force: true }));
const A = '6a2c7f3e-0b1d-4c55-9e0f-5d7c2b8a9e11';
const B = espGuidFor(A, 1);
let seq = 0;

/** A root with the ESP list and, when booted is given, systemd-boot's LoaderDevicePartUUID variable. */
function world(o: { list?: string[]; booted?: string }) {
  const root = join(base, `w${seq++}`);
  const dirs = ['normal', 'early', 'late'].map((d) => join(root, 'gen', d));
  for (const d of [
    ...dirs,
    join(root, 'etc/kldload'),
    join(root, 'sys/firmware/efi/efivars'),
    join(root, 'usr/sbin'),
  ])
    mkdirSync(d, { recursive: true });
  if (o.list) writeFileSync(join(root, 'etc/kldload/esps'), formatEspList(o.list));
  if (o.booted)
    writeFileSync(
      join(root, 'sys/firmware/efi/efivars/LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'),
      // As systemd-boot writes it: attributes, then the upper-case GUID in UTF-16LE with a NUL.
      Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(`${o.booted.toUpperCase()}\0`, 'utf16le')]),
    );
  return { root, dirs, env: { KLDLOAD_ROOT: root } };
}

async function generate(w: ReturnType<typeof world>) {
  const r = await exec.run(['sh', join(KDIR, 'kldload-esp-generator'), ...w.dirs], {
    env: w.env,
    check: false,
  });
  assert.equal(r.exitCode, 0, r.all);
  const unit = join(w.dirs[1] as string, 'boot-efi.mount');
  return existsSync(unit) ? readFileSync(unit, 'utf8') : undefined;
}

test('generator: booted from the second listed ESP → /boot/efi is that ESP (early dir, over fstab)', async () => {
  const unit = await generate(world({ list: [A, B], booted: B }));
  assert.match(unit ?? '', new RegExp(`^What=/dev/disk/by-partuuid/${B}$`, 'm'));
  assert.match(unit ?? '', /^Where=\/boot\/efi$/m);
  assert.match(unit ?? '', /^Options=umask=0077,nofail$/m);
});

test('generator: booted from the first ESP, from one not listed, or no list or variable → fstab decides', async () => {
  assert.equal(await generate(world({ list: [A, B], booted: A })), undefined);
  assert.equal(await generate(world({ list: [A, B], booted: espGuidFor(A, 7) })), undefined);
  assert.equal(await generate(world({ booted: B })), undefined);
  assert.equal(await generate(world({ list: [A, B] })), undefined);
});

async function plugin(w: ReturnType<typeof world>, args: string[]) {
  const rec = join(w.root, 'calls');
  const kl = join(w.root, 'usr/sbin/kldload');
  writeFileSync(kl, `#!/bin/sh\necho "$*" >> ${rec}\n`);
  chmodSync(kl, 0o755);
  const r = await exec.run(['sh', join(KDIR, '95-kldload-esp-sync.install'), ...args], {
    env: w.env,
    check: false,
  });
  assert.equal(r.exitCode, 0, r.all);
  return existsSync(rec) ? readFileSync(rec, 'utf8').trim() : '';
}

test('kernel-install plugin: add and remove sync the ESPs when there are several; otherwise nothing runs', async () => {
  const two = world({ list: [A, B] });
  assert.equal(await plugin(two, ['add', '6.12.57+deb13-amd64', '/boot/efi/x', '/boot/vmlinuz']), 'esp sync');
  assert.equal(
    await plugin(world({ list: [A, B] }), ['remove', '6.12.57+deb13-amd64', '/boot/efi/x']),
    'esp sync',
  );
  assert.equal(await plugin(world({ list: [A, B] }), ['inspect', '6.12.57+deb13-amd64']), '');
  assert.equal(await plugin(world({ list: [A] }), ['add', '6.12.57+deb13-amd64', '/boot/efi/x']), '');
  assert.equal(await plugin(world({}), ['add', '6.12.57+deb13-amd64', '/boot/efi/x']), '');
});
