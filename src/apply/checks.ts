import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';

interface LsblkDev {
  name: string;
  path: string;
  type: string;
  fstype?: string | null;
  mountpoints?: (string | null)[];
  pttype?: string | null;
  children?: LsblkDev[];
}

/** The whole disk that holds a device (a partition's parent), by kernel name. */
async function parentDisk(exec: Executor, dev: string): Promise<string> {
  const r = await exec.run(['lsblk', '-no', 'PKNAME', dev], { check: false });
  const p = r.stdout.trim().split('\n')[0];
  return p ? `/dev/${p}` : dev;
}

/** Block devices that carry the running system (live medium or root), as whole-disk paths. */
export async function bootDisks(exec: Executor): Promise<Set<string>> {
  const out = new Set<string>();
  const sources = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    const src = f[f.indexOf('-') + 2];
    if (!mp || !src?.startsWith('/dev/')) continue;
    if (mp === '/' || mp.startsWith('/run/live/') || mp === '/boot' || mp === '/boot/efi') sources.add(src);
  }
  for (const s of sources) {
    const real = existsSync(s) ? realpathSync(s) : s;
    out.add(real);
    out.add(await parentDisk(exec, real));
  }
  return out;
}

/**
 * Refuses anything that could cost data: a missing or non-block device, the boot medium, or a disk
 * with any partition table, filesystem signature or ZFS label, unless KLDLOAD_FORCE_WIPE=1.
 */
export async function checkDiskSafe(exec: Executor, disks: string[], forceWipe: boolean): Promise<void> {
  const boot = await bootDisks(exec);
  for (const d of disks) {
    if (!existsSync(d)) throw new KldloadError(`KLDLOAD_DISK ${d}: no such device; see lsblk`, EXIT.badInput);
    const real = realpathSync(d);
    if (!statSync(real).isBlockDevice()) throw new KldloadError(`${d}: not a block device`, EXIT.badInput);
    if (boot.has(real))
      throw new KldloadError(`${d}: is the boot medium of this system; choose another disk`, EXIT.badInput);
    const r = await exec.run(['lsblk', '--json', '-o', 'NAME,PATH,TYPE,FSTYPE,PTTYPE,MOUNTPOINTS', real]);
    const dev = (JSON.parse(r.stdout) as { blockdevices: LsblkDev[] }).blockdevices[0];
    if (dev?.type !== 'disk')
      throw new KldloadError(`${d}: is a ${dev?.type ?? 'unknown device'}, not a whole disk`, EXIT.badInput);
    const mounted = [dev, ...(dev.children ?? [])].flatMap((c) => (c.mountpoints ?? []).filter(Boolean));
    if (mounted.length)
      throw new KldloadError(`${d}: is in use (mounted at ${mounted.join(', ')})`, EXIT.badInput);
    // blkid -p probes the raw device for any signature, ZFS labels included.
    const probe = await exec.run(['blkid', '-p', '-o', 'export', real], { check: false });
    const signatures = [
      ...(dev.pttype ? [`partition table ${dev.pttype}`] : []),
      ...(dev.children ?? []).map((c) => `partition ${c.path}${c.fstype ? ` (${c.fstype})` : ''}`),
      ...(probe.exitCode === 0 ? blkidSignatures(probe.stdout) : []),
    ];
    if (signatures.length && !forceWipe)
      throw new KldloadError(
        `${d}: is not empty (${signatures.join('; ')}). Set KLDLOAD_FORCE_WIPE=1 to erase it, or choose an empty disk`,
        EXIT.badInput,
      );
  }
}

export async function checkZfsLoads(exec: Executor): Promise<void> {
  const r = await exec.run(['modprobe', 'zfs'], { check: false });
  if (r.exitCode !== 0) throw new KldloadError(`the zfs module does not load in this system:\n${r.all}`);
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
