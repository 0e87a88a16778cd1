/** kbe mount and kbe umount: a BE read-write at a folder, to inspect or repair it, and back. */

import { EXIT, KldloadError } from '../core/errors.ts';
import type { Mount } from '../core/fs.ts';
import { type Plan, run } from '../core/plan.ts';
import { zfs } from '../zfs/zfs.ts';
import { beMountDir, existingBe } from './be.ts';
import type { BootFacts } from './be-entry.ts';

/** A mounted filesystem (/proc/self/mountinfo, parsed by core/fs.ts). */
export type MountFact = Mount;

export const mountsOf = (mounts: readonly MountFact[], ds: string) =>
  mounts.filter((m) => m.fstype === 'zfs' && m.source === ds).map((m) => m.target);

/**
 * kbe mount NAME [DIR]: the BE read-write at DIR (default /run/kldload/be/NAME), to inspect or repair
 * it (chroot needs /dev, /proc and /sys bound in as well). Only the BE's own dataset: /home and the
 * other data datasets are shared by every BE and stay where they are.
 */
export function planBeMount(f: BootFacts, mounts: readonly MountFact[], name: string, dir?: string): Plan {
  const ds = existingBe(f, name);
  if (ds === f.booted)
    throw new KldloadError(
      `${name} is the running boot environment: it is mounted at / already`,
      EXIT.badInput,
    );
  const at = mountsOf(mounts, ds);
  if (at.length)
    throw new KldloadError(
      `${name} is mounted at ${at.join(', ')} already; use it there, or kbe umount ${name} first`,
      EXIT.badInput,
    );
  const target = (dir ?? beMountDir(name)).replace(/(.)\/+$/, '$1');
  if (!target.startsWith('/') || target === '/')
    throw new KldloadError(
      `${target}: mount a boot environment at an absolute folder other than /`,
      EXIT.badInput,
    );
  const busy = mounts.find((m) => m.target === target);
  if (busy)
    throw new KldloadError(
      `${target} is a mount point already (${busy.source}); choose another folder`,
      EXIT.badInput,
    );
  return {
    facts: { be: ds, dir: target },
    steps: [
      {
        name: 'mount',
        title: `${ds} at ${target}, read-write (kbe umount ${name} when done)`,
        actions: [{ kind: 'mkdir', path: target }, run(zfs.mountAt(ds, target))],
      },
    ],
    cleanup: [],
  };
}

/**
 * kbe umount NAME: wherever it is mounted, what is mounted below it first (a chroot's /dev, /proc),
 * deepest first; the folder kbe made for it (/run/kldload/be/NAME) is removed.
 */
export function planBeUmount(f: BootFacts, mounts: readonly MountFact[], name: string): Plan {
  const ds = existingBe(f, name);
  if (ds === f.booted)
    throw new KldloadError(
      `${name} is the running boot environment (mounted at /); it cannot be unmounted`,
      EXIT.badInput,
    );
  const at = mountsOf(mounts, ds);
  if (!at.length) throw new KldloadError(`${name} is not mounted; nothing to do`, EXIT.badInput);
  const below = mounts
    .map((m) => m.target)
    .filter((t) => at.some((a) => t.startsWith(`${a}/`)))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  return {
    facts: { be: ds, mounted: at },
    steps: [
      {
        name: 'umount',
        title: `unmount ${ds} from ${at.join(', ')}${below.length ? ` and ${below.length} mount(s) below it` : ''}`,
        actions: [
          ...[...below, ...at].map((t) => run(['umount', t])),
          ...at.filter((t) => t === beMountDir(name)).map((t) => run(['rmdir', t])),
        ],
      },
    ],
    cleanup: [],
  };
}
