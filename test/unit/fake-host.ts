/**
 * A fixture machine for the disk checks: its block devices as the forward `lsblk --json` tree, its
 * mounts, sysfs files and /dev symlinks. The recording executor answers lsblk (forward and -s, the
 * inverse walk computed from the same tree), blkid, zdb and zpool from it, so every check reads one
 * consistent machine and the test can see every command that ran.
 */
import { RecordingExecutor, type RunResult } from '../../src/core/exec.ts';
import type { BlockDev, Host } from '../../src/live/blockdev.ts';

export interface Machine {
  /** Top-level block devices; children are what sits on them (partitions, then dm/md/lvm…). */
  devices: BlockDev[];
  /** Mount point → source device. */
  mounts?: Record<string, string>;
  /** Symlinks: /dev/mapper/x → /dev/dm-0, /dev/disk/by-id/… → /dev/vda. */
  links?: Record<string, string>;
  /** Plain files, e.g. /sys/block/loop0/loop/backing_file. */
  files?: Record<string, string>;
  /** `zpool list -v -H -P` output. */
  zpool?: string;
  /** blkid -p answers by device; default exit 2 (nothing found). */
  blkid?: Record<string, Partial<RunResult>>;
  /** zdb -l output by device. */
  zdb?: Record<string, string>;
  /** /sys/firmware/efi exists (booted via UEFI); default true. */
  efi?: boolean;
  /** /sys/module/zfs exists (module loaded, pools may be imported); default true. */
  zfsLoaded?: boolean;
}

export const disk = (name: string, o: Partial<BlockDev> = {}): BlockDev => ({
  name,
  path: `/dev/${name}`,
  type: 'disk',
  size: 16 * 1024 ** 3,
  model: 'QEMU HARDDISK',
  ro: false,
  rm: false,
  fstype: null,
  pttype: null,
  label: null,
  mountpoints: [null],
  ...o,
});
export const part = (name: string, o: Partial<BlockDev> = {}): BlockDev =>
  disk(name, { type: 'part', size: 8 * 1024 ** 3, model: null, ...o });

function allNodes(ds: BlockDev[]): BlockDev[] {
  return ds.flatMap((d) => [d, ...allNodes(d.children ?? [])]);
}

export function fakeMachine(m: Machine): { host: Host; exec: RecordingExecutor } {
  const nodes = allNodes(m.devices);
  const links = m.links ?? {};
  const files = { ...(m.files ?? {}) };
  const mountinfo = Object.entries(m.mounts ?? {})
    .map(([mp, src], i) => `${20 + i} 1 0:${i} / ${mp.replace(/ /g, '\\040')} rw - fstype ${src} rw`)
    .join('\n');
  files['/proc/self/mountinfo'] = `${mountinfo}\n`;
  const realpath = (p: string): string | undefined => {
    let cur = p;
    for (let i = 0; i < 10 && links[cur]; i++) cur = links[cur] as string;
    const known =
      nodes.some((n) => n.path === cur) ||
      Object.values(links).includes(cur) ||
      cur in files ||
      (cur === '/sys/firmware/efi' && m.efi !== false) ||
      (cur === '/sys/module/zfs' && m.zfsLoaded !== false) ||
      ['/sys/block', '/dev/disk/by-id'].includes(cur);
    return known ? cur : undefined;
  };
  const realOf = (p: string) => realpath(p) ?? p;
  /** Subtree of the first node with this (real) path. */
  const find = (p: string) => nodes.find((n) => realOf(n.path) === realOf(p));
  /** Inverse tree: a device and, as children, the devices it sits on, down to the disks. */
  const inverse = (p: string): BlockDev => {
    const n = find(p) as BlockDev;
    const parents = nodes.filter((x) => (x.children ?? []).some((c) => realOf(c.path) === realOf(p)));
    const seen = new Set<string>();
    const uniq = parents.filter((x) => !seen.has(x.path) && seen.add(x.path));
    return {
      name: n.name,
      path: n.path,
      type: n.type,
      ...(uniq.length ? { children: uniq.map((x) => inverse(x.path)) } : {}),
    };
  };
  const json = (blockdevices: BlockDev[]) => ({ stdout: JSON.stringify({ blockdevices }) });
  const exec = new RecordingExecutor((argv) => {
    const [cmd] = argv;
    const last = argv[argv.length - 1] as string;
    if (cmd === 'lsblk' && argv.includes('-s')) {
      return find(last) ? json([inverse(last)]) : { exitCode: 32, all: `lsblk: ${last}: not a block device` };
    }
    if (cmd === 'lsblk') {
      if (!last.startsWith('/dev/')) return json(m.devices);
      const n = find(last);
      return n ? json([n]) : { exitCode: 32, all: `lsblk: ${last}: not a block device` };
    }
    if (cmd === 'blkid') return m.blkid?.[last] ?? { exitCode: 2 };
    if (cmd === 'zdb') {
      const out = m.zdb?.[last];
      return out ? { stdout: out } : { exitCode: 2, all: `failed to unpack label 0\n` };
    }
    if (cmd === 'zpool' && argv[1] === 'list') return { stdout: m.zpool ?? '' };
    return undefined;
  });
  const host: Host = {
    exec,
    readFile: (p) => files[realOf(p)],
    realpath,
    isBlockDevice: (p) => nodes.some((n) => realOf(n.path) === realOf(p)),
    readdir: (p) => {
      if (p === '/sys/block')
        return [
          ...new Set(
            nodes.filter((n) => n.type !== 'part').map((n) => realOf(n.path).split('/').pop() as string),
          ),
        ];
      const prefix = `${p}/`;
      return Object.keys(links)
        .filter((l) => l.startsWith(prefix) && !l.slice(prefix.length).includes('/'))
        .map((l) => l.slice(prefix.length));
    },
  };
  return { host, exec };
}

/** A `zdb -l` dump with the given pool comment. */
export const zdbWithComment = (pool: string, comment: string) =>
  `------------------------------------\nLABEL 0\n------------------------------------\n    version: 5000\n    name: '${pool}'\n    state: 1\n    txg: 42\n    comment: '${comment}'\n    hostname: 'old'\n    labels = 0 1 2 3\n`;
