import { EXIT, KldloadError } from '../core/errors.ts';
import type { Plan } from '../core/plan.ts';
import { run } from '../core/plan.ts';
import { humanBytes, isDataset, isSnapshot, zfs } from '../zfs/zfs.ts';
import { planBeCreate } from './be.ts';
import { type BootFacts, entryId, type KernelPair, stampedName } from './be-entry.ts';
import { snapshotName } from './pkg.ts';

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
    const name = o.name ?? stampedName('rollback', f.stamp);
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

/* ───────────────────────── ksnap create / destroy / list / diff ───────────────────────── */

export const KSNAP_PREFIX = 'ksnap-';

/** A snapshot argument: refused unless it is dataset@name (ksnap never destroys a dataset or a BE). */
export function checkSnapshotArg(s: string, what = 'ksnap'): void {
  if (!isSnapshot(s))
    throw new KldloadError(
      `${s}: not a snapshot (dataset@name, see ksnap list); ${what} works on snapshots only — a boot environment goes with kbe destroy`,
      EXIT.badInput,
    );
}

export interface SnapCreateFacts {
  /** The dataset to snapshot: the one named, the one mounted at the PATH given, or the booted BE. */
  dataset: string;
  stamp: string;
  /** Snapshot names (after @) the dataset has; with `recursive`, those of every dataset below it too. */
  taken: string[];
}

export interface SnapCreateOptions {
  recursive: boolean;
  /** The name after @; default ksnap-<UTC stamp>, made unique like kpkg's. */
  name?: string;
  /** The command line, kept in org.kldload:cmd (what ksnap list shows). */
  cmd: string;
}

/** ksnap create: one manual snapshot (with -r the same name on every dataset below), the command kept. */
export function planSnapCreate(f: SnapCreateFacts, o: SnapCreateOptions): Plan {
  if (!isDataset(f.dataset))
    throw new KldloadError(`${f.dataset}: not a dataset (pool/path); see zfs list`, EXIT.badInput);
  let name = snapshotName(f.stamp, f.taken, KSNAP_PREFIX);
  if (o.name !== undefined) {
    if (!isSnapshot(`${f.dataset}@${o.name}`))
      throw new KldloadError(
        `--name ${JSON.stringify(o.name)}: letters, digits and _ . : - only (the part after @)`,
        EXIT.badInput,
      );
    if (f.taken.includes(o.name))
      throw new KldloadError(
        `${f.dataset}@${o.name} exists${o.recursive ? ' (on it or a dataset below it)' : ''}; choose another --name, or leave it out for ${KSNAP_PREFIX}<stamp>`,
        EXIT.badInput,
      );
    name = o.name;
  }
  const snap = `${f.dataset}@${name}`;
  return {
    facts: { dataset: f.dataset, snapshot: snap, recursive: o.recursive },
    steps: [
      {
        name: 'snapshot',
        title: `${snap}${o.recursive ? ' and the same name on every dataset below it' : ''}`,
        actions: [run(zfs.snapshot(snap, o.recursive, { 'org.kldload:cmd': o.cmd }))],
      },
    ],
    cleanup: [],
  };
}

export interface SnapDestroyFacts {
  snapshot: string;
  /** Datasets cloned from it (its `clones` property). */
  clones: string[];
  /** User holds on it (its `userrefs` property). */
  holds: number;
}

/**
 * ksnap destroy SNAPSHOT: refused while something depends on it. A clone's origin cannot go without
 * the clone (zfs would need -R, which kldload never builds), and a boot environment is such a clone.
 */
export function planSnapDestroy(f: SnapDestroyFacts): Plan {
  checkSnapshotArg(f.snapshot, 'ksnap destroy');
  if (f.clones.length) {
    const pool = f.snapshot.split(/[/@]/)[0] ?? '';
    const named = f.clones.map((c) => {
      const be = c.startsWith(`${pool}/ROOT/`) ? c.slice(`${pool}/ROOT/`.length) : '';
      return be && !be.includes('/')
        ? `${c} (boot environment ${be}: kbe destroy ${be})`
        : `${c} (zfs destroy ${c})`;
    });
    throw new KldloadError(
      `${f.snapshot} is the origin of ${named.join(', ')}; destroy ${f.clones.length === 1 ? 'that clone' : 'those clones'} first — the snapshot cannot go while a clone is made from it`,
      EXIT.badInput,
      { clones: f.clones },
    );
  }
  if (f.holds > 0)
    throw new KldloadError(
      `${f.snapshot} has ${f.holds} hold(s) (see zfs holds ${f.snapshot}); release them first (zfs release TAG ${f.snapshot})`,
      EXIT.badInput,
    );
  return {
    facts: { snapshot: f.snapshot },
    steps: [{ name: 'destroy', title: `destroy ${f.snapshot}`, actions: [run(zfs.destroy(f.snapshot))] }],
    cleanup: [],
  };
}

/** The columns ksnap list reads (`zfs list -Hp -t snapshot`): creation in epoch seconds, used in bytes. */
export const LIST_COLS = ['name', 'creation', 'used', 'org.kldload:cmd'] as const;

export interface SnapshotRow {
  /** Full name, dataset@name. */
  snapshot: string;
  /** The part after @. */
  name: string;
  /** Creation time, ISO 8601 UTC. */
  created: string;
  /** Bytes only this snapshot holds (freed when it alone is destroyed). */
  used: number;
  /** org.kldload:cmd: the command that took it (kpkg, ksnap, kbe, the APT hook); null when unset. */
  cmd: string | null;
}

export interface SnapshotGroup {
  dataset: string;
  snapshots: SnapshotRow[];
}

/** The JSON of ksnap list, for --help (kept beside the types it describes). */
export const LIST_JSON_HELP = `JSON (--json):
  { "datasets": [ { "dataset": "rpool/ROOT/default",
                    "snapshots": [ { "snapshot": "rpool/ROOT/default@kpkg-20261130T102551Z",
                                     "name": "kpkg-20261130T102551Z",
                                     "created": "2026-11-30T10:25:51Z",
                                     "used": 1232896,
                                     "cmd": "kpkg install tree" } ] } ] }
  datasets in name order, snapshots oldest first; used in bytes (what destroying only this snapshot
  frees); cmd is org.kldload:cmd, null when the snapshot has none (sanoid's, zfs's own).`;

/** `zfs list -Hp -o name,creation,used,org.kldload:cmd -t snapshot` rows → by dataset (name order), oldest first. */
export function groupSnapshots(rows: readonly Record<(typeof LIST_COLS)[number], string>[]): SnapshotGroup[] {
  const by = new Map<string, SnapshotRow[]>();
  for (const r of rows) {
    const at = r.name.indexOf('@');
    if (at < 0) continue;
    const ds = r.name.slice(0, at);
    const list = by.get(ds) ?? [];
    list.push({
      snapshot: r.name,
      name: r.name.slice(at + 1),
      created: new Date(Number(r.creation) * 1000).toISOString().replace(/\.000Z$/, 'Z'),
      used: Number(r.used) || 0,
      // zfs prints an unset user property as '-'.
      cmd: r['org.kldload:cmd'] === '-' || r['org.kldload:cmd'] === '' ? null : r['org.kldload:cmd'],
    });
    by.set(ds, list);
  }
  return [...by.keys()].sort().map((dataset) => ({ dataset, snapshots: by.get(dataset) ?? [] }));
}

export function renderSnapshots(groups: readonly SnapshotGroup[], of?: string): string {
  if (!groups.length) return `no snapshots${of ? ` of ${of} or below it` : ''}`;
  const out: string[] = [];
  for (const g of groups) {
    const w = Math.max(4, ...g.snapshots.map((s) => s.name.length));
    out.push(g.dataset, `  ${'NAME'.padEnd(w)}  CREATED (UTC)        USED   COMMAND`);
    for (const s of g.snapshots)
      out.push(
        `  ${s.name.padEnd(w)}  ${s.created.replace('T', ' ').replace('Z', '')}  ${humanBytes(s.used).padStart(5)}  ${s.cmd ?? '-'}`,
      );
  }
  return out.join('\n');
}
