/**
 * `kldload darksite serve`: a built darksite over HTTP, read-only, for other machines and tools
 * (kpkg on a LAN, apt on a build box). The live installer does not use this: it reads the
 * repository through file: URIs on a read-only bind mount of the medium.
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import send from 'send';
import { aptSourceLine } from '../core/debian.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { REPO } from '../layout.ts';

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
 * Serves `dir` read-only: GET and HEAD of the regular files under it, looked up on every request
 * (a file replaced or added while serving goes out as it is now), 404 for anything else — a
 * folder, a dotfile, a `..` segment (encoded or not), a symbolic link that resolves outside
 * `dir` — and 405 for other methods. Ranges, conditional requests and ETags come from `send`
 * (the file layer of Express's serve-static). Files go out byte for byte: a signed Packages.gz
 * is never labelled Content-Encoding: gzip, or an HTTP client would unpack it and fail the
 * signed checksum.
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
  const files = fileServer(realpathSync(abs));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
      res.end();
      return;
    }
    // One request that goes wrong answers 500; it never stops the server for the others.
    files(req, res).catch(() => answer(res, 500, 'internal error\n'));
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

/**
 * The file under `root` (a real path) that a request path names, as a path for `send` relative
 * to `root`, or undefined for 404. Each segment is percent-decoded once (apt writes `+` as
 * `%2b`); `.`/`..`, dotfiles and NUL are refused before the file system is asked; the real path
 * (every link resolved) must lie under `root` and be a regular file. Links inside `root` are
 * followed. What `send` is handed has no links left, so only someone who can write to the
 * served folder could swap one in between this check and the open.
 */
export async function servedPath(root: string, url: string): Promise<string | undefined> {
  const segments: string[] = [];
  for (const raw of (url.split(/[?#]/, 1)[0] ?? '').split('/')) {
    if (!raw) continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined; // malformed %-escape
    }
    if (seg.startsWith('.') || seg.includes('/') || seg.includes('\0')) return undefined;
    segments.push(seg);
  }
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
    if (!(await stat(real)).isFile()) return undefined;
  } catch {
    return undefined; // missing, or a dangling link
  }
  const rel = relative(root, real);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return `/${rel.split(sep).map(encodeURIComponent).join('/')}`;
}

/** GET/HEAD handler for the files under `root` (a real path); see serveRepo. */
function fileServer(root: string) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = await servedPath(root, req.url ?? '/');
    if (!path) return answer(res, 404, 'not found\n');
    send(req, path, {
      root,
      index: false,
      dotfiles: 'ignore',
      etag: true,
      lastModified: true,
      // Indexes change when the darksite is rebuilt: no caching beyond Last-Modified/ETag.
      cacheControl: false,
    })
      .on('error', (e) => {
        const status = e.status ?? e.statusCode ?? 500;
        if (status === 416) answer(res, 416, 'range not satisfiable\n', e.headers);
        else if (status === 412) answer(res, 412, 'precondition failed\n');
        else if (status >= 500) answer(res, status, 'internal error\n');
        else answer(res, 404, 'not found\n');
      })
      .on('directory', () => answer(res, 404, 'not found\n'))
      .pipe(res);
  };
}

/** A short plain-text answer, unless the response has already begun (then the connection ends). */
function answer(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The apt source line another machine uses for a served darksite (keyring from the same URL). */
export function servedSourcesLine(url: string, suite: string, keyring: string): string {
  return aptSourceLine({ uri: url, suite, components: [REPO.component], signedBy: keyring });
}
