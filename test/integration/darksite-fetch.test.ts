/**
 * fetchDebs against a mirror on 127.0.0.1 whose every answer the test chooses: kept-alive
 * connections, largest first, SHA256 and size checks, short and cut answers, redirects (to this
 * host and another) and chunked answers, error statuses, connections the server drops, and what a
 * failure leaves behind.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { debCachePath, type FetchProgress, fetchDebs, type Wanted } from '../../src/darksite/fetch.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

type Mode =
  | 'ok'
  | 'chunked'
  | 'redirect'
  | 'elsewhere'
  | 'gzip'
  | 'close'
  | 'short'
  | 'cut'
  | 'cut-once'
  | 'wrong'
  | 'slow'
  | 'drop-reused';

interface File {
  body: Buffer;
  mode: Mode;
}

const files = new Map<string, File>();
let requests: string[] = [];
let connections = 0;
let server: Server;
let other: Server;
let mirror = '';
let elsewhere = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').replace(/^\/debian\//, '');
    requests.push(path);
    const sock = req.socket as typeof req.socket & { served?: number };
    sock.served = (sock.served ?? 0) + 1;
    const f = files.get(path.replace(/^moved\//, ''));
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    const b = f.body;
    switch (f.mode) {
      case 'drop-reused':
        // Answers the first request of a connection; closes it, unanswered, on the second.
        if (sock.served > 1) {
          sock.destroy();
          return;
        }
        res.writeHead(200, { 'Content-Length': b.length }).end(b);
        return;
      case 'chunked':
        res.writeHead(200);
        res.write(b.subarray(0, b.length >> 1));
        res.end(b.subarray(b.length >> 1));
        return;
      case 'redirect':
        if (!path.startsWith('moved/')) {
          res.writeHead(302, { Location: `/debian/moved/${path}`, 'Content-Length': 0 }).end();
          return;
        }
        res.writeHead(200, { 'Content-Length': b.length }).end(b);
        return;
      case 'elsewhere':
        if (!path.startsWith('moved/')) {
          res.writeHead(301, { Location: `${elsewhere}/moved/${path}`, 'Content-Length': 0 }).end();
          return;
        }
        res.writeHead(200, { 'Content-Length': b.length }).end(b);
        return;
      case 'gzip': {
        const z = gzipSync(b);
        res.writeHead(200, { 'Content-Length': z.length, 'Content-Encoding': 'gzip' }).end(z);
        return;
      }
      case 'close':
        res.writeHead(200, { 'Content-Length': b.length, Connection: 'close' }).end(b);
        return;
      case 'short':
        res.writeHead(200, { 'Content-Length': b.length - 100 }).end(b.subarray(0, b.length - 100));
        return;
      case 'cut':
      case 'cut-once':
        if (f.mode === 'cut-once' && requests.filter((r) => r === path).length > 1) {
          res.writeHead(200, { 'Content-Length': b.length }).end(b);
          return;
        }
        res.writeHead(200, { 'Content-Length': b.length });
        res.write(b.subarray(0, b.length >> 1), () => sock.destroy());
        return;
      case 'wrong': {
        const w = Buffer.from(b);
        w[w.length - 1] = (w[w.length - 1] ?? 0) ^ 0xff;
        res.writeHead(200, { 'Content-Length': w.length }).end(w);
        return;
      }
      case 'slow':
        res.writeHead(200, { 'Content-Length': b.length });
        res.write(b.subarray(0, 1000));
        setTimeout(() => res.end(b.subarray(1000)), 300);
        return;
      default:
        res.writeHead(200, { 'Content-Length': b.length }).end(b);
    }
  };
  server = createServer(answer);
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  // Another host (another origin) for redirects that leave the mirror.
  other = createServer(answer);
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}/debian`;
});

after(() => {
  for (const s of [server, other]) {
    s.closeAllConnections();
    s.close();
  }
});

/** Fresh cache, fresh counters; `spec` is name → [bytes, mode]. */
function setup(spec: Record<string, [number, Mode?]>): Wanted[] {
  useThrowAwayCache();
  files.clear();
  requests = [];
  connections = 0;
  server.closeAllConnections();
  return Object.entries(spec).map(([name, [bytes, mode]]) => {
    const body = randomBytes(bytes);
    const filename = `pool/main/${name[0]}/${name}/${name}_1.0+b1_amd64.deb`;
    files.set(filename, { body, mode: mode ?? 'ok' });
    return { name, filename, sha256: createHash('sha256').update(body).digest('hex'), size: bytes };
  });
}

function partsLeft(): string[] {
  const debs = join(process.env.KLDLOAD_CACHE ?? '', 'debs');
  if (!existsSync(debs)) return [];
  return readdirSync(debs, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.part'));
}

function assertCached(ws: Wanted[]): void {
  for (const w of ws)
    assert.ok(
      readFileSync(debCachePath(w.sha256)).equals(files.get(w.filename)?.body ?? Buffer.alloc(0)),
      w.name,
    );
  assert.deepEqual(partsLeft(), []);
}

test('every file over at most `concurrency` kept-alive connections, largest first, verified into the cache', async () => {
  const spec: Record<string, [number]> = {};
  for (let i = 0; i < 20; i++) spec[`pkg${i}`] = [1000 + ((i * 7919) % 20) * 150_000];
  const ws = setup(spec);
  const seen: FetchProgress[] = [];
  const paths = await fetchDebs(mirror, ws, { concurrency: 3, onProgress: (p) => seen.push({ ...p }) });
  assertCached(ws);
  assert.deepEqual(
    [...paths.keys()],
    ws.map((w) => w.name),
  );
  assert.equal(requests.length, 20);
  assert.ok(connections <= 3, `${connections} connections`);
  const bySize = [...ws].sort((a, b) => b.size - a.size).map((w) => w.filename);
  assert.deepEqual(new Set(requests.slice(0, 3)), new Set(bySize.slice(0, 3)));
  const last = seen[seen.length - 1];
  assert.equal(last?.done, 20);
  assert.equal(last?.bytes, last?.totalBytes);
  assert.equal(last?.cached, 0);
});

test('a cached file is not fetched again, and two names for one file fetch it once', async () => {
  const ws = setup({ alpha: [5000], beta: [7000] });
  const alpha = ws[0] as Wanted;
  await fetchDebs(mirror, [...ws, { ...alpha, name: 'alpha-alias' }]);
  assert.equal(requests.length, 2);
  requests = [];
  const paths = await fetchDebs(mirror, ws);
  assert.equal(requests.length, 0);
  assert.equal(paths.get('alpha'), debCachePath(alpha.sha256));
  assertCached(ws);
});

test('content that does not match the index: refused at once, the package named, nothing kept', async () => {
  const ws = setup({ hello: [300_000, 'wrong'] });
  await assert.rejects(fetchDebs(mirror, ws), /^KldloadError: hello: .*SHA256 mismatch.*discarded/);
  assert.equal(requests.length, 1, 'a mismatch is not retried');
  assert.ok(!existsSync(debCachePath(ws[0]?.sha256 ?? '')));
  assert.deepEqual(partsLeft(), []);
});

test('an answer shorter than the index says is refused at once, the package named', async () => {
  const ws = setup({ libshort: [200_000, 'short'] });
  await assert.rejects(fetchDebs(mirror, ws), /^KldloadError: libshort: .*199900 bytes.*200000/);
  assert.equal(requests.length, 1);
  assert.ok(!existsSync(debCachePath(ws[0]?.sha256 ?? '')));
  assert.deepEqual(partsLeft(), []);
});

test('a connection cut mid-body is retried; when every attempt is cut, the error names the package', async () => {
  let ws = setup({ flaky: [800_000, 'cut-once'] });
  await fetchDebs(mirror, ws);
  assert.equal(requests.length, 2);
  assertCached(ws);

  ws = setup({ broken: [800_000, 'cut'] });
  await assert.rejects(
    fetchDebs(mirror, ws, { attempts: 2 }),
    /^KldloadError: broken: .*failed after 2 attempts/,
  );
  assert.equal(requests.length, 2);
  assert.ok(!existsSync(debCachePath(ws[0]?.sha256 ?? '')));
  assert.deepEqual(partsLeft(), []);
});

test('redirects and chunked answers are followed, and still verified', async () => {
  let ws = setup({ moved: [400_000, 'redirect'], big: [900_000], chunky: [300_000, 'chunked'], tiny: [10] });
  await fetchDebs(mirror, ws, { concurrency: 2 });
  assertCached(ws);

  ws = setup({ chunky: [300_000, 'chunked'] });
  (files.get(ws[0]?.filename ?? '') as File).body = randomBytes(300_000);
  await assert.rejects(fetchDebs(mirror, ws), /^KldloadError: chunky: .*SHA256 mismatch.*discarded/);
  assert.deepEqual(partsLeft(), []);
});

test('Connection: close, and a kept-alive connection the server drops, are replaced at once', async () => {
  const spec: Record<string, [number, Mode]> = {};
  for (let i = 0; i < 6; i++) spec[`c${i}`] = [50_000 + i, i % 2 ? 'close' : 'drop-reused'];
  const ws = setup(spec);
  // One attempt: a dropped idle connection must not cost one (nor its back-off).
  await fetchDebs(mirror, ws, { concurrency: 2, attempts: 1 });
  assertCached(ws);
});

test('after a failure no other file is started, and nothing is still writing when it is reported', async () => {
  const ws = setup({
    aa: [2_000_000, 'slow'],
    ab: [1_900_000, 'slow'],
    ac: [1_800_000, 'wrong'],
    ad: [1000],
    ae: [1000],
    af: [1000],
  });
  await assert.rejects(fetchDebs(mirror, ws, { concurrency: 3 }), /^KldloadError: ac: .*SHA256 mismatch/);
  assert.deepEqual(partsLeft(), []);
  await sleep(500);
  assert.deepEqual(
    requests.sort(),
    ws
      .slice(0, 3)
      .map((w) => w.filename)
      .sort(),
  );
  assert.deepEqual(partsLeft(), []);
});

test('a redirect to another host is followed there, and still verified', async () => {
  const ws = setup({ far: [600_000, 'elsewhere'], near: [5000], away: [7000, 'elsewhere'] });
  let there = 0;
  const count = () => there++;
  other.on('request', count);
  try {
    await fetchDebs(mirror, ws, { concurrency: 2, attempts: 1 });
  } finally {
    other.off('request', count);
  }
  assertCached(ws);
  assert.equal(there, 2);
  assert.deepEqual(
    requests.filter((r) => r.startsWith('moved/')).sort(),
    [ws[0], ws[2]].map((w) => `moved/${w?.filename}`).sort(),
  );
});

test('an error status is retried, then reported with the package and the status', async () => {
  const ws = setup({ ghost: [1000] });
  files.delete(ws[0]?.filename ?? '');
  await assert.rejects(
    fetchDebs(mirror, ws, { attempts: 2 }),
    /^KldloadError: ghost: .*failed after 2 attempts \(HTTP 404\)/,
  );
  assert.equal(requests.length, 2);
  assert.deepEqual(partsLeft(), []);
});

test('an answer encoded though none was asked for is refused at once, nothing kept', async () => {
  const ws = setup({ zipped: [100_000, 'gzip'] });
  await assert.rejects(fetchDebs(mirror, ws), /^KldloadError: zipped: .*Content-Encoding gzip/);
  assert.equal(requests.length, 1);
  assert.ok(!existsSync(debCachePath(ws[0]?.sha256 ?? '')));
  assert.deepEqual(partsLeft(), []);
});
