import type { Answers } from '../answers/schema.ts';

/** Partition device path for a disk path, following the kernel's and udev's naming rules. */
export function partition(disk: string, n: number): string {
  if (disk.startsWith('/dev/disk/by-')) return `${disk}-part${n}`;
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

/**
 * Stands for the disk the installer picks at preflight when KLDLOAD_DISK is empty or absent. Only a
 * plan made without that pick (a dry run away from the target machine) holds it; it names no
 * device, so the preflight disk check refuses it before anything is written.
 */
export const PICKED_DISK = '/dev/<picked>';

export interface TargetDisks {
  /** Carries the primary ESP (the one in fstab and the boot entry). */
  boot: string;
  /** Every disk that is partitioned, boot first. */
  all: string[];
  /** The pool's vdev specification, e.g. ['mirror', '/dev/vda2', '/dev/vdb2']. */
  vdevs: string[];
  /** Where the boot disk came from. */
  source: 'answers' | 'data-disks' | 'picked' | 'pick-at-preflight';
}

/**
 * The disks of the install. KLDLOAD_ZFS_DATA_DISKS, when set, are the pool's disks (the original
 * kldload's meaning; validation makes KLDLOAD_DISK one of them); otherwise the pool is KLDLOAD_DISK,
 * or the disk picked at preflight when that is empty.
 */
export function targetDisks(a: Answers, pickedDisk?: string): TargetDisks {
  const data = a.KLDLOAD_ZFS_DATA_DISKS ?? [];
  const boot = a.KLDLOAD_DISK ?? data[0] ?? pickedDisk ?? PICKED_DISK;
  const source: TargetDisks['source'] =
    a.KLDLOAD_DISK !== undefined
      ? 'answers'
      : data.length
        ? 'data-disks'
        : pickedDisk !== undefined
          ? 'picked'
          : 'pick-at-preflight';
  const pool = data.length ? data : [boot];
  const part = (d: string) => partition(d, 2);
  const topo = a.KLDLOAD_ZFS_TOPOLOGY;
  const vdevs =
    topo === 'single'
      ? pool.map(part)
      : topo === 'mirror-stripe'
        ? pool.flatMap((d, i) => (i % 2 ? [part(d)] : ['mirror', part(d)]))
        : [topo, ...pool.map(part)];
  return { boot, all: [boot, ...pool.filter((d) => d !== boot)], vdevs, source };
}
