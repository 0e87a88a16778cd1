/**
 * What every day-2 command (kbe, ksnap, kpkg, kupgrade, kexport, kclone, kst, spray) shares: where it
 * reads from, the loader's EFI variables, and running a plan (dry run or applied, logged to DAY2_LOG)
 * with the same help text. Light on purpose: kldload spray loads it, and every module it imports is
 * compiled at each start (seconds in a slow VM); reading a BE's tree lives in day2/facts.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { applyPlan, failureMessage } from '../apply/apply.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Executor, SystemExecutor } from '../core/exec.ts';
import { Logger } from '../core/log.ts';
import { type Plan, renderPlan } from '../core/plan.ts';
import type { CommandResult } from './output.ts';

export const DAY2_LOG = '/var/log/kldload/day2.log';

/** What a day-2 command reads from: the one executor, and a root prefixing file paths (tests). */
export interface Day2Env {
  exec: Executor;
  /** '' (or unset) on a real machine; a fixture tree in tests. */
  root?: string;
  /** UTC stamp for new names; default now. */
  stamp?: string;
}

/** systemd-boot's vendor GUID: LoaderEntryDefault / LoaderEntryOneShot live under it. */
const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

/** An EFI variable written by systemd-boot or bootctl: 4 bytes of attributes, then UTF-16LE text. */
export function efiString(raw: Buffer | undefined): string | undefined {
  if (!raw || raw.length <= 4) return undefined;
  return raw.subarray(4).toString('utf16le').replace(/\0+$/, '') || undefined;
}

export const efiVar = (name: string, root = '') => {
  const p = `${root}/sys/firmware/efi/efivars/${name}-${LOADER_GUID}`;
  return efiString(existsSync(p) ? readFileSync(p) : undefined);
};

/** Prints the plan (--dry-run) or applies it, logging to DAY2_LOG (or `logFile`). */
export async function runDay2Plan(
  plan: Plan,
  o: { dryRun?: boolean; json?: boolean },
  what: string,
  logFile = DAY2_LOG,
): Promise<CommandResult> {
  if (o.dryRun)
    return { exitCode: EXIT.ok, json: { ok: true, dryRun: true, plan }, text: renderPlan(plan, '/') };
  if (process.getuid?.() !== 0) throw new KldloadError(`${what} must run as root`, EXIT.badInput);
  const log = new Logger({ file: logFile, quiet: !!o.json });
  log.info(`kldload ${what}`);
  const r = await applyPlan(new SystemExecutor(log), log, plan, {
    root: '/',
    cleanupFrom: new Set(plan.steps.map((s) => s.name)),
    cleanupNote: 'unmount what this run mounted; the datasets it made stay for inspection',
  });
  if (!r.ok)
    return {
      exitCode: EXIT.failed,
      json: { ...r, log: logFile },
      text: failureMessage(r, `kldload ${what}`, logFile),
    };
  return { exitCode: EXIT.ok, json: { ...r, facts: plan.facts, log: logFile }, text: `${what}: done` };
}

export const DAY2_HELP_EXIT = `
Exit status:
  0  done (or, with --dry-run, the plan was printed)
  1  a step failed: the message names the step and the command; the log is ${DAY2_LOG}
  2  bad input or refused (unknown BE, the running BE, not root …): nothing was changed`;

export const ROLLBACK_RULE = `
Rollback, the one rule for ksnap, kbe and kupgrade:
  The root is never rolled back in place. The snapshot is cloned into a new boot environment that
  becomes the default; the current state stays as a BE you can boot, inspect or destroy. Nothing is
  destroyed. A data dataset (home, srv, a role's) rolls back in place, and only with
  --destroy-newer when snapshots newer than the target exist (zfs destroys them).`;
