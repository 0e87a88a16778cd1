import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import {
  DEFAULT_EVERY,
  DEFAULT_INTO,
  keyPath,
  parseTo,
  planAdd,
  planRun,
  REPL_LOG,
  REPL_USER,
  replicaOf,
  sshArgv,
  statePath,
  timerName,
} from '../../fleet/replicate.ts';
import {
  parseStat,
  planRestoreDataset,
  planRestoreFile,
  readLine,
  restoredName,
  restoreFileSource,
} from '../../fleet/replicate-restore.ts';
import { planAccept, REPL_HOME } from '../../fleet/replicate-serve.ts';
import { getProps } from '../../zfs/zfs.ts';
import { type Day2Env, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import {
  datasetExists,
  formatState,
  jobNames,
  lastSent,
  readJob,
  readState,
  remoteSnapshots,
} from './replicate-facts.ts';

type Flags = { dryRun?: boolean; json?: boolean };

export async function replicateAdd(
  env: Day2Env,
  dataset: string,
  o: Flags & { to: string; into?: string; every?: string; name?: string; hostKey?: string },
): Promise<CommandResult> {
  const { target, port } = parseTo(o.to);
  const name = o.name ?? dataset.slice(dataset.lastIndexOf('/') + 1).toLowerCase();
  const hostname = (await env.exec.run(['hostname'], { check: false })).stdout.trim() || 'localhost';
  // Each sender its own tree on B by default: B gives a key only what is below its --into.
  const own = `${DEFAULT_INTO}/${(hostname.split('.')[0] ?? hostname).replace(/[^A-Za-z0-9_.:-]/g, '-')}`;
  const job = { name, dataset, target, port, into: o.into ?? own, every: o.every ?? DEFAULT_EVERY };
  if (!o.hostKey) {
    // Never trust on first use: show what B answers and let the person compare it on B.
    const host = target.slice(target.indexOf('@') + 1);
    const scan = await env.exec.run(['ssh-keyscan', '-T', '10', '-t', 'ed25519', '-p', String(port), host], {
      check: false,
    });
    const key = scan.stdout.split('\n').find((l) => /ssh-ed25519 /.test(l) && !l.startsWith('#'));
    const pub = key?.slice(key.indexOf('ssh-ed25519'));
    const fp = pub
      ? (
          await env.exec.run(['ssh-keygen', '-l', '-f', '-'], { input: `${pub}\n`, check: false })
        ).stdout.trim()
      : '';
    throw new KldloadError(
      pub
        ? `--host-key is needed: ${host}:${port} answers with\n  ${pub}\n  ${fp}\nCompare on ${host}: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub — if the fingerprints match, run again with --host-key '${pub}'`
        : `--host-key is needed, and ${host}:${port} gave no ed25519 host key (${scan.all.trim() || 'no answer'}): on ${host}, cat /etc/ssh/ssh_host_ed25519_key.pub and pass it as --host-key '…'`,
      EXIT.badInput,
      pub ? { hostKey: pub, fingerprint: fp } : {},
    );
  }
  const plan = planAdd({
    job,
    hostKey: o.hostKey,
    datasetExists: await datasetExists(env, dataset),
    hostname,
  });
  const r = await runDay2Plan(plan, o, `replicate add ${name}`, REPL_LOG);
  if (r.exitCode !== EXIT.ok || o.dryRun) return r;
  const pub = readFileSync(`${env.root ?? ''}${keyPath(name)}.pub`, 'utf8').trim();
  const accept = `kldload replicate accept --from-key '${pub}' --into ${job.into}`;
  return {
    ...r,
    json: { ...(r.json as object), publicKey: pub, acceptCommand: accept },
    text: `replication job ${name}: ${dataset} → ${target}:${replicaOf(job)} every ${job.every} (${timerName(name)}).\nOn ${target.slice(target.indexOf('@') + 1)}, as root, run once:\n  ${accept}\nthen here: kldload replicate run ${name}`,
  };
}

export async function replicateAccept(
  env: Day2Env,
  o: Flags & { fromKey: string; into?: string },
): Promise<CommandResult> {
  const R = env.root ?? '';
  const into = o.into ?? DEFAULT_INTO;
  const ak = `${R}${REPL_HOME}/.ssh/authorized_keys`;
  const plan = planAccept({
    into,
    key: o.fromKey,
    authorizedKeys: existsSync(ak) ? readFileSync(ak, 'utf8') : '',
    userExists: (await env.exec.run(['getent', 'passwd', REPL_USER], { check: false })).exitCode === 0,
    intoExists: await datasetExists(env, into),
  });
  const r = await runDay2Plan(plan, o, `replicate accept into ${into}`, REPL_LOG);
  return r.exitCode === EXIT.ok && !o.dryRun
    ? {
        ...r,
        text: `${REPL_USER} accepts this key's replicas below ${into} (receive, prune, send back, read a file; nothing else)`,
      }
    : r;
}

export async function replicateRun(env: Day2Env, name: string, o: Flags): Promise<CommandResult> {
  const job = readJob(env, name);
  const r = await runDay2Plan(planRun(job), o, `replicate run ${name}`, REPL_LOG);
  if (o.dryRun) return r;
  const ok = r.exitCode === EXIT.ok;
  const sent = ok ? await lastSent(env, job) : readState(env.root ?? '', name).lastSnapshot;
  const file = `${env.root ?? ''}${statePath(name)}`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    formatState({
      lastRun: new Date().toISOString(),
      lastResult: ok ? 'ok' : 'failed',
      ...(sent ? { lastSnapshot: sent } : {}),
    }),
  );
  return ok
    ? {
        ...r,
        json: { ...(r.json as object), lastSnapshot: sent },
        text: `replicate ${name}: ${sent ?? 'done'} is on ${job.target}`,
      }
    : r;
}

export async function replicateStatus(env: Day2Env): Promise<CommandResult> {
  const R = env.root ?? '';
  const jobs = jobNames(R).map((n) => {
    const j = readJob(env, n);
    return {
      name: n,
      dataset: j.dataset,
      to: `${j.target}${j.port === 22 ? '' : `:${j.port}`}`,
      replica: replicaOf(j),
      every: j.every,
      timer: timerName(n),
      ...readState(R, n),
    };
  });
  const text = jobs.length
    ? jobs
        .map(
          (j) =>
            `${j.name}: ${j.dataset} → ${j.to}:${j.replica} every ${j.every}; last run ${j.lastRun ?? 'never'}${j.lastResult ? ` (${j.lastResult})` : ''}; last sent ${j.lastSnapshot ?? '-'}`,
        )
        .join('\n')
    : 'no replication jobs (kldload replicate add DATASET --to USER@HOST)';
  return { exitCode: EXIT.ok, json: { jobs }, text, report: true };
}

export async function replicateRestore(
  env: Day2Env,
  name: string,
  o: Flags & { file?: string; snapshot?: string; as?: string; force?: boolean },
): Promise<CommandResult> {
  const job = readJob(env, name);
  const snapshots = await remoteSnapshots(env, job);
  if (!o.file) {
    const dest = restoredName(job, o.as);
    const plan = planRestoreDataset(
      { job, snapshots, destExists: await datasetExists(env, dest) },
      { ...(o.snapshot ? { snapshot: o.snapshot } : {}), ...(o.as ? { as: o.as } : {}) },
    );
    return runDay2Plan(plan, o, `replicate restore ${name} → ${dest}`, REPL_LOG);
  }
  const mountpoint = (await getProps(env.exec, job.dataset, ['mountpoint']))[0]?.value ?? '';
  const facts = { job, snapshots, mountpoint, exists: existsSync(`${env.root ?? ''}${o.file}`) };
  const opts = { file: o.file, ...(o.snapshot ? { snapshot: o.snapshot } : {}), force: !!o.force };
  const { snap, rel } = restoreFileSource(facts, opts);
  const st = await env.exec.run(sshArgv(job, readLine('stat', snap, rel)), { check: false });
  if (st.exitCode !== 0)
    throw new KldloadError(
      `${rel} in ${job.target}:${snap}: ${st.all.trim()}`,
      st.exitCode === 126 ? EXIT.badInput : EXIT.failed,
    );
  return runDay2Plan(
    planRestoreFile(facts, opts, parseStat(st.stdout)),
    o,
    `replicate restore ${name} --file ${o.file}`,
    REPL_LOG,
  );
}

const HELP = `
Replication of datasets to another kldload machine with syncoid over ssh, on a timer.

On the sending machine A:
  kldload replicate add DATASET --to USER@HOST[:PORT] [--into rpool/replica] [--every 15min]
                        [--name NAME] --host-key 'ssh-ed25519 AAAA…'
    makes ${keyPath('NAME')} (ed25519, this job's only), pins B's host key (without --host-key it
    shows what B answers, with its fingerprint to compare on B, and changes nothing), writes the
    config and ${timerName('NAME')}, and prints the 'kldload replicate accept' line for B.
    The replica on B is INTO/NAME (NAME: DATASET's last part unless --name).
  kldload replicate run NAME       one syncoid run now (what the timer runs); log: ${REPL_LOG}
  kldload replicate status [--json]  the jobs, their last run and the last snapshot sent
  kldload replicate restore NAME [--snapshot SNAP] [--as DATASET]
    receives the replica's newest snapshot (or SNAP) back as DATASET-restored (or --as), next to
    the original, never over it; swap them with zfs rename when it is right.
  kldload replicate restore NAME --file PATH [--snapshot SNAP] [--force]
    copies one file back from the snapshot (mode and owner as there); an existing file only with --force.
On the receiving machine B (as root):
  kldload replicate accept --from-key 'ssh-ed25519 AAAA…' [--into rpool/replica]
    user ${REPL_USER}, zfs allow on INTO, and the key with a forced command that runs only what
    syncoid and restore need, for datasets below INTO.

JSON: add {ok, steps, facts:{job, replica, key, timer}, publicKey, acceptCommand, log};
run {ok, steps, facts, lastSnapshot, log}; status {jobs:[{name, dataset, to, replica, every, timer,
lastRun, lastResult, lastSnapshot}]}; --dry-run {ok, dryRun, plan}; a failure {ok:false, error}.

Exit status:
  0  done (or, with --dry-run, the plan was printed)
  1  a step failed (syncoid, ssh, zfs): the message names it; the log is ${REPL_LOG}
  2  bad input or refused (unknown job, no --host-key, restore over existing data …): nothing changed`;

export function replicateCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  const r = program
    .command('replicate')
    .description(
      'Replicate datasets to another kldload machine (syncoid over ssh): add, accept, run, status, restore',
    )
    .addHelpText('after', HELP)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput));
  r.command('add <dataset>')
    .description('a replication job of DATASET to B, on a timer')
    .requiredOption('--to <user@host[:port]>', `B's replication user and address, e.g. ${REPL_USER}@backup`)
    .option('--into <dataset>', `the parent of the replicas on B (default ${DEFAULT_INTO}/<this host>)`)
    .option('--every <span>', 'time between runs (systemd: 15min, 1h, 1d)', DEFAULT_EVERY)
    .option('--name <name>', "the job's name (default: DATASET's last part)")
    .option('--host-key <key>', "B's ssh host key line, 'ssh-ed25519 AAAA…' (pinned)")
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((ds: string, o: Parameters<typeof replicateAdd>[2]) =>
      run(() => replicateAdd(env(), ds, o), !!o.json),
    );
  r.command('accept')
    .description("on B: accept a sender's key for receiving below --into")
    .requiredOption('--from-key <key>', 'the public key kldload replicate add printed on A')
    .option('--into <dataset>', 'the parent of the replicas', DEFAULT_INTO)
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((o: Parameters<typeof replicateAccept>[1]) => run(() => replicateAccept(env(), o), !!o.json));
  r.command('run <name>')
    .description('one syncoid run of a job now')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((n: string, o: Flags) => run(() => replicateRun(env(), n, o), !!o.json));
  r.command('status')
    .description('the jobs, their last run and last snapshot sent')
    .addOption(jsonOption())
    .action((o: Flags) => run(() => replicateStatus(env()), !!o.json));
  r.command('restore <name>')
    .description('a dataset (next to the original) or one file back from B')
    .option('--file <path>', 'one file of the dataset, by its path on this machine')
    .option('--snapshot <snap>', "the replica's snapshot (default: the newest)")
    .option('--as <dataset>', 'the restored dataset (default: DATASET-restored)')
    .option('--force', 'replace an existing file (--file only)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((n: string, o: Parameters<typeof replicateRestore>[2]) =>
      run(() => replicateRestore(env(), n, o), !!o.json),
    );
}
