/**
 * kldload replicate, the sending side (machine A): a job replicates one dataset to another kldload
 * machine (B) with Debian's syncoid over ssh, on a systemd timer, with a key of its own that B only
 * lets run what receiving needs (replicate-serve.ts). Pure: config codec, unit files, the add and
 * run plans and the ssh/syncoid argv; the facts are read by src/cli/commands/replicate*.ts.
 *
 * Choices (docs/fleet-replicate.md says why at length):
 * - syncoid's own sync snapshots (`syncoid_<job>_<host>_<date>`), not --no-sync-snap: a file written
 *   a minute ago is on B after the next run, not after the next hourly sanoid snapshot; syncoid keeps
 *   the newest one as the common base and prunes older ones on both sides. The sanoid snapshots in
 *   between travel too (-I).
 * - --no-privilege-elevation (B's user is not root and has no sudo for zfs: `zfs allow` instead),
 *   --recvoptions=u (Linux lets only root mount: replicas are received unmounted, below a parent with
 *   mountpoint=none), --compress=none (nothing to decompress on B: the forced command allows no
 *   pipeline), --no-command-checks is not used: B answers `command -v` with "absent" itself.
 */
import { formatEnvLine, parseEnvText } from '../answers/parse.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, type Step, write } from '../core/plan.ts';
import { isDataset } from '../zfs/zfs.ts';

export const REPL_DIR = '/etc/kldload/replicate';
export const REPL_LOG = '/var/log/kldload/replicate.log';
export const REPL_STATE_DIR = '/var/lib/kldload/replicate';
export const REPL_UNIT_DIR = '/etc/systemd/system';
export const REPL_SERVICE = 'kldload-replicate@.service';
/** The receiving user on B; its forced command is replicate-serve. */
export const REPL_USER = 'kldload-repl';
export const DEFAULT_INTO = 'rpool/replica';
export const DEFAULT_EVERY = '15min';

export interface ReplJob {
  name: string;
  /** The dataset on A. */
  dataset: string;
  /** user@host on B. */
  target: string;
  port: number;
  /** The parent on B the replicas go below; the replica is INTO/NAME. */
  into: string;
  /** systemd time span between runs (OnUnitActiveSec). */
  every: string;
}

export const replicaOf = (j: Pick<ReplJob, 'into' | 'name'>) => `${j.into}/${j.name}`;
export const keyPath = (name: string) => `${REPL_DIR}/id_${name}`;
export const knownHostsPath = (name: string) => `${REPL_DIR}/${name}.known_hosts`;
export const configPath = (name: string) => `${REPL_DIR}/${name}.env`;
export const statePath = (name: string) => `${REPL_STATE_DIR}/${name}.env`;
export const timerName = (name: string) => `kldload-replicate@${name}.timer`;

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
// user@host: a POSIX user name; a host name or an IPv4/IPv6 address (no brackets, no port).
const TARGET_RE = /^[a-z_][a-z0-9_-]*@([A-Za-z0-9.-]+|[0-9a-fA-F:]+)$/;
const EVERY_RE = /^[1-9][0-9]*(s|sec|min|m|h|hour|d|day)$/;

const bad = (what: string, fix: string) => new KldloadError(`${what}: ${fix}`, EXIT.badInput);

/** Every field checked, each refusal naming the field and what it allows. */
export function checkJob(j: ReplJob): ReplJob {
  if (!NAME_RE.test(j.name))
    throw bad(
      `job name ${JSON.stringify(j.name)}`,
      'lowercase letters, digits and _ . - (a systemd instance)',
    );
  if (!isDataset(j.dataset) || !j.dataset.includes('/'))
    throw bad(`DATASET ${JSON.stringify(j.dataset)}`, 'a dataset below the pool, e.g. rpool/srv/data');
  if (!TARGET_RE.test(j.target))
    throw bad(`--to ${JSON.stringify(j.target)}`, `USER@HOST, e.g. ${REPL_USER}@backup.example.net`);
  if (!Number.isInteger(j.port) || j.port < 1 || j.port > 65535)
    throw bad(`port ${j.port}`, 'a whole number from 1 to 65535');
  if (!isDataset(j.into)) throw bad(`--into ${JSON.stringify(j.into)}`, 'a dataset on B, e.g. rpool/replica');
  if (!EVERY_RE.test(j.every))
    throw bad(`--every ${JSON.stringify(j.every)}`, 'a number and s, min, h or d, e.g. 15min, 1h');
  return j;
}

/** USER@HOST[:PORT] → target and port (an IPv6 address takes no port here: use --port). */
export function parseTo(to: string): { target: string; port: number } {
  const m = /^([^@]+@[A-Za-z0-9.-]+):([0-9]+)$/.exec(to);
  return m ? { target: m[1] as string, port: Number(m[2]) } : { target: to, port: 22 };
}

const KEYS = {
  dataset: 'KLDLOAD_REPL_DATASET',
  target: 'KLDLOAD_REPL_TARGET',
  port: 'KLDLOAD_REPL_PORT',
  into: 'KLDLOAD_REPL_INTO',
  every: 'KLDLOAD_REPL_EVERY',
} as const;

export function formatJob(j: ReplJob): string {
  return `# kldload replicate job ${j.name} (kldload replicate add; edit with care, then kldload replicate add again)\n${[
    formatEnvLine(KEYS.dataset, j.dataset),
    formatEnvLine(KEYS.target, j.target),
    formatEnvLine(KEYS.port, String(j.port)),
    formatEnvLine(KEYS.into, j.into),
    formatEnvLine(KEYS.every, j.every),
  ].join('\n')}\n`;
}

/** A job's config file → the job; errors name the file, line and key. */
export function parseJob(name: string, text: string, file = configPath(name)): ReplJob {
  const { entries, errors } = parseEnvText(text);
  const e = errors[0];
  if (e) throw bad(`${file}:${e.line}${e.key ? `: ${e.key}` : ''}`, e.message);
  const get = (k: string) => {
    const v = entries.get(k)?.value;
    if (v === undefined) throw bad(`${file}: ${k}`, 'missing; run kldload replicate add again');
    return v;
  };
  return checkJob({
    name,
    dataset: get(KEYS.dataset),
    target: get(KEYS.target),
    port: Number(get(KEYS.port)),
    into: get(KEYS.into),
    every: get(KEYS.every),
  });
}

/** ssh options every connection of a job uses: its key, its pinned host key, never a prompt. */
export function sshOptions(j: ReplJob): string[] {
  return [
    `UserKnownHostsFile=${knownHostsPath(j.name)}`,
    'GlobalKnownHostsFile=/dev/null',
    'StrictHostKeyChecking=yes',
    'BatchMode=yes',
    'IdentitiesOnly=yes',
  ];
}

/** `ssh … B 'COMMAND'`: what kldload itself runs on B (restore, status); B's forced command checks it. */
export function sshArgv(j: ReplJob, remote: string): string[] {
  return [
    'ssh',
    '-i',
    keyPath(j.name),
    ...sshOptions(j).flatMap((o) => ['-o', o]),
    '-p',
    String(j.port),
    j.target,
    remote,
  ];
}

export function syncoidArgv(j: ReplJob): string[] {
  return [
    'syncoid',
    `--identifier=${j.name}`,
    '--no-privilege-elevation',
    '--recvoptions=u',
    '--compress=none',
    `--sshkey=${keyPath(j.name)}`,
    ...sshOptions(j).map((o) => `--sshoption=${o}`),
    `--sshport=${j.port}`,
    j.dataset,
    `${j.target}:${replicaOf(j)}`,
  ];
}

/** The pinned host key line: `[host]:port` unless the port is 22, as ssh writes it. */
export function knownHostsLine(j: ReplJob, hostKey: string): string {
  const host = j.target.slice(j.target.indexOf('@') + 1);
  return `${j.port === 22 ? host : `[${host}]:${j.port}`} ${hostKey}\n`;
}

/** An OpenSSH public key line: type, base64, optional comment (no options, no newline). */
export function checkPublicKey(k: string, what: string): string {
  const t = k.trim();
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( [^\n\r]*)?$/.test(t))
    throw bad(what, "an OpenSSH public key line, 'ssh-ed25519 AAAA… [comment]'");
  return t;
}

export const SERVICE_UNIT = `[Unit]
Description=kldload replicate %i: syncoid to the job's machine
Documentation=man:syncoid(8)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
# The job's config, key and pinned host key are in ${REPL_DIR}; the output goes to ${REPL_LOG}.
ExecStart=/usr/sbin/kldload replicate run %i
`;

export function timerUnit(j: ReplJob): string {
  return `[Unit]
Description=kldload replicate ${j.name} every ${j.every}

[Timer]
OnBootSec=5min
OnUnitActiveSec=${j.every}
RandomizedDelaySec=30s
Persistent=false

[Install]
WantedBy=timers.target
`;
}

export interface AddFacts {
  /** The job as given, or the one this name has already (then it is updated). */
  job: ReplJob;
  /** B's host key to pin (`--host-key`), checked. */
  hostKey: string;
  /** The dataset exists on A. */
  datasetExists: boolean;
  hostname: string;
}

/** add: key (kept when there is one), pinned host key, config, units, timer enabled. */
export function planAdd(f: AddFacts): Plan {
  const j = checkJob(f.job);
  if (!f.datasetExists) throw bad(`DATASET ${j.dataset}`, 'no such dataset on this machine (zfs list)');
  const hostKey = checkPublicKey(f.hostKey, '--host-key');
  const key = keyPath(j.name);
  const steps: Step[] = [
    {
      name: 'key',
      title: `${key}: this job's own ed25519 key (kept when it exists; its .pub goes to B's kldload replicate accept)`,
      actions: [
        { kind: 'mkdir', path: REPL_DIR, mode: 0o700 },
        run(
          [
            'ssh-keygen',
            '-q',
            '-t',
            'ed25519',
            '-N',
            '',
            '-C',
            `kldload-replicate-${j.name}@${f.hostname}`,
            '-f',
            key,
          ],
          { unless: ['test', '-e', key] },
        ),
      ],
    },
    {
      name: 'host-key',
      title: `${knownHostsPath(j.name)}: B's host key, pinned (ssh refuses any other; no prompt, no first-use trust)`,
      actions: [write(knownHostsPath(j.name), knownHostsLine(j, hostKey), 0o644)],
    },
    {
      name: 'config',
      title: `${configPath(j.name)}: ${j.dataset} → ${j.target}:${replicaOf(j)} every ${j.every}`,
      actions: [write(configPath(j.name), formatJob(j), 0o644)],
    },
    {
      name: 'units',
      title: `${REPL_SERVICE} and ${timerName(j.name)}: kldload replicate run ${j.name} every ${j.every}`,
      actions: [
        write(`${REPL_UNIT_DIR}/${REPL_SERVICE}`, SERVICE_UNIT),
        write(`${REPL_UNIT_DIR}/${timerName(j.name)}`, timerUnit(j)),
        run(['systemctl', 'daemon-reload']),
        run(['systemctl', 'enable', '--now', timerName(j.name)]),
      ],
    },
  ];
  return {
    facts: { job: j, replica: replicaOf(j), key: `${key}.pub`, timer: timerName(j.name) },
    steps,
    cleanup: [],
  };
}

/** run: one syncoid run (what the timer starts); its output goes to REPL_LOG. */
export function planRun(j: ReplJob): Plan {
  return {
    facts: { job: j.name, dataset: j.dataset, replica: `${j.target}:${replicaOf(j)}` },
    steps: [
      {
        name: 'syncoid',
        title: `${j.dataset} → ${j.target}:${replicaOf(j)} (incremental from the newest snapshot both sides have)`,
        actions: [run(syncoidArgv(j))],
      },
    ],
    cleanup: [],
  };
}

/** The newest syncoid snapshot of this job among a dataset's snapshot names (oldest first). */
export function lastSyncSnap(name: string, snapshots: readonly string[]): string | undefined {
  return snapshots.filter((s) => s.includes(`@syncoid_${name}_`)).at(-1);
}
