/**
 * kupgrade's second half, once the BE is upgraded: the kernel that boots it, the pending record, and
 * the BE's entry with the next boot only (planUpgradeBoot).
 */
import { type Plan, run, write } from '../core/plan.ts';
import { beMountDir, cleanupMount } from './be.ts';
import { type BootFacts, beDataset, entryId, espSteps, type KernelPair } from './be-entry.ts';
import { bootEspSync } from './esp.ts';
import { kernelsNewestFirst } from './facts.ts';
import { UPGRADE_SNAP_PREFIX, type UpgradeFacts, withPanic } from './upgrade.ts';
import { recordText, UPGRADE_STATE, type UpgradeRecord } from './upgrade-record.ts';

/**
 * Newest first, the first kernel whose initramfs holds ZFS (`passes`, from the guard's check mode)
 * boots the BE; newer ones that do not are held back (named in the record).
 */
export function pickKernel(
  versions: readonly string[],
  passes: (v: string) => boolean,
): { version?: string; held: string[] } {
  const held: string[] = [];
  for (const v of kernelsNewestFirst(versions)) {
    if (passes(v)) return { version: v, held };
    held.push(v);
  }
  return { held };
}

/** The pending record kupgrade writes (into the BE and the running BE). */
export function pendingRecord(
  f: Pick<UpgradeFacts, 'boot' | 'changes' | 'bootId' | 'now'>,
  name: string,
  kernel: string | undefined,
  held: readonly string[],
): UpgradeRecord {
  return {
    name,
    be: beDataset(f.boot, name),
    from: f.boot.booted,
    snapshot: `${f.boot.booted}@${UPGRADE_SNAP_PREFIX}${f.boot.stamp}`,
    entry: entryId(name),
    ...(kernel ? { kernel } : {}),
    ...(held.length ? { heldKernels: [...held] } : {}),
    changes: f.changes.length,
    started: f.now,
    bootId: f.bootId,
    status: 'pending',
  };
}

/**
 * The second half: the BE's entry (the chosen kernel, checked again, on the ESP under content names
 * with +3 tries), the record in the BE and in the running BE, and the next boot only.
 */
export function planUpgradeBoot(b: BootFacts, kernel: KernelPair, record: UpgradeRecord): Plan {
  const mnt = beMountDir(record.name);
  const bf: BootFacts = { ...b, cmdline: withPanic(b.cmdline) };
  return {
    facts: { be: record.be, entry: record.entry, kernel: kernel.version, held: record.heldKernels ?? [] },
    steps: [
      ...espSteps(bf, record.name, kernel, mnt),
      {
        name: 'record',
        title: `the attempt recorded as pending inside ${record.name} (its confirm unit promotes it after a good boot)`,
        actions: [write(`${mnt}${UPGRADE_STATE}`, recordText(record))],
      },
      { name: 'unmount', title: `unmount ${mnt}`, actions: [run(['umount', mnt])] },
      {
        name: 'oneshot',
        title: `the attempt recorded in the running BE too (a failed boot comes back here), then the next boot only: ${record.entry} (LoaderEntryOneShot); the default boot entry is not changed`,
        actions: [
          write(UPGRADE_STATE, recordText(record)),
          run(['bootctl', `--esp-path=${b.esp.path}`, 'set-oneshot', record.entry]),
        ],
      },
      ...bootEspSync(b.esp),
    ],
    cleanup: cleanupMount(mnt),
  };
}
