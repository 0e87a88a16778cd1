/**
 * `kldload cluster serve`: the hub's enrollment endpoint. HTTPS with the seed's certificate (spokes
 * pin its fingerprint), one route, POST /enroll with a JSON body. Enrollments are handled one at a
 * time (addresses are handed out in order); the live changes are a plan the caller applies, so the
 * HTTP part runs in tests without wg. The token and bodies are never logged.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Plan } from '../core/plan.ts';
import { decide, type HubContext, hubEnrollPlan, readRequest } from './cluster-hub.ts';
import type { ClusterNet } from './cluster-net.ts';
import {
  type ClusterPaths,
  readNodes,
  readWindow,
  type Window,
  windowOpen,
  writeJson,
  writeNodes,
} from './cluster-state.ts';

const MAX_BODY = 16 * 1024;

export interface ServeOptions {
  paths: ClusterPaths;
  cert: string;
  key: string;
  token: string;
  net: ClusterNet;
  wgPort: number;
  hubPublicKey: string;
  ansiblePublicKey: string;
  expected: number;
  windowMinutes: number;
  /** Applies a plan (the CLI: applyPlan with the system executor; tests: a recorder). */
  apply: (plan: Plan) => Promise<void>;
  say: (line: string) => void;
  now?: () => Date;
}

/** The window opens at the first start and is kept across restarts (window.json). */
export function ensureWindow(paths: ClusterPaths, minutes: number, now: Date): Window {
  const w = readWindow(paths.window);
  if (w) return w;
  return openWindow(paths, minutes, now);
}

export function openWindow(paths: ClusterPaths, minutes: number, now: Date): Window {
  const w = {
    openedAt: now.toISOString(),
    closesAt: new Date(now.getTime() + minutes * 60_000).toISOString(),
  };
  writeJson(paths.window, w);
  return w;
}

export async function serve(o: ServeOptions, listen: { host: string; port: number }): Promise<Server> {
  const now = o.now ?? (() => new Date());
  const w = ensureWindow(o.paths, o.windowMinutes, now());
  o.say(
    windowOpen(w, now())
      ? `enrollment open until ${w.closesAt}; expecting ${o.expected} spokes`
      : `enrollment window closed at ${w.closesAt} (kldload cluster open --minutes N reopens it)`,
  );
  let queue: Promise<unknown> = Promise.resolve();
  const server = createServer({ cert: o.cert, key: o.key }, (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'POST' || req.url !== '/enroll')
      return reply(404, { error: 'only POST /enroll is served' });
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
      return reply(415, { error: 'the body must be JSON (content-type: application/json)' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, { error: `the body is larger than ${MAX_BODY} bytes` });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      const from = req.socket.remoteAddress ?? '?';
      queue = queue.then(() =>
        enroll(o, Buffer.concat(chunks).toString('utf8'), now(), from).then(
          (r) => reply(r.status, r.body),
          (e: unknown) => {
            o.say(`enrollment from ${from} failed: ${(e as Error).message}`);
            reply(500, { error: 'the hub could not add the peer; see its journal (kldload-cluster-enroll)' });
          },
        ),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  o.say(`serving enrollment on https://${a.address}:${a.port}/enroll`);
  return server;
}

async function enroll(
  o: ServeOptions,
  text: string,
  now: Date,
  from: string,
): Promise<{ status: number; body: unknown }> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: 400, body: { error: 'the body is not valid JSON' } };
  }
  const req = readRequest(body);
  if (typeof req === 'string') return { status: 400, body: { error: req } };
  const ctx: HubContext = {
    token: o.token,
    net: o.net,
    hubPublicKey: o.hubPublicKey,
    ansiblePublicKey: o.ansiblePublicKey,
    nodes: readNodes(o.paths.nodes),
    window: readWindow(o.paths.window),
    now,
  };
  const d = decide(req, ctx);
  if (!d.ok) {
    o.say(`refused ${req.name} from ${from}: ${d.error}`);
    return { status: d.status, body: { error: d.error } };
  }
  if (d.added) {
    // nodes.json first: the plan may start convergence, which reads it; put back if the plan fails.
    writeNodes(o.paths.nodes, d.nodes);
    const plan = hubEnrollPlan({
      paths: o.paths,
      net: o.net,
      port: o.wgPort,
      nodes: d.nodes,
      added: d.added,
      expected: o.expected,
    });
    await o.apply(plan).catch((e: unknown) => {
      writeNodes(o.paths.nodes, [...ctx.nodes]);
      throw e;
    });
    o.say(`enrolled ${req.name} as ${d.answer.address} (${d.nodes.length}/${o.expected} spokes)`);
  } else o.say(`${req.name} from ${from} enrolled before: ${d.answer.address} again`);
  return { status: 200, body: d.answer };
}
