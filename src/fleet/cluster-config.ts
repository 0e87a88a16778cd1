/**
 * The files the cluster writes, as text: wg0.conf of the hub and of a spoke, the ansible inventory,
 * known_hosts and ansible.cfg, a spoke's authorized_keys line, the example playbook. Pure.
 */
import type { ClusterPaths, NodeRecord } from './cluster-state.ts';

/** The unprivileged account ansible logs in as on spokes (sudo for become). */
export const ANSIBLE_USER = 'kldload-ansible';
export const ANSIBLE_HOME = `/var/lib/${ANSIBLE_USER}`;
export const MARKER = '/etc/kldload/cluster-converged';
export const KEEPALIVE = 25;

const header = (what: string) =>
  `# Written by kldload cluster (${what}); rewritten at each enrollment, do not edit.\n`;

/** The private key is not in the file: wg-quick's PostUp loads it from its own 0600 file. */
const iface = (address: string, prefix: number, keyFile: string, port?: number) =>
  [
    '[Interface]',
    `Address = ${address}/${prefix}`,
    ...(port ? [`ListenPort = ${port}`] : []),
    `PostUp = wg set %i private-key ${keyFile}`,
  ].join('\n');

export function hubWgConf(o: {
  hubAddress: string;
  prefix: number;
  port: number;
  keyFile: string;
  nodes: readonly NodeRecord[];
}): string {
  const peers = o.nodes.map((n) =>
    ['', '[Peer]', `# ${n.name}`, `PublicKey = ${n.publicKey}`, `AllowedIPs = ${n.address}/32`].join('\n'),
  );
  return `${header('hub')}${iface(o.hubAddress, o.prefix, o.keyFile, o.port)}\n${peers.join('\n')}${peers.length ? '\n' : ''}`;
}

/** A spoke reaches the whole net through the hub (AllowedIPs = the net), so spokes reach each other. */
export function spokeWgConf(o: {
  address: string;
  prefix: number;
  keyFile: string;
  hubPublicKey: string;
  endpoint: string;
  net: string;
}): string {
  return `${header('spoke')}${iface(o.address, o.prefix, o.keyFile)}\n\n${[
    '[Peer]',
    '# hub',
    `PublicKey = ${o.hubPublicKey}`,
    `Endpoint = ${o.endpoint}`,
    `AllowedIPs = ${o.net}`,
    `PersistentKeepalive = ${KEEPALIVE}`,
  ].join('\n')}\n`;
}

/** Only the hub's WireGuard address may use the key, and only for commands (no forwarding). */
export const authorizedKeysLine = (hubAddress: string, ansiblePublicKey: string) =>
  `from="${hubAddress}",no-port-forwarding,no-agent-forwarding,no-X11-forwarding ${ansiblePublicKey.trim()}\n`;

/** `type key` of an OpenSSH public key line (its comment dropped); undefined when it is not one. */
export function sshKeyOf(line: string): string | undefined {
  const m = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,3})(?:\s.*)?$/.exec(
    line.trim(),
  );
  return m ? `${m[1]} ${m[2]}` : undefined;
}

/** INI inventory: the hub itself over a local connection, spokes by their wg0 address. */
export function inventory(hubName: string, nodes: readonly NodeRecord[]): string {
  return [
    header('inventory from nodes.json').trimEnd(),
    '[hub]',
    `${hubName} ansible_connection=local`,
    '',
    '[spokes]',
    ...nodes.map((n) => `${n.name} ansible_host=${n.address}`),
    '',
    '[spokes:vars]',
    `ansible_user=${ANSIBLE_USER}`,
    '',
    '[cluster:children]',
    'hub',
    'spokes',
    '',
  ].join('\n');
}

/** The host keys the spokes sent at enrollment, by wg0 address: StrictHostKeyChecking stays on. */
export const knownHosts = (nodes: readonly NodeRecord[]) =>
  nodes.map((n) => `${n.address} ${sshKeyOf(n.hostKey) ?? n.hostKey}\n`).join('');

export function ansibleCfg(p: ClusterPaths): string {
  return [
    header('ansible.cfg').trimEnd(),
    '[defaults]',
    `inventory = ${p.ansibleRun}/inventory.ini`,
    `private_key_file = ${p.ansibleKey}`,
    'host_key_checking = True',
    'interpreter_python = /usr/bin/python3',
    'retry_files_enabled = False',
    'nocows = True',
    '',
    '[ssh_connection]',
    `ssh_args = -o UserKnownHostsFile=${p.ansibleRun}/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s`,
    '',
  ].join('\n');
}

/** The example playbook `cluster seed` puts in the hub's payload: one marker file on every node. */
export const EXAMPLE_SITE = `# The cluster's playbook: \`kldload cluster converge\` runs it on the hub over wg0 (inventory groups:
# hub, spokes, cluster). Replace it with your own tree (site.yml is the entry point); keep it idempotent.
- name: Mark every node of the cluster converged
  hosts: cluster
  become: true
  gather_facts: false
  tasks:
    - name: The marker file
      ansible.builtin.copy:
        dest: ${MARKER}
        content: "converged by kldload cluster\\n"
        owner: root
        group: root
        mode: "0644"
`;
