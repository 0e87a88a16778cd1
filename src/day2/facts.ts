import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statfsSync,
} from 'node:fs';
import { join } from 'node:path';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { parseMountinfo } from '../core/fs.ts';
import { utcStamp } from '../core/time.ts';
import { TARGET } from '../layout.ts';
import { isSnapshot, parseList, zfs } from '../zfs/zfs.ts';
import { type BootEntry, type BootFacts, ESP_DIR, type KernelPair, parseEntry } from './be-entry.ts';
import { type EspSet, parseEspList } from './esp.ts';

/**
 * The facts the day-2 planners need, read from the running system. `root` prefixes every file
 * path so tests read a fixture tree; the zfs calls go through the executor (the one subprocess layer).
 */
export interface FactsSource {
  exec: Executor;
  /** '' on a real machine. */
  root?: string;
  /** The ESP as mounted by the installer (fstab). */
  esp?: string;
}

export const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

/** root=ZFS=<dataset> of a kernel command line. */
export function rootDataset(cmdline: string): string | undefined {
  return /(?:^|\s)root=ZFS=(\S+)/.exec(cmdline)?.[1];
}

/** PRETTY_NAME of an os-release file, unquoted. */
export function prettyName(osRelease: string): string {
  const v = /^PRETTY_NAME=(.*)$/m.exec(osRelease)?.[1]?.trim() ?? 'Debian GNU/Linux';
  return v.replace(/^(["'])(.*)\1$/, '$2');
}

/** Debian kernel versions, newest first, in the order dpkg would sort the common forms (6.12.9 < 6.12.10). */
export function kernelsNewestFirst(versions: readonly string[]): string[] {
  const key = (v: string) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? p.padStart(8, '0') : p));
  return [...versions].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const c = (y[i] ?? '').localeCompare(x[i] ?? '');
      if (c) return c;
    }
    return 0;
  });
}

export const newestKernel = (versions: string[]): string | undefined => kernelsNewestFirst(versions)[0];

function fileFact(abs: string, path: string) {
  const data = readFileSync(abs);
  return { path, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

/**
 * The kernel a BE made from `tree` boots: the running one when `tree` holds it, else the newest in
 * its /boot. Paths in the result are inside the BE (/boot/…), hashes of the files as they are now.
 */
export function kernelIn(tree: string, running: string): KernelPair {
  const versions = kernelVersionsIn(tree);
  const version = versions.includes(running) ? running : newestKernel(versions);
  if (!version)
    throw new KldloadError(
      `${join(tree, 'boot')}: no kernel with an initrd (vmlinuz-* + initrd.img-*)`,
      EXIT.failed,
    );
  return kernelPair(tree, version);
}

/** Kernel versions in <tree>/boot that have an initrd beside them. */
export function kernelVersionsIn(tree: string): string[] {
  const boot = join(tree, 'boot');
  return existsSync(boot)
    ? readdirSync(boot)
        .filter((f) => f.startsWith('vmlinuz-'))
        .map((f) => f.slice('vmlinuz-'.length))
        .filter((v) => existsSync(join(boot, `initrd.img-${v}`)))
    : [];
}

/** One kernel of <tree>/boot with the hashes of its files as they are now (paths inside the tree). */
export function kernelPair(tree: string, version: string): KernelPair {
  const boot = join(tree, 'boot');
  return {
    version,
    vmlinuz: fileFact(join(boot, `vmlinuz-${version}`), `/boot/vmlinuz-${version}`),
    initrd: fileFact(join(boot, `initrd.img-${version}`), `/boot/initrd.img-${version}`),
  };
}

/** The running boot environment (root=ZFS= of /proc/cmdline); refused when not booted from one. */
export function bootedDataset(root = ''): string {
  const ds = rootDataset(read(`${root}/proc/cmdline`));
  if (!ds)
    throw new KldloadError(
      'the running system did not boot from a ZFS boot environment (no root=ZFS= on /proc/cmdline)',
      EXIT.failed,
    );
  return ds;
}

export async function readBootFacts(s: FactsSource): Promise<BootFacts> {
  const R = s.root ?? '';
  const espPath = s.esp ?? '/boot/efi';
  const booted = bootedDataset(R);
  const pool = booted.split('/')[0] ?? booted;
  const ls = await s.exec.run(zfs.list(['name'], { roots: [`${pool}/ROOT`], depth: 1 }));
  const bes = parseList(ls.stdout, ['name'] as const)
    .map((r) => r.name)
    .filter((n) => n !== `${pool}/ROOT`);
  const espAbs = `${R}${espPath}`;
  // The ESP is mounted umask=0077: to anyone but root it looks empty, which is not the fix to name.
  try {
    accessSync(espAbs, constants.R_OK | constants.X_OK);
  } catch {
    if (existsSync(espAbs))
      throw new KldloadError(`${espPath}: cannot read the ESP (root only); run this as root`, EXIT.badInput);
  }
  if (!existsSync(join(espAbs, 'loader')))
    throw new KldloadError(`${espPath}: no systemd-boot ESP mounted there (no loader/)`, EXIT.failed);
  const entriesDir = join(espAbs, 'loader', 'entries');
  const entries: BootEntry[] = existsSync(entriesDir)
    ? readdirSync(entriesDir)
        .filter((f) => f.endsWith('.conf'))
        .sort()
        .map((f) => parseEntry(f, readFileSync(join(entriesDir, f), 'utf8')))
    : [];
  const ours = join(espAbs, ESP_DIR);
  const st = statfsSync(espAbs);
  return {
    pool,
    bes,
    booted,
    esp: {
      path: espPath,
      freeBytes: st.bavail * st.bsize,
      files: existsSync(ours) ? readdirSync(ours) : [],
      ...withOthers(readEspSet(R, espPath)),
    },
    entries,
    cmdline: read(`${R}/etc/kernel/cmdline`)
      .trim()
      .split(/\s+/)
      .filter((w) => w && !w.startsWith('root=')),
    osName: prettyName(read(`${R}/etc/os-release`)),
    stamp: utcStamp(),
  };
}

/** The mounts of the running system (or of a fixture tree under root). */
export const readMounts = (root = '') => parseMountinfo(read(`${root}/proc/self/mountinfo`));

const realOr = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
};

/**
 * The machine's ESPs (TARGET.espList) against what is mounted at `espPath`: which one that is, and the
 * others with their by-partuuid device and whether it is there now. No list: one ESP, no others.
 */
export function readEspSet(root = '', espPath = '/boot/efi'): EspSet {
  const list = `${root}${TARGET.espList}`;
  const uuids = existsSync(list) ? parseEspList(readFileSync(list, 'utf8'), TARGET.espList) : [];
  const source = readMounts(root)
    .filter((m) => m.target === espPath)
    .pop()?.source;
  const mountedDev = source ? realOr(`${root}${source}`) : undefined;
  const rows = uuids.map((partuuid) => {
    const device = `/dev/disk/by-partuuid/${partuuid}`;
    const real = realOr(`${root}${device}`);
    return { partuuid, device, present: real !== undefined, mounted: !!real && real === mountedDev };
  });
  const mounted = rows.find((r) => r.mounted)?.partuuid;
  return {
    path: espPath,
    ...(mounted ? { mounted } : {}),
    others: rows
      .filter((r) => !r.mounted)
      .map(({ partuuid, device, present }) => ({ partuuid, device, present })),
  };
}

/** BootFacts.esp's optional ESP-sync fields: only on a machine with several ESPs (fixtures stay as they were). */
const withOthers = (e: EspSet) =>
  e.others.length ? { others: e.others, ...(e.mounted ? { mounted: e.mounted } : {}) } : {};

/**
 * Reads from the tree of a BE or a snapshot of one without changing it: the running root in place,
 * a snapshot of the booted BE through .zfs/snapshot, anything else through a read-only mount.
 */
export async function readTree<T>(
  exec: Executor,
  f: BootFacts,
  src: string,
  read: (tree: string) => T,
): Promise<T> {
  if (src === f.booted) return read('/');
  const [ds, name] = src.split('@') as [string, string | undefined];
  if (name !== undefined && ds === f.booted) return read(`/.zfs/snapshot/${name}`);
  const mnt = `/run/kldload/read-${process.pid}`;
  mkdirSync(mnt, { recursive: true });
  // A BE's mountpoint is / (mount.zfs wants zfsutil for it); a snapshot mounts as it is.
  await exec.run(['mount', '-t', 'zfs', '-o', isSnapshot(src) ? 'ro' : 'ro,zfsutil', src, mnt]);
  try {
    return read(mnt);
  } finally {
    await exec.run(['umount', mnt], { check: false });
  }
}

/** A snapshot's kernel (the running one when the snapshot holds it, else its newest). */
export async function snapshotKernel(exec: Executor, f: BootFacts, snap: string): Promise<KernelPair> {
  const running = (await exec.run(['uname', '-r'])).stdout.trim();
  return readTree(exec, f, snap, (tree) => kernelIn(tree, running));
}
