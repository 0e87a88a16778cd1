/** The installer's own pick of the target disk when KLDLOAD_DISK is empty: the inventory and the one eligible disk. */
import { SEED_LABEL } from '../layout.ts';
import {
  bootDevices,
  byIdPaths,
  diskSignatures,
  flatten,
  type Host,
  importedPools,
  inUseReasons,
  lsblk,
} from './blockdev.ts';

const truthy = (v: boolean | string | null | undefined) => v === true || v === '1';

/** A disk as the auto-pick sees it. */
export interface DiskFacts {
  path: string;
  sizeBytes: number;
  model: string;
  byId?: string;
  /** Why the disk may not be installed to; empty = eligible. */
  excluded: string[];
}

/** Smallest disk picked automatically: ESP, the base system and room to grow. */
export const MIN_PICK_BYTES = 4 * 1024 ** 3;

export function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** Every whole disk of this machine with the reasons it may not be installed to. Reads, never writes. */
export async function diskInventory(
  host: Host,
  o: { forceWipe: boolean; exclude: string[]; pool: string },
): Promise<DiskFacts[]> {
  const boot = await bootDevices(host);
  const pools = await importedPools(host);
  const exclude = new Set(o.exclude.map((d) => host.realpath(d) ?? d));
  const out: DiskFacts[] = [];
  for (const d of await lsblk(host)) {
    if (d.type !== 'disk') continue;
    const real = host.realpath(d.path) ?? d.path;
    const sizeBytes = Number(d.size ?? 0);
    const excluded: string[] = [];
    if (/^(zram|ram|fd)\d/.test(d.name)) excluded.push('a RAM or floppy device');
    if (boot.has(real)) excluded.push('the boot medium of this system');
    if (flatten(d).some((n) => n.label === SEED_LABEL)) excluded.push(`the ${SEED_LABEL} answers volume`);
    if (exclude.has(real)) excluded.push('named in KLDLOAD_ZFS_DATA_DISKS');
    if (truthy(d.ro)) excluded.push('read-only');
    if (sizeBytes < MIN_PICK_BYTES) excluded.push(`smaller than ${gib(MIN_PICK_BYTES)}`);
    if (!excluded.length) {
      excluded.push(...(await inUseReasons(host, d, pools)).map((r) => `in use: ${r}`));
      if (!excluded.length && !o.forceWipe) {
        const sig = await diskSignatures(host, d, real);
        if (sig.length) excluded.push(`not empty (${sig.join('; ')}); KLDLOAD_FORCE_WIPE=1 allows it`);
      }
    }
    const byId = byIdPaths(host, real)[0];
    out.push({
      path: d.path,
      sizeBytes,
      model: (d.model ?? '').trim() || 'unknown model',
      ...(byId ? { byId } : {}),
      excluded,
    });
  }
  return out;
}

export type Pick = { disk: string; message: string } | { refusal: string };

/**
 * The target disk: KLDLOAD_DISK when set, else the one eligible disk of the inventory. None or more
 * than one is a refusal that lists every disk with size, model, by-id path and why it was left out.
 */
export function pickDisk(configured: string | undefined, disks: DiskFacts[]): Pick {
  if (configured) return { disk: configured, message: `target disk ${configured} (KLDLOAD_DISK)` };
  const line = (d: DiskFacts) =>
    `  ${d.path}  ${gib(d.sizeBytes)}  ${d.model}  ${d.byId ?? '(no /dev/disk/by-id name)'}${
      d.excluded.length ? `  — not eligible: ${d.excluded.join('; ')}` : '  — eligible'
    }`;
  const eligible = disks.filter((d) => !d.excluded.length);
  const only = eligible[0];
  if (eligible.length === 1 && only)
    return {
      disk: only.path,
      message: `KLDLOAD_DISK is empty: installing to ${only.path} (${gib(only.sizeBytes)}, ${only.model}, ${
        only.byId ?? 'no by-id name'
      }), the only eligible disk`,
    };
  const what = eligible.length
    ? `${eligible.length} disks are eligible, and the installer will not guess between them`
    : 'no disk is eligible';
  return {
    refusal: `KLDLOAD_DISK is empty, so the installer picks the one eligible disk (not the boot medium, not the ${SEED_LABEL} volume, not in use, at least ${gib(
      MIN_PICK_BYTES,
    )}, empty unless KLDLOAD_FORCE_WIPE=1); ${what}:\n${
      disks.length ? disks.map(line).join('\n') : '  (no disks found)'
    }\nSet KLDLOAD_DISK to the disk to install to (a /dev/disk/by-id/ path is stable).`,
  };
}
