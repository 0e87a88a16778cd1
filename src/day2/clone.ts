import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, type Step } from '../core/plan.ts';
import { isDataset, isSnapshot, type PropRow, type Props, zfs } from '../zfs/zfs.ts';
import { snapshotName } from './pkg.ts';

/**
 * kclone SRC DST…: instant copy-on-write copies of a dataset-backed folder. zfs clones whole datasets
 * only, so SRC must be a dataset's mountpoint: snapshot it (`@kclone-<stamp>`), clone the snapshot
 * next to it (same parent, so what it inherits stays the same) with the properties the source has of
 * its own, mounted at each DST. No data is copied: both sides share the blocks until one of them
 * writes. Several DSTs share one snapshot and one process (one `zfs clone` each): that is what makes
 * a hundred clones cost a hundred `zfs clone`s and not a hundred node starts.
 *
 * A plain folder becomes a dataset first only with --convert (clone-convert.ts); --list and destroy
 * are in clone-destroy.ts. Pure planners; the facts are read by src/cli/commands/clone-facts.ts.
 */

export const KCLONE_PREFIX = 'kclone-';

/** The dataset kclone clones, as read from zfs. */
export interface CloneSource {
  dataset: string;
  /** filesystem or volume (its `type`). */
  type: string;
  /** `zfs get -Hp all` of it. */
  props: PropRow[];
  /** Filesystems and volumes directly below it. */
  children: string[];
  /** Snapshot names (after @) it has. */
  snapshots: string[];
}

export interface CloneTarget {
  /** DST, absolute, without a trailing slash. */
  dst: string;
  /** What is at DST now: zfs mounts only onto a missing or empty folder. */
  dstState: 'absent' | 'empty' | 'not-empty' | 'not-a-directory' | 'mountpoint';
}

export interface CloneFacts {
  src: CloneSource;
  /** One clone per target, in the order given. */
  targets: CloneTarget[];
  /** Datasets directly below the source's parent: the clones' names must be free there. */
  siblings: string[];
  stamp: string;
}

export interface CloneOptions {
  /** The clone's last name component (one DST only); default the last component of DST. */
  name?: string;
  /** Clone this existing snapshot of SRC instead of taking a new one. */
  from?: string;
  /** The command line, kept in org.kldload:cmd on the snapshot (kclone --list). */
  cmd: string;
  /** Each clone's org.kldload:cmd, in the targets' order (the command as if given its DST alone); default cmd. */
  cloneCmds?: string[];
}

/** A user property holds 8191 bytes: a longer command is named by its DST count, never cut. */
export function cmdProperty(cmd: string, dsts: readonly string[]): string {
  if (Buffer.byteLength(cmd) <= 4000) return cmd;
  return `${cmd.split(' ').slice(0, 2).join(' ')} (${dsts.length} DSTs, ${dsts[0]} … ${dsts.at(-1)})`;
}

/**
 * Properties zfs does not take on a clone (fixed at creation, the origin's encryption, read-only
 * state), those kclone sets itself (mountpoint, canmount), and kldload's own bookkeeping.
 */
const NOT_KEPT = new Set([
  'mountpoint',
  'canmount',
  'encryption',
  'keyformat',
  'keylocation',
  'pbkdf2iters',
  'normalization',
  'utf8only',
  'casesensitivity',
  'volsize',
  'volblocksize',
  'version',
]);

const parentOf = (ds: string) => ds.slice(0, Math.max(0, ds.lastIndexOf('/')));
export const under = (ds: string, ancestor: string) => ds === ancestor || ds.startsWith(`${ancestor}/`);
export const poolOf = (ds: string) => ds.split('/')[0] ?? ds;

/**
 * What the clone must be given so it behaves like the source: every property the source has set
 * itself (local, or received by zfs receive). What the source inherits the clone inherits too: it is
 * made next to the source, below the same parent. Defaults stay defaults.
 */
export function keptProps(props: readonly PropRow[]): Props {
  const out: Props = {};
  for (const p of props) {
    if (NOT_KEPT.has(p.property) || p.property.startsWith('org.kldload:')) continue;
    if (p.source === 'local' || p.source === 'received') out[p.property] = p.value;
  }
  return out;
}

/** DST: an absolute folder other than /, no control characters (it becomes the mountpoint property). */
export function checkDst(dst: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (!dst.startsWith('/') || dst === '/' || /[\0-\x1f]/.test(dst))
    throw new KldloadError(
      `${JSON.stringify(dst)}: DST must be an absolute folder other than /, without control characters`,
      EXIT.badInput,
    );
}

/** SRC or DST inside <pool>/ROOT: refused, naming the kbe command that does it for a boot environment. */
export function refuseBe(ds: string, what: string): void {
  const pool = poolOf(ds);
  if (under(ds, `${pool}/ROOT`)) {
    const be = ds.slice(`${pool}/ROOT/`.length).split('/')[0];
    throw new KldloadError(
      `${what} ${ds} is ${be ? `boot environment ${be}` : 'the container of the boot environments'}${ds.split('/').length > 3 ? ' (a dataset inside it)' : ''}: ${what === 'SRC' ? `kbe create NAME clones a boot environment with its own boot entry` : `kbe destroy ${be ?? 'NAME'} removes a boot environment with its boot entries`}`,
      EXIT.badInput,
    );
  }
}

/** The clone's dataset: next to the source, named after DST's last component or --name. */
export function cloneName(src: string, dst: string, name?: string): string {
  const last = name ?? dst.slice(dst.lastIndexOf('/') + 1);
  const ds = `${parentOf(src)}/${last}`;
  if (last.includes('/') || !isDataset(ds))
    throw new KldloadError(
      `${name !== undefined ? `--name ${JSON.stringify(name)}` : `the last part of ${dst}`} cannot name a dataset (${ds}): letters, digits and _ . : - only${name === undefined ? '; give one with --name' : ''}`,
      EXIT.badInput,
    );
  return ds;
}

/** What is at a DST that zfs cannot mount onto, in words. */
const DST_BUSY: Record<Exclude<CloneTarget['dstState'], 'absent' | 'empty'>, (d: string) => string> = {
  'not-empty': (d) => `${d} exists and is not empty; zfs mounts a clone only on an empty or missing folder`,
  'not-a-directory': (d) => `${d} exists and is not a folder`,
  mountpoint: (d) => `${d} is a mount point already; choose another DST`,
};

/**
 * kclone SRC DST…: [snapshot,] one clone per DST with the source's own properties, mounted there by
 * `zfs clone` itself (it exits non-zero when the clone was made but could not be mounted). Every DST
 * is checked before anything runs: one refused DST refuses them all.
 */
export function planClone(f: CloneFacts, o: CloneOptions): Plan {
  const s = f.src;
  if (!f.targets.length) throw new KldloadError('kclone SRC DST: no DST given', EXIT.badInput);
  if (o.name !== undefined && f.targets.length > 1)
    throw new KldloadError(
      `--name names one clone; ${f.targets.length} DSTs were given (each clone is named after its DST's last part)`,
      EXIT.badInput,
    );
  refuseBe(s.dataset, 'SRC');
  if (!s.dataset.includes('/'))
    throw new KldloadError(
      `${s.dataset} is the pool's root dataset; clone a dataset below it (e.g. ${s.dataset}/srv)`,
      EXIT.badInput,
    );
  if (s.type !== 'filesystem')
    throw new KldloadError(
      `${s.dataset} is a ${s.type}, not a filesystem: it has no folder to clone`,
      EXIT.badInput,
    );
  if (s.children.length)
    throw new KldloadError(
      `${s.dataset} has dataset(s) below it (${s.children.join(', ')}): zfs clones one dataset, so their folders would be empty in DST. Clone each one on its own (kclone SRC/CHILD DST-CHILD), or clone a dataset without children`,
      EXIT.badInput,
      { children: s.children },
    );
  const mp = s.props.find((p) => p.property === 'mountpoint')?.value;
  const clones: { clone: string; mountpoint: string }[] = [];
  for (const t of f.targets) {
    checkDst(t.dst);
    if (mp?.startsWith('/') && (under(t.dst, mp) || under(mp, t.dst)))
      throw new KldloadError(
        `${t.dst} and ${mp} (SRC's mountpoint) contain one another; choose a DST outside it`,
        EXIT.badInput,
      );
    if (t.dstState !== 'absent' && t.dstState !== 'empty')
      throw new KldloadError(DST_BUSY[t.dstState](t.dst), EXIT.badInput);
    const other = clones.find((c) => under(t.dst, c.mountpoint) || under(c.mountpoint, t.dst));
    if (other)
      throw new KldloadError(
        `${t.dst} and ${other.mountpoint} are both DSTs and ${t.dst === other.mountpoint ? 'the same folder' : 'contain one another'}; give each clone its own folder`,
        EXIT.badInput,
      );
    const clone = cloneName(s.dataset, t.dst, o.name);
    if (f.siblings.includes(clone))
      throw new KldloadError(
        `${clone} exists; choose another DST or name the clone with --name`,
        EXIT.badInput,
      );
    const twin = clones.find((c) => c.clone === clone);
    if (twin)
      throw new KldloadError(
        `${t.dst} and ${twin.mountpoint} would both make ${clone} (a clone is named after its DST's last part); give them different last parts`,
        EXIT.badInput,
      );
    clones.push({ clone, mountpoint: t.dst });
  }
  let snap: string;
  const steps: Step[] = [];
  if (o.from !== undefined) {
    if (!isSnapshot(o.from) || !o.from.startsWith(`${s.dataset}@`))
      throw new KldloadError(
        `--from ${o.from}: not a snapshot of ${s.dataset} (${s.dataset}@NAME; see ksnap list ${s.dataset})`,
        EXIT.badInput,
      );
    if (!s.snapshots.includes(o.from.slice(o.from.indexOf('@') + 1)))
      throw new KldloadError(
        `--from ${o.from}: no such snapshot; see ksnap list ${s.dataset}`,
        EXIT.badInput,
      );
    snap = o.from;
  } else {
    snap = `${s.dataset}@${snapshotName(f.stamp, s.snapshots, KCLONE_PREFIX)}`;
    steps.push({
      name: 'snapshot',
      title: `${snap}: SRC as it is now (the clones' origin; kclone destroy removes it with the last clone)`,
      actions: [
        run(
          zfs.snapshot(snap, false, {
            'org.kldload:cmd': cmdProperty(
              o.cmd,
              clones.map((c) => c.mountpoint),
            ),
          }),
        ),
      ],
    });
  }
  const kept = keptProps(s.props);
  const keptWords = Object.entries(kept)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const keptNote = keptWords
    ? `kept from SRC: ${keptWords}`
    : 'SRC sets no property of its own: the clone inherits what SRC inherits';
  clones.forEach((c, i) => {
    const own = o.cloneCmds?.[i] ?? o.cmd;
    steps.push({
      name: clones.length === 1 ? 'clone' : `clone-${i + 1}`,
      title:
        i === 0
          ? `${c.clone} from ${snap}, mounted at ${c.mountpoint}; no data copied (copy-on-write); ${keptNote}`
          : `${c.clone} from ${snap}, mounted at ${c.mountpoint}; properties as above`,
      actions: [
        run(
          zfs.clone(snap, c.clone, {
            ...kept,
            canmount: 'on',
            mountpoint: c.mountpoint,
            'org.kldload:cmd': own,
          }),
        ),
      ],
    });
  });
  const one = clones.length === 1 ? clones[0] : undefined;
  return {
    facts: {
      source: s.dataset,
      snapshot: snap,
      ...(one ? { clone: one.clone, mountpoint: one.mountpoint } : {}),
      clones,
      kept,
    },
    steps,
    // A snapshot taken here goes again when no clone could be made (zfs refuses while a clone uses it).
    cleanup: o.from === undefined ? [run(zfs.destroy(snap), { mayFail: true })] : [],
  };
}
