import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step } from '../core/plan.ts';
import { humanBytes, isDataset, zfs } from '../zfs/zfs.ts';
import {
  type CloneOptions,
  type CloneSource,
  type CloneTarget,
  checkDst,
  KCLONE_PREFIX,
  planClone,
  poolOf,
  under,
} from './clone.ts';

/**
 * kclone --convert: a plain folder becomes a dataset first (with consent), then it is cloned as any
 * dataset (clone.ts).
 */

/** Room kept free in the pool beyond a converted folder's size (metadata, the pool's slop). */
export const CONVERT_RESERVE = 64 * 1024 * 1024;

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
  targets: CloneTarget[],
  o: Omit<CloneOptions, 'from'>,
): Plan {
  const c = planConvert(f);
  const clone = planClone(
    { src: c.source, targets, siblings: [...f.siblings, c.source.dataset], stamp: f.stamp },
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
