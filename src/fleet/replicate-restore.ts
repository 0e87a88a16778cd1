/**
 * kldload replicate restore: bring back from B what a job replicated, over the job's own key (B's
 * forced command allows `zfs send` of its replicas' snapshots and reading one file of one).
 *
 * - A dataset comes back NEXT TO the original, as DATASET-restored (or --as NAME), never over it:
 *   the original may hold newer data than any snapshot on B, and swapping the two is one `zfs rename`
 *   each once the restored copy was looked at. An existing target is refused, whatever it holds.
 * - A file comes back at its own path, with its mode and owner as in the snapshot; an existing file
 *   is refused unless --force (then it is replaced).
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Plan } from '../core/plan.ts';
import { pipe, run } from '../core/plan.ts';
import { isDataset, zfs } from '../zfs/zfs.ts';
import { type ReplJob, replicaOf, sshArgv } from './replicate.ts';

/** What kldload runs on B to list a replica's snapshots (B's forced command knows this exact line). */
export const listSnapshotsLine = (replica: string) =>
  `zfs list -Hp -o name,creation -t snapshot -s creation -d 1 ${replica}`;
export const sendLine = (snap: string) => `zfs send -L -c -e ${snap}`;
export const readLine = (verb: 'stat' | 'cat', snap: string, path: string) =>
  `kldload-read ${verb} ${snap} ${Buffer.from(path).toString('base64')}`;

const refuse = (msg: string) => new KldloadError(msg, EXIT.badInput);

/** The snapshot (full name on B) to restore from: --snapshot NAME, else the newest. */
export function pickSnapshot(j: ReplJob, snapshots: readonly string[], wanted?: string): string {
  const replica = replicaOf(j);
  if (!snapshots.length)
    throw refuse(`${j.target}:${replica} has no snapshot: has kldload replicate run ${j.name} run yet?`);
  if (wanted === undefined) return snapshots.at(-1) as string;
  const full = wanted.includes('@') ? wanted : `${replica}@${wanted}`;
  if (!snapshots.includes(full))
    throw refuse(
      `--snapshot ${wanted}: not on ${j.target}:${replica}; it has ${snapshots
        .slice(-5)
        .map((s) => s.slice(s.indexOf('@') + 1))
        .join(', ')}${snapshots.length > 5 ? ' … (newest last)' : ''}`,
    );
  return full;
}

export interface RestoreDatasetFacts {
  job: ReplJob;
  /** The replica's snapshots on B, oldest first. */
  snapshots: string[];
  /** The dataset to restore into exists on A. */
  destExists: boolean;
}

export const restoredName = (j: ReplJob, as?: string) => as ?? `${j.dataset}-restored`;

export function planRestoreDataset(f: RestoreDatasetFacts, o: { snapshot?: string; as?: string }): Plan {
  const j = f.job;
  const dest = restoredName(j, o.as);
  if (!isDataset(dest))
    throw refuse(`--as ${JSON.stringify(dest)}: a dataset name, e.g. ${j.dataset}-restored`);
  if (dest === j.dataset || f.destExists)
    throw refuse(
      `${dest} exists: restore never writes over a dataset (it may hold data newer than any snapshot on B). Give another name with --as, or rename it first (zfs rename ${dest} ${dest}-old)`,
    );
  const snap = pickSnapshot(j, f.snapshots, o.snapshot);
  return {
    facts: { job: j.name, from: `${j.target}:${snap}`, dataset: dest },
    steps: [
      {
        name: 'receive',
        title: `${dest} ← ${j.target}:${snap} (a full stream over the job's key; received unmounted)`,
        actions: [pipe(sshArgv(j, sendLine(snap)), zfs.receive(dest), true)],
      },
      {
        name: 'mount',
        title: `${dest} mounted where it inherits (next to ${j.dataset}); swap with zfs rename when it is right`,
        actions: [run(zfs.mount(dest))],
      },
    ],
    cleanup: [],
  };
}

export interface FileStat {
  /** Octal mode digits as stat %a prints them. */
  mode: string;
  uid: string;
  gid: string;
  size: number;
}

/** `mode uid gid size` as replicate-read stat prints it. */
export function parseStat(line: string): FileStat {
  const m = /^([0-7]{3,4}) (\d+) (\d+) (\d+)$/.exec(line.trim());
  if (!m)
    throw new KldloadError(
      `unexpected answer from B's replicate-read stat: ${JSON.stringify(line)}`,
      EXIT.failed,
    );
  return { mode: m[1] as string, uid: m[2] as string, gid: m[3] as string, size: Number(m[4]) };
}

/** PATH (absolute, on A) → its path inside the dataset mounted at MOUNTPOINT. */
export function pathInDataset(path: string, mountpoint: string, j: ReplJob): string {
  const mp = mountpoint.replace(/\/+$/, '');
  if (!path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.'))
    throw refuse(`--file ${JSON.stringify(path)}: an absolute path without . or .. parts`);
  if (!mountpoint.startsWith('/') || !(path.startsWith(`${mp}/`) && path.length > mp.length + 1))
    throw refuse(`--file ${path} is not a file of ${j.dataset} (mounted at ${mountpoint})`);
  return path.slice(mp.length);
}

export interface RestoreFileFacts {
  job: ReplJob;
  snapshots: string[];
  /** The job's dataset's mountpoint on A. */
  mountpoint: string;
  /** PATH exists on A now. */
  exists: boolean;
}

export interface RestoreFileOptions {
  file: string;
  snapshot?: string;
  force?: boolean;
}

/** The snapshot and the path B reads, checked before B is asked for the file's stat. */
export function restoreFileSource(f: RestoreFileFacts, o: RestoreFileOptions): { snap: string; rel: string } {
  const rel = pathInDataset(o.file, f.mountpoint, f.job);
  if (f.exists && !o.force)
    throw refuse(`${o.file} exists: --force replaces it with the copy from B (or move it away first)`);
  return { snap: pickSnapshot(f.job, f.snapshots, o.snapshot), rel };
}

export function planRestoreFile(f: RestoreFileFacts, o: RestoreFileOptions, stat: FileStat): Plan {
  const { snap, rel } = restoreFileSource(f, o);
  const j = f.job;
  return {
    facts: { job: j.name, from: `${j.target}:${snap}`, path: rel, file: o.file, bytes: stat.size },
    steps: [
      {
        name: 'file',
        title: `${o.file} ← ${rel} of ${j.target}:${snap} (${stat.size} bytes, mode ${stat.mode}, owner ${stat.uid}:${stat.gid})`,
        actions: [
          pipe(sshArgv(j, readLine('cat', snap, rel)), [
            'install',
            '-D',
            '-m',
            stat.mode,
            '-o',
            stat.uid,
            '-g',
            stat.gid,
            '/dev/stdin',
            o.file,
          ]),
        ],
      },
    ],
    cleanup: [],
  };
}
