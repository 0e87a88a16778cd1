/**
 * The ZFS kernel guard (payload/target/kernel) run by the host's /bin/sh against a fake root and ESP.
 * `lsinitramfs` and `update-initramfs` are PATH shims of this test only: a fake initrd is a text file
 * holding the listing lsinitramfs would print ("CORRUPT" makes the shim fail). Where the host has
 * systemd's kernel-install, the guard also runs inside the real plugin loop, between a staging plugin
 * (what trixie's 55-initrd.install does) and the host's own 90-loaderentry.install.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SystemExecutor } from '../../src/core/exec.ts';

const KDIR = fileURLToPath(new URL('../../payload/target/kernel/', import.meta.url));
const GUARD = join(KDIR, '85-kldload-zfs-guard.install');
const RECONCILE = join(KDIR, 'zfs-kernel-reconcile');
const exec = new SystemExecutor();
const OLD = '6.12.57+deb13-amd64';
const NEW = '6.12.118+deb13-amd64';

for (const k of Object.keys(process.env)) if (k.startsWith('KLDLOAD_')) delete process.env[k];

const base = mkdtempSync(join(tmpdir(), 'kl-kguard-'));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;

/** A listing as lsinitramfs prints it for an initramfs-tools initrd of VERSION. */
function listing(version: string, o: { zfsKo?: boolean; script?: boolean } = {}): string {
  return [
    '.',
    'kernel/x86/microcode/AuthenticAMD.bin',
    'etc/hostid',
    `usr/lib/modules/${version}/kernel/fs/ext4/ext4.ko.xz`,
    ...(o.zfsKo === false ? [] : [`usr/lib/modules/${version}/updates/dkms/zfs.ko.xz`]),
    `usr/lib/modules/${version}/updates/dkms/spl.ko.xz`,
    ...(o.script === false ? [] : ['scripts/zfs']),
    'scripts/local',
    '',
  ].join('\n');
}

interface World {
  root: string;
  esp: string;
  bin: string;
  conf: string;
  env: Record<string, string>;
}

/** A fake system: root (KLDLOAD_ROOT), an ESP, the shims, and a kernel-install config folder. */
function world(cmdline = 'root=ZFS=rpool/ROOT/default boot=zfs rw console=ttyS0'): World {
  const root = join(base, `w${++seq}`);
  const esp = join(root, 'boot/efi');
  const bin = join(root, 'shim');
  const conf = join(root, 'etc/kernel');
  for (const d of [esp, bin, conf, join(root, 'boot')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(conf, 'cmdline'), `${cmdline}\n`);
  writeFileSync(join(conf, 'install.conf'), 'layout=bls\n');
  writeFileSync(
    join(bin, 'lsinitramfs'),
    '#!/bin/sh\nif grep -q CORRUPT "$1"; then echo "unmkinitramfs: broken" >&2; exit 1; fi\ncat "$1"\n',
  );
  // update-initramfs: regenerate from the module tree, then run the post-update hook the way
  // systemd-boot's /etc/initramfs/post-update.d/systemd-boot does (kernel-install add → the guard).
  writeFileSync(
    join(bin, 'update-initramfs'),
    `#!/bin/sh
echo "$*" >> "${root}/update-initramfs.calls"
v="$3"
{ echo scripts/zfs; find "${root}/lib/modules/$v" -type f | sed "s|^${root}/|usr/|"; } > "${root}/boot/initrd.img-$v"
exec "${GUARD}" add "$v" /nonexistent "${root}/boot/vmlinuz-$v" "${root}/boot/initrd.img-$v"
`,
  );
  for (const f of ['lsinitramfs', 'update-initramfs']) chmodSync(join(bin, f), 0o755);
  return {
    root,
    esp,
    bin,
    conf,
    env: { KLDLOAD_ROOT: root, PATH: `${bin}:${process.env.PATH}`, KERNEL_INSTALL_CONF_ROOT: conf },
  };
}

function initrd(w: World, version: string, content: string): string {
  const p = join(w.root, 'boot', `initrd.img-${version}`);
  writeFileSync(p, content);
  writeFileSync(join(w.root, 'boot', `vmlinuz-${version}`), 'kernel');
  return p;
}

const guard = (w: World, args: string[], env: Record<string, string> = {}) =>
  exec.run([GUARD, ...args], { env: { ...w.env, ...env }, check: false });

const held = (w: World) => {
  const d = join(w.root, 'var/lib/kldload/kernel-guard');
  return existsSync(d) ? readdirSync(d).sort() : [];
};
const motd = (w: World) => join(w.root, 'etc/motd.d/kldload-kernel-guard');
const log = (w: World) => readFileSync(join(w.root, 'var/log/kldload/kernel-guard.log'), 'utf8');

describe('85-kldload-zfs-guard.install', () => {
  test('an initramfs with zfs.ko for the kernel and the zfs script passes, silently', async () => {
    const w = world();
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW))]);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(r.all, '');
    assert.deepEqual(held(w), []);
    assert.ok(!existsSync(motd(w)));
  });

  test('no zfs.ko: exit 77 (kernel-install skips the entry, apt succeeds), marker, log, motd, stderr', async () => {
    const w = world();
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    assert.equal(r.exitCode, 77, r.all);
    assert.match(r.all, new RegExp(`REFUSED boot entry for kernel ${NEW.replace(/[+.]/g, '\\$&')}`));
    assert.match(r.all, /root is ZFS: rpool\/ROOT\/default/);
    assert.match(r.all, new RegExp(`apt-get install zfs-modules-${NEW.replace(/[+.]/g, '\\$&')}`));
    assert.deepEqual(held(w), [`${NEW}.held`]);
    assert.match(
      readFileSync(motd(w), 'utf8'),
      /NOT bootable[\s\S]*6\.12\.118\+deb13-amd64: initramfs lacks zfs\.ko/,
    );
    assert.match(log(w), /REFUSED/);
  });

  test('a zfs.ko of another kernel version does not count', async () => {
    const w = world();
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(OLD))]);
    assert.equal(r.exitCode, 77, r.all);
  });

  test('zfs.ko without the zfs boot script (zfs-initramfs gone) is refused too', async () => {
    const w = world();
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { script: false }))]);
    assert.equal(r.exitCode, 77, r.all);
    assert.match(r.all, /zfs boot script/);
  });

  test('initrds staged by 55-initrd.install (no initrd argument) are the ones checked', async () => {
    const w = world();
    const staging = join(w.root, 'staging');
    mkdirSync(staging);
    writeFileSync(join(staging, `initrd.img-${NEW}`), listing(NEW, { zfsKo: false }));
    const refused = await guard(w, ['add', NEW, '/e', '/k'], { KERNEL_INSTALL_STAGING_AREA: staging });
    assert.equal(refused.exitCode, 77, refused.all);
    writeFileSync(join(staging, `initrd.img-${NEW}`), listing(NEW));
    const ok = await guard(w, ['add', NEW, '/e', '/k'], { KERNEL_INSTALL_STAGING_AREA: staging });
    assert.equal(ok.exitCode, 0, ok.all);
  });

  test('no initramfs at all is refused', async () => {
    const w = world();
    const staging = join(w.root, 'empty-staging');
    mkdirSync(staging);
    const r = await guard(w, ['add', NEW, '/e', '/k'], { KERNEL_INSTALL_STAGING_AREA: staging });
    assert.equal(r.exitCode, 77, r.all);
    assert.match(r.all, /no initramfs/);
  });

  test('an unreadable initramfs fails the operation (exit 1), never a silent pass', async () => {
    const w = world();
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, 'CORRUPT\n')]);
    assert.equal(r.exitCode, 1, r.all);
    assert.match(r.all, /cannot check kernel/);
  });

  test('not a ZFS root: nothing is checked', async () => {
    const w = world('root=UUID=1234 rw');
    const r = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(held(w), []);
  });

  test('a later add with ZFS clears the marker and the motd; remove forgets a held kernel', async () => {
    const w = world();
    await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    const other = '6.12.119+deb13-amd64';
    await guard(w, ['add', other, '/e', '/k', initrd(w, other, listing(other, { zfsKo: false }))]);
    assert.deepEqual(held(w), [`${NEW}.held`, `${other}.held`]);
    const ok = await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW))]);
    assert.equal(ok.exitCode, 0, ok.all);
    assert.match(ok.all, /now has ZFS/);
    assert.deepEqual(held(w), [`${other}.held`]);
    assert.doesNotMatch(readFileSync(motd(w), 'utf8'), /6\.12\.118/);
    const rm = await guard(w, ['remove', other, '/e']);
    assert.equal(rm.exitCode, 0, rm.all);
    assert.deepEqual(held(w), []);
    assert.ok(!existsSync(motd(w)));
  });

  test('check: 0 with ZFS, 1 without, and no state is written', async () => {
    const w = world();
    assert.equal((await guard(w, ['check', NEW, initrd(w, NEW, listing(NEW))])).exitCode, 0);
    const bad = await guard(w, ['check', NEW, initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.all, /lacks zfs\.ko/);
    assert.deepEqual(held(w), []);
  });
});

describe('zfs-kernel-reconcile (apt DPkg::Post-Invoke)', () => {
  test('a held kernel whose module arrived gets a new initramfs and leaves the held list', async () => {
    const w = world();
    await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    assert.deepEqual(held(w), [`${NEW}.held`]);
    // Still no module: reported, nothing regenerated.
    let r = await exec.run([RECONCILE], { env: w.env, check: false });
    assert.equal(r.exitCode, 0);
    assert.match(r.all, /stays out of the boot menu: no ZFS module/);
    assert.ok(!existsSync(join(w.root, 'update-initramfs.calls')));
    // zfs-modules-NEW (or dkms) installs the module; the next apt run reconciles.
    const mod = join(w.root, 'lib/modules', NEW, 'updates/dkms');
    mkdirSync(mod, { recursive: true });
    writeFileSync(join(mod, 'zfs.ko.xz'), 'x');
    r = await exec.run([RECONCILE], { env: w.env, check: false });
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(readFileSync(join(w.root, 'update-initramfs.calls'), 'utf8'), `-u -k ${NEW}\n`);
    assert.deepEqual(held(w), []);
    assert.ok(!existsSync(motd(w)));
  });

  test('a held kernel that was removed is forgotten; no state dir is a no-op', async () => {
    const w = world();
    assert.equal((await exec.run([RECONCILE], { env: w.env, check: false })).all, '');
    await guard(w, ['add', NEW, '/e', '/k', initrd(w, NEW, listing(NEW, { zfsKo: false }))]);
    rmSync(join(w.root, 'boot', `vmlinuz-${NEW}`));
    const r = await exec.run([RECONCILE], { env: w.env, check: false });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(held(w), []);
  });
});

const HOST_KI = '/usr/bin/kernel-install';
const HOST_LOADERENTRY = '/usr/lib/kernel/install.d/90-loaderentry.install';
const hostKernelInstall = existsSync(HOST_KI) && existsSync(HOST_LOADERENTRY);

describe(
  'inside the real kernel-install plugin loop',
  { skip: !hostKernelInstall && 'no kernel-install' },
  () => {
    const machineId = '0123456789abcdef0123456789abcdef';
    async function kernelInstall(w: World, version: string) {
      // What trixie's 55-initrd.install does: stage /boot/initrd.img-VERSION.
      const stage = join(w.root, 'shim', '55-initrd.install');
      writeFileSync(
        stage,
        `#!/bin/sh\n[ "$1" = add ] || exit 0\nln -fs "${w.root}/boot/initrd.img-$2" "$KERNEL_INSTALL_STAGING_AREA"\n`,
      );
      chmodSync(stage, 0o755);
      return exec.run([HOST_KI, 'add', version, join(w.root, 'boot', `vmlinuz-${version}`)], {
        env: {
          ...w.env,
          KERNEL_INSTALL_PLUGINS: `${stage} ${GUARD} ${HOST_LOADERENTRY}`,
          BOOT_ROOT: w.esp,
          MACHINE_ID: machineId,
        },
        check: false,
      });
    }
    const entries = (w: World) => {
      const d = join(w.esp, 'loader/entries');
      return existsSync(d) ? readdirSync(d).sort() : [];
    };

    test('the old kernel keeps the only entry; the new one gets its entry once its initramfs has ZFS', async () => {
      const w = world();
      initrd(w, OLD, listing(OLD));
      const first = await kernelInstall(w, OLD);
      assert.equal(first.exitCode, 0, first.all);
      assert.deepEqual(entries(w), [`${machineId}-${OLD}.conf`]);

      initrd(w, NEW, listing(NEW, { zfsKo: false }));
      const refused = await kernelInstall(w, NEW);
      assert.equal(refused.exitCode, 0, `kernel-install must succeed so apt does: ${refused.all}`);
      assert.match(refused.all, /REFUSED/);
      assert.deepEqual(entries(w), [`${machineId}-${OLD}.conf`], 'no entry for the kernel without ZFS');
      assert.ok(!existsSync(join(w.esp, machineId, NEW, `initrd.img-${NEW}`)));

      initrd(w, NEW, listing(NEW));
      const ok = await kernelInstall(w, NEW);
      assert.equal(ok.exitCode, 0, ok.all);
      assert.deepEqual(entries(w), [`${machineId}-${NEW}.conf`, `${machineId}-${OLD}.conf`]);
      assert.match(
        readFileSync(join(w.esp, 'loader/entries', `${machineId}-${NEW}.conf`), 'utf8'),
        /root=ZFS=rpool\/ROOT\/default/,
      );
    });

    test('with /etc/kernel/tries (what the installer writes) entries are boot-counted (+3); the guard still refuses', async () => {
      const w = world();
      writeFileSync(join(w.conf, 'tries'), '3\n');
      initrd(w, OLD, listing(OLD));
      const ok = await kernelInstall(w, OLD);
      assert.equal(ok.exitCode, 0, ok.all);
      assert.deepEqual(entries(w), [`${machineId}-${OLD}+3.conf`]);
      initrd(w, NEW, listing(NEW, { zfsKo: false }));
      const refused = await kernelInstall(w, NEW);
      assert.equal(refused.exitCode, 0, refused.all);
      assert.deepEqual(entries(w), [`${machineId}-${OLD}+3.conf`], 'no entry, counted or not, without ZFS');
    });

    test('a regenerated initramfs without ZFS never replaces the working one on the ESP', async () => {
      const w = world();
      initrd(w, OLD, listing(OLD));
      assert.equal((await kernelInstall(w, OLD)).exitCode, 0);
      const onEsp = join(w.esp, machineId, OLD, `initrd.img-${OLD}`);
      const good = readFileSync(onEsp, 'utf8');
      initrd(w, OLD, listing(OLD, { zfsKo: false }));
      const r = await kernelInstall(w, OLD);
      assert.equal(r.exitCode, 0, r.all);
      assert.equal(readFileSync(onEsp, 'utf8'), good);
      assert.deepEqual(entries(w), [`${machineId}-${OLD}.conf`]);
    });
  },
);

test('the kernel scripts are shellcheck-clean (POSIX sh)', async () => {
  const r = await exec.run(['shellcheck', '-s', 'sh', GUARD, RECONCILE], { check: false });
  assert.equal(r.exitCode, 0, r.all);
});
