import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { type ApplyResult, applyPlan, failureMessage } from '../../apply/apply.ts';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { type Plan, renderPlan } from '../../core/plan.ts';
import { beMountDir, cleanupMount } from '../../day2/be.ts';
import { GUARD } from '../../day2/be-entry.ts';
import {
  bootedDataset,
  kernelIn,
  kernelPair,
  kernelsNewestFirst,
  kernelVersionsIn,
  read,
  readBootFacts,
} from '../../day2/facts.ts';
import {
  hasCandidate,
  newKernels,
  planUpgrade,
  UPGRADE_SNAP_PREFIX,
  type UpgradeFacts,
  upgradeName,
} from '../../day2/upgrade.ts';
import { pendingRecord, pickKernel, planUpgradeBoot } from '../../day2/upgrade-boot.ts';
import { planConfirm } from '../../day2/upgrade-confirm.ts';
import {
  CONFIRM_UNIT,
  failedRecord,
  parseRecord,
  recordText,
  renderStatus,
  UPGRADE_STATE,
  type UpgradeRecord,
} from '../../day2/upgrade-record.ts';
import { zpool } from '../../zfs/zpool.ts';
import { DAY2_HELP_EXIT, DAY2_LOG, efiVar, ROLLBACK_RULE } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { simulate } from './pkg.ts';

const HELP = `
kupgrade = kldload upgrade: apt-get full-upgrade inside a NEW boot environment. The running one is
never modified; it stays the default until the new one has booted once.

  1. apt-get -s full-upgrade in the running system. Nothing to upgrade: nothing is made (exit 0).
     apt-get update is NOT run: the package lists are those of the last update. Run
     kpkg update first to get newer ones.
  2. The packages are downloaded in the running system (into the shared /var/cache).
  3. The running BE is snapshotted (<BE>@${UPGRADE_SNAP_PREFIX}<stamp>) and cloned into upgrade-<stamp>
     (or --name), with its own root= and entry token like kbe create.
  4. apt-get full-upgrade runs in a chroot of it: no service starts, no APT snapshot. A new kernel
     brings its zfs-modules-<abi> when an apt source has that package.
  5. The newest kernel in the new BE whose initramfs holds ZFS gets the BE's boot entry (3 tries,
     panic=10). A newer kernel without ZFS is left out and named.
  6. The next boot only runs the new BE (bootctl set-oneshot). The default is not changed.
  7. When that boot reaches multi-user, ${CONFIRM_UNIT} makes it the default
     (bootctl set-default and the pool's bootfs). If that boot fails, the machine resets and comes
     back on the old BE by itself. kldload upgrade status says what happened.

Undo an upgrade that was made the default: kbe activate <old BE> (it was never changed).
${ROLLBACK_RULE}
${DAY2_HELP_EXIT}
  kldload upgrade status exits 0 whatever the attempt's status (read it from --json: record.status).`;

function readRecord(): UpgradeRecord | undefined {
  return existsSync(UPGRADE_STATE) ? parseRecord(readFileSync(UPGRADE_STATE, 'utf8')) : undefined;
}

function writeRecord(r: UpgradeRecord): void {
  mkdirSync(dirname(UPGRADE_STATE), { recursive: true });
  writeFileSync(UPGRADE_STATE, recordText(r));
}

const bootId = () => read('/proc/sys/kernel/random/boot_id').trim();

function needRoot(what: string): void {
  if (process.getuid?.() !== 0)
    throw new KldloadError(`${what} must run as root (sudo kupgrade …)`, EXIT.badInput);
}

async function apply(log: Logger, plan: Plan): Promise<ApplyResult> {
  return applyPlan(new SystemExecutor(log), log, plan, {
    root: '/',
    cleanupFrom: new Set(plan.steps.map((s) => s.name)),
    cleanupNote: 'unmount what this run mounted; the boot environment it made stays for inspection',
  });
}

/** The newest kernel of the mounted BE whose initramfs passes the guard's check (newer ones are held). */
async function chooseKernel(exec: Executor, mnt: string) {
  const versions = kernelVersionsIn(mnt);
  const passing = new Set<string>();
  for (const v of kernelsNewestFirst(versions)) {
    const c = await exec.run([GUARD, 'check', v, `${mnt}/boot/initrd.img-${v}`], { check: false });
    if (c.exitCode === 0) {
      passing.add(v);
      break;
    }
  }
  return pickKernel(versions, (v) => passing.has(v));
}

async function upgrade(o: { name?: string; dryRun?: boolean; json?: boolean }): Promise<CommandResult> {
  if (!o.dryRun) needRoot('kldload upgrade');
  const exec = new SystemExecutor();
  const boot = await readBootFacts({ exec });
  const changes = await simulate(exec, ['full-upgrade']);
  const lists = 'package lists as of the last update; kpkg update fetches newer ones';
  if (!changes.length)
    return {
      exitCode: EXIT.ok,
      json: { ok: true, changes: 0, be: null },
      text: `nothing to upgrade: apt-get -s full-upgrade changes nothing (${lists}). No boot environment was made.`,
    };
  const zfsModules: string[] = [];
  for (const k of newKernels(changes)) {
    const p = await exec.run(['apt-cache', 'policy', `zfs-modules-${k}`], {
      check: false,
      env: { LC_ALL: 'C.UTF-8' },
    });
    if (hasCandidate(p.stdout)) zfsModules.push(k);
  }
  const running = kernelIn('/', (await exec.run(['uname', '-r'])).stdout.trim());
  const record = readRecord();
  const facts: UpgradeFacts = {
    boot,
    changes,
    zfsModules,
    running,
    policyRcd: existsSync('/usr/sbin/policy-rc.d'),
    ...(record ? { record } : {}),
    bootId: bootId(),
    now: new Date().toISOString(),
  };
  const name = upgradeName(boot, o.name);
  const plan = planUpgrade(facts, { name });
  if (o.dryRun) {
    const preview = planUpgradeBoot(boot, running, pendingRecord(facts, name, running.version, []));
    return {
      exitCode: EXIT.ok,
      json: { ok: true, dryRun: true, changes: changes.length, plan, bootPlan: preview },
      text: `${changes.length} package change(s) (${lists})\n${renderPlan(plan, '/')}\n\nthen, with the newest kernel of ${name} whose initramfs holds ZFS (shown: the running ${running.version}):\n${renderPlan(preview, '/')}`,
    };
  }
  const log = new Logger({ file: DAY2_LOG, quiet: !!o.json });
  log.info(`kldload upgrade: ${changes.length} change(s) into ${name}`);
  const base = pendingRecord(facts, name, undefined, []);
  const failed = (why: string, r?: ApplyResult): CommandResult => {
    const rec = failedRecord(base, new Date().toISOString(), why);
    writeRecord(rec);
    log.info(why);
    return {
      exitCode: EXIT.failed,
      json: { ok: false, error: why, ...(r ?? {}), record: rec, log: DAY2_LOG },
      text: r
        ? `${failureMessage(r, 'kldload upgrade', DAY2_LOG)}\n  ${why}`
        : `kldload: ${why}\n  log: ${DAY2_LOG}`,
    };
  };
  const first = await apply(log, plan);
  if (!first.ok) {
    const at = plan.steps.findIndex((s) => s.name === first.failed?.step);
    const made = at > plan.steps.findIndex((s) => s.name === 'clone');
    return failed(
      `kupgrade failed in step ${first.failed?.step}; ${made ? `boot environment ${name} stays for inspection (kbe destroy ${name} removes it)` : 'no boot environment was made'}. The running system was not changed.`,
      first,
    );
  }
  const mnt = beMountDir(name);
  let second: Plan;
  let rec: UpgradeRecord;
  try {
    const pick = await chooseKernel(exec, mnt);
    if (!pick.version)
      throw new KldloadError(
        `no kernel in ${name} has ZFS in its initramfs (${pick.held.join(', ') || 'no kernel at all'}); it gets no boot entry`,
      );
    rec = pendingRecord(facts, name, pick.version, pick.held);
    second = planUpgradeBoot(boot, kernelPair(mnt, pick.version), rec);
  } catch (e) {
    for (const a of cleanupMount(mnt)) if (a.kind === 'run') await exec.run(a.argv, { check: false });
    return failed(
      `${e instanceof Error ? e.message : String(e)}; boot environment ${name} stays for inspection (kbe destroy ${name} removes it). The running system was not changed.`,
    );
  }
  const done = await apply(log, second);
  if (!done.ok)
    return failed(
      `kupgrade failed in step ${done.failed?.step}; boot environment ${name} stays for inspection (kbe destroy ${name} removes it). The default boot entry was not changed.`,
      done,
    );
  const held = rec.heldKernels?.length
    ? `\nkernel(s) ${rec.heldKernels.join(', ')} left out: no ZFS module in the initramfs (install zfs-modules-<abi> in ${name}, or serve a darksite that has it).`
    : '';
  return {
    exitCode: EXIT.ok,
    json: { ok: true, record: rec, steps: [...first.steps, ...done.steps], log: DAY2_LOG },
    text: `kupgrade: ${name} is ready (${changes.length} package change(s), kernel ${rec.kernel}).
Reboot to try it: the next boot runs ${name} once; when that boot reaches multi-user it becomes the
default (kldload upgrade status). If it fails, the machine comes back on ${rec.from}, still the default.${held}`,
  };
}

async function confirm(o: { dryRun?: boolean; json?: boolean }): Promise<CommandResult> {
  const record = readRecord();
  if (!record) return { exitCode: EXIT.ok, json: { ok: true, verdict: 'none' }, text: 'no upgrade recorded' };
  const exec = new SystemExecutor();
  const b = await readBootFacts({ exec });
  const bootfs = (await exec.run(zpool.get(b.pool, 'bootfs'), { check: false })).stdout.trim();
  const oneshot = efiVar('LoaderEntryOneShot');
  const entryFile = b.entries.find((e) => e.id === record.entry)?.file;
  const plan = planConfirm({
    record,
    pool: b.pool,
    booted: b.booted,
    bootId: bootId(),
    bes: b.bes,
    ...(bootfs && bootfs !== '-' ? { bootfs } : {}),
    ...(oneshot ? { oneshot } : {}),
    ...(entryFile ? { entryFile } : {}),
    espPath: b.esp.path,
    now: new Date().toISOString(),
  });
  const { verdict, why } = plan.facts as { verdict: string; why: string };
  if (o.dryRun)
    return {
      exitCode: EXIT.ok,
      json: { ok: true, dryRun: true, plan },
      text: `${verdict}: ${why}\n${renderPlan(plan, '/')}`,
    };
  if (verdict === 'none') return { exitCode: EXIT.ok, json: { ok: true, verdict, why }, text: why };
  needRoot('kldload upgrade confirm');
  const log = new Logger({ file: DAY2_LOG, quiet: !!o.json });
  log.info(`kldload upgrade confirm: ${verdict}: ${why}`);
  if (!plan.steps.length) return { exitCode: EXIT.ok, json: { ok: true, verdict, why }, text: why };
  const r = await apply(log, plan);
  if (!r.ok)
    return {
      exitCode: EXIT.failed,
      json: { ...r, log: DAY2_LOG },
      text: failureMessage(r, 'kldload upgrade confirm', DAY2_LOG),
    };
  return { exitCode: EXIT.ok, json: { ok: true, verdict, why, steps: r.steps, log: DAY2_LOG }, text: why };
}

async function status(): Promise<CommandResult> {
  const booted = bootedDataset();
  const record = readRecord();
  return {
    exitCode: EXIT.ok,
    json: { record: record ?? null, booted },
    text: renderStatus(record, booted, booted.split('/')[0] ?? booted),
    report: true,
  };
}

export function upgradeCommand(program: Command, run: Run) {
  const up = program
    .command('upgrade')
    .description('Full upgrade inside a new boot environment (kupgrade): booted once, then made the default')
    .addHelpText('after', HELP);
  up.command('run', { isDefault: true })
    .description('upgrade into a new boot environment (the default subcommand: kupgrade = kupgrade run)')
    .option('--name <be>', 'name of the new boot environment (default upgrade-<UTC stamp>)')
    .addOption(dryRunOption('simulate and print the plan; change nothing'))
    .addOption(jsonOption())
    .action((o: { name?: string; dryRun?: boolean; json?: boolean }) => run(() => upgrade(o), !!o.json));
  up.command('status')
    .description(`the last attempt: pending, done or failed, and why (${UPGRADE_STATE})`)
    .addOption(jsonOption())
    .action((o: { json?: boolean }) => run(status, !!o.json));
  up.command('confirm')
    .description(
      `run at boot by ${CONFIRM_UNIT}: the pending upgrade's BE booted → default; the old one booted → failed`,
    )
    .addOption(dryRunOption('print the verdict and the plan; change nothing'))
    .addOption(jsonOption())
    .action((o: { dryRun?: boolean; json?: boolean }) => run(() => confirm(o), !!o.json));
}
