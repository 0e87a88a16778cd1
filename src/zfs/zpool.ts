/** The zpool argv builder, and the readers of zpool list -v and zdb -l output. */
import { type Props, propArgs } from './zfs.ts';

export const zpool = {
  create(
    name: string,
    vdevs: string[],
    o: { poolProps: Props; fsProps: Props; altroot?: string; force?: boolean; tempName?: string },
  ): string[] {
    return [
      'zpool',
      'create',
      ...(o.force ? ['-f'] : []),
      // -t: imported here under another name; `name` is what the disk says (a pool for another machine).
      ...(o.tempName ? ['-t', o.tempName] : []),
      ...propArgs('-o', o.poolProps),
      ...propArgs('-O', o.fsProps),
      ...(o.altroot ? ['-R', o.altroot] : []),
      name,
      ...vdevs,
    ];
  },
  set: (pool: string, prop: string, value: string) => ['zpool', 'set', `${prop}=${value}`, pool],
  /** One property's value, scripted (`-Hp`): the output is the bare value. */
  get: (pool: string, prop: string) => ['zpool', 'get', '-Hp', '-o', 'value', prop, pool],
  export: (pool: string) => ['zpool', 'export', pool],
  destroy: (pool: string) => ['zpool', 'destroy', '-f', pool],
  exists: (pool: string) => ['zpool', 'list', '-H', '-o', 'name', pool],
  labelclear: (dev: string) => ['zpool', 'labelclear', '-f', dev],
  /** `zpool list -Hp` with the given columns (any pool property: health, bootfs …), every pool or those named. */
  list: (cols: readonly string[], pools: readonly string[] = []) => [
    'zpool',
    'list',
    '-Hp',
    '-o',
    cols.join(','),
    ...pools,
  ],
  /**
   * Health of every pool: `-j --json-int` (OpenZFS 2.3+: a JSON document, numbers as numbers), else the
   * text form with exact numbers (`-p`), for older userlands that refuse `-j`.
   */
  status: (json: boolean) => ['zpool', 'status', ...(json ? ['-j', '--json-int'] : ['-p'])],
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
