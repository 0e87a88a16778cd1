/**
 * The layer hook that waits for the zfs module's .deb (src/image/rootfs.ts lateInstallHook), run by
 * sh as mmdebstrap runs a customize hook (`sh -c HOOK exec ROOT`), with `chroot` first on PATH a
 * script that records its arguments and what the root holds at that moment.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lateInstallHook, type RootfsSpec } from '../../src/image/rootfs.ts';

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'kl-late-'));
  const bin = join(d, 'bin');
  mkdirSync(bin);
  mkdirSync(join(d, 'root'));
  writeFileSync(
    join(bin, 'chroot'),
    `#!/bin/sh\necho "$*" >> "${d}/chroot.log"\nls "$1/var/cache/kldload-debs" >> "${d}/chroot.log"\n`,
  );
  chmodSync(join(bin, 'chroot'), 0o755);
  const deb = join(d, 'cache', "zfs-modules-6.12_2.3.9 it's_amd64.deb");
  mkdirSync(join(d, 'cache'));
  const spec: RootfsSpec = {
    name: 'target-server',
    suite: 'trixie',
    mirror: 'http://mirror',
    variant: 'important',
    packages: ['zfsutils-linux', 'zfs-initramfs'],
    debs: [deb],
    late: ['zfs-initramfs'],
    customize: [],
    files: {},
    recipe: 3,
  };
  return { d, bin, deb, spec, abort: join(d, 'module-failed') };
}

function runHook(hook: string, root: string, bin: string) {
  const p = spawn('sh', ['-c', hook, 'exec', root], {
    env: { PATH: `${bin}:/usr/bin:/bin` },
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => {
    out += b;
  });
  p.stderr.on('data', (b: Buffer) => {
    err += b;
  });
  return new Promise<{ code: number | null; out: string; err: string }>((r) =>
    p.on('close', (code) => r({ code, out, err })),
  );
}

test('the hook waits for the module .deb, then installs it with the packages that need it, and tidies', async () => {
  const { d, bin, deb, spec, abort } = setup();
  const done = runHook(lateInstallHook(spec, abort), join(d, 'root'), bin);
  await sleep(1500);
  assert.equal(existsSync(join(d, 'chroot.log')), false, 'nothing installed before the .deb exists');
  writeFileSync(`${deb}.tmp`, 'deb');
  renameSync(`${deb}.tmp`, deb); // as ensureZfsModuleDeb writes it
  const r = await done;
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /I: waiting for zfs-modules-6\.12_2\.3\.9 it's_amd64\.deb/);
  const log = readFileSync(join(d, 'chroot.log'), 'utf8').split('\n');
  assert.equal(
    log[0],
    `${join(d, 'root')} apt-get install -y --no-install-recommends /var/cache/kldload-debs/zfs-modules-6.12_2.3.9 it's_amd64.deb zfs-initramfs`,
  );
  assert.equal(log[1], "zfs-modules-6.12_2.3.9 it's_amd64.deb", 'the .deb is in the root when apt runs');
  assert.equal(existsSync(join(d, 'root/var/cache/kldload-debs')), false);
});

test('a .deb already there: no wait', async () => {
  const { d, bin, deb, spec, abort } = setup();
  writeFileSync(deb, 'deb');
  const r = await runHook(lateInstallHook(spec, abort), join(d, 'root'), bin);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, /waiting/);
  assert.ok(existsSync(join(d, 'chroot.log')));
});

test('a failed module build (the abort file) stops the waiting layer with exit 1 and says why', async () => {
  const { d, bin, spec, abort } = setup();
  const done = runHook(lateInstallHook(spec, abort), join(d, 'root'), bin);
  await sleep(1200);
  writeFileSync(abort, 'dkms failed\n');
  const r = await done;
  assert.equal(r.code, 1);
  assert.match(r.err, /E: the zfs module build failed: target-server stops/);
  assert.equal(existsSync(join(d, 'chroot.log')), false, 'nothing installed');
});
