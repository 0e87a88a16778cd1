/**
 * `kldload darksite serve`: a built darksite over HTTP, read-only, for other machines and tools
 * (kpkg on a LAN, apt on a build box). The live installer does not use this: it reads the
 * repository through file: URIs on a read-only bind mount of the medium.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import sirv from 'sirv';
import { EXIT, KldloadError } from '../core/errors.ts';
import { REPO } from './repo.ts';

export const DEFAULT_LISTEN = '127.0.0.1:3142';

export interface Listen {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[V6]:PORT` or `:PORT` (loopback). Port 0 asks the kernel for a free one. */
export function parseListen(s: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535)
    throw new KldloadError(
      `--listen ${s}: expected HOST:PORT, e.g. ${DEFAULT_LISTEN} or [::1]:3142`,
      EXIT.badInput,
    );
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** Suites a darksite repository carries (dists/<suite>/InRelease). */
export function repoSuites(dir: string): string[] {
  const dists = join(dir, 'dists');
  if (!existsSync(dists)) return [];
  return readdirSync(dists)
    .filter((s) => existsSync(join(dists, s, 'InRelease')))
    .sort();
}

export interface Serving {
  server: Server;
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:3142/ */
  url: string;
  dir: string;
  suites: string[];
  close(): Promise<void>;
}

/**
 * Serves `dir` read-only: GET and HEAD of the files it held when serving started (sirv's
 * prebuilt file table, so no path — `..`, encoded or not — reaches outside it), 404 for anything
 * else, 405 for other methods. Files go out byte for byte: a signed Packages.gz is never labelled
 * Content-Encoding: gzip, or an HTTP client would unpack it and fail the signed checksum.
 */
export async function serveRepo(
  dir: string,
  o: Listen & { public?: boolean; flag?: string },
): Promise<Serving> {
  const abs = resolve(dir);
  const suites = existsSync(abs) && statSync(abs).isDirectory() ? repoSuites(abs) : [];
  if (!suites.length)
    throw new KldloadError(
      `${dir}: not a darksite repository (no dists/<suite>/InRelease); build one with kldload darksite build`,
      EXIT.badInput,
    );
  if (!o.public && !isLoopback(o.host))
    throw new KldloadError(
      `${o.flag ?? '--listen'} ${o.host}:${o.port}: not a loopback address; add --public to serve the darksite to other machines`,
      EXIT.badInput,
    );
  const files = sirv(abs, { dev: false, etag: true, dotfiles: false, extensions: [] });
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
      res.end();
      return;
    }
    keepBytes(res);
    files(req, res, () => {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
      res.end('not found\n');
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        new KldloadError(
          `${o.flag ?? '--listen'} ${o.host}:${o.port}: cannot listen (${e.code ?? e.message})`,
          EXIT.failed,
        ),
      ),
    );
    server.listen(o.port, o.host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = isIP(o.host) === 6 ? `[${o.host}]` : o.host;
  return {
    server,
    url: `http://${host}:${port}/`,
    dir: abs,
    suites,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** Drops the Content-Encoding sirv derives from a .gz name: the bytes are the payload. */
function keepBytes(res: ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (
    code: number,
    headers?: OutgoingHttpHeaders,
  ) => ServerResponse;
  const patched = (code: number, headers?: OutgoingHttpHeaders): ServerResponse => {
    if (headers) {
      delete headers['Content-Encoding'];
      if (/\.gz$/.test(res.req.url ?? '')) headers['Content-Type'] = 'application/gzip';
    }
    return writeHead(code, headers);
  };
  // ServerResponse.writeHead is overloaded; sirv calls the (code, headers) form only.
  (res as unknown as { writeHead: typeof patched }).writeHead = patched;
}

/** The apt source line another machine uses for a served darksite (keyring from the same URL). */
export function servedSourcesLine(url: string, suite: string, keyring: string): string {
  return `deb [signed-by=${keyring}] ${url} ${suite} ${REPO.component}`;
}
