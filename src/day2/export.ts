import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, run } from '../core/plan.ts';
import { isSnapshot, type Props, zfs } from '../zfs/zfs.ts';
import { zpool } from '../zfs/zpool.ts';
import { type BootFacts, checkBeName } from './be-entry.ts';

/**
 * kexport: a boot environment (or a snapshot of one) as a whole bootable disk image, answers → plan →
 * apply in three parts (the later ones need what the earlier made: the sealed kernel files' hashes,
 * the loop device's name):
 *
 *   seal   [snapshot] → clone (never the live filesystem) → mount → seal the clones (identity, logs,
 *          history) → initrds without this machine's hostid → snapshot @sealed
 *   image  a sparse raw disk, GPT (ESP + ZFS), attached as a loop device with its partitions
 *   disk   pool on partition 2 (on-disk name as here, in-core a temporary one) with the tree of this
 *          machine's datasets, the sealed BE and the chosen data datasets received → ESP: FAT32,
 *          systemd-boot, the BE's entry → export the pool, detach → qemu-img for each format (OVA:
 *          OVF + streamOptimized VMDK + manifest) → SHA256 beside each → tidy up.
 *
 * A cleanly exported pool imports on any machine; the copy makes its own hostid, ssh host keys and
 * machine-id on its first boot (identity.ts).
 *
 * Here: the facts, the disk's geometry, the refusals and the cleanup of every part. The parts:
 * export-seal.ts (seal), export-disk.ts (image, disk); the OVA's descriptor: ovf.ts.
 */
export const FORMATS = ['qcow2', 'raw', 'vhd', 'vmdk', 'ova'] as const;
export type ExportFormat = (typeof FORMATS)[number];
export const EXPORT_PREFIX = 'kexport-';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const ESP_BYTES = 512 * MiB;
export const ESP_OFFSET = MiB;
export const POOL_OFFSET = ESP_OFFSET + ESP_BYTES;
/** After the pool partition: room for the backup GPT. */
const TAIL = MiB;
const MIN_POOL = 2 * GiB;
export const LOADER_EFI = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';

/** Properties a copy keeps (its local ones); the rest are the pool's defaults on the new disk. */
export const KEPT_PROPS = [
  'mountpoint',
  'canmount',
  'compression',
  'recordsize',
  'atime',
  'relatime',
  'exec',
  'setuid',
  'devices',
  'sync',
  'xattr',
  'acltype',
  'dnodesize',
  'com.sun:auto-snapshot',
] as const;

export interface ExportDataset {
  /** Source dataset, e.g. rpool/home. */
  dataset: string;
  /** Its name below the pool (home, srv/www). */
  rel: string;
  props: Props;
}

export interface ExportSource extends ExportDataset {
  /** The snapshot the copy is cloned from: given, or taken by this run (`taken`). */
  snapshot: string;
  taken: boolean;
  /** Bytes it holds as stored (referenced). */
  bytes: number;
  /** Sent with its folders only (a golden image's log datasets: services expect their folders). */
  skeleton?: boolean;
}

export interface ExportFacts {
  boot: BootFacts;
  /** The BE's name on the copy (its root=ZFS=<pool>/ROOT/<name>). */
  name: string;
  root: ExportSource;
  data: ExportSource[];
  /** This machine's other datasets (below the pool, not ROOT): made empty on the copy. */
  tree: ExportDataset[];
  /** The pool's own filesystem properties (-O) and ashift ('' when the pool chose it). */
  poolFs: Props;
  ashift: string;
  /** Kernel version the copy boots (in the BE's /boot). */
  kernel: string;
  /** Every kernel version with an initrd in the BE's /boot (each initrd is sealed). */
  kernels: string[];
  formats: ExportFormat[];
  outDir: string;
  /** Output file name without extension. */
  base: string;
  /** Bytes free where the outputs go. */
  outFree: number;
  /** Requested disk size in bytes (default: what the data needs, at least 2 GiB of pool). */
  sizeBytes?: number;
  espGuid: string;
  /** FAT volume id, 8 hex digits. */
  espVolumeId: string;
  /** A golden image (kldload image capture): streams, not a disk, so no format is named. */
  golden?: boolean;
}

/** Where this run keeps its mounts and work files. */
export function exportPaths(f: Pick<ExportFacts, 'boot' | 'outDir' | 'base'>) {
  const run = `/run/kldload/export/${f.boot.stamp}`;
  const work = `${f.outDir}/.${f.base}.work`;
  return {
    run,
    /** In-core pool name while it is imported here (the on-disk name is the source pool's). */
    tmpPool: `kexport-${f.boot.stamp.toLowerCase()}`,
    clones: `${f.boot.pool}/${EXPORT_PREFIX}${f.boot.stamp.toLowerCase()}`,
    rootMnt: `${run}/root`,
    dataMnt: (i: number) => `${run}/data-${i}`,
    espMnt: `${run}/esp`,
    altroot: `${run}/pool`,
    work,
    raw: `${work}/disk.raw`,
  };
}

const roundUp = (n: number, unit: number) => Math.ceil(n / unit) * unit;

/** Pool bytes: what the copies hold plus a third and 512 MiB, at least 2 GiB, whole GiB. */
export function poolBytes(f: Pick<ExportFacts, 'root' | 'data' | 'sizeBytes'>): number {
  const need = Math.max(
    MIN_POOL,
    roundUp([f.root, ...f.data].reduce((n, s) => n + s.bytes, 0) * 1.34 + 512 * MiB, GiB),
  );
  if (f.sizeBytes === undefined) return need;
  const fits = f.sizeBytes - POOL_OFFSET - TAIL;
  if (fits < need)
    throw new KldloadError(
      `--size ${(f.sizeBytes / GiB).toFixed(0)}G is too small: the copy needs at least ${Math.ceil((need + POOL_OFFSET + TAIL) / GiB)}G`,
      EXIT.badInput,
    );
  return Math.floor(fits / MiB) * MiB;
}

export const diskBytes = (f: Pick<ExportFacts, 'root' | 'data' | 'sizeBytes'>) =>
  POOL_OFFSET + poolBytes(f) + TAIL;

/** The file extension is the format's name. */
export const outputFile = (f: Pick<ExportFacts, 'outDir' | 'base'>, fmt: ExportFormat) =>
  `${f.outDir}/${f.base}.${fmt}`;

/** Refusals that need no command: names, formats, room, datasets the copy could not hold. */
export function checkExport(f: ExportFacts): void {
  checkBeName(f.name);
  if (!f.formats.length && !f.golden)
    throw new KldloadError('name at least one format: qcow2 raw vhd vmdk ova', EXIT.badInput);
  if (!isSnapshot(f.root.snapshot))
    throw new KldloadError(`${f.root.snapshot}: not a snapshot (dataset@name)`, EXIT.badInput);
  const parentOk = new Set(['', ...f.tree.map((d) => d.rel), ...f.data.map((d) => d.rel)]);
  for (const d of f.data) {
    const parent = d.rel.includes('/') ? d.rel.slice(0, d.rel.lastIndexOf('/')) : '';
    if (!parentOk.has(parent))
      throw new KldloadError(
        `--with ${d.dataset}: its parent ${f.boot.pool}/${parent} is not on the copy; name it too`,
        EXIT.badInput,
      );
  }
  const bytes = diskBytes(f);
  // The raw disk is sparse: it holds what the pool and ESP hold; each format about as much again.
  const held = [f.root, ...f.data].reduce((n, s) => n + s.bytes, 0) + 64 * MiB;
  const need = held * (2 + f.formats.filter((x) => x !== 'raw').length);
  if (need > f.outFree)
    throw new KldloadError(
      `${f.outDir} has ${(f.outFree / GiB).toFixed(1)} GiB free; ${f.formats.join(', ')} of ${f.root.dataset} need about ${(need / GiB).toFixed(1)} GiB (disk ${(bytes / GiB).toFixed(0)} GiB, sparse). Free some room or choose --out elsewhere`,
      EXIT.badInput,
    );
}

/** A probe: succeeds when `cmd "$1"` fails (names go in as an argument, never into the script). */
const absent = (cmd: string, arg: string) => ['sh', '-c', `! ${cmd} "$1" >/dev/null 2>&1`, 'probe', arg];
/** The loop devices attached to a file, detached (none: nothing to do). */
const detachLoops = (file: string) =>
  run(['sh', '-c', 'losetup -j "$1" -n -O NAME | xargs -r -n1 losetup -d', 'detach', file], {
    mayFail: true,
  });

/**
 * Actions that undo whatever part of a run happened (each tolerates "not there"). Outputs are
 * removed too: an output file could not exist before the run (refused), so a half-written one is
 * this run's.
 */
export function cleanupActions(f: ExportFacts): Action[] {
  const p = exportPaths(f);
  const umount = (m: string): Action =>
    run(['umount', m], { mayFail: true, unless: absent('mountpoint -q', m) });
  return [
    umount(p.espMnt),
    run(zpool.export(p.tmpPool), { mayFail: true, unless: absent('zpool list -H', p.tmpPool) }),
    detachLoops(p.raw),
    umount(p.rootMnt),
    ...f.data.map((_, i) => umount(p.dataMnt(i))),
    run(zfs.destroy(p.clones, { recursive: true }), {
      mayFail: true,
      unless: absent('zfs list -H', p.clones),
    }),
    ...[f.root, ...f.data]
      .filter((s) => s.taken)
      .map((s) => run(zfs.destroy(s.snapshot), { mayFail: true, unless: absent('zfs list -H', s.snapshot) })),
    // Kept while the pool is still imported: its disk must not vanish under it.
    run(['rm', '-rf', p.work, p.run], { mayFail: true, unless: ['zpool', 'list', '-H', p.tmpPool] }),
    run(['rm', '-f', ...f.formats.flatMap((x) => [outputFile(f, x), `${outputFile(f, x)}.sha256`])], {
      mayFail: true,
    }),
  ];
}
