/** The install's boot steps: hostid, zpool.cache, initramfs, bootloader, fstab and the ZFS services. */
import { dirname } from 'node:path';
import { type Action, inTarget, run, type Step, write } from '../core/plan.ts';
import { BOOT_TRIES } from '../day2/be-entry.ts';
import { PANIC_ARG } from '../day2/upgrade.ts';
import { zfs } from '../zfs/zfs.ts';
import type { InstallContext } from './install.ts';

/** kernel-install runs /etc/kernel/install.d/NAME instead of /usr/lib's NAME; /dev/null disables it. */
const DEPMOD_MASK = '/etc/kernel/install.d/50-depmod.install';

/** hostid, zpool-cache, initramfs, bootloader and fstab-services, in that order. */
export function bootSteps({ a, f, R, pool, be }: InstallContext): Step[] {
  // panic=10 only with boot counting (systemd-boot, /etc/kernel/tries below): a failed initramfs then
  // resets and systemd-boot falls back; without counting it would only loop (docs/day2.md).
  const cmdline = [`root=ZFS=${be}`, 'boot=zfs', 'rw', ...(f.zbm ? [] : [PANIC_ARG]), ...f.console].join(' ');
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  step('hostid', 'hostid written once; the initramfs gets the same file', [
    run(['zgenhostid', '-f', '-o', `${R}/etc/hostid`, `0x${f.hostid}`], {
      unless: ['test', '-s', `${R}/etc/hostid`],
    }),
  ]);

  step('zpool-cache', 'zpool.cache for a fast, predictable import at boot', [
    { kind: 'mkdir', path: `${R}/etc/zfs` },
    { kind: 'copy', from: '/etc/zfs/zpool.cache', to: `${R}/etc/zfs/zpool.cache` },
  ]);

  const initrd = `${R}/boot/initrd.img-${f.kabi}`;
  step('initramfs', `initramfs for ${f.kabi} with ZFS, plus this machine's hostid and zpool.cache`, [
    // The image ships an initrd built at build time without a hostid; make one only if it is missing.
    inTarget(['update-initramfs', '-c', '-k', f.kabi], { unless: ['test', '-e', initrd] }),
    {
      kind: 'initrd-early',
      initrd,
      files: { 'etc/hostid': `${R}/etc/hostid`, 'etc/zfs/zpool.cache': `${R}/etc/zfs/zpool.cache` },
    },
  ]);

  const boot: Action[] = [write(`${R}/etc/kernel/cmdline`, `${cmdline}\n`)];
  if (f.zbm) {
    boot.push(
      { kind: 'mkdir', path: `${R}/boot/efi/EFI/ZBM` },
      { kind: 'copy', from: f.zbm, to: `${R}/boot/efi/EFI/ZBM/zfsbootmenu.efi` },
      { kind: 'mkdir', path: `${R}/boot/efi/EFI/BOOT` },
      { kind: 'copy', from: f.zbm, to: `${R}/boot/efi/EFI/BOOT/BOOTX64.EFI` },
      run(zfs.set(`${pool}/ROOT`, { 'org.zfsbootmenu:commandline': ['rw', ...f.console].join(' ') })),
    );
  } else {
    boot.push(
      inTarget(['bootctl', 'install', '--esp-path=/boot/efi', '--no-variables', '--graceful'], {
        unless: ['chroot', R, 'bootctl', '--esp-path=/boot/efi', 'is-installed'],
      }),
      write(
        `${R}/boot/efi/loader/loader.conf`,
        `timeout ${a.KLDLOAD_ZBM_TIMEOUT === '-1' ? 'menu-force' : a.KLDLOAD_ZBM_TIMEOUT}\neditor no\n`,
      ),
      // The first entry is not counted: there is no older one to fall back to, and a first boot whose
      // roles regenerate the initramfs (a package with an initramfs hook, e.g. dmsetup) makes
      // kernel-install replace a counted entry before systemd-bless-boot renames it, which fails it.
      // Without 50-depmod, masked for this one call (kernel-install's own /etc-over-/usr/lib rule; the
      // mask goes whatever the outcome): the image's modules.dep was made when the kernel and the ZFS
      // module were installed, natively at build, and the install adds no module, while depmod over
      // the kernel's xz-compressed modules is 26 s of kernel-install's 30 s under TCG (bench:bootloader).
      inTarget([
        'sh',
        '-c',
        `mkdir -p ${dirname(DEPMOD_MASK)} && ln -sfn /dev/null ${DEPMOD_MASK} && kernel-install add "$@"; rc=$?; rm -f ${DEPMOD_MASK}; exit $rc`,
        'kernel-install',
        f.kabi,
        `/boot/vmlinuz-${f.kabi}`,
        `/boot/initrd.img-${f.kabi}`,
      ]),
      // Boot counting from here on: kernel-install names every later entry …+3.conf; systemd-bless-boot
      // (systemd-boot package) marks it good once kldload-boot-ok.service saw multi-user.target.
      write(`${R}/etc/kernel/tries`, `${BOOT_TRIES}\n`),
    );
  }
  if (f.efiVars) {
    const loader = f.zbm ? '\\EFI\\ZBM\\zfsbootmenu.efi' : '\\EFI\\systemd\\systemd-bootx64.efi';
    // One firmware entry per ESP; created last-disk first because each new entry goes to the front
    // of BootOrder, so the first disk ends up first and the others follow in disk order.
    const real = f.disksReal ?? [f.diskReal];
    for (let i = real.length - 1; i >= 0; i--) {
      const label = `kldload${f.zbm ? ' (ZFSBootMenu)' : ''}${i ? ` (disk ${i + 1})` : ''}`;
      boot.push(
        run(
          [
            'efibootmgr',
            '--quiet',
            '--create',
            '--disk',
            real[i] as string,
            '--part',
            '1',
            '--label',
            label,
            '--loader',
            loader,
          ],
          // The whole label (`kldload` must not match `kldload (disk 2)`), passed as $0: no quoting.
          {
            unless: [
              'sh',
              '-c',
              'efibootmgr | cut -f1 | sed -E "s/^Boot[0-9A-Fa-f]+[* ] //" | grep -qxF -- "$0"',
              label,
            ],
          },
        ),
      );
    }
  }
  step(
    'bootloader',
    f.zbm
      ? 'ZFSBootMenu (user-supplied) on the ESP + fallback path'
      : 'systemd-boot on the ESP, kernel + initrd, fallback \\EFI\\BOOT\\BOOTX64.EFI',
    boot,
  );

  step('fstab-services', 'fstab holds only the ESP; ZFS mounts itself', [
    write(
      `${R}/etc/fstab`,
      // nofail: a missing ESP never stops the boot; the device timeout (default 90 s) is long because
      // a loaded, emulated machine was seen to bring the disk's device later than that.
      `# ZFS datasets are mounted by zfs-mount.service, not fstab.\nPARTUUID=${f.espGuid}\t/boot/efi\tvfat\tumask=0077,nofail,x-systemd.device-timeout=10min\t0\t1\n`,
    ),
    inTarget([
      'systemctl',
      'enable',
      'zfs-import-cache.service',
      'zfs-mount.service',
      'zfs-import.target',
      'zfs.target',
      'zfs-zed.service',
    ]),
  ]);
  return steps;
}
