/**
 * Where the cluster keeps things on a node, and the records it keeps: the hub's enrolled nodes, its
 * enrollment window, the last convergence; a spoke's join result. Records are JSON written whole
 * (write to a temporary file, rename), read with a shape check that names the file and the fix.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KldloadError } from '../core/errors.ts';

/** Every path, under `root` ('' on a machine; a temporary tree in tests). */
export function clusterPaths(root = '') {
  const conf = `${root}/etc/kldload/cluster`;
  const state = `${root}/var/lib/kldload/cluster`;
  return {
    /** From the payload (roles copy /root/darksite/cluster here). */
    conf,
    seed: `${conf}/seed.env`,
    token: `${conf}/token`,
    tlsCert: `${conf}/tls.crt`,
    tlsKey: `${conf}/tls.key`,
    /** This node's WireGuard private key (the hub's from the seed, a spoke's made by its role). */
    wgKey: `${conf}/wg.key`,
    ansibleKey: `${conf}/ansible_ed25519`,
    playbooks: `${conf}/ansible`,
    sshHostKey: `${root}/etc/ssh/ssh_host_ed25519_key.pub`,
    wgConf: `${root}/etc/wireguard/wg0.conf`,
    state,
    nodes: `${state}/nodes.json`,
    window: `${state}/window.json`,
    converge: `${state}/converge.json`,
    join: `${state}/join.json`,
    /** Inventory, known_hosts and ansible.cfg, generated from nodes.json before each run. */
    ansibleRun: `${state}/ansible`,
    convergeLog: `${root}/var/log/kldload/cluster-converge.log`,
  };
}
export type ClusterPaths = ReturnType<typeof clusterPaths>;

export interface NodeRecord {
  name: string;
  address: string;
  publicKey: string;
  /** The node's ssh host key (`ssh-ed25519 AAAA…`), for ansible's known_hosts. */
  hostKey: string;
  enrolledAt: string;
}

export interface Window {
  openedAt: string;
  closesAt: string;
}

export interface HostRecap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export interface ConvergeRecord {
  at: string;
  exitCode: number;
  hosts: Record<string, HostRecap>;
}

/** A spoke's last enrollment attempt. */
export interface JoinRecord {
  status: 'enrolled' | 'refused' | 'waiting';
  at: string;
  name: string;
  address?: string;
  hubAddress?: string;
  /** Why it was refused or why it waits (the hub's words, or the connection error). */
  reason?: string;
}

export function writeJson(path: string, value: unknown, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.new`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  renameSync(tmp, path);
}

function readJson(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KldloadError(
      `${path}: not valid JSON (${(e as Error).message}); restore it from a snapshot or remove it`,
    );
  }
}

const isStr = (o: Record<string, unknown>, k: string) => typeof o[k] === 'string';
const bad = (path: string, what: string) =>
  new KldloadError(`${path}: ${what}; restore it from a snapshot (ksnap) or fix it by hand`);

const NODE_KEYS = ['name', 'address', 'publicKey', 'hostKey', 'enrolledAt'] as const;

export function readNodes(path: string): NodeRecord[] {
  const v = readJson(path);
  if (v === undefined) return [];
  const list = (v as { nodes?: unknown }).nodes;
  if (!Array.isArray(list)) throw bad(path, 'has no "nodes" list');
  return list.map((n: unknown, i) => {
    const o = (n ?? {}) as Record<string, unknown>;
    const missing = NODE_KEYS.filter((k) => !isStr(o, k));
    if (missing.length) throw bad(path, `node ${i + 1} lacks ${missing.join(', ')}`);
    return Object.fromEntries(NODE_KEYS.map((k) => [k, o[k]])) as unknown as NodeRecord;
  });
}

export const writeNodes = (path: string, nodes: NodeRecord[]) => writeJson(path, { nodes });

export function readWindow(path: string): Window | undefined {
  const v = readJson(path) as Record<string, unknown> | undefined;
  if (v === undefined) return undefined;
  if (!isStr(v, 'openedAt') || !isStr(v, 'closesAt')) throw bad(path, 'lacks openedAt or closesAt');
  return { openedAt: v.openedAt as string, closesAt: v.closesAt as string };
}

export const windowOpen = (w: Window | undefined, now: Date): boolean =>
  !!w && now.getTime() < Date.parse(w.closesAt);

export function readConverge(path: string): ConvergeRecord | undefined {
  const v = readJson(path) as Record<string, unknown> | undefined;
  if (v === undefined) return undefined;
  if (!isStr(v, 'at') || typeof v.exitCode !== 'number' || typeof v.hosts !== 'object')
    throw bad(path, 'lacks at, exitCode or hosts');
  return v as unknown as ConvergeRecord;
}

export function readJoin(path: string): JoinRecord | undefined {
  const v = readJson(path) as Record<string, unknown> | undefined;
  if (v === undefined) return undefined;
  if (!['enrolled', 'refused', 'waiting'].includes(v.status as string) || !isStr(v, 'at'))
    throw bad(path, 'lacks a status (enrolled, refused, waiting) or at');
  return v as unknown as JoinRecord;
}

/** One peer of `wg show wg0 dump` (tab-separated; the first line is the interface). */
export interface WgPeer {
  publicKey: string;
  endpoint: string;
  allowedIps: string;
  /** Unix seconds; 0 = never. */
  latestHandshake: number;
}

export function parseWgDump(text: string): WgPeer[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const f = l.split('\t');
      return {
        publicKey: f[0] ?? '',
        endpoint: f[2] ?? '',
        allowedIps: f[3] ?? '',
        latestHandshake: Number(f[4] ?? 0) || 0,
      };
    });
}
