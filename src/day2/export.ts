import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, pipe, run, type Step, write } from '../core/plan.ts';
import { isSnapshot, type Props, zfs, zpool } from '../zfs/zfs.ts';
import { type BootFacts, checkBeName, espSteps, type KernelPair } from './be-entry.ts';
import { historyAction, sealRootActions } from './identity.ts';

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
 */
export const FORMATS = ['qcow2', 'raw', 'vhd', 'vmdk', 'ova'] as const;
export type ExportFormat = (typeof FORMATS)[number];
export const EXPORT_PREFIX = 'kexport-';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
export const ESP_BYTES = 512 * MiB;
const ESP_OFFSET = MiB;
const POOL_OFFSET = ESP_OFFSET + ESP_BYTES;
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
  if (!f.formats.length)
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
function cleanupActions(f: ExportFacts): Action[] {
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

/** The first half: clones of the snapshots, sealed, snapshotted @sealed; the root clone stays mounted. */
export function planExportSeal(f: ExportFacts): Plan {
  checkExport(f);
  const p = exportPaths(f);
  const sources = [f.root, ...f.data];
  const clone = (i: number) => `${p.clones}/${i === 0 ? 'root' : `data-${i - 1}`}`;
  const mnt = (i: number) => (i === 0 ? p.rootMnt : p.dataMnt(i - 1));
  const initrds = f.kernels.map((k) => `${p.rootMnt}/boot/initrd.img-${k}`);
  // Succeeds when an initrd still holds a hostid or zpool.cache in its main archive.
  const leaks = [
    'sh',
    '-c',
    `for i in "$@"; do lsinitramfs "$i" | grep -qxE 'etc/hostid|etc/zfs/zpool.cache' && exit 0; done; exit 1`,
    'leaks',
    ...initrds,
  ];
  const taken = sources.filter((s) => s.taken);
  const steps: Step[] = [
    ...(taken.length
      ? [
          {
            name: 'snapshot',
            title: `snapshot what is exported, in one transaction: ${taken.map((s) => s.snapshot).join(', ')}`,
            actions: [
              run(
                zfs.snapshots(
                  taken.map((s) => s.snapshot),
                  { 'org.kldload:cmd': 'kexport' },
                ),
              ),
            ],
          },
        ]
      : []),
    {
      name: 'clone',
      title: `clones under ${p.clones} (legacy mountpoint: never mounted at boot; sanoid skips them)`,
      actions: [
        run(zfs.create(p.clones, { canmount: 'off', mountpoint: 'none', 'com.sun:auto-snapshot': 'false' })),
        ...sources.map((s, i) => run(zfs.clone(s.snapshot, clone(i), { mountpoint: 'legacy' }))),
        ...sources.flatMap((_, i): Action[] => [
          { kind: 'mkdir', path: mnt(i) },
          run(zfs.mountLegacy(clone(i), mnt(i))),
        ]),
      ],
    },
    {
      name: 'seal',
      title:
        'leave out machine-id, ssh host keys, hostid, zpool.cache, seeds, leases, logs and shell history; a new identity on first boot',
      actions: [
        ...sealRootActions(p.rootMnt, { espGuid: f.espGuid }),
        // Its root= and entry token as the copy names it (kernel updates there write entries for it).
        write(
          `${p.rootMnt}/etc/kernel/cmdline`,
          `${[`root=ZFS=${f.boot.pool}/ROOT/${f.name}`, ...f.boot.cmdline].join(' ')}\n`,
        ),
        write(`${p.rootMnt}/etc/kernel/entry-token`, `kldload-${f.name}\n`),
        ...f.data.map((_, i) => historyAction(p.dataMnt(i))),
      ],
    },
    {
      name: 'initrd',
      title: `the initrds of ${f.kernels.join(', ')} without this machine's hostid and zpool.cache`,
      actions: [
        ...initrds.map((initrd): Action => ({ kind: 'initrd-strip', initrd })),
        // A kernel updated after the install got an initrd with them inside (update-initramfs copies
        // /etc/hostid): make them again inside the sealed copy, which has neither.
        run(
          [
            'sh',
            '-c',
            'set -e; m=$1; trap \'umount "$m/sys" "$m/proc" "$m/dev" 2>/dev/null || true\' EXIT; for d in dev proc sys; do mount --bind "/$d" "$m/$d"; done; chroot "$m" update-initramfs -u -k all',
            'rebuild',
            p.rootMnt,
          ],
          { unless: ['sh', '-c', '! "$@"', 'not', ...leaks] },
        ),
        run(['sh', '-c', '! "$@"', 'not', ...leaks]),
      ],
    },
    {
      name: 'sealed-snapshot',
      title: 'snapshot the sealed clones (@sealed): what is sent',
      actions: [
        ...f.data.map((_, i) => run(['umount', p.dataMnt(i)])),
        run(zfs.snapshots(sources.map((_, i) => `${clone(i)}@sealed`))),
      ],
    },
  ];
  return {
    facts: {
      be: f.root.dataset,
      from: f.root.snapshot,
      data: f.data.map((d) => d.dataset),
      kernel: f.kernel,
      formats: f.formats,
      disk: diskBytes(f),
    },
    steps,
    cleanup: cleanupActions(f),
  };
}

/**
 * The disk file, partitioned and attached as a loop device with its partitions. The pool must be
 * made on a block device: one made on a file records its vdev as a file, and the copy's initramfs
 * would refuse to open it from a partition (vdev_file wants a regular file).
 */
export function planExportImage(f: ExportFacts): Plan {
  const p = exportPaths(f);
  const pb = poolBytes(f);
  const disk = diskBytes(f);
  const sector = (b: number) => b / 512;
  return {
    facts: { disk, raw: p.raw },
    steps: [
      {
        name: 'image',
        title: `a ${(disk / GiB).toFixed(1)} GiB sparse disk (GPT: ${ESP_BYTES / MiB} MiB ESP + ZFS) on a loop device`,
        actions: [
          { kind: 'mkdir', path: p.work },
          run(['truncate', '-s', String(disk), p.raw]),
          run([
            'sgdisk',
            `-n1:${sector(ESP_OFFSET)}:${sector(POOL_OFFSET) - 1}`,
            '-t1:EF00',
            `-u1:${f.espGuid}`,
            '-c1:EFI',
            `-n2:${sector(POOL_OFFSET)}:${sector(POOL_OFFSET + pb) - 1}`,
            '-t2:BF00',
            '-c2:zfs',
            p.raw,
          ]),
          run(['losetup', '--find', '--partscan', p.raw], {
            unless: ['sh', '-c', 'losetup -j "$1" -n -O NAME | grep -q .', 'attached', p.raw],
          }),
          run(['udevadm', 'settle']),
        ],
      },
    ],
    cleanup: cleanupActions(f),
  };
}

/** The second half, on the loop device (`/dev/loopN`): ESP, pool, the formats, checksums; then tidy. */
export function planExportDisk(f: ExportFacts, kernel: KernelPair, loop: string): Plan {
  const p = exportPaths(f);
  const pool = f.boot.pool;
  const tmp = p.tmpPool;
  const disk = diskBytes(f);
  const esp = `${loop}p1`;
  const part = `${loop}p2`;
  const received = new Set(f.data.map((d) => d.rel));
  const espFacts: BootFacts = {
    ...f.boot,
    esp: { path: p.espMnt, freeBytes: ESP_BYTES - 4 * MiB, files: [] },
  };
  const outputs = f.formats.map((fmt) => outputFile(f, fmt));
  const ovaDir = `${p.work}/ova`;
  const vmdk = `${f.base}-disk1.vmdk`;
  const convert = (fmt: ExportFormat): Action[] => {
    const out = outputFile(f, fmt);
    const conv = (o: string[], to: string) =>
      run(['qemu-img', 'convert', '-p', '-f', 'raw', ...o, p.raw, to], { progress: true });
    switch (fmt) {
      case 'raw':
        // Last of the formats (see below): the disk itself becomes the output.
        return [run(['mv', p.raw, out])];
      case 'qcow2':
        return [conv(['-O', 'qcow2'], out), run(['qemu-img', 'check', '-f', 'qcow2', out])];
      case 'vmdk':
        return [conv(['-O', 'vmdk'], out), run(['qemu-img', 'check', '-f', 'vmdk', out])];
      case 'vhd':
        // vpc is qemu's name for VHD; force_size keeps the exact size (no CHS rounding). No `check` for it.
        return [conv(['-O', 'vpc', '-o', 'force_size=on'], out), run(['qemu-img', 'info', '-f', 'vpc', out])];
      case 'ova':
        return [
          { kind: 'mkdir', path: ovaDir },
          conv(['-O', 'vmdk', '-o', 'subformat=streamOptimized'], `${ovaDir}/${vmdk}`),
          run(['qemu-img', 'check', '-f', 'vmdk', `${ovaDir}/${vmdk}`]),
          write(
            `${ovaDir}/${f.base}.ovf`,
            ovfDescriptor({ name: f.base, disk: vmdk, capacity: disk, os: f.boot.osName }),
          ),
          run([
            'sh',
            '-c',
            'cd "$1" && sha256sum --tag -- "$2.ovf" "$3" | sed -E \'s/^SHA256 \\((.*)\\) = /SHA256(\\1)= /\' > "$2.mf"',
            'manifest',
            ovaDir,
            f.base,
            vmdk,
          ]),
          // OVA: a ustar archive, descriptor first, then manifest, then the disk.
          run(['tar', '--format=ustar', '-C', ovaDir, '-cf', out, `${f.base}.ovf`, `${f.base}.mf`, vmdk]),
        ];
    }
  };
  const sent: string[] = [`${tmp}/ROOT/${f.name}`];
  const treeActions: Action[] = [
    run(zfs.create(`${tmp}/ROOT`, { canmount: 'off', mountpoint: 'none' })),
    pipe(
      zfs.send(`${p.clones}/root@sealed`, true),
      zfs.receive(`${tmp}/ROOT/${f.name}`, { ...f.root.props, canmount: 'noauto', mountpoint: '/' }),
      true,
    ),
  ];
  // Parents before children: the tree is listed in zfs list order; a received one takes its place.
  for (const d of [...f.tree, ...f.data.filter((x) => !f.tree.some((t) => t.rel === x.rel))]) {
    const i = f.data.findIndex((x) => x.rel === d.rel);
    if (received.has(d.rel)) sent.push(`${tmp}/${d.rel}`);
    treeActions.push(
      received.has(d.rel)
        ? pipe(
            zfs.send(`${p.clones}/data-${i}@sealed`, true),
            zfs.receive(`${tmp}/${d.rel}`, f.data[i]?.props ?? {}),
            true,
          )
        : run(zfs.create(`${tmp}/${d.rel}`, d.props)),
    );
  }
  const steps: Step[] = [
    {
      name: 'pool',
      title: `pool ${pool} on ${part} (imported here as ${tmp}), with this pool's ashift and filesystem properties`,
      actions: [
        run(
          zpool.create(pool, [part], {
            poolProps: { ...(f.ashift ? { ashift: f.ashift } : {}), autotrim: 'on', cachefile: 'none' },
            fsProps: { ...f.poolFs, canmount: 'off', mountpoint: 'none' },
            altroot: p.altroot,
            tempName: tmp,
          }),
        ),
      ],
    },
    {
      name: 'datasets',
      title: `the sealed BE as ${pool}/ROOT/${f.name}${f.data.length ? `, ${f.data.map((d) => d.rel).join(', ')} with their data` : ''}, the other datasets empty`,
      actions: [
        ...treeActions,
        // A received full stream brings its snapshot along: the copy starts without history.
        ...sent.map((ds) => run(zfs.destroy(`${ds}@sealed`))),
        run(zpool.set(tmp, 'bootfs', `${tmp}/ROOT/${f.name}`)),
      ],
    },
    {
      name: 'loader',
      title:
        'the ESP: FAT32 with systemd-boot (also the fallback path: a new machine has no firmware variables)',
      actions: [
        run(['mkfs.vfat', '-F', '32', '-n', 'EFI', '-i', f.espVolumeId, esp]),
        { kind: 'mkdir', path: p.espMnt },
        run(['mount', '-t', 'vfat', esp, p.espMnt]),
        { kind: 'mkdir', path: `${p.espMnt}/EFI/systemd` },
        { kind: 'mkdir', path: `${p.espMnt}/EFI/BOOT` },
        { kind: 'mkdir', path: `${p.espMnt}/loader/entries` },
        {
          kind: 'copy',
          from: `${p.rootMnt}${LOADER_EFI}`,
          to: `${p.espMnt}/EFI/systemd/systemd-bootx64.efi`,
        },
        { kind: 'copy', from: `${p.rootMnt}${LOADER_EFI}`, to: `${p.espMnt}/EFI/BOOT/BOOTX64.EFI` },
        write(`${p.espMnt}/loader/loader.conf`, `timeout 3\neditor no\ndefault kldload-${f.name}.conf\n`),
      ],
    },
    ...espSteps(espFacts, f.name, kernel, p.rootMnt),
    {
      name: 'close',
      title: `unmount the ESP, export ${tmp} (a clean export imports anywhere), detach ${loop}, unmount the clone`,
      actions: [
        run(['umount', p.espMnt]),
        run(zpool.export(tmp)),
        run(['losetup', '-d', loop]),
        run(['umount', p.rootMnt]),
        run(['sgdisk', '--verify', p.raw]),
      ],
    },
    // One step per format (--json says what each conversion took); raw last, as it moves the disk.
    ...[...f.formats.filter((x) => x !== 'raw'), ...f.formats.filter((x) => x === 'raw')].map((fmt) => ({
      name: fmt,
      title: outputFile(f, fmt),
      actions: convert(fmt),
    })),
    {
      name: 'checksums',
      title: 'a SHA256 file beside each output',
      actions: outputs.map((o) => {
        const name = o.slice(f.outDir.length + 1);
        return run(['sh', '-c', 'cd "$1" && sha256sum -- "$2" > "$2.sha256"', 'sha256', f.outDir, name]);
      }),
    },
    {
      name: 'tidy',
      title: `remove the work files, the clones${f.root.taken || f.data.some((d) => d.taken) ? ' and the snapshots this run took' : ''}`,
      actions: [
        run(['rm', '-rf', p.work, p.run]),
        run(zfs.destroy(p.clones, { recursive: true })),
        ...[f.root, ...f.data].filter((s) => s.taken).map((s) => run(zfs.destroy(s.snapshot))),
      ],
    },
  ];
  return {
    facts: { be: f.root.dataset, name: f.name, kernel: kernel.version, loop, outputs, disk },
    steps,
    cleanup: cleanupActions(f),
  };
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * OVF 1.0 descriptor: 2 CPUs, 2 GiB, UEFI firmware, one SATA disk, one NIC. Capacity is the disk's
 * virtual size; OS id 96 is CIM's "Debian 64-bit". rasd elements in schema (alphabetical) order.
 */
export function ovfDescriptor(o: { name: string; disk: string; capacity: number; os: string }): string {
  const item = (fields: Record<string, string>) =>
    `      <Item>\n${Object.keys(fields)
      .sort()
      .map((k) => `        <rasd:${k}>${esc(fields[k] ?? '')}</rasd:${k}>`)
      .join('\n')}\n      </Item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:id="file1" ovf:href="${esc(o.disk)}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="${o.capacity}" ovf:capacityAllocationUnits="byte" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks</Info>
    <Network ovf:name="nat">
      <Description>The machine's one network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${esc(o.name)}">
    <Info>A kldload boot environment exported by kexport</Info>
    <Name>${esc(o.name)}</Name>
    <OperatingSystemSection ovf:id="96">
      <Info>Guest operating system</Info>
      <Description>${esc(o.os)}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${esc(o.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
${[
  item({
    AllocationUnits: 'hertz * 10^6',
    ElementName: '2 virtual CPUs',
    InstanceID: '1',
    ResourceType: '3',
    VirtualQuantity: '2',
  }),
  item({
    AllocationUnits: 'byte * 2^20',
    ElementName: '2048 MB of memory',
    InstanceID: '2',
    ResourceType: '4',
    VirtualQuantity: '2048',
  }),
  item({
    Address: '0',
    ElementName: 'SATA controller',
    InstanceID: '3',
    ResourceSubType: 'vmware.sata.ahci',
    ResourceType: '20',
  }),
  item({
    AddressOnParent: '0',
    ElementName: 'disk 1',
    HostResource: 'ovf:/disk/vmdisk1',
    InstanceID: '4',
    Parent: '3',
    ResourceType: '17',
  }),
  item({
    AutomaticAllocation: 'true',
    Connection: 'nat',
    ElementName: 'ethernet 1',
    InstanceID: '5',
    ResourceSubType: 'E1000',
    ResourceType: '10',
  }),
].join('\n')}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
