import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Build caches live outside the repository, keyed by content; override with KLDLOAD_CACHE. */
export function cacheDir(...sub: string[]): string {
  const base =
    process.env.KLDLOAD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kldload');
  return join(base, ...sub);
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
