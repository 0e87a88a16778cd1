import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import {
  type BeRow,
  beMountDir,
  entriesOf,
  planBeActivate,
  planBeCreate,
  planBeDestroy,
} from '../../day2/be.ts';
import { type BootFacts, checkBeName } from '../../day2/be-entry.ts';
import { planBeMount, planBeUmount } from '../../day2/be-mount.ts';
import { planBeRename } from '../../day2/be-rename.ts';
import { kernelIn, readBootFacts, readMounts, snapshotKernel } from '../../day2/facts.ts';
import { isSnapshot } from '../../zfs/zfs.ts';
import { DAY2_HELP_EXIT, type Day2Env, efiVar, ROLLBACK_RULE, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';

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

/** kbe mount NAME [DIR]: a relative DIR is taken from the current folder. */
export async function beMount(
  env: Day2Env,
  name: string,
  dir: string | undefined,
  o: { dryRun?: boolean; json?: boolean },
) {
  const f = await readBootFacts(env);
  const plan = planBeMount(f, readMounts(env.root), name, dir === undefined ? undefined : resolve(dir));
  const r = await runDay2Plan(plan, o, `be mount ${name}`);
  return r.exitCode === EXIT.ok && !o.dryRun
    ? { ...r, text: `${name} mounted at ${String(plan.facts.dir)}` }
    : r;
}

export async function beUmount(env: Day2Env, name: string, o: { dryRun?: boolean; json?: boolean }) {
  return runDay2Plan(
    planBeUmount(await readBootFacts(env), readMounts(env.root), name),
    o,
    `be umount ${name}`,
  );
}

export async function beRename(
  env: Day2Env,
  from: string,
  to: string,
  o: { dryRun?: boolean; json?: boolean },
) {
  checkBeName(from);
  checkBeName(to);
  const f = await readBootFacts(env);
  const dflt = efiVar('LoaderEntryDefault', env.root);
  const oneshot = efiVar('LoaderEntryOneShot', env.root);
  const loader = { ...(dflt ? { default: dflt } : {}), ...(oneshot ? { oneshot } : {}) };
  return runDay2Plan(planBeRename(f, readMounts(env.root), loader, from, to), o, `be rename ${from} ${to}`);
}

export function beCommand(program: Command, run: Run) {
  const be = program
    .command('be')
    .description('Boot environments (kbe): each one a clone of the root with its own boot entry')
    .addHelpText('after', `${ROLLBACK_RULE}\n${DAY2_HELP_EXIT}`);
  be.command('list')
    .description('every boot environment: running now, default next, next boot only')
    .addOption(jsonOption())
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
    .addOption(dryRunOption())
    .addOption(jsonOption())
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
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((name: string, o: { once?: boolean; dryRun?: boolean; json?: boolean }) =>
      run(
        async () => runDay2Plan(planBeActivate(await facts(), name, !!o.once), o, `be activate ${name}`),
        !!o.json,
      ),
    );

  be.command('mount <name> [dir]')
    .description(`mount NAME read-write at DIR (default ${beMountDir('NAME')}) to inspect or repair it`)
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Only the BE's own dataset is mounted: /home, /srv and the other data datasets are shared by every BE.
To work inside it with chroot, bind /dev, /proc and /sys below DIR first; kbe umount unmounts them too.
Examples:
  kbe mount rollback-20261130T102551Z          # at ${beMountDir('rollback-20261130T102551Z')}
  kbe mount old /mnt/old && ls /mnt/old/etc
${DAY2_HELP_EXIT}`,
    )
    .action((name: string, dir: string | undefined, o: { dryRun?: boolean; json?: boolean }) =>
      run(() => beMount({ exec: new SystemExecutor() }, name, dir, o), !!o.json),
    );

  be.command('umount <name>')
    .description('unmount NAME wherever it is mounted, and what is mounted below it (a chroot’s /dev, /proc)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText('after', `\nExample:\n  kbe umount old\n${DAY2_HELP_EXIT}`)
    .action((name: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(() => beUmount({ exec: new SystemExecutor() }, name, o), !!o.json),
    );

  be.command('rename <old> <new>')
    .description(
      'rename a boot environment (not the running one) with its boot entries and the loader default',
    )
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Renames <pool>/ROOT/OLD to NEW; inside it, root=ZFS= of /etc/kernel/cmdline and (a BE kbe made)
/etc/kernel/entry-token, so kernel updates made inside it write entries for NEW; on the ESP its
entries (kldload-OLD… → kldload-NEW…, root=ZFS=) and its kernel-install folder; and
LoaderEntryDefault / LoaderEntryOneShot when they named one of its entries. The pool's bootfs
follows the dataset by itself. Refused for the running BE and for a mounted one (kbe umount it).
Examples:
  kbe rename rollback-20261130T102551Z before-upgrade
  kbe rename old attic --dry-run
${DAY2_HELP_EXIT}`,
    )
    .action((from: string, to: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(() => beRename({ exec: new SystemExecutor() }, from, to, o), !!o.json),
    );

  be.command('destroy <name>')
    .description('remove NAME, its boot entries and the ESP files no other entry uses (never the running BE)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((name: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(async () => runDay2Plan(planBeDestroy(await facts(), name), o, `be destroy ${name}`), !!o.json),
    );
}

function facts(exec: Executor = new SystemExecutor()) {
  return readBootFacts({ exec });
}
export type { BeRow };
