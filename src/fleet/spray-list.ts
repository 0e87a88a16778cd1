/**
 * kldload spray list: the sprays on this host, from one `zfs list` of every filesystem and volume.
 * A spray is a dataset with SPRAY_PROP set (its container); its clones are the datasets directly
 * below it that have an origin.
 */
import { humanBytes } from '../zfs/zfs.ts';
import { SPRAY_PROP } from './spray.ts';

export const SPRAY_LIST_COLS = ['name', 'type', 'origin', 'used', 'mounted', SPRAY_PROP] as const;
type Row = Record<(typeof SPRAY_LIST_COLS)[number], string>;

export interface Spray {
  /** The container's last component (what create and destroy take). */
  name: string;
  container: string;
  origin: string;
  type: 'filesystem' | 'volume' | 'mixed' | 'none';
  clones: string[];
  /** How many clones are mounted now. */
  mounted: number;
  /** Bytes the container holds (its clones' own writes). */
  used: number;
}

const parentOf = (ds: string) => ds.slice(0, Math.max(0, ds.lastIndexOf('/')));

export function sprays(rows: readonly Row[]): Spray[] {
  const set = (r: Row) => r[SPRAY_PROP] !== '' && r[SPRAY_PROP] !== '-';
  const byName = new Map(rows.map((r) => [r.name, r]));
  // A container sets the property itself: its parent does not carry it (clones inherit it).
  const containers = rows.filter((r) => {
    const p = byName.get(parentOf(r.name));
    return set(r) && r.origin === '-' && !(p && set(p));
  });
  return containers.map((c) => {
    const clones = rows.filter((r) => parentOf(r.name) === c.name && r.origin !== '-' && r.origin !== '');
    const types = new Set(clones.map((r) => r.type));
    return {
      name: c.name.slice(c.name.lastIndexOf('/') + 1),
      container: c.name,
      origin: c[SPRAY_PROP],
      type: types.size === 0 ? 'none' : types.size > 1 ? 'mixed' : (clones[0]?.type as Spray['type']),
      clones: clones.map((r) => r.name),
      mounted: clones.filter((r) => r.mounted === 'yes').length,
      used: Number(c.used) || 0,
    };
  });
}

export const SPRAY_LIST_JSON = `{ "sprays": [ { "name": "web", "container": "rpool/spray/web",
    "origin": "rpool/golden/web@sealed", "type": "filesystem", "clones": ["rpool/spray/web/web-1", …],
    "mounted": 0, "used": 1536 } ] }   type: filesystem, volume (mixed, none); used in bytes`;

export function renderSprays(list: readonly Spray[]): string {
  if (!list.length) return 'no sprays (kldload spray create NAME N --from SNAPSHOT)';
  const head = ['NAME', 'CLONES', 'TYPE', 'USED', 'ORIGIN', 'CONTAINER'];
  const cells = list.map((s) => [
    s.name,
    `${s.clones.length}${s.mounted ? ` (${s.mounted} mounted)` : ''}`,
    s.type,
    humanBytes(s.used),
    s.origin,
    s.container,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  return [head, ...cells]
    .map((c) =>
      c
        .map((x, i) => x.padEnd(w[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
