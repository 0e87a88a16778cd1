import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { DEFAULT_THREADS, MAX_CLONES, planSpray, planSprayDestroy } from '../../fleet/spray.ts';
import { renderSprays, SPRAY_LIST_JSON } from '../../fleet/spray-list.ts';
import { IDENTITY_UNIT, REIDENTIFY_MARKER, TARGET } from '../../layout.ts';
import { DAY2_HELP_EXIT, type Day2Env, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { readSprays, sprayDestroyFacts, sprayFacts } from './spray-facts.ts';

type Flags = { dryRun?: boolean; json?: boolean };
type CreateFlags = Flags & { from: string; into?: string; threads?: string; keepIdentity?: boolean };

const whole = (what: string, v: string) => {
  if (!/^\d+$/.test(v)) throw new KldloadError(`${what} ${JSON.stringify(v)}: a whole number`, EXIT.badInput);
  return Number(v);
};

export async function sprayCreate(
  env: Day2Env,
  name: string,
  n: string,
  o: CreateFlags,
): Promise<CommandResult> {
  const count = whole('N', n);
  const threads = o.threads === undefined ? DEFAULT_THREADS : whole('--threads', o.threads);
  const f = await sprayFacts(env, { name, from: o.from, ...(o.into ? { into: o.into } : {}) });
  const plan = planSpray(f, {
    name,
    count,
    from: o.from,
    threads,
    ...(o.into ? { into: o.into } : {}),
    ...(o.keepIdentity ? { keepIdentity: true } : {}),
  });
  const t0 = Date.now();
  const r = await runDay2Plan(plan, o, `spray ${name}: ${count} clones of ${o.from}`);
  if (o.dryRun || r.exitCode !== EXIT.ok) return r;
  const seconds = (Date.now() - t0) / 1000;
  return {
    ...r,
    json: { ...(r.json as object), seconds },
    text: `${count} clones of ${o.from} in ${seconds.toFixed(1)} s: ${String(plan.facts.container)}/${name}-1 … ${name}-${count}\n  identity: ${String(plan.facts.identity)}`,
  };
}

export async function sprayDestroy(env: Day2Env, name: string, o: Flags): Promise<CommandResult> {
  const f = await sprayDestroyFacts(env, name);
  return runDay2Plan(planSprayDestroy(f), o, `spray destroy ${f.container}`);
}

export async function sprayList(env: Day2Env): Promise<CommandResult> {
  const list = await readSprays(env);
  return { exitCode: EXIT.ok, json: { sprays: list }, text: renderSprays(list) };
}

const HELP = `
kldload spray: many writable copy-on-write clones of one snapshot on this host, in seconds.

  kldload spray create NAME N --from SNAPSHOT [--into PARENT] [--threads T] [--keep-identity]
    makes PARENT/NAME (default PARENT: <pool>/spray; neither is mounted) and in it the clones
    NAME-1 … NAME-N of SNAPSHOT, all from one process: ${TARGET.sprayHelper} calls libzfs_core's
    lzc_clone from T threads (default ${DEFAULT_THREADS}), so ZFS commits them in a few transaction groups
    instead of one per \`zfs clone\`. N: 1 to ${MAX_CLONES}. A filesystem snapshot gives filesystem clones
    (they inherit the container's mountpoint=none: mounted by nothing, now or at boot; zfs set
    mountpoint=… one, or mount -t zfs -o zfsutil, when wanted), a volume's gives zvols
    (/dev/zvol/PARENT/NAME/NAME-i, for VMs).
    All or nothing: when a clone fails, the clones and PARENT/NAME this run made are destroyed
    again; a PARENT/NAME it did not make (another run's) is never touched.
    Identity: no clone is mounted to change it (that would cost more than the clone). A root
    filesystem must be a sealed snapshot — machine-id empty, no ssh host keys or hostid, and
    ${REIDENTIFY_MARKER}, so each clone makes its own on its first boot (${IDENTITY_UNIT}):
    what kldload image capture writes (zfs receive -u rpool/golden/web < DIR/root.zfs gives
    rpool/golden/web@sealed). An unsealed root is refused unless --keep-identity. The host name is
    the launcher's: the clone's name (systemd-nspawn -M NAME-3 -D …, a VM's DHCP host name).
    Needs python3 and libzfs_core (both with zfsutils-linux).
  kldload spray list
    every spray: its clones, their type, what they hold of their own, the origin.
  kldload spray destroy NAME
    unmounts mounted clones, then destroys their snapshots (one call), the clones (threads) and
    PARENT/NAME. NAME: the spray's name or its container dataset. Refused while a snapshot in it is
    the origin of a clone outside it, or held.

JSON (--json): create: { "ok", "steps", "facts": { "name", "origin", "type", "container",
  "clones": [dataset…], "identity" }, "log", "seconds" }; destroy: { "ok", "steps", "facts":
  { "container", "datasets", "snapshots" }, "log" }; --dry-run: { "ok", "dryRun", "plan" };
  list: ${SPRAY_LIST_JSON}
${DAY2_HELP_EXIT}

Examples:
  zfs receive -u rpool/golden/web < /var/tmp/kldload-golden-web1-…/root.zfs
  kldload spray create web 100 --from rpool/golden/web@sealed
  kldload spray create vm 20 --from rpool/vm/base@v1          # a volume: 20 zvols
  kldload spray list
  kldload spray destroy web`;

export function sprayCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  const spray = program
    .command('spray')
    .description('Many copy-on-write clones of one snapshot in seconds: create, list, destroy')
    .addHelpText('after', HELP)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput));
  spray
    .command('create <name> <n>')
    .description('N clones NAME-1 … NAME-N of --from SNAPSHOT in PARENT/NAME')
    .requiredOption('--from <snapshot>', 'the snapshot to clone (a sealed root, data, a volume)')
    .option('--into <parent>', "the container's parent (default <pool>/spray)")
    .option('--threads <t>', `concurrent lzc_clone calls (default ${DEFAULT_THREADS})`)
    .option('--keep-identity', 'allow an unsealed root: the clones share its identity')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((name: string, n: string, o: CreateFlags) => run(() => sprayCreate(env(), name, n, o), !!o.json));
  spray
    .command('list')
    .description('the sprays on this host')
    .addOption(jsonOption())
    .action((o: Flags) => run(() => sprayList(env()), !!o.json));
  spray
    .command('destroy <name>')
    .description('destroy a spray: every clone and its container')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((name: string, o: Flags) => run(() => sprayDestroy(env(), name, o), !!o.json));
}
