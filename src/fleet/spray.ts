/**
 * kldload spray: N writable clones of one snapshot (a golden root, a data set, a VM's zvol) in one
 * container dataset, made by one process — payload/target/lib/spray-clone.py calling libzfs_core's
 * lzc_clone (ctypes) from a pool of threads, so ZFS groups the clones into a few transaction groups
 * instead of waiting for one per `zfs clone` — and destroyed the same way, all in one command.
 * No property is set per clone (each would be one more sync task): the container's mountpoint=none,
 * inherited, keeps filesystem clones unmounted, now and at boot.
 *
 * Identity: no clone is mounted to change its files (a mount, writes and an unmount per clone would
 * cost more than the clone). A root filesystem must come from a sealed snapshot (kldload image
 * capture, kexport: machine-id empty, no ssh host keys, no hostid, and REIDENTIFY_MARKER, so each
 * clone makes its own identity on its first boot); the host name is the launcher's (the clone's
 * name: systemd-nspawn -M NAME-3, a VM's DHCP name). Pure planners; the facts are read by
 * src/cli/commands/spray-facts.ts.
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, type Step } from '../core/plan.ts';
import { REIDENTIFY_MARKER, TARGET } from '../layout.ts';
import { isDataset, isSnapshot, zfs } from '../zfs/zfs.ts';

/** On the container: the origin snapshot. Clones inherit it; `spray list` finds containers by it. */
export const SPRAY_PROP = 'org.kldload:spray';
export const MAX_CLONES = 1000;
/** Every clone of a 100-clone spray in flight at once (bench/README "spray": 100 threads 2.5 s, 32 2.9 s). */
export const DEFAULT_THREADS = 100;
export const MAX_THREADS = 256;

export interface SprayFacts {
  /** The origin snapshot and its dataset's type; null when no such snapshot. */
  origin: { snapshot: string; type: 'filesystem' | 'volume' } | null;
  /** A filesystem origin's content: null for a volume (not looked into). */
  identity: { root: boolean; sealed: boolean } | null;
  parentExists: boolean;
  /** The container PARENT/NAME exists already. */
  taken: boolean;
  /** The helper is installed (it needs only python3 and libzfs_core, both with zfsutils-linux). */
  helper: boolean;
}

export interface SprayOptions {
  name: string;
  count: number;
  from: string;
  /** The container's parent; default <pool>/spray. */
  into?: string;
  threads?: number;
  /** Clones of an unsealed root keep its identity (short-lived copies never run side by side). */
  keepIdentity?: boolean;
}

const bad = (msg: string) => new KldloadError(msg, EXIT.badInput);
const poolOf = (ds: string) => ds.split(/[/@]/)[0] ?? ds;
export const defaultParent = (from: string) => `${poolOf(from)}/spray`;
export const cloneNames = (container: string, name: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${container}/${name}-${i + 1}`);

/** NAME: each clone is NAME-<i>, a dataset name and a host name (letters, digits, -; ≤ 63). */
export function checkSprayName(name: string): void {
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,50}[A-Za-z0-9])?$/.test(name))
    throw bad(
      `NAME ${JSON.stringify(name)}: letters, digits and - (not first or last), at most 52 characters: each clone is NAME-<i>, a dataset and a host name`,
    );
}

/** ZFS takes an index property as its number through libzfs_core (zfs_prop.c: canmount off = 0). */
const CANMOUNT_OFF = 0;

/** python3 isolated and without site: the helper needs nothing beyond the standard library. */
export const HELPER_ARGV = ['python3', '-I', '-S', TARGET.sprayHelper];

/** What the helper reads on stdin. */
export const helperJob = (job: Record<string, unknown>) => JSON.stringify(job);

/** The container, then every clone from one process; refused before anything runs. */
export function planSpray(f: SprayFacts, o: SprayOptions): Plan {
  checkSprayName(o.name);
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_CLONES)
    throw bad(`N ${o.count}: a whole number from 1 to ${MAX_CLONES}`);
  const threads = o.threads ?? DEFAULT_THREADS;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
    throw bad(`--threads ${threads}: a whole number from 1 to ${MAX_THREADS}`);
  if (!isSnapshot(o.from))
    throw bad(`--from ${o.from}: a snapshot, pool/dataset@name (see zfs list -t snapshot)`);
  if (!f.origin) throw bad(`--from ${o.from}: no such snapshot (see zfs list -t snapshot)`);
  const parent = o.into ?? defaultParent(o.from);
  if (!isDataset(parent)) throw bad(`--into ${parent}: a dataset name, pool/path`);
  if (poolOf(parent) !== poolOf(o.from))
    throw bad(
      `--into ${parent}: clones live in their origin's pool (${poolOf(o.from)}); choose a dataset there`,
    );
  if (parent === `${poolOf(parent)}/ROOT` || parent.startsWith(`${poolOf(parent)}/ROOT/`))
    throw bad(
      `--into ${parent}: inside ROOT every dataset is a boot environment to kbe; choose another parent`,
    );
  const container = `${parent}/${o.name}`;
  if (f.taken)
    throw bad(`${container} exists: kldload spray destroy ${o.name} first, or choose another NAME`);
  if (!f.helper)
    throw bad(
      `${TARGET.sprayHelper} is missing: it comes with kldload's target image (rebuild and reinstall, or copy payload/target/lib/spray-clone.py there)`,
    );
  const id = f.identity;
  if (id?.root && !id.sealed && !o.keepIdentity)
    throw bad(
      `--from ${o.from} is a root filesystem that was not sealed (no ${REIDENTIFY_MARKER}): every clone would share its machine-id, ssh host keys and hostid. Spray a sealed snapshot (kldload image capture, then zfs receive -u POOL/golden/NAME < DIR/root.zfs and --from POOL/golden/NAME@sealed), or pass --keep-identity for copies that never run side by side`,
    );
  const volume = f.origin.type === 'volume';
  const names = cloneNames(container, o.name, o.count);
  // The container is made by the helper too, just before the clones: a `zfs create` process would
  // cost more than its lzc_create (bench/README "spray"). The parent, made once per host, keeps
  // zfs create -p (its own parents may be missing too, and zfs mounts those as usual).
  const steps: Step[] = [];
  if (!f.parentExists)
    steps.push({
      name: 'parent',
      title: `${parent}: the parent of sprays, never mounted itself`,
      actions: [run(zfs.create(parent, { canmount: 'off' }, true))],
    });
  const create = [
    { name: container, props: { canmount: CANMOUNT_OFF, mountpoint: 'none', [SPRAY_PROP]: o.from } },
  ];
  steps.push({
    name: 'clones',
    title: `${container} (holds the ${o.count} clones: canmount=off; mountpoint=none, which the clones inherit; ${SPRAY_PROP}=${o.from}), then ${o.count} ${volume ? 'zvol' : 'filesystem'} clones of ${o.from} in it, ${o.name}-1 … ${o.name}-${o.count}, all from one process (lzc_create, lzc_clone from ${Math.min(threads, o.count)} threads)${volume ? '' : '; none is mounted, now or at boot'}`,
    actions: [
      run(HELPER_ARGV, { input: helperJob({ op: 'clone', origin: o.from, create, names, threads }) }),
    ],
  });
  return {
    facts: {
      name: o.name,
      origin: o.from,
      type: f.origin.type,
      container,
      clones: names,
      identity: volume
        ? 'unchecked (a volume): a sealed image makes its own identity on first boot'
        : !id?.root
          ? 'none (not a root filesystem)'
          : id.sealed
            ? `sealed: each clone makes its own on first boot (${REIDENTIFY_MARKER})`
            : 'kept (--keep-identity): the clones share the origin’s',
    },
    steps,
    // All or nothing, but only what this run made: the helper destroys its own clones and container
    // when one fails. No `zfs destroy -r` here: a container made between the facts and the job (by
    // another run, by hand) is not this run's.
    cleanup: [],
  };
}

/** A dataset below a container, as `zfs list -r -t all` shows it. */
export interface SprayMember {
  name: string;
  type: 'filesystem' | 'volume' | 'snapshot';
  mountpoint: string | null;
  mounted: boolean;
  /** Snapshots: the clones made from it; holds. */
  clones: string[];
  userrefs: number;
}

export interface SprayDestroyFacts {
  container: string;
  /** Everything below the container (not itself), from `zfs list -r -t all`. */
  members: SprayMember[];
  helper: boolean;
}

const depth = (ds: string) => ds.split('/').length;
const inside = (ds: string, c: string) => ds.startsWith(`${c}/`) || ds.startsWith(`${c}@`);

/** Every clone and what is in them, then the container: snapshots in one call, datasets by depth. */
export function planSprayDestroy(f: SprayDestroyFacts, threads = DEFAULT_THREADS): Plan {
  if (!f.helper)
    throw bad(
      `${TARGET.sprayHelper} is missing (see kldload spray --help); zfs destroy -r ${f.container} does the same, one dataset at a time`,
    );
  const snaps = f.members.filter((m) => m.type === 'snapshot');
  const datasets = f.members.filter((m) => m.type !== 'snapshot');
  for (const s of snaps) {
    const outside = s.clones.filter((c) => !inside(c, f.container));
    if (outside.length)
      throw bad(
        `${s.name} is the origin of ${outside.join(', ')} (outside ${f.container}): destroying it would take ${outside.length === 1 ? 'that clone' : 'those clones'} too. zfs promote ${outside[0]} first, then destroy again`,
      );
    if (s.userrefs > 0)
      throw bad(`${s.name} is held (zfs holds ${s.name}): zfs release TAG ${s.name}, then destroy again`);
  }
  const mounted = datasets.filter((d) => d.mounted);
  const levels = [...new Set(datasets.map((d) => depth(d.name)))]
    .sort((a, b) => b - a)
    .map((n) => datasets.filter((d) => depth(d.name) === n).map((d) => d.name));
  const steps: Step[] = [];
  if (mounted.length)
    steps.push({
      name: 'unmount',
      title: `unmount ${mounted.length} mounted clone(s) (busy ones refuse: stop what runs there)`,
      actions: [...mounted]
        .sort((a, b) => depth(b.name) - depth(a.name))
        .map((d) => run(['zfs', 'unmount', d.name])),
    });
  steps.push({
    name: 'destroy',
    title: `destroy ${datasets.length} dataset(s)${snaps.length ? ` and ${snaps.length} snapshot(s)` : ''} below ${f.container}, then it, from one process (lzc_destroy)`,
    actions: [
      run(HELPER_ARGV, {
        input: helperJob({
          op: 'destroy',
          snapshots: snaps.map((s) => s.name),
          levels: [...levels, [f.container]],
          threads,
        }),
      }),
      // zfs leaves the folders it mounted on; rmdir removes them only while empty.
      ...mounted.flatMap((d) => (d.mountpoint ? [run(['rmdir', d.mountpoint], { mayFail: true })] : [])),
    ],
  });
  return {
    facts: {
      container: f.container,
      datasets: datasets.map((d) => d.name),
      snapshots: snaps.map((s) => s.name),
    },
    steps,
    cleanup: [],
  };
}
