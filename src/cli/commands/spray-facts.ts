/**
 * What kldload spray reads before it plans: which of origin, its dataset, the parent and the
 * container exist (one `zfs list`), whether a filesystem origin is a root and sealed (one read-only
 * mount of the snapshot), whether the helper is installed; for destroy and list,
 * one `zfs list` of every dataset, then one of the spray's tree.
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { EXIT, KldloadError } from '../../core/errors.ts';
import {
  defaultParent,
  type SprayDestroyFacts,
  type SprayFacts,
  type SprayMember,
} from '../../fleet/spray.ts';
import { SPRAY_LIST_COLS, type Spray, sprays } from '../../fleet/spray-list.ts';
import { REIDENTIFY_MARKER, TARGET } from '../../layout.ts';
import { isSnapshot, parseList, zfs } from '../../zfs/zfs.ts';
import type { Day2Env } from '../day2.ts';

const installed = (env: Day2Env) => ({
  helper: existsSync(`${env.root ?? ''}${TARGET.sprayHelper}`),
});

/** A root filesystem (etc/os-release) and sealed (the marker), read through a read-only mount. */
async function identityOf(env: Day2Env, snap: string): Promise<{ root: boolean; sealed: boolean }> {
  const mnt = `/run/kldload/spray-read-${process.pid}`;
  mkdirSync(`${env.root ?? ''}${mnt}`, { recursive: true });
  await env.exec.run(['mount', '-t', 'zfs', '-o', 'ro', snap, mnt]);
  try {
    const at = (p: string) => existsSync(`${env.root ?? ''}${mnt}${p}`);
    return { root: at('/etc/os-release'), sealed: at(REIDENTIFY_MARKER) };
  } finally {
    await env.exec.run(['umount', mnt], { check: false });
    // Only while empty: a folder whose umount failed keeps the snapshot's files, and stays.
    try {
      rmdirSync(`${env.root ?? ''}${mnt}`);
    } catch {}
  }
}

export async function sprayFacts(
  env: Day2Env,
  o: { name: string; from: string; into?: string },
): Promise<SprayFacts> {
  if (!isSnapshot(o.from))
    throw new KldloadError(
      `--from ${o.from}: a snapshot, pool/dataset@name (see zfs list -t snapshot)`,
      EXIT.badInput,
    );
  const ds = o.from.slice(0, o.from.indexOf('@'));
  const parent = o.into ?? defaultParent(o.from);
  const container = `${parent}/${o.name}`;
  // Missing names are reported on stderr and the others listed: one process for four questions.
  const listing = env.exec.run(
    zfs.list(['name', 'type'], {
      roots: [ds, o.from, parent, container],
      types: ['filesystem', 'volume', 'snapshot'],
    }),
    { check: false },
  );
  // The identity's read-only mount runs beside the listing (both wait on ZFS). A volume's snapshot
  // or a missing one does not mount; that failure counts only for a filesystem origin.
  const read = identityOf(env, o.from).then(
    (identity) => ({ identity }),
    (error: unknown) => ({ error }),
  );
  const [r, id] = await Promise.all([listing, read]);
  const rows = parseList(r.stdout, ['name', 'type'] as const);
  const has = (n: string) => rows.some((x) => x.name === n);
  const type = rows.find((x) => x.name === ds)?.type;
  const origin =
    has(o.from) && (type === 'filesystem' || type === 'volume')
      ? { snapshot: o.from, type: type as 'filesystem' | 'volume' }
      : null;
  if (origin?.type === 'filesystem' && 'error' in id) throw id.error;
  return {
    origin,
    identity: origin?.type === 'filesystem' && 'identity' in id ? id.identity : null,
    parentExists: has(parent),
    taken: has(container),
    ...installed(env),
  };
}

/** Every spray on this host. */
export async function readSprays(env: Day2Env): Promise<Spray[]> {
  const r = await env.exec.run(zfs.list(SPRAY_LIST_COLS, { types: ['filesystem', 'volume'] }));
  return sprays(parseList(r.stdout, SPRAY_LIST_COLS));
}

const MEMBER_COLS = ['name', 'type', 'mountpoint', 'mounted', 'clones', 'userrefs'] as const;

/** NAME (the container's last part) or the container's dataset → the tree to destroy. */
export async function sprayDestroyFacts(env: Day2Env, name: string): Promise<SprayDestroyFacts> {
  const all = await readSprays(env);
  const found = all.filter((s) => s.container === name || s.name === name);
  if (found.length > 1)
    throw new KldloadError(
      `${name}: ${found.length} sprays have that name (${found.map((s) => s.container).join(', ')}); name the container`,
      EXIT.badInput,
    );
  const s = found[0];
  if (!s) throw new KldloadError(`${name}: no such spray; see kldload spray list`, EXIT.badInput);
  const r = await env.exec.run(
    zfs.list(MEMBER_COLS, {
      roots: [s.container],
      recursive: true,
      types: ['filesystem', 'volume', 'snapshot'],
    }),
  );
  const members = parseList(r.stdout, MEMBER_COLS)
    .filter((m) => m.name !== s.container)
    .map(
      (m): SprayMember => ({
        name: m.name,
        type: m.type as SprayMember['type'],
        mountpoint: m.mountpoint.startsWith('/') ? m.mountpoint : null,
        mounted: m.mounted === 'yes',
        clones: m.clones.split(',').filter((c) => c && c !== '-'),
        userrefs: Number(m.userrefs) || 0,
      }),
    );
  return { container: s.container, members, ...installed(env) };
}
