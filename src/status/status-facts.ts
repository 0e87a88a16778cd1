/** kst: the facts read from zpool list, zfs list, systemctl and /proc. */
import type { DatasetFact, FailedUnit, PoolFact, PoolHealth, SnapshotFact, StatusFacts } from './status.ts';
import { iso, num } from './status-parse.ts';

/* ───────────────────────── zpool list / zfs list / systemctl / proc ───────────────────────── */

/** The columns kst reads with `zpool list -Hp`. */
export const POOL_COLS = [
  'name',
  'size',
  'allocated',
  'free',
  'capacity',
  'fragmentation',
  'health',
  'bootfs',
] as const;
/** The columns kst reads with `zfs list -Hp -t filesystem,volume,snapshot` (one call for all three). */
export const DATASET_COLS = [
  'name',
  'type',
  'used',
  'available',
  'compressratio',
  'creation',
  'org.kldload:cmd',
] as const;

type Row<K extends string> = Record<K, string>;
const dash = (v: string | undefined) => (v === undefined || v === '-' || v === '' ? undefined : v);

/** The pools: zpool list for usage, zpool status for health, the root dataset's compressratio. */
export function poolFacts(
  list: readonly Row<(typeof POOL_COLS)[number]>[],
  health: ReadonlyMap<string, PoolHealth>,
  datasets: readonly DatasetFact[],
): PoolFact[] {
  return list.map((p) => {
    const h = health.get(p.name) ?? { state: p.health, dataErrors: 0, vdevs: [] };
    const frag = dash(p.fragmentation);
    return {
      name: p.name,
      size: num(p.size),
      allocated: num(p.allocated),
      free: num(p.free),
      capacity: num(p.capacity),
      fragmentation: frag === undefined ? null : num(frag),
      compressratio: datasets.find((d) => d.name === p.name)?.compressratio ?? null,
      bootfs: dash(p.bootfs) ?? null,
      ...h,
      // zpool list is the authority for health; status may be from a moment earlier.
      state: p.health || h.state,
    };
  });
}

/** Filesystems and volumes with the number of snapshots each has; the newest kpkg snapshot of a BE. */
export function datasetFacts(rows: readonly Row<(typeof DATASET_COLS)[number]>[]): {
  datasets: DatasetFact[];
  lastKpkg: SnapshotFact | null;
} {
  const counts = new Map<string, number>();
  let last: { row: Row<(typeof DATASET_COLS)[number]>; created: number } | undefined;
  for (const r of rows) {
    if (r.type !== 'snapshot') continue;
    const [ds = '', name = ''] = r.name.split('@');
    counts.set(ds, (counts.get(ds) ?? 0) + 1);
    const created = num(r.creation);
    // kpkg's own and the APT hook's snapshots: <pool>/ROOT/<be>@kpkg-<stamp>.
    if (/^[^/]+\/ROOT\/[^/]+$/.test(ds) && name.startsWith('kpkg-') && (!last || created >= last.created))
      last = { row: r, created };
  }
  const datasets = rows
    .filter((r): r is Row<(typeof DATASET_COLS)[number]> & { type: 'filesystem' | 'volume' } =>
      ['filesystem', 'volume'].includes(r.type),
    )
    .map((r) => {
      const ratio = dash(r.compressratio);
      return {
        name: r.name,
        type: r.type,
        used: num(r.used),
        available: num(r.available),
        compressratio: ratio === undefined ? null : Number.parseFloat(ratio),
        snapshots: counts.get(r.name) ?? 0,
      };
    })
    // zfs's own order (byte order: ROOT before home), whatever the locale.
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    datasets,
    lastKpkg: last
      ? {
          snapshot: last.row.name,
          created: iso(last.created),
          cmd: dash(last.row['org.kldload:cmd']) ?? null,
        }
      : null,
  };
}

/** `systemctl --failed --plain --no-legend --no-pager` lines: UNIT LOAD ACTIVE SUB DESCRIPTION. */
export function parseFailedUnits(stdout: string): FailedUnit[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [unit = '', load = '', active = '', sub = '', ...rest] = l.split(/\s+/);
      return { unit, load, active, sub, description: rest.join(' ') };
    });
}

/** /proc/meminfo → bytes. */
export function parseMeminfo(text: string): StatusFacts['system']['memory'] {
  const kb = (k: string) => num(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1]) * 1024;
  return {
    total: kb('MemTotal'),
    available: kb('MemAvailable'),
    swapTotal: kb('SwapTotal'),
    swapFree: kb('SwapFree'),
  };
}

export function parseLoadavg(text: string): [number, number, number] {
  const [a = '0', b = '0', c = '0'] = text.trim().split(/\s+/);
  return [num(a), num(b), num(c)];
}
