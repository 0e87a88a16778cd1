import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { SEED_LABEL } from '../layout.ts';
import {
  bootDevices,
  diskSignatures,
  disksUnder,
  flatten,
  type Host,
  importedPools,
  installedBy,
  inUseReasons,
  lsblk,
} from '../live/blockdev.ts';

export { blkidSignatures } from '../live/blockdev.ts';

export interface DiskSafeArgs {
  disks: string[];
  forceWipe: boolean;
  pool: string;
  /** Build id of the ISO this installer runs from; a disk it already installed is not wiped again. */
  isoBuild?: string;
  /** kldload.reinstall=1 on the kernel command line: a human asked to install over such a disk. */
  reinstall?: boolean;
}

const refuse = (msg: string) => new KldloadError(msg, EXIT.badInput);

/**
 * Refuses anything that could cost data: a missing or non-block device, the boot medium (through
 * any stack of dm-crypt, LVM, md or loop under the running system), the answers volume, a disk in
 * use (through the whole holder chain), a pool already imported under the target name that is not
 * on the target disks, a disk this same ISO installed (unless kldload.reinstall=1), and a disk with
 * any signature, unless KLDLOAD_FORCE_WIPE=1.
 */
export async function checkDiskSafe(host: Host, o: DiskSafeArgs): Promise<void> {
  const boot = await bootDevices(host);
  const pools = await importedPools(host);
  const targets = new Set(o.disks.map((d) => host.realpath(d) ?? d));

  // A pool imported under the target name would be reused by `zpool create`'s idempotence probe and
  // destroyed by the cleanup: only one that lives on the target disks, with wiping asked for, may go.
  const same = pools.get(o.pool);
  let allowPool: string | undefined;
  if (same) {
    const disks = [...(await disksUnder(host, same))];
    const elsewhere = disks.filter((d) => !targets.has(d));
    if (!disks.length || elsewhere.length || !o.forceWipe)
      throw refuse(
        `a ZFS pool named ${o.pool} is already imported (vdevs ${same.join(', ')}), ${
          !disks.length || elsewhere.length
            ? `not only on the target disks (also on ${elsewhere.join(', ') || 'devices that are no disk'})`
            : 'on the target disks, but KLDLOAD_FORCE_WIPE is not 1'
        }: the installer neither reuses nor destroys it. Export it (zpool export ${o.pool}) or choose another KLDLOAD_POOL_NAME${
          disks.length && !elsewhere.length ? '; or set KLDLOAD_FORCE_WIPE=1 to erase it with the disks' : ''
        }`,
      );
    allowPool = o.pool;
  }

  for (const d of o.disks) {
    const real = host.realpath(d);
    if (!real) throw refuse(`KLDLOAD_DISK ${d}: no such device; see lsblk`);
    if (!host.isBlockDevice(real)) throw refuse(`${d}: not a block device`);
    if (boot.has(real)) throw refuse(`${d}: is the boot medium of this system; choose another disk`);
    const tree = (await lsblk(host, real))[0];
    if (tree?.type !== 'disk') throw refuse(`${d}: is a ${tree?.type ?? 'unknown device'}, not a whole disk`);
    if (flatten(tree).some((n) => n.label === SEED_LABEL))
      throw refuse(`${d}: holds the ${SEED_LABEL} answers volume; choose another disk`);
    const busy = await inUseReasons(host, tree, pools, allowPool);
    if (busy.length) throw refuse(`${d}: is in use: ${busy.join('; ')}`);
    const signatures = await diskSignatures(host, tree, real);
    if (signatures.length && !o.forceWipe)
      throw refuse(
        `${d}: is not empty (${signatures.join('; ')}). Set KLDLOAD_FORCE_WIPE=1 to erase it, or choose an empty disk`,
      );
    // Without FORCE_WIPE such a disk is refused as not empty above; with it, only a human may reinstall.
    if (o.isoBuild && !o.reinstall) {
      const by = await installedBy(host, tree);
      if (by === o.isoBuild)
        throw refuse(
          `${d}: was installed by this same ISO (build ${by}); it is not wiped again without a human. To boot the installed system, detach the ISO or put the disk first in the boot order. To install again on purpose, choose "install again" in the ISO's boot menu (kldload.reinstall=1 on the kernel command line)`,
        );
    }
  }
}

/** systemd-boot and ZFSBootMenu are EFI programs: a machine booted the legacy way cannot boot the disk. */
export function checkUefi(host: Host): void {
  if (host.realpath('/sys/firmware/efi') === undefined)
    throw refuse(
      'this machine booted the installer in legacy BIOS mode (no /sys/firmware/efi), and the installed system boots only via UEFI (systemd-boot); nothing was written. Switch the firmware to UEFI and boot this ISO again: in the firmware setup disable CSM / Legacy boot; QEMU: -bios /usr/share/ovmf/OVMF.fd (Debian package ovmf); libvirt: <os firmware="efi">; Proxmox: BIOS = OVMF (UEFI) plus an EFI disk; VirtualBox: System > Enable EFI; VMware: Firmware = UEFI',
    );
}

export async function checkZfsLoads(exec: Executor): Promise<void> {
  const r = await exec.run(['modprobe', 'zfs'], { check: false });
  if (r.exitCode !== 0) throw new KldloadError(`the zfs module does not load in this system:\n${r.all}`);
}
