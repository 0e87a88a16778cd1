/**
 * What kclone reads from the running system before it plans: where SRC and each DST are (findmnt,
 * /proc/self/mounts), SRC as zfs has it, the state of each DST, and what zfs knows of clones to
 * destroy. Few processes whatever the number of DSTs: in a slow guest each zfs call costs most of a second.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { FINDMNT_TARGET, parseFindmntTarget } from '../../core/fs.ts';
import type { MountFact } from '../../day2/be-mount.ts';
import type { CloneSource, CloneTarget } from '../../day2/clone.ts';
import type { CloneDestroyFacts, CloneDestroyTarget } from '../../day2/clone-destroy.ts';
import { readMounts } from '../../day2/facts.ts';
import { isDataset, parseGet, parseList, zfs } from '../../zfs/zfs.ts';
import type { Day2Env } from '../day2.ts';

const parentOf = (ds: string) => ds.slice(0, Math.max(0, ds.lastIndexOf('/')));
export const abs = (p: string) => resolve(p).replace(/(.)\/+$/, '$1');

export type Src =
  | { kind: 'dataset'; dataset: string }
  | { kind: 'folder'; dir: string; dataset: string; mountpoint: string };

/** The filesystem a path is on; refused when it is not a ZFS dataset's. */
async function zfsAt(env: Day2Env, path: string, what: string) {
  const r = await env.exec.run([...FINDMNT_TARGET, path], {
    check: false,
  });
  const m = r.exitCode === 0 ? parseFindmntTarget(r.stdout) : undefined;
  if (!m) throw new KldloadError(`${what} ${path}: findmnt found no filesystem there`, EXIT.badInput);
  if (m.fstype !== 'zfs')
    throw new KldloadError(
      `${what} ${path} is on ${m.fstype} (${m.source}), not on a ZFS dataset: kclone needs a dataset to clone`,
      EXIT.badInput,
    );
  if (m.bind)
    throw new KldloadError(
      `${what} ${path} is a bind mount of a folder of ${m.source}; name the dataset's own mountpoint or the dataset`,
      EXIT.badInput,
    );
  return m;
}

/**
 * SRC: a folder (absolute or relative to the current one) — the dataset mounted exactly there, or a
 * plain folder inside one — or, when no such folder exists, a dataset name.
 */
export async function resolveSrc(env: Day2Env, arg: string): Promise<Src> {
  const R = env.root ?? '';
  const dir = abs(arg);
  if (!existsSync(`${R}${dir}`)) {
    if (arg.includes('/') && !arg.startsWith('/') && !arg.startsWith('.') && isDataset(arg))
      return { kind: 'dataset', dataset: arg };
    throw new KldloadError(`SRC ${arg}: no such folder (nor a dataset pool/name)`, EXIT.badInput);
  }
  if (!statSync(`${R}${dir}`).isDirectory())
    throw new KldloadError(`SRC ${dir} is not a folder`, EXIT.badInput);
  const m = await zfsAt(env, dir, 'SRC');
  return m.target === dir
    ? { kind: 'dataset', dataset: m.source }
    : { kind: 'folder', dir, dataset: m.source, mountpoint: m.target };
}

const names = (stdout: string) => parseList(stdout, ['name'] as const).map((r) => r.name);

/**
 * SRC as zfs has it, and the datasets next to it: `zfs get all` of it and one `zfs list -d 1` of its
 * parent and itself (the siblings, its children and its snapshots) — two zfs processes, whatever the
 * number of DSTs (each costs most of a second in a slow guest).
 */
export async function readSource(
  env: Day2Env,
  ds: string,
): Promise<{ source: CloneSource; siblings: string[] }> {
  const g = await env.exec.run(zfs.get(ds, ['all']), { check: false });
  if (g.exitCode !== 0)
    throw new KldloadError(`no dataset ${ds} (${g.all.trim()}); see zfs list`, EXIT.badInput);
  const props = parseGet(g.stdout);
  const parent = parentOf(ds);
  const listed = await env.exec.run(
    zfs.list(['name'], {
      roots: parent ? [parent, ds] : [ds],
      depth: 1,
      types: ['filesystem', 'volume', 'snapshot'],
    }),
  );
  // A dataset below both roots is listed under each: once is enough.
  const near = [...new Set(names(listed.stdout))];
  const below = (p: string) => near.filter((n) => parentOf(n) === p && !n.includes('@'));
  return {
    source: {
      dataset: ds,
      type: props.find((p) => p.property === 'type')?.value ?? 'filesystem',
      props,
      children: below(ds),
      snapshots: near.filter((n) => n.startsWith(`${ds}@`)).map((n) => n.slice(n.indexOf('@') + 1)),
    },
    siblings: parent ? below(parent) : [],
  };
}

export async function children(env: Day2Env, ds: string): Promise<string[]> {
  const r = await env.exec.run(
    zfs.list(['name'], { roots: [ds], depth: 1, types: ['filesystem', 'volume'] }),
  );
  return names(r.stdout).filter((n) => n !== ds);
}

export function dstState(
  root: string,
  dst: string,
  mounts: readonly MountFact[] = readMounts(root),
): CloneTarget['dstState'] {
  if (mounts.some((m) => m.target === dst)) return 'mountpoint';
  const p = `${root}${dst}`;
  if (!existsSync(p)) return 'absent';
  if (!statSync(p).isDirectory()) return 'not-a-directory';
  return readdirSync(p).length ? 'not-empty' : 'empty';
}

/** A DST of kclone destroy → its dataset: the ZFS dataset mounted exactly there, or a dataset name. */
function destroyTarget(R: string, mounts: readonly MountFact[], target: string): string {
  const path = abs(target);
  if (existsSync(`${R}${path}`)) {
    const here = mounts.filter((m) => m.target === path).at(-1);
    if (here?.fstype === 'zfs') return here.source;
    const holder = mounts
      .filter((m) => path.startsWith(m.target === '/' ? '/' : `${m.target}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    throw new KldloadError(
      `${path} is a folder${holder ? ` in ${holder.source} (mounted at ${holder.target})` : ''}, not a clone's mountpoint; see kclone --list`,
      EXIT.badInput,
    );
  }
  if (isDataset(target) && target.includes('/')) return target;
  throw new KldloadError(
    `${target}: no such folder (nor a dataset pool/name); see kclone --list`,
    EXIT.badInput,
  );
}

const DESTROY_COLS = ['name', 'origin', 'mountpoint', 'clones', 'userrefs'] as const;
const list = (v: string | undefined) => (v ?? '').split(',').filter((c) => c && c !== '-');

/**
 * kclone destroy DST…: where each DST is mounted comes from /proc/self/mounts; what zfs knows of them
 * from two `zfs list`s (the DSTs with their snapshots and children, then their origins), whatever
 * their number.
 */
export async function readDestroyFacts(env: Day2Env, dsts: string[]): Promise<CloneDestroyFacts> {
  const R = env.root ?? '';
  const mounts = readMounts(R);
  const datasets = dsts.map((d) => destroyTarget(R, mounts, d));
  const r = await env.exec.run(
    zfs.list(DESTROY_COLS, {
      roots: [...new Set(datasets)],
      depth: 1,
      types: ['filesystem', 'volume', 'snapshot'],
    }),
    { check: false },
  );
  if (r.exitCode !== 0) throw new KldloadError(`${r.all.trim()}; see kclone --list`, EXIT.badInput);
  const rows = parseList(r.stdout, DESTROY_COLS);
  const targets: CloneDestroyTarget[] = datasets.map((ds) => {
    const self = rows.find((x) => x.name === ds);
    const snaps = rows.filter((x) => x.name.startsWith(`${ds}@`));
    const origin = self?.origin && self.origin !== '-' ? self.origin : null;
    const mp = self?.mountpoint ?? '';
    return {
      dataset: ds,
      mountpoint: mp.startsWith('/') ? mp : null,
      origin,
      children: rows.filter((x) => parentOf(x.name) === ds && !x.name.includes('@')).map((x) => x.name),
      dependents: snaps
        .map((x) => ({ snapshot: x.name, clones: list(x.clones) }))
        .filter((x) => x.clones.length),
      held: snaps.filter((x) => Number(x.userrefs) > 0).map((x) => x.name),
    };
  });
  const originNames = [...new Set(targets.flatMap((t) => (t.origin ? [t.origin] : [])))];
  const origins: CloneDestroyFacts['origins'] = {};
  if (originNames.length) {
    const og = await env.exec.run(
      zfs.list(['name', 'clones', 'userrefs'], { roots: originNames, types: ['snapshot'] }),
      { check: false },
    );
    for (const x of parseList(og.stdout, ['name', 'clones', 'userrefs'] as const))
      origins[x.name] = { clones: list(x.clones), holds: Number(x.userrefs) || 0 };
  }
  return { targets, origins };
}
