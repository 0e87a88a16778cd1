import { EXIT, KldloadError } from '../core/errors.ts';
import type { Plan } from '../plan/types.ts';
import { run } from '../plan/types.ts';
import { isSnapshot, zfs } from '../zfs/zfs.ts';
import { type BootFacts, entryId, type KernelPair, planBeCreate } from './be.ts';

/**
 * The one rollback semantic (ksnap rollback, kbe, kupgrade):
 * - the root never rolls back in place: the snapshot is cloned into a new boot environment that
 *   becomes the default; the current state stays as a BE to inspect or destroy. Nothing is destroyed.
 * - a data dataset (home, srv, a role's) rolls back in place; when snapshots newer than the target
 *   exist, zfs would destroy them, so that needs the explicit `destroyNewer` flag.
 */
export interface RollbackOptions {
  snapshot: string;
  /** Snapshots of the same dataset newer than `snapshot` (read from zfs list, oldest first). */
  newer: string[];
  destroyNewer: boolean;
  /** Root rollback: the kernel pair inside the snapshot (read from <mountpoint>/.zfs/snapshot/…). */
  kernel?: KernelPair;
  /** Name of the BE made by a root rollback; default rollback-<stamp>. */
  name?: string;
}

export function planRollback(f: BootFacts, o: RollbackOptions): Plan {
  if (!isSnapshot(o.snapshot))
    throw new KldloadError(`${o.snapshot}: not a snapshot (dataset@name); see ksnap list`, EXIT.badInput);
  const ds = o.snapshot.slice(0, o.snapshot.indexOf('@'));
  if (f.bes.includes(ds)) {
    if (!o.kernel)
      throw new KldloadError(`${o.snapshot}: no kernel found in the snapshot's /boot`, EXIT.failed);
    const name = o.name ?? `rollback-${f.stamp}`;
    const create = planBeCreate(f, { name, from: o.snapshot, kernel: o.kernel });
    const id = entryId(name);
    return {
      facts: {
        ...create.facts,
        semantic: 'root: clone into a new BE and make it the default; nothing destroyed',
      },
      steps: [
        ...create.steps,
        {
          name: 'default',
          title: `boot ${name} from now on (${id}); ${ds.split('/').pop()} stays as a BE`,
          actions: [
            run(['bootctl', `--esp-path=${f.esp.path}`, 'set-default', id]),
            run(['zpool', 'set', `bootfs=${f.pool}/ROOT/${name}`, f.pool]),
          ],
        },
      ],
      cleanup: create.cleanup,
    };
  }
  if (ds === `${f.pool}/ROOT` || ds === f.pool)
    throw new KldloadError(
      `${o.snapshot}: name the boot environment's snapshot (${f.booted}@${o.snapshot.split('@')[1]}) or a data dataset's`,
      EXIT.badInput,
    );
  if (o.newer.length && !o.destroyNewer)
    throw new KldloadError(
      `rolling ${ds} back to ${o.snapshot} destroys the newer snapshot(s) ${o.newer.join(', ')}; add --destroy-newer to accept that`,
      EXIT.badInput,
      { newer: o.newer },
    );
  return {
    facts: { dataset: ds, snapshot: o.snapshot, destroys: o.newer, semantic: 'data: in place' },
    steps: [
      {
        name: 'rollback',
        title: `${ds} back to ${o.snapshot} in place${o.newer.length ? `, destroying ${o.newer.length} newer snapshot(s)` : ''}`,
        actions: [run(zfs.rollback(o.snapshot, o.newer.length > 0))],
      },
    ],
    cleanup: [],
  };
}
