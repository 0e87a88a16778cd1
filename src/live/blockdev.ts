import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { type Mount, parseMountinfo } from '../core/fs.ts';
import { isoMarker } from '../layout.ts';
import { parseLabelComment, parseVdevs, zdbLabel, zpool } from '../zfs/zpool.ts';

/**
 * What the disk checks read of the machine: commands through the one executor, files under /proc,
 * /sys and /dev through these few calls, so tests can stand a fixture machine in its place.
 */
export interface Host {
  exec: Executor;
  /** File text, or undefined when it cannot be read. */
  readFile(path: string): string | undefined;
  /** Canonical path with symlinks resolved, or undefined when the path does not exist. */
  realpath(path: string): string | undefined;
  isBlockDevice(path: string): boolean;
  /** Entry names of a directory; [] when it does not exist. */
  readdir(path: string): string[];
}

export function systemHost(exec: Executor): Host {
  return {
    exec,
    readFile: (p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
    realpath: (p) => {
      try {
        return realpathSync(p);
      } catch {
        return undefined;
      }
    },
    isBlockDevice: (p) => {
      try {
        return statSync(p).isBlockDevice();
      } catch {
        return false;
      }
    },
    readdir: (p) => {
      try {
        return readdirSync(p);
      } catch {
        return [];
      }
    },
  };
}

/** One node of `lsblk --json`: a device and, in `children`, what sits on it (or with -s, under it). */
export interface BlockDev {
  name: string;
  path: string;
  type: string;
  size?: number | string | null;
  model?: string | null;
  serial?: string | null;
  rm?: boolean | string | null;
  ro?: boolean | string | null;
  fstype?: string | null;
  pttype?: string | null;
  label?: string | null;
  mountpoints?: (string | null)[] | null;
  children?: BlockDev[];
}

const COLUMNS = 'NAME,PATH,TYPE,SIZE,MODEL,SERIAL,RM,RO,FSTYPE,PTTYPE,LABEL,MOUNTPOINTS';

/** `lsblk --json` of one device with everything that holds it, or of every device. */
export async function lsblk(host: Host, dev?: string): Promise<BlockDev[]> {
  const r = await host.exec.run(['lsblk', '--json', '--bytes', '-o', COLUMNS, ...(dev ? [dev] : [])]);
  return (JSON.parse(r.stdout) as { blockdevices: BlockDev[] }).blockdevices;
}

/** A node and all its descendants. */
export function flatten(d: BlockDev): BlockDev[] {
  return [d, ...(d.children ?? []).flatMap(flatten)];
}

/** The mounts that name a source (the only ones whose device can be followed). */
const sourcedMounts = (host: Host): Mount[] =>
  parseMountinfo(host.readFile('/proc/self/mountinfo') ?? '').filter((m) => m.source);

/** Mount points whose devices carry the running system: its root, /boot, and the live medium. */
const isSystemMount = (mp: string) =>
  mp === '/' ||
  mp === '/boot' ||
  mp === '/boot/efi' ||
  mp.startsWith('/run/live/') ||
  mp.startsWith('/lib/live/mount/') ||
  mp.startsWith('/usr/lib/live/mount/');

/** The loop device's backing file, from sysfs. */
function loopBacking(host: Host, loopReal: string): string | undefined {
  return host.readFile(`/sys/block/${basename(loopReal)}/loop/backing_file`)?.trim() || undefined;
}

/** The mount holding a file: the longest mount point that is a prefix of its path. */
function mountOf(mounts: Mount[], file: string): Mount | undefined {
  return mounts
    .filter((m) => file === m.target || file.startsWith(m.target === '/' ? '/' : `${m.target}/`))
    .sort((x, y) => y.target.length - x.target.length)[0];
}

/**
 * Every block device under `dev`, the whole stack down: partitions, their disks, the members of md,
 * LVM and dm-crypt (lsblk -s walks /sys/block/<dev>/slaves), and for a loop device the device holding
 * its backing file. Real path (/dev/dm-0, not /dev/mapper/x) → lsblk TYPE.
 */
export async function devicesUnder(host: Host, dev: string, mounts?: Mount[]): Promise<Map<string, string>> {
  const all = new Map<string, string>();
  const mi = mounts ?? sourcedMounts(host);
  const queue = [dev];
  while (queue.length) {
    const d = queue.shift() as string;
    const real = host.realpath(d) ?? d;
    if (all.has(real)) continue;
    const r = await host.exec.run(['lsblk', '--json', '-s', '-o', 'NAME,PATH,TYPE', real], { check: false });
    const nodes =
      r.exitCode === 0
        ? (JSON.parse(r.stdout) as { blockdevices: BlockDev[] }).blockdevices.flatMap(flatten)
        : [];
    if (!nodes.length) all.set(real, 'unknown');
    for (const n of nodes) {
      const p = host.realpath(n.path) ?? n.path;
      all.set(p, n.type);
      if (n.type === 'loop') {
        const file = loopBacking(host, p);
        const m = file ? mountOf(mi, file) : undefined;
        if (m?.source.startsWith('/dev/')) queue.push(m.source);
      }
    }
  }
  return all;
}

/** The whole disks under some devices (real paths). */
export async function disksUnder(host: Host, devs: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const v of devs) for (const [p, type] of await devicesUnder(host, v)) if (type === 'disk') out.add(p);
  return out;
}

/** Block devices that carry the running system (live medium, root, /boot), with the whole stack under them. */
export async function bootDevices(host: Host): Promise<Set<string>> {
  const mounts = sourcedMounts(host);
  const out = new Set<string>();
  for (const m of mounts.filter((x) => isSystemMount(x.target) && x.source.startsWith('/dev/')))
    for (const d of (await devicesUnder(host, m.source, mounts)).keys()) out.add(d);
  return out;
}

/** Imported pools and their leaf vdevs. Fails closed: if zpool cannot answer, nothing is known to be free. */
export async function importedPools(host: Host): Promise<Map<string, string[]>> {
  // No zfs module: no pool can be imported (and zpool would fail for that alone).
  if (!host.realpath('/sys/module/zfs')) return new Map();
  const r = await host.exec.run(zpool.listVdevs(), { check: false });
  if (r.exitCode !== 0)
    throw new KldloadError(`cannot list the imported ZFS pools (zpool list exit ${r.exitCode}):\n${r.all}`);
  return parseVdevs(r.stdout);
}

/**
 * Why a disk is in use, walking everything that sits on it (partitions, and on them dm-crypt, LVM, md,
 * anything else the kernel stacked): mounted or swap anywhere in the tree, held by a device, backing
 * a loop device, or a member of an imported ZFS pool (except `allowPool`, which the caller will destroy).
 */
export async function inUseReasons(
  host: Host,
  tree: BlockDev,
  pools: Map<string, string[]>,
  allowPool?: string,
): Promise<string[]> {
  const reasons: string[] = [];
  const nodes = flatten(tree);
  const reals = new Set(nodes.map((n) => host.realpath(n.path) ?? n.path));
  for (const n of nodes) {
    for (const mp of (n.mountpoints ?? []).filter((x): x is string => !!x))
      reasons.push(mp === '[SWAP]' ? `${n.path} is active swap` : `${n.path} is mounted at ${mp}`);
    if (n !== tree && n.type !== 'part') reasons.push(`held by ${n.path} (${n.type})`);
  }
  for (const loop of host.readdir('/sys/block').filter((x) => x.startsWith('loop'))) {
    const file = loopBacking(host, `/dev/${loop}`);
    const real = file ? (host.realpath(file) ?? file) : undefined;
    if (real && reals.has(real)) reasons.push(`backs loop device /dev/${loop}`);
  }
  for (const [name, vdevs] of pools) {
    if (name === allowPool) continue;
    const under: string[] = [];
    for (const v of vdevs) under.push(...(await devicesUnder(host, v)).keys());
    if (under.some((d) => reals.has(d)))
      reasons.push(`is in the imported ZFS pool ${name} (zpool export ${name} first)`);
  }
  return reasons;
}

/**
 * What `blkid -p` says about a device. blkid(8): exit 0 = signatures found, 2 = nothing found,
 * 8 = ambivalent (more than one signature, e.g. a stale one), anything else = the probe failed.
 * Only exit 2 means empty; every other answer is a reason to keep the disk.
 */
export async function probeSignatures(host: Host, dev: string): Promise<string[]> {
  const r = await host.exec.run(['blkid', '-p', '-o', 'export', dev], { check: false });
  const said = r.all.trim().split('\n').join('; ');
  if (r.exitCode === 2) return [];
  if (r.exitCode === 0) {
    const named = blkidSignatures(r.stdout);
    return named.length ? named : [`signature (blkid -p: ${said || 'found something'})`];
  }
  if (r.exitCode === 8)
    return [
      `ambivalent signatures (blkid -p exit 8: more than one, e.g. a stale one${said ? `: ${said}` : ''})`,
    ];
  return [
    `blkid -p could not probe it (exit ${r.exitCode}${said ? `: ${said}` : ''}), so it is not known to be empty`,
  ];
}

/** The facts of `blkid -p -o export` worth naming: filesystem, label, partition table. */
export function blkidSignatures(out: string): string[] {
  const kv = new Map(out.split('\n').map((l) => l.split('=', 2) as [string, string]));
  const named: [string, string][] = [
    ['TYPE', 'filesystem'],
    ['LABEL', 'label'],
    ['PTTYPE', 'partition table'],
  ];
  const parts = named.filter(([k]) => kv.get(k)).map(([k, what]) => `${what} ${kv.get(k)}`);
  return parts.length ? [`signature: ${parts.join(', ')}`] : [];
}

/** Signatures a disk carries: partition table, partitions, and whatever blkid -p finds on the raw device. */
export async function diskSignatures(host: Host, tree: BlockDev, real: string): Promise<string[]> {
  return [
    ...(tree.pttype ? [`partition table ${tree.pttype}`] : []),
    ...(tree.children ?? []).map((c) => `partition ${c.path}${c.fstype ? ` (${c.fstype})` : ''}`),
    ...(await probeSignatures(host, real)),
  ];
}

/** The kldload ISO build that installed this disk, read from the ZFS labels of its partitions. */
export async function installedBy(host: Host, tree: BlockDev): Promise<string | undefined> {
  for (const n of flatten(tree).filter((x) => x.fstype === 'zfs_member')) {
    const r = await host.exec.run(zdbLabel(n.path), { check: false });
    const c = parseLabelComment(r.stdout);
    const prefix = isoMarker('');
    if (c?.startsWith(prefix)) return c.slice(prefix.length);
  }
  return undefined;
}

/** Stable names of a disk under /dev/disk/by-id, the most telling first (bus-model-serial before wwn/eui). */
export function byIdPaths(host: Host, real: string): string[] {
  const dir = '/dev/disk/by-id';
  const weak = (n: string) => /^(wwn-|nvme-eui\.|nvme-nvme\.)/.test(n);
  return host
    .readdir(dir)
    .filter((n) => !/-part\d+$/.test(n) && host.realpath(join(dir, n)) === real)
    .sort((x, y) => Number(weak(x)) - Number(weak(y)) || x.localeCompare(y))
    .map((n) => join(dir, n));
}
