import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, type Step } from '../core/plan.ts';
import { humanBytes, zfs } from '../zfs/zfs.ts';
import { KCLONE_PREFIX, poolOf, refuseBe, under } from './clone.ts';

/** kclone --list and kclone destroy: what is a clone, and removing clones with what kclone took for them. */

/** The columns kclone --list reads (`zfs list -Hp -t filesystem,volume`). */
export const LIST_COLS = ['name', 'origin', 'mountpoint', 'used', 'creation', 'org.kldload:cmd'] as const;

export interface CloneRow {
  dataset: string;
  /** The snapshot it was cloned from (zfs's `origin`). */
  origin: string;
  /** null when it has none (none, legacy, a volume). */
  mountpoint: string | null;
  /** Bytes it holds of its own (what it wrote since the clone). */
  used: number;
  created: string;
  /** kclone: made by kclone; be: a boot environment (kbe); clone: made otherwise. */
  kind: 'kclone' | 'be' | 'clone';
}

export function cloneRows(rows: readonly Record<(typeof LIST_COLS)[number], string>[]): CloneRow[] {
  return rows
    .filter((r) => r.origin && r.origin !== '-')
    .map((r) => ({
      dataset: r.name,
      origin: r.origin,
      mountpoint: r.mountpoint.startsWith('/') ? r.mountpoint : null,
      used: Number(r.used) || 0,
      created: new Date(Number(r.creation) * 1000).toISOString().replace(/\.000Z$/, 'Z'),
      kind: under(r.name, `${poolOf(r.name)}/ROOT`)
        ? ('be' as const)
        : (r['org.kldload:cmd'] ?? '').startsWith('kclone ')
          ? ('kclone' as const)
          : ('clone' as const),
    }));
}

export const LIST_JSON_HELP = `JSON (--json):
  { "clones": [ { "dataset": "rpool/srv/www-test", "origin": "rpool/srv/www@kclone-20261130T102551Z",
                  "mountpoint": "/srv/www-test", "used": 1536, "created": "2026-11-30T10:25:51Z",
                  "kind": "kclone" } ] }
  every dataset that has an origin, in zfs's order; used in bytes (what it holds of its own);
  mountpoint null for none/legacy; kind: kclone (made by kclone), be (a boot environment), clone.`;

export function renderClones(rows: readonly CloneRow[]): string {
  if (!rows.length) return 'no clones (no dataset has an origin)';
  const head = ['DATASET', 'MOUNTPOINT', 'ORIGIN', 'USED', 'KIND'];
  const cells = rows.map((r) => [r.dataset, r.mountpoint ?? '-', r.origin, humanBytes(r.used), r.kind]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  return [head, ...cells]
    .map((c) =>
      c
        .map((x, i) => (i === 3 ? x.padStart(w[i] ?? 0) : x.padEnd(w[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface CloneDestroyTarget {
  dataset: string;
  mountpoint: string | null;
  /** Its origin snapshot; null when it is not a clone. */
  origin: string | null;
  children: string[];
  /** Its snapshots that clones were made from, with those clones. */
  dependents: { snapshot: string; clones: string[] }[];
  /** Its snapshots with a hold (zfs hold): zfs destroy -r would stop there, half done. */
  held: string[];
}

export interface CloneDestroyFacts {
  targets: CloneDestroyTarget[];
  /** Every origin snapshot of the targets: its clones and its holds (userrefs). */
  origins: Record<string, { clones: string[]; holds: number }>;
}

/**
 * kclone destroy DST…: clones only (their origin set), never a boot environment, never one that
 * other clones were made from (zfs promote hands the shared history over first), never one with
 * datasets below it or a held snapshot. Each goes with its own snapshots; then each snapshot kclone
 * took for them once no clone uses it any more. Every DST is checked before anything is destroyed.
 */
export function planCloneDestroy(f: CloneDestroyFacts): Plan {
  const sets = new Set(f.targets.map((t) => t.dataset));
  if (!f.targets.length) throw new KldloadError('kclone destroy DST: no DST given', EXIT.badInput);
  if (sets.size !== f.targets.length)
    throw new KldloadError('kclone destroy: the same clone was named twice', EXIT.badInput);
  for (const t of f.targets) {
    refuseBe(t.dataset, 'DST');
    const dependents = t.dependents
      .map((d) => ({ ...d, clones: d.clones.filter((c) => !sets.has(c)) }))
      .filter((d) => d.clones.length);
    if (dependents.length) {
      const made = dependents.flatMap((d) => d.clones.map((c) => `${c} (from ${d.snapshot})`));
      const first = dependents[0]?.clones[0] ?? '';
      throw new KldloadError(
        `${t.dataset} is the origin of ${made.join(', ')}: destroying it would destroy ${made.length === 1 ? 'that clone' : 'those clones'} too, so kclone refuses. To keep ${first} and drop ${t.dataset}: ${zfs.promote(first).join(' ')} (${first} takes over the shared snapshots and ${t.dataset} becomes its clone), then kclone destroy ${t.mountpoint ?? t.dataset}`,
        EXIT.badInput,
        { dependents },
      );
    }
    if (!t.origin)
      throw new KldloadError(
        `${t.dataset} is not a clone (it has no origin); kclone destroy removes clones only. A dataset of its own is destroyed with zfs destroy, knowingly`,
        EXIT.badInput,
      );
    if (t.children.length)
      throw new KldloadError(
        `${t.dataset} has dataset(s) below it (${t.children.join(', ')}); destroy or move them first`,
        EXIT.badInput,
      );
    if (t.held.length)
      throw new KldloadError(
        `${t.dataset} has held snapshot(s) (${t.held.join(', ')}): zfs destroy would stop there. See zfs holds ${t.held[0]}; zfs release TAG SNAPSHOT, then kclone destroy again`,
        EXIT.badInput,
      );
  }
  // A clone made from another target goes before it (zfs destroys a snapshot only once its clones are gone).
  const order: CloneDestroyTarget[] = [];
  const left = [...f.targets];
  while (left.length) {
    const i = left.findIndex((t) => !left.some((u) => u !== t && u.origin?.split('@')[0] === t.dataset));
    order.push(...left.splice(Math.max(i, 0), 1));
  }
  const one = f.targets.length === 1;
  const steps: Step[] = order.map((t, i) => ({
    name: one ? 'destroy' : `destroy-${i + 1}`,
    title: `destroy ${t.dataset} and its snapshots${t.mountpoint ? ` (unmounted from ${t.mountpoint}; the empty folder goes too)` : ''}`,
    actions: [
      run(zfs.destroy(t.dataset, { recursive: true })),
      // zfs leaves the mountpoint folder behind; rmdir removes it only while it is empty.
      ...(t.mountpoint ? [run(['rmdir', t.mountpoint], { mayFail: true })] : []),
    ],
  }));
  const dropped: string[] = [];
  for (const origin of [...new Set(order.map((t) => t.origin ?? ''))]) {
    const o = f.origins[origin];
    const name = origin.slice(origin.indexOf('@') + 1);
    // An origin that is itself below a target went with it (zfs destroy -r).
    if (!o || sets.has(origin.split('@')[0] ?? '')) continue;
    if (name.startsWith(KCLONE_PREFIX) && o.holds === 0 && o.clones.every((c) => sets.has(c)))
      dropped.push(origin);
  }
  steps.push(
    ...dropped.map((origin, j) => ({
      name: dropped.length === 1 ? 'origin' : `origin-${j + 1}`,
      title: `destroy ${origin}: kclone took it for ${one ? 'this clone' : 'these clones'} and nothing else uses it`,
      actions: [run(zfs.destroy(origin))],
    })),
  );
  const first = f.targets[0];
  return {
    facts: {
      ...(one && first
        ? { dataset: first.dataset, origin: first.origin, originDestroyed: dropped.length > 0 }
        : {}),
      datasets: order.map((t) => t.dataset),
      originsDestroyed: dropped,
    },
    steps,
    cleanup: [],
  };
}
