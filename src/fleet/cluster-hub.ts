/**
 * The hub's side of enrollment, pure: check a request (token timing-safe, window, fields), give the
 * spoke its address (the same one again for a key already enrolled), and the plan that makes the
 * peer live and persistent. The HTTPS server (cluster-serve.ts) feeds it and applies the plan.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Plan, run, type Step } from '../core/plan.ts';
import { hubWgConf, sshKeyOf } from './cluster-config.ts';
import { type ClusterNet, hubAddress, nextAddress } from './cluster-net.ts';
import { type ClusterPaths, type NodeRecord, type Window, windowOpen } from './cluster-state.ts';

export const CONVERGE_UNIT = 'kldload-cluster-converge.service';

export interface EnrollRequest {
  token: string;
  name: string;
  publicKey: string;
  hostKey: string;
}

export interface EnrollAnswer {
  address: string;
  hubPublicKey: string;
  hubAddress: string;
  net: string;
  ansiblePublicKey: string;
}

export interface HubContext {
  token: string;
  net: ClusterNet;
  hubPublicKey: string;
  ansiblePublicKey: string;
  nodes: readonly NodeRecord[];
  window: Window | undefined;
  now: Date;
}

export type Decision =
  | { ok: true; answer: EnrollAnswer; nodes: NodeRecord[]; added?: NodeRecord }
  | { ok: false; status: number; error: string };

/** Both sides hashed first: timingSafeEqual needs equal lengths, and the length must not leak either. */
export function tokenMatches(given: string, expected: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(given), h(expected)) && expected.length > 0;
}

export const isWgKey = (k: string) => /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(k);
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The request body's shape; a message naming the field and what it must be, or the request. */
export function readRequest(body: unknown): EnrollRequest | string {
  const o = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
  if (!str('token')) return 'token: missing (the enrollment token of the seed)';
  if (!NAME.test(str('name'))) return 'name: must be a short host name (a-z, 0-9, -)';
  if (!isWgKey(str('publicKey')))
    return 'publicKey: must be a WireGuard public key (44 characters of base64)';
  if (!sshKeyOf(str('hostKey'))) return 'hostKey: must be an OpenSSH public host key (ssh-ed25519 AAAA…)';
  return { token: str('token'), name: str('name'), publicKey: str('publicKey'), hostKey: str('hostKey') };
}

export const REFUSAL = {
  token: 'wrong enrollment token',
  closed: 'enrollment window closed',
} as const;

export function decide(req: EnrollRequest, c: HubContext): Decision {
  if (!tokenMatches(req.token, c.token)) return { ok: false, status: 403, error: REFUSAL.token };
  const answer = (address: string): EnrollAnswer => ({
    address,
    hubPublicKey: c.hubPublicKey,
    hubAddress: hubAddress(c.net),
    net: c.net.cidr,
    ansiblePublicKey: c.ansiblePublicKey,
  });
  const known = c.nodes.find((n) => n.publicKey === req.publicKey);
  // The same key again (a spoke whose first answer was lost) gets its address again, window or not.
  if (known) return { ok: true, answer: answer(known.address), nodes: [...c.nodes] };
  if (!windowOpen(c.window, c.now))
    return {
      ok: false,
      status: 403,
      error: `${REFUSAL.closed}${c.window ? ` at ${c.window.closesAt}` : ''} (on the hub: kldload cluster open --minutes N)`,
    };
  if (c.nodes.some((n) => n.name === req.name))
    return {
      ok: false,
      status: 409,
      error: `name ${req.name} is enrolled with another WireGuard key; give this node another host name, or remove the old entry from the hub's nodes.json`,
    };
  const address = nextAddress(c.net, [hubAddress(c.net), ...c.nodes.map((n) => n.address)]);
  if (!address) return { ok: false, status: 409, error: `the cluster net ${c.net.cidr} is full` };
  const added: NodeRecord = {
    name: req.name,
    address,
    publicKey: req.publicKey,
    hostKey: sshKeyOf(req.hostKey) ?? req.hostKey,
    enrolledAt: c.now.toISOString(),
  };
  return { ok: true, answer: answer(address), nodes: [...c.nodes, added], added };
}

/**
 * A new peer, live (wg set) and in wg0.conf (rewritten from every node, so the file always matches
 * nodes.json); when it is the last expected spoke, convergence is started (it waits for the spokes).
 */
export function hubEnrollPlan(o: {
  paths: ClusterPaths;
  net: ClusterNet;
  port: number;
  nodes: readonly NodeRecord[];
  added: NodeRecord;
  expected: number;
}): Plan {
  const steps: Step[] = [
    {
      name: 'wg-peer',
      title: `${o.added.name}: peer ${o.added.address} on wg0, live and in ${o.paths.wgConf}`,
      actions: [
        {
          kind: 'write',
          path: o.paths.wgConf,
          content: hubWgConf({
            hubAddress: hubAddress(o.net),
            prefix: o.net.prefix,
            port: o.port,
            keyFile: o.paths.wgKey,
            nodes: o.nodes,
          }),
          mode: 0o600,
        },
        run(['wg', 'set', 'wg0', 'peer', o.added.publicKey, 'allowed-ips', `${o.added.address}/32`]),
      ],
    },
  ];
  if (o.nodes.length === o.expected)
    steps.push({
      name: 'converge',
      title: `all ${o.expected} expected spokes enrolled: start ${CONVERGE_UNIT}`,
      actions: [run(['systemctl', 'start', '--no-block', CONVERGE_UNIT])],
    });
  return {
    facts: { node: o.added.name, address: o.added.address, enrolled: o.nodes.length },
    steps,
    cleanup: [],
  };
}
