/**
 * What the two root filesystem layers are made of: the target image (the installed system) and the
 * live image (the installer's own system). Each spec is the whole input of its content key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptSourceStanza, DEBIAN_KEYRING, type Profile } from '../core/debian.ts';
import { TARGET } from '../layout.ts';
import { profilePackages, profilesDir } from '../package-sets/package-sets.ts';
import type { RootfsSpec } from './rootfs.ts';
import type { KernelFacts } from './zfs-module.ts';

/** The options a layer depends on (BuildOptions has them all). */
export interface LayerOptions {
  profile: Profile;
  suite: string;
  mirror: string;
}

export const PUBLIC_MIRROR = 'http://deb.debian.org/debian';

function targetSources(suite: string): string {
  const components = ['main', 'contrib', 'non-free-firmware'];
  return [
    aptSourceStanza({
      uri: PUBLIC_MIRROR,
      suites: [suite, `${suite}-updates`],
      components,
      signedBy: DEBIAN_KEYRING,
    }),
    aptSourceStanza({
      uri: 'http://security.debian.org/debian-security',
      suites: [`${suite}-security`],
      components,
      signedBy: DEBIAN_KEYRING,
    }),
  ].join('\n');
}

/**
 * Files of payload/target/kernel (or payload/target/<dir>) baked into every target image (path on
 * the target → file name): the ZFS kernel guard (docs/day2.md), the two pieces that keep several
 * ESPs in step (src/day2/esp.ts) and kldload spray's libzfs_core helper. In the image, not the
 * install plan, so the first kernel the installer adds with kernel-install is already guarded.
 */
export const TARGET_KERNEL_FILES: Record<string, { file: string; exec: boolean; dir?: string }> = {
  [TARGET.kernelGuard]: { file: '85-kldload-zfs-guard.install', exec: true },
  [TARGET.kernelReconcile]: { file: 'zfs-kernel-reconcile', exec: true },
  [TARGET.kernelAptConf]: { file: '80kldload-zfs-kernels', exec: false },
  [TARGET.espSyncPlugin]: { file: '95-kldload-esp-sync.install', exec: true },
  [TARGET.espGenerator]: { file: 'kldload-esp-generator', exec: true },
  [TARGET.sprayHelper]: { file: 'spray-clone.py', exec: true, dir: 'lib' },
};

function targetKernelFiles(): Record<string, string> {
  const dir = join(profilesDir(), '../payload/target');
  return Object.fromEntries(
    Object.entries(TARGET_KERNEL_FILES).map(([path, f]) => [
      path,
      readFileSync(join(dir, f.dir ?? 'kernel', f.file), 'utf8'),
    ]),
  );
}

/** Of a layer's packages, does this one depend on the ZFS module (moduleUsers, from the index)? */
export type NeedsModule = (pkg: string) => boolean;

/** Everything a target layer depends on. Machine identity is stripped: each install makes its own. */
export function targetSpec(
  o: LayerOptions,
  k: KernelFacts,
  moduleDeb: string,
  needsModule: NeedsModule = () => false,
): RootfsSpec {
  // The image is the profile alone; --packages go to the darksite, installed on demand.
  const packages = [`linux-image-${k.kabi}`, ...profilePackages(o.profile).map((p) => p.name)];
  return {
    name: `target-${o.profile}`,
    suite: o.suite,
    mirror: o.mirror,
    variant: 'important',
    packages,
    debs: [moduleDeb],
    late: packages.filter(needsModule),
    files: { '/etc/apt/sources.list.d/debian.sources': targetSources(o.suite), ...targetKernelFiles() },
    customize: [
      'rm -f "$1/etc/apt/sources.list"',
      // The files are copied with the build host's mode; kernel-install only runs executable plugins.
      ...Object.entries(TARGET_KERNEL_FILES)
        .filter(([, f]) => f.exec)
        .map(([path]) => `chmod 0755 "$1${path}"`),
      // Per-machine identity must never be shared by every machine installed from one ISO.
      'rm -f "$1"/etc/ssh/ssh_host_*_key "$1"/etc/ssh/ssh_host_*_key.pub "$1/etc/hostid" "$1/etc/zfs/zpool.cache"',
      ': > "$1/etc/machine-id"',
      // The initrd is built here, natively, with no hostid in it; the installer puts this machine's
      // hostid in front as an early segment (update-initramfs under TCG costs minutes).
      'chroot "$1" update-initramfs -u -k all',
      // An image whose initrd cannot mount a ZFS root fails its build here, not at an install: the
      // guard's own check (zfs.ko for the kernel and the zfs boot script in the initrd).
      `chroot "$1" ${TARGET.kernelGuard} check ${k.kabi} /boot/initrd.img-${k.kabi}`,
    ],
    // 3: the module and the packages that need it are installed by a hook, after the rest.
    recipe: 3,
  };
}

export function liveSpec(
  o: LayerOptions,
  k: KernelFacts,
  moduleDeb: string,
  needsModule: NeedsModule = () => false,
): RootfsSpec {
  const packages = [`linux-image-${k.kabi}`, ...profilePackages('live').map((p) => p.name)];
  return {
    name: 'live',
    suite: o.suite,
    mirror: o.mirror,
    variant: 'minbase',
    packages,
    debs: [moduleDeb],
    late: packages.filter(needsModule),
    files: {
      '/etc/systemd/system/kldload-installer.service': readFileSync(
        join(profilesDir(), '../payload/live/kldload-installer.service'),
        'utf8',
      ),
      '/etc/systemd/system/kldload-webui.service': readFileSync(
        join(profilesDir(), '../payload/live/kldload-webui.service'),
        'utf8',
      ),
      '/etc/systemd/system/kldload-web-install.service': readFileSync(
        join(profilesDir(), '../payload/live/kldload-web-install.service'),
        'utf8',
      ),
      // DHCP on every Ethernet port once the web installer starts networkd (an unattended install needs none).
      '/etc/systemd/network/80-kldload-live.network': '[Match]\nType=ether\n\n[Network]\nDHCP=yes\n',
      '/etc/hostname': 'kldload-live\n',
    },
    customize: [
      // networkd is not enabled: only the web installer wants the network (its unit pulls networkd in).
      'chroot "$1" systemctl enable kldload-installer.service',
      // The installer must never auto-import pools it finds on the machine's disks (they may be
      // someone's data), and the import units drag in udev-settle, which stalls the boot.
      'chroot "$1" systemctl disable zfs-import-cache.service zfs-import-scan.service zfs-mount.service zfs-share.service zfs-zed.service zfs-import.target zfs.target',
      // What a first boot of an installed system does and a live one, started once, does not need:
      // the linker cache and journal catalog rebuilt (/etc/.updated is missing on every live boot)
      // and getty-static's five extra consoles (minbase has no logind to start them on demand).
      'chroot "$1" systemctl mask ldconfig.service systemd-journal-catalog-update.service systemd-update-done.service getty-static.service',
      'chroot "$1" systemctl set-default multi-user.target',
      // The live medium is a console appliance: root logs in without a password for debugging.
      'chroot "$1" passwd -d root',
      // live-boot's hooks must be in the initrd that boots the ISO.
      `chroot "$1" update-initramfs -u -k ${k.kabi}`,
    ],
    recipe: 3,
  };
}
