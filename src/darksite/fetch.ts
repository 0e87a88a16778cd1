import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KldloadError } from '../core/errors.ts';
import { cacheDir } from '../core/paths.ts';
import { retry } from '../core/time.ts';

export interface Wanted {
  name: string;
  filename: string;
  sha256: string;
  size: number;
}

/** Content-addressed: a .deb is stored under its SHA256, so a re-run downloads nothing it has. */
export function debCachePath(sha256: string): string {
  return cacheDir('debs', sha256.slice(0, 2), `${sha256}.deb`);
}

async function fetchOne(mirror: string, w: Wanted, attempts: number): Promise<void> {
  const dst = debCachePath(w.sha256);
  mkdirSync(dirname(dst), { recursive: true });
  const tmp = `${dst}.${process.pid}.part`;
  await retry(
    async () => {
      try {
        const res = await fetch(`${mirror}/${w.filename}`, { signal: AbortSignal.timeout(120_000) });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        const hash = createHash('sha256');
        let bytes = 0;
        const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
        body.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        await pipeline(body, createWriteStream(tmp));
        const got = hash.digest('hex');
        if (got !== w.sha256 || bytes !== w.size)
          throw new KldloadError(
            `${w.filename}: SHA256 mismatch (want ${w.sha256}, got ${got}); file discarded`,
          );
        renameSync(tmp, dst);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
    },
    {
      attempts,
      delayMs: (i) => 500 * 2 ** i,
      // A mismatch is not retried: the mirror serves something other than the signed index says.
      retryable: (e) => !(e instanceof KldloadError),
      giveUp: (last) =>
        new KldloadError(
          `${mirror}/${w.filename}: failed after ${attempts} attempts (${last instanceof Error ? last.message : String(last)}); the cache is intact`,
        ),
    },
  );
}

export interface FetchProgress {
  done: number;
  total: number;
  bytes: number;
  totalBytes: number;
  cached: number;
}

/**
 * Downloads every wanted .deb not already in the cache, `concurrency` at a time, each checked
 * against the SHA256 of the signed index while it streams. Returns the cache path per package.
 */
export async function fetchDebs(
  mirror: string,
  wanted: Wanted[],
  o: { concurrency?: number; attempts?: number; onProgress?: (p: FetchProgress) => void } = {},
): Promise<Map<string, string>> {
  const paths = new Map(wanted.map((w) => [w.name, debCachePath(w.sha256)]));
  const todo = wanted.filter((w) => !existsSync(debCachePath(w.sha256)));
  const p: FetchProgress = {
    done: wanted.length - todo.length,
    total: wanted.length,
    bytes: 0,
    totalBytes: todo.reduce((n, w) => n + w.size, 0),
    cached: wanted.length - todo.length,
  };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const w = todo[next++] as Wanted;
      await fetchOne(mirror, w, o.attempts ?? 3);
      p.done++;
      p.bytes += w.size;
      o.onProgress?.(p);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 8, todo.length) }, worker));
  return paths;
}
