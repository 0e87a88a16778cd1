/**
 * What the cluster commands read on a node: the seed (cluster/seed.env through the one env-file
 * codec, the token and certificate beside it), the host's short name, and how they apply a plan.
 * KLDLOAD_CLUSTER_ROOT puts every path under another root (the integration tests).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { formatEnvLine, parseEnvText } from '../../answers/parse.ts';
import { applyPlan, failureMessage } from '../../apply/apply.ts';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import type { Plan } from '../../core/plan.ts';
import { type ClusterNet, parseEndpoint, parseNet } from '../../fleet/cluster-net.ts';
import type { Seed } from '../../fleet/cluster-seed.ts';
import { type ClusterPaths, clusterPaths } from '../../fleet/cluster-state.ts';

export const CLUSTER_LOG = '/var/log/kldload/cluster.log';

export const paths = (): ClusterPaths => clusterPaths(process.env.KLDLOAD_CLUSTER_ROOT ?? '');

/** The short host name, as a node enrolls under it. */
export const shortName = () => (hostname().split('.')[0] ?? '').toLowerCase();

export interface NodeSeed {
  role: 'hub' | 'spoke';
  net: ClusterNet;
  endpoint: string;
  host: string;
  wgPort: number;
  enrollPort: number;
  hubPublicKey: string;
  pin: string;
  spokes: number;
  windowMinutes: number;
  token: string;
  cert: string;
}

function readSecretFile(path: string, what: string): string {
  if (!existsSync(path))
    throw new KldloadError(
      `${path} missing (${what}); the cluster role copies it from the payload's cluster/ folder (kldload cluster seed)`,
      EXIT.badInput,
    );
  return readFileSync(path, 'utf8');
}

/** The node's seed: seed.env read as data, each field checked with its line in the message. */
export function readSeed(p: ClusterPaths): NodeSeed {
  const text = readSecretFile(p.seed, 'the cluster settings');
  const { entries, errors } = parseEnvText(text);
  if (errors.length)
    throw new KldloadError(errors.map((e) => `${p.seed}:${e.line}: ${e.message}`).join('\n'), EXIT.badInput);
  const get = (k: string, required = true): string => {
    const v = entries.get(k)?.value ?? '';
    if (!v && required)
      throw new KldloadError(
        `${p.seed}: ${k} missing; make the seed again with kldload cluster seed`,
        EXIT.badInput,
      );
    return v;
  };
  const at = (k: string) => `${p.seed}:${entries.get(k)?.line ?? '?'}: ${k}`;
  const role = get('CLUSTER_ROLE');
  if (role !== 'hub' && role !== 'spoke')
    throw new KldloadError(`${at('CLUSTER_ROLE')}: must be hub or spoke`, 2);
  const num = (k: string, dflt: number) => {
    const v = get(k, false);
    if (v === '') return dflt;
    if (!/^\d+$/.test(v)) throw new KldloadError(`${at(k)}: '${v}' must be a whole number`, EXIT.badInput);
    return Number(v);
  };
  const endpoint = get('CLUSTER_ENDPOINT');
  const ep = parseEndpoint(endpoint, at('CLUSTER_ENDPOINT'));
  return {
    role,
    net: parseNet(get('CLUSTER_NET'), at('CLUSTER_NET')),
    endpoint,
    host: ep.host,
    wgPort: ep.port,
    enrollPort: num('CLUSTER_ENROLL_PORT', 51821),
    hubPublicKey: get('CLUSTER_HUB_PUBLIC_KEY'),
    pin: get('CLUSTER_CERT_SHA256'),
    spokes: num('CLUSTER_SPOKES', 0),
    windowMinutes: num('CLUSTER_WINDOW_MINUTES', 60),
    token: readSecretFile(p.token, 'the enrollment token').trim(),
    cert: readSecretFile(p.tlsCert, "the hub's TLS certificate"),
  };
}

export function requireRole(s: NodeSeed, role: 'hub' | 'spoke', what: string): void {
  if (s.role !== role)
    throw new KldloadError(
      `${what} runs on the ${role}; this node's seed says CLUSTER_ROLE=${s.role}`,
      EXIT.badInput,
    );
}

/** Writes both payload trees of a seed under OUT (refused when OUT holds anything: a seed is made once). */
export function writeSeed(out: string, seed: Seed): string[] {
  if (existsSync(out) && readdirNonEmpty(out))
    throw new KldloadError(
      `${out} is not empty: a seed is made once (spokes of an older seed would not enroll); give a new folder`,
      EXIT.badInput,
    );
  const written: string[] = [];
  for (const side of ['hub', 'spoke'] as const) {
    const env = Object.entries(seed.env[side]).map(([k, v]) => formatEnvLine(k, v));
    const files = [
      {
        path: 'cluster/seed.env',
        content: `# kldload cluster seed (${side}): read by the cluster-${side} role and kldload cluster.\n${env.join('\n')}\n`,
        mode: 0o644,
      },
      ...seed.files[side],
    ];
    for (const f of files) {
      const to = join(out, side, f.path);
      mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
      writeFileSync(to, f.content, { mode: f.mode });
      written.push(to);
    }
  }
  return written;
}

const readdirNonEmpty = (dir: string) => readdirSync(dir).length > 0;

/** Applies a plan as root, logged to `logFile`; a failed step throws with the step and the command. */
export async function applyOrThrow(plan: Plan, logFile: string, exec?: Executor): Promise<void> {
  const log = new Logger({ file: logFile, quiet: true });
  const r = await applyPlan(exec ?? new SystemExecutor(log), log, plan, {
    root: '/',
    cleanupFrom: new Set(),
  });
  if (!r.ok) throw new KldloadError(failureMessage(r, 'kldload cluster', logFile));
}
