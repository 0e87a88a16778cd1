import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step } from '../core/plan.ts';
import { isDataset, isSnapshot, type PropRow, type Props, zfs } from '../zfs/zfs.ts';
import { snapshotName } from './pkg.ts';
import { humanBytes } from './snap.ts';

/**
 * kclone SRC DST: an instant copy-on-write copy of a dataset-backed folder. zfs clones whole datasets
 * only, so SRC must be a dataset's mountpoint: snapshot it (`@kclone-<stamp>`), clone the snapshot
 * next to it (same parent, so what it inherits stays the same) with the properties the source has of
 * its own, mounted at DST. No data is copied: both sides share the blocks until one of them writes.
 *
 * A plain folder becomes a dataset first only with --convert (see planConvert). Pure planners; the
 * facts are read by src/cli/commands/clone.ts.
 */

export const KCLONE_PREFIX = 'kclone-';
/** Room kept free in the pool beyond a converted folder's size (metadata, the pool's slop). */
export const CONVERT_RESERVE = 64 * 1024 * 1024;

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

export interface CloneFacts {
  src: CloneSource;
  /** DST, absolute, without a trailing slash. */
  dst: string;
  /** What is at DST now: zfs mounts only onto a missing or empty folder. */
  dstState: 'absent' | 'empty' | 'not-empty' | 'not-a-directory' | 'mountpoint';
  /** Datasets directly below the source's parent: the clone's name must be free there. */
  siblings: string[];
  stamp: string;
}

export interface CloneOptions {
  /** The clone's last name component; default the last component of DST. */
  name?: string;
  /** Clone this existing snapshot of SRC instead of taking a new one. */
  from?: string;
  /** The command line, kept in org.kldload:cmd on the snapshot and the clone (kclone --list). */
  cmd: string;
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
const under = (ds: string, ancestor: string) => ds === ancestor || ds.startsWith(`${ancestor}/`);
const poolOf = (ds: string) => ds.split('/')[0] ?? ds;

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

function refuseBe(ds: string, what: string): void {
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

/** kclone SRC DST: [snapshot,] clone with the source's own properties, mounted at DST. */
export function planClone(f: CloneFacts, o: CloneOptions): Plan {
  const s = f.src;
  checkDst(f.dst);
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
  const mp = s.props.find((p) => p.property === 'mountpoint')?.value;
  if (mp?.startsWith('/') && (under(f.dst, mp) || under(mp, f.dst)))
    throw new KldloadError(
      `${f.dst} and ${mp} (SRC's mountpoint) contain one another; choose a DST outside it`,
      EXIT.badInput,
    );
  if (s.children.length)
    throw new KldloadError(
      `${s.dataset} has dataset(s) below it (${s.children.join(', ')}): zfs clones one dataset, so their folders would be empty in DST. Clone each one on its own (kclone SRC/CHILD DST-CHILD), or clone a dataset without children`,
      EXIT.badInput,
      { children: s.children },
    );
  if (f.dstState !== 'absent' && f.dstState !== 'empty')
    throw new KldloadError(
      {
        'not-empty': `${f.dst} exists and is not empty; zfs mounts a clone only on an empty or missing folder`,
        'not-a-directory': `${f.dst} exists and is not a folder`,
        mountpoint: `${f.dst} is a mount point already; choose another DST`,
      }[f.dstState],
      EXIT.badInput,
    );
  const clone = cloneName(s.dataset, f.dst, o.name);
  if (f.siblings.includes(clone))
    throw new KldloadError(
      `${clone} exists; choose another DST or name the clone with --name`,
      EXIT.badInput,
    );
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
      title: `${snap}: SRC as it is now (the clone's origin; kclone destroy removes it with the last clone)`,
      actions: [run(zfs.snapshot(snap, false, { 'org.kldload:cmd': o.cmd }))],
    });
  }
  const kept = keptProps(s.props);
  const keptWords = Object.entries(kept)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  steps.push(
    {
      name: 'clone',
      title: `${clone} from ${snap}, mounted at ${f.dst}; no data copied (copy-on-write)${keptWords ? `; kept from SRC: ${keptWords}` : '; SRC sets no property of its own: the clone inherits what SRC inherits'}`,
      actions: [
        run(zfs.clone(snap, clone, { ...kept, canmount: 'on', mountpoint: f.dst, 'org.kldload:cmd': o.cmd })),
      ],
    },
    {
      name: 'mount',
      title: `${f.dst} shows the clone (zfs clone mounts it; mounted here when it did not)`,
      actions: [run(zfs.mount(clone), { unless: ['mountpoint', '-q', f.dst] })],
    },
  );
  return {
    facts: { source: s.dataset, snapshot: snap, clone, mountpoint: f.dst, kept },
    steps,
    // A snapshot taken here goes again when the clone could not be made (zfs refuses while a clone uses it).
    cleanup: o.from === undefined ? [run(zfs.destroy(snap), { mayFail: true })] : [],
  };
}

/* ───────────────────────── --convert: a plain folder becomes a dataset ───────────────────────── */

export interface ConvertFacts {
  /** SRC, absolute: a folder that is not a mountpoint. */
  dir: string;
  /** The dataset holding it, where that dataset is mounted, and the space the pool has for it. */
  parent: { dataset: string; mountpoint: string; available: number };
  /** `du -s -B1`: bytes the folder's files take now (the copy needs as much again). */
  bytes: number;
  /** Filesystems mounted inside the folder (they would not be copied). */
  mountsBelow: string[];
  /** Datasets directly below the parent. */
  siblings: string[];
  stamp: string;
  cmd: string;
}

/** Where the new dataset is mounted while the folder's content is copied into it. */
export const convertStage = (stamp: string) => `/run/kldload/kclone-${stamp}`;

/**
 * The dataset --convert would make of DIR, or a refusal with the fix: not for a folder of a boot
 * environment, nor one deeper than directly in the dataset's mountpoint. Checked before anything
 * else is read (du of a large folder takes a while).
 */
export function convertTarget(dir: string, parent: { dataset: string; mountpoint: string }): string {
  const p = parent;
  checkDst(dir);
  const pool = poolOf(p.dataset);
  if (under(p.dataset, `${pool}/ROOT`))
    throw new KldloadError(
      `${dir} is a folder of the boot environment ${p.dataset}; kclone does not convert it: as a dataset it would leave the boot environment (every BE would share it, kbe create and ksnap rollback would no longer copy or roll it back). If that is what you want, make it a data dataset yourself — move the folder aside, zfs create -o mountpoint=${dir} ${pool}/NAME, copy the content back — then kclone ${dir} DST`,
      EXIT.badInput,
    );
  const rel = p.mountpoint === '/' ? dir.slice(1) : dir.slice(p.mountpoint.length + 1);
  if (!dir.startsWith(p.mountpoint === '/' ? '/' : `${p.mountpoint}/`) || rel.includes('/'))
    throw new KldloadError(
      `--convert takes a folder directly in a dataset's mountpoint (${p.mountpoint}/NAME); ${dir} is deeper: convert ${p.mountpoint}/${rel.split('/')[0]} first, then the folder below it`,
      EXIT.badInput,
    );
  const ds = `${p.dataset}/${rel}`;
  if (!isDataset(ds))
    throw new KldloadError(
      `${dir}: the folder's name cannot name a dataset (${ds}): letters, digits and _ . : - only; rename the folder first`,
      EXIT.badInput,
    );
  return ds;
}

/**
 * --convert: SRC, a plain folder directly in a data dataset, becomes that dataset's child of the same
 * name, mounted where the folder was. In order: the parent is snapshotted (the folder as it was stays
 * there), the dataset is made and mounted aside, the content copied (cp -a: owners, modes, times,
 * links, ACLs and xattrs) and compared (diff -r), the folder moved aside to SRC.kclone-orig-<stamp>
 * (kept: nothing is deleted) and the dataset mounted at SRC. Not done for a folder of a boot
 * environment, one with mounts inside it, or one deeper than directly below the dataset's mountpoint.
 */
export function planConvert(f: ConvertFacts): { steps: Step[]; source: CloneSource; cleanup: Action[] } {
  const p = f.parent;
  const ds = convertTarget(f.dir, p);
  if (f.siblings.includes(ds))
    throw new KldloadError(
      `${ds} exists already (not mounted at ${f.dir}?); see zfs list -r ${p.dataset}`,
      EXIT.badInput,
    );
  if (f.mountsBelow.length)
    throw new KldloadError(
      `${f.dir} has filesystems mounted inside it (${f.mountsBelow.join(', ')}); they would not be copied. Unmount them first`,
      EXIT.badInput,
    );
  if (f.bytes + CONVERT_RESERVE > p.available)
    throw new KldloadError(
      `converting ${f.dir} copies ${humanBytes(f.bytes)} (the original is kept until you remove it); ${p.dataset} has ${humanBytes(p.available)} available. Free space first`,
      EXIT.badInput,
    );
  const stage = convertStage(f.stamp);
  const aside = `${f.dir}.kclone-orig-${f.stamp}`;
  const safety = `${p.dataset}@${KCLONE_PREFIX}convert-${f.stamp}`;
  const steps: Step[] = [
    {
      name: 'convert-snapshot',
      title: `${safety}: the folder as it is now stays in this snapshot whatever follows`,
      actions: [run(zfs.snapshot(safety, false, { 'org.kldload:cmd': f.cmd }))],
    },
    {
      name: 'convert-dataset',
      title: `${ds} (its mountpoint is inherited: ${f.dir}), mounted aside at ${stage} for the copy`,
      actions: [
        run(zfs.create(ds, { canmount: 'noauto' })),
        { kind: 'mkdir', path: stage },
        run(zfs.mountAt(ds, stage)),
      ],
    },
    {
      name: 'convert-copy',
      title: `copy ${f.dir} into ${ds} (${humanBytes(f.bytes)}; owners, modes, times, hard links, ACLs, xattrs), then compare every file`,
      actions: [
        run(['cp', '-a', `${f.dir}/.`, `${stage}/`]),
        run(['diff', '-r', '--no-dereference', f.dir, stage]),
      ],
    },
    {
      name: 'convert-swap',
      title: `${f.dir} → ${aside} (kept: remove it once you have checked the dataset), ${ds} mounted at ${f.dir}`,
      actions: [
        run(['umount', stage]),
        run(['rmdir', stage]),
        run(['mv', '-T', f.dir, aside]),
        run(zfs.set(ds, { canmount: 'on' })),
        run(zfs.mount(ds)),
      ],
    },
  ];
  return {
    steps,
    // What the clone steps see: a new dataset with nothing of its own, no children, no snapshots.
    source: {
      dataset: ds,
      type: 'filesystem',
      props: [{ name: ds, property: 'mountpoint', value: f.dir, source: `inherited from ${p.dataset}` }],
      children: [],
      snapshots: [],
    },
    cleanup: [
      run(['umount', stage], { mayFail: true, unless: ['sh', '-c', `! mountpoint -q ${stage}`] }),
      // A failure after the folder was moved aside and before the dataset was mounted in its place:
      // put it back (over the empty folder a failed zfs mount may have made, never over anything else).
      run(
        [
          'sh',
          '-c',
          'mountpoint -q "$2" || { rmdir "$2" 2>/dev/null; test -e "$2" || mv -T "$1" "$2"; }',
          'sh',
          aside,
          f.dir,
        ],
        {
          mayFail: true,
          unless: ['sh', '-c', '! test -e "$1"', 'sh', aside],
        },
      ),
    ],
  };
}

/** kclone --convert SRC DST: the folder becomes a dataset, then the clone as for any dataset. */
export function planConvertAndClone(
  f: ConvertFacts,
  dst: Pick<CloneFacts, 'dst' | 'dstState'>,
  o: Omit<CloneOptions, 'from'>,
): Plan {
  const c = planConvert(f);
  const clone = planClone(
    { src: c.source, ...dst, siblings: [...f.siblings, c.source.dataset], stamp: f.stamp },
    o,
  );
  return {
    facts: {
      ...clone.facts,
      converted: {
        folder: f.dir,
        dataset: c.source.dataset,
        keptAt: `${f.dir}.kclone-orig-${f.stamp}`,
        snapshot: `${f.parent.dataset}@${KCLONE_PREFIX}convert-${f.stamp}`,
      },
    },
    steps: [...c.steps, ...clone.steps],
    cleanup: [...c.cleanup, ...clone.cleanup],
  };
}

/** What --convert does, for --help and the refusal without it. */
export const CONVERT_HELP = `--convert (consent): SRC, a plain folder directly in a data dataset (e.g. /srv/www in rpool/srv),
  becomes a dataset first: 1. the parent dataset is snapshotted (<parent>@kclone-convert-<stamp>);
  2. <parent>/<folder> is created and mounted aside; 3. the folder is copied into it (cp -a) and
  compared (diff -r); 4. the folder is moved aside to SRC.kclone-orig-<stamp> (kept, nothing is
  deleted: remove it once checked) and the dataset mounted at SRC. Stop what writes into SRC first:
  writes during the copy fail the compare (nothing is swapped), writes after it land in the folder
  moved aside. Needs as much free space as the folder takes. Refused for a folder of a boot
  environment (it would leave the BE), one deeper than directly in the dataset's mountpoint, and
  one with mounts inside it.`;

/* ───────────────────────── kclone --list / destroy ───────────────────────── */

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

export interface CloneDestroyFacts {
  dataset: string;
  mountpoint: string | null;
  /** Its origin snapshot; null when it is not a clone. */
  origin: string | null;
  children: string[];
  /** Its snapshots that clones were made from, with those clones. */
  dependents: { snapshot: string; clones: string[] }[];
  /** The origin snapshot's clones and holds: it goes too when kclone took it and nothing else uses it. */
  originClones: string[];
  originHolds: number;
}

/**
 * kclone destroy DST: a clone only (its origin set), never a boot environment, never one that other
 * clones were made from (zfs promote hands the shared history over first), never one with datasets
 * below it. Its own snapshots go with it, then the snapshot kclone took for it when no clone uses it.
 */
export function planCloneDestroy(f: CloneDestroyFacts): Plan {
  refuseBe(f.dataset, 'DST');
  if (f.dependents.length) {
    const made = f.dependents.flatMap((d) => d.clones.map((c) => `${c} (from ${d.snapshot})`));
    const first = f.dependents[0]?.clones[0] ?? '';
    throw new KldloadError(
      `${f.dataset} is the origin of ${made.join(', ')}: destroying it would destroy ${made.length === 1 ? 'that clone' : 'those clones'} too, so kclone refuses. To keep ${first} and drop ${f.dataset}: ${zfs.promote(first).join(' ')} (${first} takes over the shared snapshots and ${f.dataset} becomes its clone), then kclone destroy ${f.mountpoint ?? f.dataset}`,
      EXIT.badInput,
      { dependents: f.dependents },
    );
  }
  if (!f.origin)
    throw new KldloadError(
      `${f.dataset} is not a clone (it has no origin); kclone destroy removes clones only. A dataset of its own is destroyed with zfs destroy, knowingly`,
      EXIT.badInput,
    );
  if (f.children.length)
    throw new KldloadError(
      `${f.dataset} has dataset(s) below it (${f.children.join(', ')}); destroy or move them first`,
      EXIT.badInput,
    );
  const originName = f.origin.slice(f.origin.indexOf('@') + 1);
  const dropOrigin =
    originName.startsWith(KCLONE_PREFIX) &&
    f.originHolds === 0 &&
    f.originClones.length === 1 &&
    f.originClones[0] === f.dataset;
  const steps: Step[] = [
    {
      name: 'check',
      title: `${f.dataset} can be destroyed with its own snapshots (zfs destroy -n)`,
      actions: [run(zfs.destroy(f.dataset, { recursive: true, dryRun: true }))],
    },
    {
      name: 'destroy',
      title: `destroy ${f.dataset} and its snapshots${f.mountpoint ? ` (unmounted from ${f.mountpoint}; the empty folder goes too)` : ''}`,
      actions: [
        run(zfs.destroy(f.dataset, { recursive: true })),
        // zfs leaves the mountpoint folder behind; rmdir removes it only while it is empty.
        ...(f.mountpoint ? [run(['rmdir', f.mountpoint], { mayFail: true })] : []),
      ],
    },
  ];
  if (dropOrigin)
    steps.push({
      name: 'origin',
      title: `destroy ${f.origin}: kclone took it for this clone and nothing else uses it`,
      actions: [run(zfs.destroy(f.origin))],
    });
  return {
    facts: { dataset: f.dataset, origin: f.origin, originDestroyed: dropOrigin },
    steps,
    cleanup: [],
  };
}
