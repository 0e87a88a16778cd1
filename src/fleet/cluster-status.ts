/** `kldload cluster status`: the hub's nodes with handshakes and convergence, or a spoke's join. Pure. */
import type { ConvergeRecord, JoinRecord, NodeRecord, WgPeer, Window } from './cluster-state.ts';

export interface StatusRow {
  name: string;
  address: string;
  role: 'hub' | 'spoke';
  enrolledAt: string | null;
  /** ISO time of the last WireGuard handshake; null: never (or wg0 is down). */
  lastHandshake: string | null;
  convergedAt: string | null;
  changed: number | null;
  /** ansible's verdict for the host in the last run: ok, failed, unreachable; null: not in it. */
  converge: 'ok' | 'failed' | 'unreachable' | null;
}

export function hubStatus(o: {
  hubName: string;
  hubAddress: string;
  nodes: readonly NodeRecord[];
  peers: readonly WgPeer[];
  converge: ConvergeRecord | undefined;
}): StatusRow[] {
  const conv = (name: string) => {
    const h = o.converge?.hosts[name];
    if (!h || !o.converge) return { convergedAt: null, changed: null, converge: null };
    const verdict = h.unreachable ? 'unreachable' : h.failed ? 'failed' : 'ok';
    return {
      convergedAt: verdict === 'ok' ? o.converge.at : null,
      changed: h.changed,
      converge: verdict,
    } as const;
  };
  const hs = (n: NodeRecord) => {
    const t = o.peers.find((p) => p.publicKey === n.publicKey)?.latestHandshake ?? 0;
    return t ? new Date(t * 1000).toISOString() : null;
  };
  return [
    {
      name: o.hubName,
      address: o.hubAddress,
      role: 'hub',
      enrolledAt: null,
      lastHandshake: null,
      ...conv(o.hubName),
    },
    ...o.nodes.map(
      (n): StatusRow => ({
        name: n.name,
        address: n.address,
        role: 'spoke',
        enrolledAt: n.enrolledAt,
        lastHandshake: hs(n),
        ...conv(n.name),
      }),
    ),
  ];
}

export function renderHubStatus(
  rows: readonly StatusRow[],
  expected: number,
  w: Window | undefined,
  open: boolean,
): string {
  const spokes = rows.filter((r) => r.role === 'spoke').length;
  const head = `hub: ${spokes}/${expected} spokes enrolled; enrollment ${
    w ? `${open ? 'open until' : 'closed at'} ${w.closesAt}` : 'not started'
  }`;
  const cols = ['NAME', 'ADDRESS', 'ENROLLED', 'HANDSHAKE', 'CONVERGED', 'CHANGED'];
  const data = rows.map((r) => [
    r.name,
    r.address,
    r.enrolledAt ?? (r.role === 'hub' ? '(hub)' : '-'),
    r.lastHandshake ?? (r.role === 'hub' ? '-' : 'never'),
    r.convergedAt ?? r.converge ?? 'never',
    r.changed === null ? '-' : String(r.changed),
  ]);
  const width = cols.map((c, i) => Math.max(c.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(width[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [head, line(cols), ...data.map(line)].join('\n');
}

export function renderJoin(j: JoinRecord | undefined): string {
  if (!j) return 'spoke: not enrolled yet (kldload-cluster-join.service has not answered)';
  if (j.status === 'enrolled')
    return `spoke ${j.name}: enrolled as ${j.address}, hub ${j.hubAddress} (${j.at})`;
  if (j.status === 'refused') return `spoke ${j.name}: REFUSED at ${j.at}: ${j.reason}`;
  return `spoke ${j.name}: waiting for the hub since ${j.at}: ${j.reason}`;
}
