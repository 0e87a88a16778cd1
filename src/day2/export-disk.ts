/** kexport's later parts: the disk image on a loop device, then the pool, the ESP, the formats, checksums. */
import { type Action, type Plan, pipe, run, type Step, write } from '../core/plan.ts';
import { zfs } from '../zfs/zfs.ts';
import { zpool } from '../zfs/zpool.ts';
import { type BootFacts, espSteps, type KernelPair } from './be-entry.ts';
import {
  cleanupActions,
  diskBytes,
  ESP_BYTES,
  ESP_OFFSET,
  type ExportFacts,
  type ExportFormat,
  exportPaths,
  GiB,
  LOADER_EFI,
  MiB,
  outputFile,
  POOL_OFFSET,
  poolBytes,
} from './export.ts';
import { ovfDescriptor } from './ovf.ts';

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
