/**
 * What kldload replicate reads before it plans: job configs and run state (env files), zfs on this
 * machine, and over the job's key what B has (its forced command allows exactly these lines).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { formatEnvLine, parseEnvText } from '../../answers/parse.ts';
import { EXIT, KldloadError } from '../../core/errors.ts';
import {
  configPath,
  lastSyncSnap,
  parseJob,
  REPL_DIR,
  type ReplJob,
  replicaOf,
  sshArgv,
  statePath,
} from '../../fleet/replicate.ts';
import { listSnapshotsLine } from '../../fleet/replicate-restore.ts';
import { parseList, zfs } from '../../zfs/zfs.ts';
import type { Day2Env } from '../day2.ts';

export const jobNames = (R: string): string[] =>
  existsSync(`${R}${REPL_DIR}`)
    ? readdirSync(`${R}${REPL_DIR}`)
        .filter((f) => f.endsWith('.env'))
        .map((f) => f.slice(0, -'.env'.length))
        .sort()
    : [];

export function readJob(env: Day2Env, name: string): ReplJob {
  const R = env.root ?? '';
  const file = `${R}${configPath(name)}`;
  if (!existsSync(file)) {
    const names = jobNames(R);
    throw new KldloadError(
      `no replication job ${JSON.stringify(name)} (${configPath(name)}); ${names.length ? `jobs: ${names.join(', ')}` : 'add one with kldload replicate add'}`,
      EXIT.badInput,
    );
  }
  return parseJob(name, readFileSync(file, 'utf8'), configPath(name));
}

export interface RunState {
  lastRun?: string;
  lastResult?: string;
  lastSnapshot?: string;
}

const STATE_KEYS = { lastRun: 'LAST_RUN', lastResult: 'LAST_RESULT', lastSnapshot: 'LAST_SNAPSHOT' } as const;

export function readState(R: string, name: string): RunState {
  const file = `${R}${statePath(name)}`;
  if (!existsSync(file)) return {};
  const { entries } = parseEnvText(readFileSync(file, 'utf8'));
  const out: RunState = {};
  for (const [k, key] of Object.entries(STATE_KEYS)) {
    const v = entries.get(key)?.value;
    if (v) out[k as keyof RunState] = v;
  }
  return out;
}

export function formatState(s: RunState): string {
  return `${Object.entries(STATE_KEYS)
    .flatMap(([k, key]) => {
      const v = s[k as keyof RunState];
      return v ? [formatEnvLine(key, v)] : [];
    })
    .join('\n')}\n`;
}

export async function datasetExists(env: Day2Env, ds: string): Promise<boolean> {
  return (await env.exec.run(zfs.exists(ds), { check: false })).exitCode === 0;
}

/** The newest sync snapshot of this job on A: what the last good run sent. */
export async function lastSent(env: Day2Env, j: ReplJob): Promise<string | undefined> {
  const r = await env.exec.run(
    zfs.list(['name'], { roots: [j.dataset], types: ['snapshot'], depth: 1, sortBy: 'creation' }),
    { check: false },
  );
  return lastSyncSnap(
    j.name,
    parseList(r.stdout, ['name'] as const).map((x) => x.name),
  );
}

/** The replica's snapshots on B, oldest first, over the job's key. */
export async function remoteSnapshots(env: Day2Env, j: ReplJob): Promise<string[]> {
  const r = await env.exec.run(sshArgv(j, listSnapshotsLine(replicaOf(j))), { check: false });
  if (r.exitCode !== 0)
    throw new KldloadError(
      `cannot list ${j.target}:${replicaOf(j)} over the job's key (ssh exit ${r.exitCode}): ${r.all.trim()}`,
      EXIT.failed,
    );
  return parseList(r.stdout, ['name', 'creation'] as const).map((x) => x.name);
}
