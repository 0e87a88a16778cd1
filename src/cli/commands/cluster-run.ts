/** The cluster commands' handlers (registered in cluster.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, type RunResult, SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { renderPlan } from '../../core/plan.ts';
import { sleep } from '../../core/time.ts';
import { convergePlan, parseRecap } from '../../fleet/cluster-converge.ts';
import { checkAnswer, EXIT_REFUSED, postEnroll, spokeJoinPlan } from '../../fleet/cluster-enroll.ts';
import { hubAddress } from '../../fleet/cluster-net.ts';
import { makeSeed, type SeedOptions } from '../../fleet/cluster-seed.ts';
import { openWindow, serve } from '../../fleet/cluster-serve.ts';
import {
  type JoinRecord,
  parseWgDump,
  readConverge,
  readJoin,
  readNodes,
  readWindow,
  windowOpen,
  writeJson,
} from '../../fleet/cluster-state.ts';
import { hubStatus, renderHubStatus, renderJoin } from '../../fleet/cluster-status.ts';
import type { CommandResult } from '../output.ts';
import {
  applyOrThrow,
  CLUSTER_LOG,
  paths,
  readSeed,
  requireRole,
  shortName,
  writeSeed,
} from './cluster-node.ts';

export async function seedCmd(out: string, o: SeedOptions): Promise<CommandResult> {
  const seed = await makeSeed(new SystemExecutor(), o);
  const files = writeSeed(out, seed);
  return {
    exitCode: EXIT.ok,
    json: { ok: true, out, facts: seed.facts, files },
    text: [
      `seed written to ${out} (keep it: it holds the hub's private key and the token)`,
      ...Object.entries(seed.facts).map(([k, v]) => `  ${k}=${v}`),
      `hub ISO:    kldload build --role cluster-hub --payload ${out}/hub …`,
      `spoke ISOs: kldload build --role cluster-spoke --payload ${out}/spoke …`,
      'With a payload of your own, copy the cluster/ folder of hub/ or spoke/ into it.',
    ].join('\n'),
  };
}

export async function serveCmd(o: { listen: string; port?: number }): Promise<CommandResult> {
  const p = paths();
  const s = readSeed(p);
  requireRole(s, 'hub', 'kldload cluster serve');
  const ansiblePub = `${p.ansibleKey}.pub`;
  if (!existsSync(ansiblePub))
    throw new KldloadError(
      `${ansiblePub} missing: the cluster-hub role makes it (ssh-keygen)`,
      EXIT.badInput,
    );
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const server = await serve(
    {
      paths: p,
      cert: s.cert,
      key: readFileSync(p.tlsKey, 'utf8'),
      token: s.token,
      net: s.net,
      wgPort: s.wgPort,
      hubPublicKey: s.hubPublicKey,
      ansiblePublicKey: readFileSync(ansiblePub, 'utf8').trim(),
      expected: s.spokes,
      windowMinutes: s.windowMinutes,
      apply: (plan) => applyOrThrow(plan, CLUSTER_LOG),
      say,
    },
    { host: o.listen, port: o.port ?? s.enrollPort },
  );
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  server.close();
  return { exitCode: EXIT.ok, json: { ok: true }, text: 'enrollment server stopped' };
}

export function openCmd(minutes: number): CommandResult {
  const p = paths();
  requireRole(readSeed(p), 'hub', 'kldload cluster open');
  const w = openWindow(p, minutes, new Date());
  return { exitCode: EXIT.ok, json: { ok: true, window: w }, text: `enrollment open until ${w.closesAt}` };
}

export async function enrollCmd(exec: Executor = new SystemExecutor()): Promise<CommandResult> {
  const p = paths();
  const s = readSeed(p);
  requireRole(s, 'spoke', 'kldload cluster enroll');
  const name = shortName();
  const before = readJoin(p.join);
  if (before?.status === 'enrolled' && existsSync(p.wgConf))
    return { exitCode: EXIT.ok, json: { ok: true, ...before }, text: `${renderJoin(before)}: nothing to do` };
  const key = readFileSync(p.wgKey, 'utf8').trim();
  const publicKey = (
    await exec.run(['wg', 'pubkey'], { input: `${key}\n`, secretInput: true })
  ).stdout.trim();
  const hostKey = readFileSync(p.sshHostKey, 'utf8').trim();
  const outcome = await postEnroll({
    host: s.host,
    port: s.enrollPort,
    cert: s.cert,
    pin: s.pin,
    body: { token: s.token, name, publicKey, hostKey },
  });
  const at = new Date().toISOString();
  const record = (j: JoinRecord, exitCode: number): CommandResult => {
    writeJson(p.join, j);
    const text = renderJoin(j);
    return { exitCode, json: { ok: exitCode === 0, ...j }, text: exitCode ? `kldload: ${text}` : text };
  };
  if (outcome.kind === 'retry')
    return record({ status: 'waiting', at, name, reason: outcome.reason }, EXIT.failed);
  if (outcome.kind === 'refused')
    return record({ status: 'refused', at, name, reason: outcome.reason }, EXIT_REFUSED);
  const bad = checkAnswer(outcome.answer, s.net, s.hubPublicKey);
  if (bad) return record({ status: 'refused', at, name, reason: bad }, EXIT_REFUSED);
  await applyOrThrow(
    spokeJoinPlan({ paths: p, net: s.net, endpoint: s.endpoint, answer: outcome.answer }),
    CLUSTER_LOG,
  );
  const a = outcome.answer;
  return record({ status: 'enrolled', at, name, address: a.address, hubAddress: a.hubAddress }, EXIT.ok);
}

/** Each spoke's ssh port over wg0, until all answer or `seconds` pass: the spokes bring wg0 up after their answer. */
async function waitForSpokes(
  addresses: string[],
  seconds: number,
  say: (l: string) => void,
): Promise<string[]> {
  const deadline = Date.now() + seconds * 1000;
  const up = (host: string) =>
    new Promise<boolean>((resolve) => {
      const c = connect({ host, port: 22, timeout: 3000 });
      c.once('connect', () => resolve(!!c.destroy()));
      c.once('timeout', () => resolve(!c.destroy()));
      c.once('error', () => resolve(false));
    });
  let down = addresses;
  while (down.length && Date.now() < deadline) {
    down = (await Promise.all(down.map(async (a) => ((await up(a)) ? undefined : a)))).filter(
      (a): a is string => !!a,
    );
    if (down.length) await sleep(5000);
  }
  if (down.length)
    say(`not reachable over wg0 after ${seconds}s: ${down.join(', ')} (ansible will say unreachable)`);
  return down;
}

export async function convergeCmd(o: {
  dryRun?: boolean;
  json?: boolean;
  wait: number;
}): Promise<CommandResult> {
  const p = paths();
  requireRole(readSeed(p), 'hub', 'kldload cluster converge');
  const nodes = readNodes(p.nodes);
  const plan = convergePlan(p, shortName(), nodes);
  if (o.dryRun)
    return { exitCode: EXIT.ok, json: { ok: true, dryRun: true, plan }, text: renderPlan(plan, '/') };
  const log = new Logger({ file: p.convergeLog, quiet: !!o.json });
  log.info(`kldload cluster converge: ${nodes.length} spokes`);
  await waitForSpokes(
    nodes.map((n) => n.address),
    o.wait,
    (l) => log.info(l),
  );
  // The playbook's output is kept for its PLAY RECAP; everything else goes to the log as it comes.
  let played: RunResult | undefined;
  const sys = new SystemExecutor(log);
  const exec: Executor = {
    run: async (argv, ro) => {
      const r = await sys.run(argv, ro);
      if (argv.includes('ansible-playbook')) played = r;
      return r;
    },
  };
  await applyOrThrow(plan, p.convergeLog, exec);
  const hosts = parseRecap(played?.all ?? '');
  const exitCode = played?.exitCode ?? 1;
  const rec = { at: new Date().toISOString(), exitCode, hosts };
  writeJson(p.converge, rec);
  const lines = Object.entries(hosts).map(
    ([h, r]) => `  ${h}: changed=${r.changed} failed=${r.failed} unreachable=${r.unreachable}`,
  );
  return {
    exitCode: exitCode === 0 ? EXIT.ok : EXIT.failed,
    json: { ok: exitCode === 0, ...rec, log: p.convergeLog },
    text: [
      `converge ${exitCode === 0 ? 'done' : `FAILED (ansible exit ${exitCode})`}`,
      ...lines,
      `log: ${p.convergeLog}`,
    ].join('\n'),
    report: true,
  };
}

export async function statusCmd(exec: Executor = new SystemExecutor()): Promise<CommandResult> {
  const p = paths();
  const s = readSeed(p);
  if (s.role === 'spoke') {
    const j = readJoin(p.join);
    const exitCode =
      j?.status === 'enrolled' ? EXIT.ok : j?.status === 'refused' ? EXIT_REFUSED : EXIT.failed;
    return { exitCode, json: { role: 'spoke', join: j ?? null }, text: renderJoin(j), report: true };
  }
  const dump = await exec.run(['wg', 'show', 'wg0', 'dump'], { check: false });
  const nodes = readNodes(p.nodes);
  const rows = hubStatus({
    hubName: shortName(),
    hubAddress: hubAddress(s.net),
    nodes,
    peers: dump.exitCode === 0 ? parseWgDump(dump.stdout) : [],
    converge: readConverge(p.converge),
  });
  const w = readWindow(p.window);
  const open = windowOpen(w, new Date());
  return {
    exitCode: EXIT.ok,
    json: { role: 'hub', expected: s.spokes, window: w ? { ...w, open } : null, nodes: rows },
    text: renderHubStatus(rows, s.spokes, w, open),
    report: true,
  };
}
