import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { RoleSetting } from '../../answers/role-settings.ts';
import { secretsOf, validateAnswersFile } from '../../answers/validate.ts';
import { applyPlan, failureMessage } from '../../apply/apply.ts';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { renderPlan } from '../../core/plan.ts';
import { librarySettings } from '../../image/role-library.ts';
import { LOGS, MEDIUM } from '../../layout.ts';
import { findAnswers } from '../../live/answers-source.ts';
import { type Host, systemHost } from '../../live/blockdev.ts';
import { diskInventory, pickDisk } from '../../live/disk-pick.ts';
import { gatherFacts } from '../../live/facts.ts';
import { PICKED_DISK, targetDisks } from '../../plan/disks.ts';
import { FIRST_WRITING_STEP, planInstall } from '../../plan/install-plan.ts';
import { payloadSettings } from '../../postinstall/settings.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { selfBundle } from './build.ts';

export const INSTALL_LOG = LOGS.installer;
/** The live image's web installer unit (payload/live/kldload-webui.service). */
export const WEBUI_UNIT = 'kldload-webui.service';

export interface InstallOpts {
  config?: string;
  dryRun?: boolean;
  live?: boolean;
  root: string;
  json?: boolean;
}

/** Ports for tests: a recording executor and a logger without a file prove what would be touched. */
export interface InstallDeps {
  exec: Executor;
  log: Logger;
  /** The machine the disk checks and the disk pick read; default the real one. */
  host?: Host;
}

export function defaultDeps(o: InstallOpts): InstallDeps {
  const log = new Logger({
    ...(o.dryRun ? {} : { file: INSTALL_LOG }),
    quiet: !!o.json && !o.live,
    echo: (l) => process.stdout.write(`${l}\n`),
  });
  return { log, exec: new SystemExecutor(log) };
}

export async function install(o: InstallOpts, deps: InstallDeps = defaultDeps(o)): Promise<CommandResult> {
  if (!o.live) return installInner(o, deps);
  // On the medium nobody reads exit codes: every outcome ends in one marker line on the console.
  try {
    return await installInner(o, deps);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    deps.log.info(`${msg}\nKLDLOAD-INSTALL-FAIL step=setup`);
    return {
      exitCode: e instanceof KldloadError ? e.exitCode : EXIT.failed,
      json: { ok: false, error: msg },
      text: '',
    };
  }
}

async function installInner(o: InstallOpts, deps: InstallDeps): Promise<CommandResult> {
  const { exec, log } = deps;
  let config = o.config;
  if (!config && o.live) {
    const found = await findAnswers(exec, log);
    // A dry run starts nothing: it says what a real run would do.
    if ('web' in found && o.dryRun)
      return {
        exitCode: EXIT.ok,
        json: { ok: true, webui: true, why: found.web },
        text: `${found.web}: a real run starts the web installer`,
      };
    if ('web' in found) return startWebInstaller(exec, log, found.web);
    config = found.path;
  }
  if (!config)
    throw new KldloadError('--config FILE is required (or --live on the installer medium)', EXIT.badInput);
  // Validation comes before the first write: bad answers never touch a disk.
  const v = validateAnswersFile(config, { roleSettings: installSettings(!!o.live) });
  const warnings = v.warnings.map((w) => w.text);
  // On the medium the console and the installer log are where a human looks.
  if (o.live) for (const w of warnings) log.info(`warning: ${w}`);
  if (!v.ok) {
    const text = v.errors.map((e) => e.text).join('\n');
    if (o.live) log.info(`${text}\nKLDLOAD-INSTALL-FAIL step=answers`);
    return {
      exitCode: EXIT.badInput,
      json: { ok: false, errors: v.errors.map(({ text: _t, ...e }) => e), warnings },
      text,
      warnings,
    };
  }
  const a = v.answers;
  for (const s of secretsOf(a)) log.addSecret(s);
  for (const s of v.settings) if (s.secret) log.addSecret(s.value);
  const host = deps.host ?? systemHost(exec);
  let pickedDisk: string | undefined;
  // No disk named at all (KLDLOAD_ZFS_DATA_DISKS would name the pool's): pick the one eligible disk.
  // Only the machine being installed can say which; a dry run elsewhere shows PICKED_DISK.
  if (a.KLDLOAD_DISK === undefined && !a.KLDLOAD_ZFS_DATA_DISKS?.length) {
    if (o.live || !o.dryRun) {
      const picked = pickDisk(
        undefined,
        await diskInventory(host, {
          forceWipe: a.KLDLOAD_FORCE_WIPE,
          exclude: a.KLDLOAD_ZFS_DATA_DISKS ?? [],
          pool: a.KLDLOAD_POOL_NAME,
        }),
      );
      if ('refusal' in picked) {
        if (o.live) log.info(`${picked.refusal}\nKLDLOAD-INSTALL-FAIL step=preflight`);
        return { exitCode: EXIT.badInput, json: { ok: false, error: picked.refusal }, text: picked.refusal };
      }
      log.info(picked.message);
      pickedDisk = picked.disk;
    }
  }
  const facts = await gatherFacts(a, {
    root: o.root,
    live: !!o.live,
    logFile: INSTALL_LOG,
    bundle: selfBundle(),
    ...(pickedDisk !== undefined ? { pickedDisk } : {}),
  });
  const plan = planInstall(a, facts, v.settings);
  if (o.dryRun)
    return {
      exitCode: EXIT.ok,
      json: { ok: true, warnings, plan: JSON.parse(log.redact(JSON.stringify(redactPlan(plan)))) },
      text: renderPlan(plan, o.root),
      warnings,
    };
  if (process.getuid?.() !== 0) throw new KldloadError('install must run as root', EXIT.badInput);
  if (!existsSync(facts.image))
    throw new KldloadError(`${facts.image}: target image missing; run install from the kldload medium`);
  const disk = targetDisks(a, facts.pickedDisk).boot;
  if (disk === PICKED_DISK)
    throw new KldloadError(
      'KLDLOAD_DISK is empty and no disk was picked; set KLDLOAD_DISK=/dev/disk/by-id/… (see lsblk)',
      EXIT.badInput,
    );
  log.info(
    `kldload install: ${a.KLDLOAD_HOSTNAME} on ${disk} (${a.KLDLOAD_PROFILE}, ${facts.suite}, kernel ${facts.kabi})`,
  );
  const t0 = Date.now();
  const r = await applyPlan(exec, log, plan, { root: o.root, cleanupFrom: FIRST_WRITING_STEP, host });
  const seconds = (Date.now() - t0) / 1000;
  if (!r.ok) {
    const msg = failureMessage(r, 'install', INSTALL_LOG);
    log.info(`${msg}\nKLDLOAD-INSTALL-FAIL step=${r.failed?.step}`);
    return { exitCode: EXIT.failed, json: { ...r, seconds, log: INSTALL_LOG }, text: msg };
  }
  log.info(
    `KLDLOAD-INSTALL-OK host=${a.KLDLOAD_HOSTNAME} seconds=${seconds.toFixed(0)} hostid=${facts.hostid}`,
  );
  if (o.live && !a.KLDLOAD_NO_AUTO_REBOOT) {
    log.info('powering off: remove the installer medium and boot from the disk');
    await exec.run(['systemctl', '--no-block', 'poweroff'], { check: false });
  }
  return { exitCode: EXIT.ok, json: { ...r, seconds, log: INSTALL_LOG }, text: '' };
}

/** The live medium's other way in: the wizard (kldload webui), which installs through this command. */
async function startWebInstaller(exec: Executor, log: Logger, why: string): Promise<CommandResult> {
  log.info(`${why}: starting the web installer; its address and token appear on this console`);
  await exec.run(['systemctl', 'start', '--no-block', WEBUI_UNIT]);
  return { exitCode: EXIT.ok, json: { ok: true, webui: true, why }, text: '' };
}

/**
 * Role settings the answers may carry: those of the roles on the medium (the payload that goes to
 * /root/darksite). Off the medium (a dry run on a workstation), the role library's.
 */
export function installSettings(live: boolean): RoleSetting[] {
  const payload = join(MEDIUM.root, MEDIUM.payload);
  if (existsSync(payload)) return payloadSettings(payload);
  return live ? [] : librarySettings();
}

/**
 * Plans carry secret stdin (passwords) and secret files (role secrets); JSON output shows them
 * as <redacted> like the text form.
 */
function redactPlan<T>(plan: T): T {
  return JSON.parse(
    JSON.stringify(plan, function (this: Record<string, unknown>, k, v: unknown) {
      if (k === 'input') return '<redacted>';
      if (k === 'content' && this.secret === true) return '<redacted>';
      return v;
    }),
  ) as T;
}

export function installCommand(program: Command, run: Run) {
  program
    .command('install')
    .description('Install ZFS-on-root Debian to a disk from the live medium (answers → plan → apply)')
    .option('--config <file>', 'answers.env')
    .addOption(dryRunOption('print the complete ordered plan (every command, every file) and touch nothing'))
    .option('--live', 'running on the installer medium: find answers, report, power off')
    .option('--root <dir>', 'where the target is assembled', '/mnt')
    .addOption(jsonOption())
    .action((o: InstallOpts) => run(() => install(o), !!o.json));
}
