import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { KldloadError } from '../core/errors.ts';
import { cacheDir } from '../core/paths.ts';
import { retry } from '../core/time.ts';

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

/** One run's shared state: its connections and the folders made so far. */
interface Run {
  mirror: string;
  attempts: number;
  agent: Agent;
  dirs: Map<string, Promise<unknown>>;
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

/**
 * The connection closed before any byte of the answer came: as a rule a kept-alive one the server
 * closed while the request went out. undici fails such a request rather than sending it again;
 * fetchOne asks once more at once, on a new connection, and it costs no attempt.
 */
class Dropped extends Error {}

const DROPPED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/**
 * One GET through undici's dispatcher (no stream or promise per chunk): each body chunk, a view of
 * the socket's read, is hashed and written before the next is parsed. Redirects (followed by the
 * agent), chunked answers and https are undici's; a Content-Length other than the index's size is
 * refused before any byte is written.
 */
function get(run: Run, w: Wanted, url: URL, part: Part): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let began = false;
    let status: Error | undefined;
    const handler: Dispatcher.DispatchHandlers = {
      onConnect: () => {},
      onHeaders: (code, headers) => {
        if (code < 200) return true; // 1xx: the answer comes next
        began = true;
        if (code >= 300) {
          // Read past its (small) body and keep the connection; the attempt fails at the end.
          status = new Error(`HTTP ${code}`);
          return true;
        }
        let length: string | undefined;
        let encoding = 'identity';
        for (let i = 0; i + 1 < headers.length; i += 2) {
          const name = String(headers[i]).toLowerCase();
          if (name === 'content-length') length = String(headers[i + 1]).trim();
          else if (name === 'content-encoding') encoding = String(headers[i + 1]).trim();
        }
        // Asked for identity; anything else would be written undecoded and fail the checks.
        if (encoding.toLowerCase() !== 'identity')
          throw new KldloadError(
            `${w.name}: the mirror serves ${w.filename} with Content-Encoding ${encoding} though asked for none; refused`,
          );
        if (length !== undefined && Number(length) !== w.size)
          throw new KldloadError(
            `${w.name}: the mirror serves ${length} bytes for ${w.filename}, the signed index says ${w.size}; refused`,
          );
        return true;
      },
      onData: (chunk) => {
        if (!status) part.write(chunk);
        return true;
      },
      onComplete: () => (status ? reject(status) : resolve()),
      onError: (e) =>
        reject(!began && DROPPED.has((e as { code?: string }).code ?? '') ? new Dropped(e.message) : e),
    };
    run.agent.dispatch(
      {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { 'user-agent': 'kldload', 'accept-encoding': 'identity' },
      },
      handler,
    );
  });
}

async function fetchOne(run: Run, w: Wanted): Promise<void> {
  const dst = debCachePath(w.sha256);
  const dir = dirname(dst);
  if (!run.dirs.has(dir)) run.dirs.set(dir, mkdir(dir, { recursive: true }));
  await run.dirs.get(dir);
  const tmp = `${dst}.${process.pid}.part`;
  const url = `${run.mirror}/${w.filename}`;
  const u = new URL(url);
  await retry(
    async () => {
      let fd = openSync(tmp, 'w');
      try {
        let part = new Part(fd);
        try {
          await get(run, w, u, part);
        } catch (e) {
          if (!(e instanceof Dropped)) throw e;
          // Nothing of it came: ask again at once, on a new connection, without costing an attempt.
          part = new Part(fd);
          await get(run, w, u, part);
        }
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
 * Downloads every wanted .deb not already in the cache over `concurrency` kept-alive connections
 * (one undici Agent for the run), largest first (the biggest file is never the last one left on a single connection), each hashed
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
  const concurrency = Math.min(o.concurrency ?? FETCH_CONCURRENCY, todo.length);
  const run: Run = {
    mirror,
    attempts: o.attempts ?? 3,
    // Kept-alive connections, one request on each at a time; a redirect elsewhere gets its own.
    agent: new Agent({
      connections: concurrency,
      pipelining: 1,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      maxRedirections: 20,
    }),
    dirs: new Map(),
  };
  let next = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (!failed && next < todo.length) {
        const t = todo[next++] as (typeof todo)[number];
        await fetchOne(run, t.w);
        p.done += t.names;
        p.bytes += t.w.size;
        o.onProgress?.(p);
      }
    } catch (e) {
      failed = true;
      throw e;
    }
  };
  // After a failure no worker starts another file, and each finishes (or discards) the one it has:
  // when this rejects, nothing is still writing into the cache.
  const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  await run.agent.close();
  const first = results.find((r) => r.status === 'rejected');
  if (first) throw first.reason;
  return paths;
}
