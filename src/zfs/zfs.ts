import type { Executor } from '../core/exec.ts';

/**
 * The one typed zfs/zpool layer. Builders return argv (planners put them into plans); readers run
 * `-Hp` forms through the executor and parse tab-separated output in exactly one place.
 */
export type Props = Record<string, string>;

const props = (flag: '-o' | '-O', p: Props): string[] =>
  Object.entries(p).flatMap(([k, v]) => [flag, `${k}=${v}`]);

export const zpool = {
  create(
    name: string,
    vdevs: string[],
    o: { poolProps: Props; fsProps: Props; altroot?: string; force?: boolean },
  ): string[] {
    return [
      'zpool',
      'create',
      ...(o.force ? ['-f'] : []),
      ...props('-o', o.poolProps),
      ...props('-O', o.fsProps),
      ...(o.altroot ? ['-R', o.altroot] : []),
      name,
      ...vdevs,
    ];
  },
  set: (pool: string, prop: string, value: string) => ['zpool', 'set', `${prop}=${value}`, pool],
  export: (pool: string) => ['zpool', 'export', pool],
  destroy: (pool: string) => ['zpool', 'destroy', '-f', pool],
  exists: (pool: string) => ['zpool', 'list', '-H', '-o', 'name', pool],
  labelclear: (dev: string) => ['zpool', 'labelclear', '-f', dev],
  /** Every imported pool with its vdev tree, leaves as full paths (parse with parseVdevs). */
  listVdevs: (pool?: string) => ['zpool', 'list', '-v', '-H', '-P', ...(pool ? [pool] : [])],
};

/** `zdb -l DEV`: the vdev labels of a device, read without importing its pool. */
export const zdbLabel = (dev: string) => ['zdb', '-l', dev];

/**
 * `zpool list -v -H -P` → pool name → leaf vdev paths. Pool rows start in column 0, vdev rows with
 * a tab (scripted mode); leaves are the rows whose name is a path, grouping rows (mirror-0, logs) are not.
 */
export function parseVdevs(stdout: string): Map<string, string[]> {
  const pools = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split('\t');
    if (!line.startsWith('\t')) {
      current = [];
      pools.set(f[0] ?? '', current);
    } else if (f[1]?.startsWith('/')) current?.push(f[1]);
  }
  return pools;
}

/** The pool comment stored in a `zdb -l` label dump (the comment travels in every vdev label). */
export function parseLabelComment(stdout: string): string | undefined {
  return /^\s*comment: '([^']*)'\s*$/m.exec(stdout)?.[1];
}

export const zfs = {
  create: (ds: string, p: Props = {}) => ['zfs', 'create', ...props('-o', p), ds],
  exists: (ds: string) => ['zfs', 'list', '-H', '-o', 'name', ds],
  mount: (ds: string) => ['zfs', 'mount', ds],
  snapshot: (snap: string, recursive = true) => ['zfs', 'snapshot', ...(recursive ? ['-r'] : []), snap],
  set: (ds: string, p: Props) => ['zfs', 'set', ...Object.entries(p).map(([k, v]) => `${k}=${v}`), ds],
  unmountAll: () => ['zfs', 'unmount', '-a'],
};

export interface PropRow {
  name: string;
  property: string;
  value: string;
  source: string;
}

/** `zfs get -Hp` rows → records. The only parser of zfs get output. */
export function parseGet(stdout: string): PropRow[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', property = '', value = '', source = ''] = l.split('\t');
      return { name, property, value, source };
    });
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
  const r = await exec.run([
    'zfs',
    'get',
    '-Hp',
    ...(recursive ? ['-r'] : []),
    '-o',
    'name,property,value,source',
    names.join(','),
    target,
  ]);
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
