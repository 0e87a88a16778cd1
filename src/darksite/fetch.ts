import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KldloadError } from '../core/errors.ts';
import { cacheDir } from '../core/paths.ts';
import { retry } from '../core/time.ts';
import { NotPlain, PlainHttpConnection } from './plain-http.ts';

export interface Wanted {
  name: string;
  filename: string;
  sha256: string;
  size: number;
}

/** Connections to the mirror at a time, unless the caller says otherwise. */
export const FETCH_CONCURRENCY = 8;

/** Content-addressed: a .deb is stored under its SHA256, so a re-run downloads nothing it has. */
export function debCachePath(sha256: string): string {
  return cacheDir('debs', sha256.slice(0, 2), `${sha256}.deb`);
}

/** One run's shared state: the folders made so far, and whether the plain fast path still applies. */
interface Run {
  mirror: string;
  attempts: number;
  dirs: Map<string, Promise<unknown>>;
  plain: boolean;
}

/** The file being written: every byte goes to the hash and the file, in order. */
class Part {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(readonly fd: number) {}
  write(b: Uint8Array): void {
    this.hash.update(b);
    for (let off = 0; off < b.length; ) off += writeSync(this.fd, b, off);
    this.bytes += b.length;
  }
}

/** The body another way: fetch() follows redirects, takes chunked answers and https. */
async function viaFetch(url: string, part: Part): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  for await (const c of res.body as AsyncIterable<Uint8Array>) part.write(c);
}

async function fetchOne(run: Run, w: Wanted, conn: PlainHttpConnection | undefined): Promise<void> {
  const dst = debCachePath(w.sha256);
  const dir = dirname(dst);
  if (!run.dirs.has(dir)) run.dirs.set(dir, mkdir(dir, { recursive: true }));
  await run.dirs.get(dir);
  const tmp = `${dst}.${process.pid}.part`;
  const url = `${run.mirror}/${w.filename}`;
  await retry(
    async () => {
      let fd = openSync(tmp, 'w');
      try {
        const part = new Part(fd);
        let done = false;
        if (conn && run.plain) {
          try {
            const u = new URL(url);
            await conn.get(`${u.pathname}${u.search}`, {
              length: (n) => {
                if (n !== w.size)
                  throw new KldloadError(
                    `${w.name}: the mirror serves ${n} bytes for ${w.filename}, the signed index says ${w.size}; refused`,
                  );
              },
              chunk: (b) => part.write(b),
            });
            done = true;
          } catch (e) {
            if (!(e instanceof NotPlain)) throw e;
            // A redirect, a chunked answer…: this file (nothing of it written yet) and the rest
            // of the run go through fetch().
            run.plain = false;
          }
        }
        if (!done) await viaFetch(url, part);
        const got = part.hash.digest('hex');
        if (part.bytes !== w.size)
          throw new KldloadError(
            `${w.name}: ${w.filename} came with ${part.bytes} bytes, the signed index says ${w.size} (SHA256 mismatch: want ${w.sha256}, got ${got}); file discarded`,
          );
        if (got !== w.sha256)
          throw new KldloadError(
            `${w.name}: ${w.filename}: SHA256 mismatch (want ${w.sha256}, got ${got}); file discarded`,
          );
        closeSync(fd);
        fd = -1;
        renameSync(tmp, dst);
      } catch (e) {
        if (fd >= 0) closeSync(fd);
        rmSync(tmp, { force: true });
        throw e;
      }
    },
    {
      attempts: run.attempts,
      delayMs: (i) => 500 * 2 ** i,
      // A mismatch is not retried: the mirror serves something other than the signed index says.
      retryable: (e) => !(e instanceof KldloadError),
      giveUp: (last) =>
        new KldloadError(
          `${w.name}: ${url}: failed after ${run.attempts} attempts (${last instanceof Error ? last.message : String(last)}); the cache is intact`,
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
 * Downloads every wanted .deb not already in the cache over `concurrency` kept-alive connections,
 * largest first (the biggest file is never the last one left on a single connection), each hashed
 * and written as it streams and checked against the SHA256 and size of the signed index before
 * it takes its final name. Returns the cache path per package.
 */
export async function fetchDebs(
  mirror: string,
  wanted: Wanted[],
  o: { concurrency?: number; attempts?: number; onProgress?: (p: FetchProgress) => void } = {},
): Promise<Map<string, string>> {
  const paths = new Map(wanted.map((w) => [w.name, debCachePath(w.sha256)]));
  // One download per missing file, even if two names want the same one.
  const missing = new Map<string, { w: Wanted; names: number }>();
  let cached = 0;
  for (const w of wanted) {
    const m = missing.get(w.sha256);
    if (m) m.names++;
    else if (existsSync(debCachePath(w.sha256))) cached++;
    else missing.set(w.sha256, { w, names: 1 });
  }
  const todo = [...missing.values()].sort((a, b) => b.w.size - a.w.size);
  const p: FetchProgress = {
    done: cached,
    total: wanted.length,
    bytes: 0,
    totalBytes: todo.reduce((n, t) => n + t.w.size, 0),
    cached,
  };
  const run: Run = { mirror, attempts: o.attempts ?? 3, dirs: new Map(), plain: true };
  let next = 0;
  let failed = false;
  const worker = async () => {
    let conn: PlainHttpConnection | undefined;
    try {
      conn = new PlainHttpConnection(new URL(mirror));
    } catch (e) {
      if (!(e instanceof NotPlain)) throw e;
    }
    try {
      while (!failed && next < todo.length) {
        const t = todo[next++] as (typeof todo)[number];
        await fetchOne(run, t.w, conn);
        p.done += t.names;
        p.bytes += t.w.size;
        o.onProgress?.(p);
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      conn?.close();
    }
  };
  // After a failure no worker starts another file, and each finishes (or discards) the one it has:
  // when this rejects, nothing is still writing into the cache.
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(o.concurrency ?? FETCH_CONCURRENCY, todo.length) }, worker),
  );
  const first = results.find((r) => r.status === 'rejected');
  if (first) throw first.reason;
  return paths;
}
