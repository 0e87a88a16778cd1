import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { Validation } from '../answers/validate.ts';
import type { Logger } from '../core/log.ts';
import type { InstallJob, JobWho } from './job.ts';
import type { PageAssets } from './page-assets.ts';
import type { WizardFacts } from './wizard-facts.ts';

/**
 * The web installer's HTTP side. Every request carries the boot's one-time token: the page and the
 * WebSocket in the query (a browser cannot set headers there), the API only in the X-Kldload-Token
 * header — a header another site's form or script cannot send without a CORS preflight this server
 * never answers, which is what keeps it CSRF-safe. Request bodies are never logged (they carry
 * passwords); the token is never logged either.
 */
export const TOKEN_HEADER = 'x-kldload-token';
const MAX_BODY = 1024 * 1024;

export function newToken(): string {
  return randomBytes(18).toString('base64url');
}

export interface Checked {
  ok: boolean;
  errors: { line?: number; key?: string; message: string; text: string }[];
  warnings: string[];
  /** Valid answers: whom the install is for (the page's last words name them). */
  who?: JobWho;
}

/** The answers files' validation as the API answers it (no parsed values: they may hold secrets). */
export function checked(v: Validation): Checked {
  return {
    ok: v.ok,
    errors: v.errors.map((e) => ({
      ...(e.line !== undefined ? { line: e.line } : {}),
      ...(e.key ? { key: e.key } : {}),
      message: e.message,
      text: e.text,
    })),
    warnings: v.warnings.map((w) => w.text),
    ...(v.ok ? { who: { user: v.answers.KLDLOAD_USERNAME, host: v.answers.KLDLOAD_HOSTNAME } } : {}),
  };
}

export interface WebuiDeps {
  token: string;
  assets: PageAssets;
  facts: () => Promise<WizardFacts>;
  /** The answers files' own validation (the same the page runs). */
  validate: (answers: string) => Checked;
  /** The install plan these answers make, as `kldload install --dry-run` prints it. */
  plan: (answers: string) => Promise<{ ok: boolean; text: string }>;
  /** Writes the answers where the install reads them (root-only) and returns the path. */
  saveAnswers: (answers: string) => string;
  job: InstallJob;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body) : String(body);
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  });
  res.end(text);
}

async function readAnswers(req: IncomingMessage): Promise<string> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
    throw new HttpError(415, 'send JSON: content-type application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  const answers = (body as { answers?: unknown } | null)?.answers;
  if (typeof answers !== 'string') throw new HttpError(400, 'expected {"answers": "<answers.env text>"}');
  return answers;
}

export interface RunningServer {
  server: Server;
  port: number;
  close: () => Promise<void>;
}

/** The request's URL, or undefined for one no browser sends (`//`, `http://x`, garbage). */
function parseUrl(raw: string | undefined): URL | undefined {
  try {
    const u = new URL(raw ?? '/', 'http://kldload');
    return raw?.startsWith('/') && !raw.startsWith('//') ? u : undefined;
  } catch {
    return undefined;
  }
}

export function startWebui(deps: WebuiDeps, listen: { host: string; port: number }): Promise<RunningServer> {
  const { token, log, job } = deps;
  // The page sends nothing over the socket; a peer that does is cut off early.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseUrl(req.url);
    if (!url) throw new HttpError(400, 'not a request for this server');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (!path.startsWith('/api/')) {
      if (method !== 'GET') throw new HttpError(405, 'GET only');
      // Browsers ask for it unprompted; it is not worth a 401 in the log.
      if (path === '/favicon.ico') return send(res, 204, '', 'text/plain');
      if (!same(url.searchParams.get('token') ?? '', token))
        throw new HttpError(401, 'open the address the installer console shows (it carries the token)');
      if (path === '/') return send(res, 200, deps.assets.html(token), 'text/html');
      if (path === '/app.js') return send(res, 200, deps.assets.js, 'text/javascript');
      if (path === '/app.css') return send(res, 200, deps.assets.css, 'text/css');
      throw new HttpError(404, 'no such page');
    }
    const given = req.headers[TOKEN_HEADER];
    if (typeof given !== 'string' || !same(given, token))
      throw new HttpError(401, `the API needs the ${TOKEN_HEADER} header with the console's token`);
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /api/facts':
        return send(res, 200, await deps.facts());
      case 'GET /api/status':
        return send(res, 200, job.snapshot());
      case 'POST /api/validate':
        return send(res, 200, deps.validate(await readAnswers(req)));
      case 'POST /api/plan': {
        const answers = await readAnswers(req);
        const v = deps.validate(answers);
        if (!v.ok) return send(res, 400, v);
        const p = await deps.plan(answers);
        return send(res, p.ok ? 200 : 400, { ...v, ok: p.ok, plan: p.text });
      }
      case 'POST /api/install': {
        const answers = await readAnswers(req);
        if (job.running) throw new HttpError(409, 'an install is already running; this one was not started');
        const v = deps.validate(answers);
        if (!v.ok) return send(res, 400, v);
        const started = job.start(deps.saveAnswers(answers), v.who);
        if (!started) throw new HttpError(409, 'an install is already running; this one was not started');
        log.info('web installer: install started');
        return send(res, 202, { ...v, started: true });
      }
      default:
        throw new HttpError(404, `no such API: ${route}`);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof Error ? e.message : String(e);
      // Refusals of requests without the token are not logged: a scanner on the network would
      // scroll the console's address and token away. Others: the method and path only (the query
      // may hold the token, the body a password).
      if (status !== 401 && status !== 400)
        log.info(`web installer: ${req.method} ${parseUrl(req.url)?.pathname ?? '?'} → ${status}`);
      if (status === 500) log.info(`web installer: ${message}`);
      if (!res.headersSent) send(res, status, { ok: false, error: message });
      else res.end();
    });
  });

  server.on('upgrade', (req, socket, head) => {
    const url = parseUrl(req.url);
    if (!url || url.pathname !== '/api/progress' || !same(url.searchParams.get('token') ?? '', token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A page that (re)attaches gets everything so far, then each line as it comes.
      ws.send(JSON.stringify({ type: 'snapshot', snapshot: job.snapshot() }));
      const off = job.subscribe((e) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(e));
      });
      ws.on('close', off);
      ws.on('error', off);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        port,
        close: () =>
          new Promise<void>((done) => {
            job.stop();
            for (const c of wss.clients) c.terminate();
            wss.close();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
