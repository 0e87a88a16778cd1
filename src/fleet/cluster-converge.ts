/**
 * `kldload cluster converge` on the hub: the inventory, known_hosts and ansible.cfg made from the
 * enrolled nodes, then ansible-playbook on the payload's site.yml over wg0; the PLAY RECAP gives
 * each host's changed count. Pure: the plan and the recap reader.
 */
import { type Plan, run } from '../core/plan.ts';
import { ansibleCfg, inventory, knownHosts } from './cluster-config.ts';
import type { ClusterPaths, HostRecap, NodeRecord } from './cluster-state.ts';

export function playbookArgv(p: ClusterPaths): string[] {
  // ANSIBLE_CONFIG through env(1): a plan's run action carries argv only.
  return ['env', `ANSIBLE_CONFIG=${p.ansibleRun}/ansible.cfg`, 'ansible-playbook', `${p.playbooks}/site.yml`];
}

export function convergePlan(p: ClusterPaths, hubName: string, nodes: readonly NodeRecord[]): Plan {
  return {
    facts: {
      hub: hubName,
      spokes: nodes.map((n) => `${n.name}=${n.address}`),
      playbook: `${p.playbooks}/site.yml`,
    },
    steps: [
      {
        name: 'inventory',
        title: `inventory, known_hosts and ansible.cfg for ${nodes.length} spokes in ${p.ansibleRun}`,
        actions: [
          { kind: 'mkdir', path: p.ansibleRun, mode: 0o700 },
          {
            kind: 'write',
            path: `${p.ansibleRun}/inventory.ini`,
            content: inventory(hubName, nodes),
            mode: 0o644,
          },
          { kind: 'write', path: `${p.ansibleRun}/known_hosts`, content: knownHosts(nodes), mode: 0o644 },
          { kind: 'write', path: `${p.ansibleRun}/ansible.cfg`, content: ansibleCfg(p), mode: 0o644 },
        ],
      },
      {
        name: 'playbook',
        title: `ansible-playbook ${p.playbooks}/site.yml on the hub and every spoke`,
        // A failed play is a result (recorded per host), not a broken plan.
        actions: [run(playbookArgv(p), { mayFail: true, progress: true })],
      },
    ],
    cleanup: [],
  };
}

/** The PLAY RECAP lines of ansible-playbook's output: host → ok, changed, unreachable, failed. */
export function parseRecap(output: string): Record<string, HostRecap> {
  const at = output.lastIndexOf('PLAY RECAP');
  if (at < 0) return {};
  const hosts: Record<string, HostRecap> = {};
  for (const line of output.slice(at).split('\n').slice(1)) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!m?.[1] || !m[2]) continue;
    const kv = Object.fromEntries([...m[2].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
    hosts[m[1]] = {
      ok: kv.ok ?? 0,
      changed: kv.changed ?? 0,
      unreachable: kv.unreachable ?? 0,
      failed: kv.failed ?? 0,
    };
  }
  return hosts;
}
