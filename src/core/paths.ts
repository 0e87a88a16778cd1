import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { utcStamp } from './time.ts';

/** Build caches live outside the repository, keyed by content; override with KLDLOAD_CACHE. */
export function cacheDir(...sub: string[]): string {
  const base =
    process.env.KLDLOAD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kldload');
  return join(base, ...sub);
}

/**
 * A new run folder, <cache>/vm/<prefix><UTC stamp>, for a VM run (kldload test, the VM tests, the
 * benches). A run leaves disks of several GB, kept so a failed run can be looked into and the benches
 * can boot the last install; older runs of the same prefix are removed first, so only the newest
 * `keep` (this one included) stay. Folders with other names (a user's --workdir) are never touched.
 */
export function newRunDir(prefix: string, keep: number, stamp = utcStamp()): string {
  if (!/^[a-z0-9-]*$/.test(prefix))
    throw new Error(`run folder prefix ${JSON.stringify(prefix)}: a-z, 0-9, -`);
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep ${keep}: at least 1 (this run)`);
  const root = cacheDir('vm');
  const name = `${prefix}${stamp}`;
  const run = new RegExp(`^${prefix}\\d{8}T\\d{6}Z$`);
  // UTC stamps sort by time as text.
  const older = existsSync(root)
    ? readdirSync(root)
        .filter((n) => run.test(n) && n < name)
        .sort()
    : [];
  for (const n of older.slice(0, Math.max(0, older.length - (keep - 1))))
    rmSync(join(root, n), { recursive: true, force: true });
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Stable content key: sha256 of a canonical JSON rendering, shortened for file names. */
export function contentKey(value: unknown, length = 16): string {
  return sha256(canonicalJson(value)).slice(0, length);
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
