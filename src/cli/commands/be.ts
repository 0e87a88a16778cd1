import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { applyPlan, failureMessage } from '../../apply/apply.ts';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import {
  type BootFacts,
  entriesOf,
  type KernelPair,
  planBeActivate,
  planBeCreate,
  planBeDestroy,
} from '../../day2/be.ts';
import { kernelIn, readBootFacts } from '../../day2/facts.ts';
import { planRollback } from '../../day2/snap.ts';
import { type Plan, renderPlan } from '../../plan/types.ts';
import { isSnapshot, parseList, zfs } from '../../zfs/zfs.ts';
import type { CommandResult } from '../output.ts';

export const DAY2_LOG = '/var/log/kldload/day2.log';

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

export interface BeRow {
  name: string;
  dataset: string;
  /** Running now. */
  active: boolean;
  /** What the next boots start (LoaderEntryDefault, else the pool's bootfs). */
  default: boolean;
  /** Only the next boot (LoaderEntryOneShot). */
  once: boolean;
  entries: string[];
}

/** The BE table: facts + the loader's variables. Pure, so it is tested with fixtures. */
export function beRows(f: BootFacts, vars: { default?: string; oneshot?: string; bootfs?: string }): BeRow[] {
  return f.bes.map((ds) => {
    const name = ds.slice(`${f.pool}/ROOT/`.length);
    const ids = entriesOf(f, name).map((e) => e.id);
    return {
      name,
      dataset: ds,
      active: ds === f.booted,
      default: vars.default ? ids.includes(vars.default) : vars.bootfs === ds,
      once: !!vars.oneshot && ids.includes(vars.oneshot),
      entries: ids,
    };
  });
}

export function renderBeRows(rows: BeRow[]): string {
  const head = 'NAME                 ACTIVE  DEFAULT  ONCE  ENTRIES';
  return [
    head,
    ...rows.map(
      (r) =>
        `${r.name.padEnd(20)} ${(r.active ? 'now' : '').padEnd(7)} ${(r.default ? 'next' : '').padEnd(8)} ${(r.once ? 'yes' : '').padEnd(5)} ${r.entries.join(' ') || '(no boot entry)'}`,
    ),
  ].join('\n');
}

/** Reads a snapshot's kernel: through .zfs/snapshot of the booted BE, else a read-only mount. */
async function snapshotKernel(exec: Executor, f: BootFacts, snap: string): Promise<KernelPair> {
  const [ds, name] = snap.split('@') as [string, string];
  const running = (await exec.run(['uname', '-r'])).stdout.trim();
  if (ds === f.booted) return kernelIn(`/.zfs/snapshot/${name}`, running);
  const mnt = `/run/kldload/snap-${process.pid}`;
  mkdirSync(mnt, { recursive: true });
  await exec.run(['mount', '-t', 'zfs', '-o', 'ro', snap, mnt]);
  try {
    return kernelIn(mnt, running);
  } finally {
    await exec.run(['umount', mnt], { check: false });
  }
}

/** Prints the plan (--dry-run) or applies it, logging to DAY2_LOG. */
export async function runDay2Plan(
  plan: Plan,
  o: { dryRun?: boolean; json?: boolean },
  what: string,
): Promise<CommandResult> {
  if (o.dryRun)
    return { exitCode: EXIT.ok, json: { ok: true, dryRun: true, plan }, text: renderPlan(plan, '/') };
  if (process.getuid?.() !== 0) throw new KldloadError(`${what} must run as root`, EXIT.badInput);
  const log = new Logger({ file: DAY2_LOG, quiet: !!o.json });
  log.info(`kldload ${what}`);
  const r = await applyPlan(new SystemExecutor(log), log, plan, {
    root: '/',
    cleanupFrom: new Set(plan.steps.map((s) => s.name)),
    cleanupNote: 'unmount what this run mounted; the datasets it made stay for inspection',
  });
  if (!r.ok)
    return { exitCode: EXIT.failed, json: { ...r, log: DAY2_LOG }, text: failureMessage(r, DAY2_LOG) };
  return { exitCode: EXIT.ok, json: { ...r, facts: plan.facts, log: DAY2_LOG }, text: `${what}: done` };
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

export function beCommand(program: Command, run: (fn: () => Promise<CommandResult>, json: boolean) => void) {
  const be = program
    .command('be')
    .description('Boot environments (kbe): each one a clone of the root with its own boot entry')
    .addHelpText('after', `${ROLLBACK_RULE}\n${DAY2_HELP_EXIT}`);
  be.command('list')
    .description('every boot environment: running now, default next, next boot only')
    .option('--json', 'machine-readable result')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const f = await facts();
        const exec = new SystemExecutor();
        const bootfs = (
          await exec.run(['zpool', 'get', '-Hp', '-o', 'value', 'bootfs', f.pool])
        ).stdout.trim();
        const dflt = efiVar('LoaderEntryDefault');
        const oneshot = efiVar('LoaderEntryOneShot');
        const rows = beRows(f, {
          bootfs,
          ...(dflt ? { default: dflt } : {}),
          ...(oneshot ? { oneshot } : {}),
        });
        return {
          exitCode: EXIT.ok,
          json: { pool: f.pool, booted: f.booted, bes: rows },
          text: renderBeRows(rows),
        };
      }, !!o.json),
    );

  be.command('create <name>')
    .description('clone the running BE (or --from SNAPSHOT) into NAME with its own boot entry (3 tries)')
    .option('--from <snapshot>', 'a snapshot of a boot environment, e.g. rpool/ROOT/default@kpkg-…')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'machine-readable result')
    .action((name: string, o: { from?: string; dryRun?: boolean; json?: boolean }) =>
      run(async () => {
        const exec = new SystemExecutor();
        const f = await facts();
        if (o.from && !isSnapshot(o.from))
          throw new KldloadError(`--from ${o.from}: not a snapshot (dataset@name)`, EXIT.badInput);
        const running = (await exec.run(['uname', '-r'])).stdout.trim();
        const kernel = o.from ? await snapshotKernel(exec, f, o.from) : kernelIn('/', running);
        const plan = planBeCreate(f, { name, ...(o.from ? { from: o.from } : {}), kernel });
        return runDay2Plan(plan, o, `be create ${name}`);
      }, !!o.json),
    );

  be.command('activate <name>')
    .description('boot NAME from now on, or with --once for the next boot only')
    .option('--once', 'next boot only (LoaderEntryOneShot); the boot after returns to the default')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'machine-readable result')
    .action((name: string, o: { once?: boolean; dryRun?: boolean; json?: boolean }) =>
      run(
        async () => runDay2Plan(planBeActivate(await facts(), name, !!o.once), o, `be activate ${name}`),
        !!o.json,
      ),
    );

  be.command('destroy <name>')
    .description('remove NAME, its boot entries and the ESP files no other entry uses (never the running BE)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'machine-readable result')
    .action((name: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(async () => runDay2Plan(planBeDestroy(await facts(), name), o, `be destroy ${name}`), !!o.json),
    );
}

export function snapCommand(
  program: Command,
  run: (fn: () => Promise<CommandResult>, json: boolean) => void,
) {
  const snap = program
    .command('snap')
    .description('Snapshots (ksnap): list, roll back')
    .addHelpText('after', `${ROLLBACK_RULE}\n${DAY2_HELP_EXIT}`);

  snap
    .command('rollback <snapshot>')
    .description('the root: into a new BE made the default; a data dataset: in place')
    .option('--destroy-newer', 'a data dataset: accept that snapshots newer than the target are destroyed')
    .option('--name <be>', 'name of the BE a root rollback makes (default rollback-<stamp>)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'machine-readable result')
    .action(
      (target: string, o: { destroyNewer?: boolean; name?: string; dryRun?: boolean; json?: boolean }) =>
        run(async () => {
          if (!isSnapshot(target))
            throw new KldloadError(
              `${target}: not a snapshot (dataset@name); see zfs list -t snapshot`,
              EXIT.badInput,
            );
          const exec = new SystemExecutor();
          const f = await facts(exec);
          const ds = target.slice(0, target.indexOf('@'));
          const ls = await exec.run(
            zfs.list(['name'], { roots: [ds], types: ['snapshot'], depth: 1, sortBy: 'createtxg' }),
          );
          const snaps = parseList(ls.stdout, ['name'] as const).map((r) => r.name);
          const at = snaps.indexOf(target);
          if (at < 0) throw new KldloadError(`${target}: no such snapshot`, EXIT.badInput);
          const root = f.bes.includes(ds);
          const plan = planRollback(f, {
            snapshot: target,
            newer: snaps.slice(at + 1),
            destroyNewer: !!o.destroyNewer,
            ...(root ? { kernel: await snapshotKernel(exec, f, target) } : {}),
            ...(o.name ? { name: o.name } : {}),
          });
          return runDay2Plan(plan, o, `snap rollback ${target}`);
        }, !!o.json),
    );
}

function facts(exec: Executor = new SystemExecutor()) {
  return readBootFacts({ exec });
}
