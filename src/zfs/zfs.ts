import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';

/**
 * The one typed zfs/zpool layer. Builders return argv (planners put them into plans); readers run
 * `-Hp` forms through the executor and parse tab-separated output in exactly one place.
 *
 * Here: the zfs builder, name and property checks, and the readers of zfs output; zpool and zdb:
 * zpool.ts; zfs diff's output: zfs-diff.ts.
 */
export type Props = Record<string, string>;

/** `-o k=v …` (or -O) of a property record, in its order. */
export const propArgs = (flag: '-o' | '-O', p: Props): string[] =>
  Object.entries(p).flatMap(([k, v]) => [flag, `${k}=${v}`]);

/** Dataset/snapshot name rules (zfs(8) "Naming"): components of [A-Za-z0-9_.:-], `@snap`. */
const COMPONENT = '[A-Za-z0-9_.:-]+';
/** A pool name begins with a letter, so no name can ever read as an option (`-r`). */
const POOL = '[A-Za-z][A-Za-z0-9_.:-]*';
const DATASET_RE = new RegExp(`^${POOL}(/${COMPONENT})*$`);
const SNAPSHOT_RE = new RegExp(`^${POOL}(/${COMPONENT})*@${COMPONENT}$`);
/** User property names: `module:property`, lowercase (zfsprops(7) "User Properties"). */
const USER_PROP_RE = /^[a-z0-9_.-]+:[a-z0-9_.:-]+$/;
/** A user property value holds at most 8191 bytes (ZAP_MAXVALUELEN less the NUL). */
export const USER_PROP_MAX = 8191;

export const isDataset = (s: string) => DATASET_RE.test(s) && s.length < 256;
export const isSnapshot = (s: string) => SNAPSHOT_RE.test(s) && s.length < 256;

function need(ok: boolean, what: string, value: string, rule: string): void {
  if (!ok) throw new KldloadError(`${what} ${JSON.stringify(value)}: ${rule}`, EXIT.badInput);
}
const dataset = (s: string) =>
  need(isDataset(s), 'dataset', s, 'pool/path of letters, digits and _ . : - (no spaces)');
const snapshot = (s: string) =>
  need(isSnapshot(s), 'snapshot', s, 'dataset@name of letters, digits and _ . : - (no spaces)');
const target = (s: string) =>
  need(isDataset(s) || isSnapshot(s), 'dataset or snapshot', s, 'pool/path or pool/path@name');

/**
 * User properties are refused rather than cut: the value must fit whole, and tabs or newlines would
 * break the one `-H` parser (they are column and row separators).
 */
export function checkUserProps(p: Props): void {
  for (const [k, v] of Object.entries(p)) {
    need(USER_PROP_RE.test(k), 'user property', k, 'module:name in lowercase, e.g. org.kldload:cmd');
    need(!/[\t\n\r]/.test(v), `${k} value`, v, 'no tabs or newlines');
    need(
      Buffer.byteLength(v) <= USER_PROP_MAX,
      `${k} value`,
      `${v.slice(0, 40)}…`,
      `at most ${USER_PROP_MAX} bytes`,
    );
  }
}

/** Every argv builder checks its names first: a bad name is refused before anything runs. */
export const zfs = {
  /** `parents` (-p) makes missing parents too (with default properties: `p` is the last one's). */
  create: (ds: string, p: Props = {}, parents = false) => [
    'zfs',
    'create',
    ...(parents ? ['-p'] : []),
    ...propArgs('-o', p),
    ds,
  ],
  exists: (ds: string) => ['zfs', 'list', '-H', '-o', 'name', ds],
  mount: (ds: string) => ['zfs', 'mount', ds],
  snapshot: (snap: string, recursive = true, userProps: Props = {}) => {
    snapshot(snap);
    checkUserProps(userProps);
    return ['zfs', 'snapshot', ...(recursive ? ['-r'] : []), ...propArgs('-o', userProps), snap];
  },
  /** Several snapshots in one command: one transaction group, one point in time for all of them. */
  snapshots: (snaps: readonly string[], userProps: Props = {}) => {
    for (const s of snaps) snapshot(s);
    checkUserProps(userProps);
    return ['zfs', 'snapshot', ...propArgs('-o', userProps), ...snaps];
  },
  /** A full stream as stored: large blocks (-L), compressed (-c) and embedded (-e) blocks kept as they are. */
  send: (snap: string, verbose = false) => {
    snapshot(snap);
    return ['zfs', 'send', '-L', '-c', '-e', ...(verbose ? ['-v'] : []), snap];
  },
  /** Receives a stream at `ds` unmounted (-u), with these properties set on it. */
  receive: (ds: string, p: Props = {}) => {
    dataset(ds);
    return ['zfs', 'receive', '-u', ...propArgs('-o', p), ds];
  },
  set: (ds: string, p: Props) => ['zfs', 'set', ...Object.entries(p).map(([k, v]) => `${k}=${v}`), ds],
  /** Sets user properties only (validated); native properties go through `set`. */
  setUser: (ds: string, p: Props) => {
    target(ds);
    checkUserProps(p);
    return zfs.set(ds, p);
  },
  inherit: (ds: string, prop: string, recursive = false) => {
    target(ds);
    return ['zfs', 'inherit', ...(recursive ? ['-r'] : []), prop, ds];
  },
  unmountAll: () => ['zfs', 'unmount', '-a'],
  /** A writable dataset from a snapshot; `-p` creates missing parents. */
  clone: (snap: string, ds: string, p: Props = {}) => {
    snapshot(snap);
    dataset(ds);
    return ['zfs', 'clone', '-p', ...propArgs('-o', p), snap, ds];
  },
  promote: (ds: string) => {
    dataset(ds);
    return ['zfs', 'promote', ds];
  },
  /** Renames a dataset (with its children) or, with `recursive`, a snapshot on every descendant. */
  rename: (from: string, to: string, recursive = false) => {
    target(from);
    target(to);
    const snaps = isSnapshot(from);
    if (snaps !== isSnapshot(to))
      throw new KldloadError(
        `rename ${from} → ${to}: both must be snapshots or both datasets`,
        EXIT.badInput,
      );
    if (recursive && !snaps)
      throw new KldloadError(
        'rename -r applies to snapshots only (datasets move with their children)',
        EXIT.badInput,
      );
    return ['zfs', 'rename', ...(recursive ? ['-r'] : []), from, to];
  },
  /**
   * Destroys a dataset or snapshot. `-r` destroys descendants; `-R` (dependent clones elsewhere) is
   * never built: nothing outside the named tree may go. `dryRun` prints what would go (`-nvp`).
   */
  destroy: (t: string, o: { recursive?: boolean; dryRun?: boolean } = {}) => {
    target(t);
    return ['zfs', 'destroy', ...(o.dryRun ? ['-n', '-v', '-p'] : []), ...(o.recursive ? ['-r'] : []), t];
  },
  /** Rolls back in place; `destroyNewer` (-r) is required when later snapshots exist. */
  rollback: (snap: string, destroyNewer = false) => {
    snapshot(snap);
    return ['zfs', 'rollback', ...(destroyNewer ? ['-r'] : []), snap];
  },
  hold: (tag: string, snap: string, recursive = false) => {
    snapshot(snap);
    need(/^[A-Za-z0-9_.:-]+$/.test(tag), 'hold tag', tag, 'letters, digits and _ . : -');
    return ['zfs', 'hold', ...(recursive ? ['-r'] : []), tag, snap];
  },
  release: (tag: string, snap: string, recursive = false) => {
    snapshot(snap);
    return ['zfs', 'release', ...(recursive ? ['-r'] : []), tag, snap];
  },
  holds: (snap: string, recursive = false) => {
    snapshot(snap);
    return ['zfs', 'holds', '-H', '-p', ...(recursive ? ['-r'] : []), snap];
  },
  /** `zfs list -Hp` with the given columns; `types` e.g. ['snapshot'], `depth` implies -r. */
  list: (
    cols: readonly string[],
    o: { roots?: string[]; types?: string[]; recursive?: boolean; depth?: number; sortBy?: string } = {},
  ) => {
    for (const r of o.roots ?? []) target(r);
    return [
      'zfs',
      'list',
      '-Hp',
      '-o',
      cols.join(','),
      ...(o.types ? ['-t', o.types.join(',')] : []),
      ...(o.depth !== undefined ? ['-d', String(o.depth)] : o.recursive ? ['-r'] : []),
      ...(o.sortBy ? ['-s', o.sortBy] : []),
      ...(o.roots ?? []),
    ];
  },
  /** `zfs get -Hp` of the named properties (`all` for every one). */
  get: (t: string, names: readonly string[], recursive = false, types?: readonly string[]) => {
    target(t);
    return [
      'zfs',
      'get',
      '-Hp',
      ...(recursive ? ['-r'] : []),
      ...(types ? ['-t', types.join(',')] : []),
      '-o',
      'name,property,value,source',
      names.join(','),
      t,
    ];
  },
  /** Files changed between a snapshot and a later snapshot or the live dataset (`-H -F`: type column). */
  diff: (snap: string, later?: string) => {
    snapshot(snap);
    if (later) target(later);
    return ['zfs', 'diff', '-H', '-F', snap, ...(later ? [later] : [])];
  },
  /**
   * Mounts a mountpoint=legacy dataset (mount.zfs refuses zfsutil for legacy and none, and plain
   * mount for the rest: the two builders are not interchangeable).
   */
  mountLegacy: (ds: string, dir: string) => {
    dataset(ds);
    return ['mount', '-t', 'zfs', ds, dir];
  },
  /** Mounts a dataset at any folder, whatever its mountpoint property (what BE tools do). */
  mountAt: (ds: string, dir: string) => {
    dataset(ds);
    return ['mount', '-t', 'zfs', '-o', 'zfsutil', ds, dir];
  },
};

export interface PropRow {
  name: string;
  property: string;
  value: string;
  source: string;
}

/** `zfs get -Hp` rows → records. The only parser of zfs get output. */
export function parseGet(stdout: string): PropRow[] {
  return parseList(stdout, ['name', 'property', 'value', 'source'] as const);
}

/** `zfs list -Hp -o a,b,c` rows → records keyed by the requested columns. */
export function parseList<K extends string>(stdout: string, cols: readonly K[]): Record<K, string>[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split('\t');
      return Object.fromEntries(cols.map((c, i) => [c, f[i] ?? ''])) as Record<K, string>;
    });
}

export async function getProps(
  exec: Executor,
  target: string,
  names: string[],
  recursive = false,
): Promise<PropRow[]> {
  const r = await exec.run(zfs.get(target, names, recursive));
  return parseGet(r.stdout);
}

export async function list<K extends string>(
  exec: Executor,
  cols: readonly K[],
  args: string[] = [],
): Promise<Record<K, string>[]> {
  const r = await exec.run(['zfs', 'list', '-Hp', '-o', cols.join(','), ...args]);
  return parseList(r.stdout, cols);
}

/** Rows of `zfs get -Hp` by name → property → value and source; unset (source `-`) is left out. */
export function propsByName(
  rows: readonly PropRow[],
): Map<string, Record<string, { value: string; source: string }>> {
  const out = new Map<string, Record<string, { value: string; source: string }>>();
  for (const r of rows) {
    if (r.source === '-' && r.property.includes(':')) continue;
    const m = out.get(r.name) ?? {};
    m[r.property] = { value: r.value, source: r.source };
    out.set(r.name, m);
  }
  return out;
}

export interface Hold {
  snapshot: string;
  tag: string;
  /** Seconds since the epoch (`-p`). */
  created: number;
}

/** `zfs holds -H -p` rows. */
export function parseHolds(stdout: string): Hold[] {
  return parseList(stdout, ['snapshot', 'tag', 'created'] as const).map((h) => ({
    ...h,
    created: Number(h.created || 0),
  }));
}

/** Bytes as zfs prints them (1024-based, three significant digits): 0B, 512B, 1.50K, 12.3M, 300G. */
export function humanBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v}B`;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}
