import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { utcStamp } from '../../core/time.ts';
import { type CloneTarget, KCLONE_PREFIX, planClone } from '../../day2/clone.ts';
import { CONVERT_HELP, convertTarget, planConvertAndClone } from '../../day2/clone-convert.ts';
import {
  cloneRows,
  LIST_COLS,
  LIST_JSON_HELP,
  planCloneDestroy,
  renderClones,
} from '../../day2/clone-destroy.ts';
import { readMounts } from '../../day2/facts.ts';
import { parseGet, parseList, zfs } from '../../zfs/zfs.ts';
import { DAY2_HELP_EXIT, type Day2Env, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { abs, children, dstState, readDestroyFacts, readSource, resolveSrc } from './clone-facts.ts';

export async function cloneCreate(
  env: Day2Env,
  srcArg: string,
  dstArgs: string[],
  o: { name?: string; from?: string; convert?: boolean; dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const R = env.root ?? '';
  const stamp = env.stamp ?? utcStamp();
  const src = await resolveSrc(env, srcArg);
  const flags = [
    ...(o.name ? ['--name', o.name] : []),
    ...(o.from ? ['--from', o.from] : []),
    ...(o.convert ? ['--convert'] : []),
  ];
  const cmd = ['kclone', srcArg, ...dstArgs, ...flags].join(' ');
  const cloneCmds = dstArgs.map((d) => ['kclone', srcArg, d, ...flags].join(' '));
  const mounts = readMounts(R);
  const targets: CloneTarget[] = dstArgs.map((d) => {
    const dst = abs(d);
    return { dst, dstState: dstState(R, dst, mounts) };
  });
  const opts = { cmd, cloneCmds, ...(o.name ? { name: o.name } : {}) };
  if (src.kind === 'folder') {
    if (!o.convert)
      throw new KldloadError(
        `SRC ${src.dir} is a plain folder in ${src.dataset} (mounted at ${src.mountpoint}), not a dataset's mountpoint: zfs clones whole datasets only. Clone all of ${src.mountpoint} instead, or let kclone make the folder a dataset first with --convert:\n${CONVERT_HELP}`,
        EXIT.badInput,
      );
    if (o.from)
      throw new KldloadError(
        '--from names a snapshot of a dataset; a folder being converted has none yet',
        EXIT.badInput,
      );
    convertTarget(src.dir, src);
    const avail = parseGet((await env.exec.run(zfs.get(src.dataset, ['available']))).stdout)[0]?.value;
    const du = await env.exec.run(['du', '-s', '-x', '-B1', src.dir], { check: false });
    if (du.exitCode !== 0) throw new KldloadError(`du ${src.dir}: ${du.all.trim()}`, EXIT.failed);
    const siblings = await children(env, src.dataset);
    const plan = planConvertAndClone(
      {
        dir: src.dir,
        parent: { dataset: src.dataset, mountpoint: src.mountpoint, available: Number(avail) || 0 },
        bytes: Number(du.stdout.split(/\s/)[0]) || 0,
        mountsBelow: readMounts(R)
          .map((m) => m.target)
          .filter((t) => t.startsWith(`${src.dir}/`)),
        siblings,
        stamp,
        cmd,
      },
      targets,
      opts,
    );
    return runDay2Plan(plan, o, `clone ${src.dir} ${targets.map((t) => t.dst).join(' ')} (converted)`);
  }
  const { source, siblings } = await readSource(env, src.dataset);
  const plan = planClone(
    { src: source, targets, siblings, stamp },
    { ...opts, ...(o.from ? { from: o.from } : {}) },
  );
  const made = plan.facts.clones as { clone: string; mountpoint: string }[];
  const r = await runDay2Plan(
    plan,
    o,
    `clone ${src.dataset} ${made.length === 1 ? made[0]?.mountpoint : `→ ${made.length} clones`}`,
  );
  return r.exitCode === EXIT.ok && !o.dryRun
    ? {
        ...r,
        text:
          made.length === 1
            ? `${made[0]?.clone} at ${made[0]?.mountpoint}: a copy-on-write clone of ${String(plan.facts.snapshot)}`
            : `${made.length} copy-on-write clones of ${String(plan.facts.snapshot)}: ${made.map((c) => c.mountpoint).join(' ')}`,
      }
    : r;
}

export async function cloneList(env: Day2Env): Promise<CommandResult> {
  const r = await env.exec.run(zfs.list(LIST_COLS, { types: ['filesystem', 'volume'] }));
  const clones = cloneRows(parseList(r.stdout, LIST_COLS));
  return { exitCode: EXIT.ok, json: { clones }, text: renderClones(clones) };
}

export async function cloneDestroy(
  env: Day2Env,
  dsts: string[],
  o: { dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const f = await readDestroyFacts(env, dsts);
  const plan = planCloneDestroy(f);
  return runDay2Plan(
    plan,
    o,
    `clone destroy ${f.targets.length === 1 ? f.targets[0]?.dataset : `${f.targets.length} clones`}`,
  );
}

const HELP = `
kclone = kldload clone: instant copy-on-write copies of a folder that is a ZFS dataset's mountpoint.

  kclone SRC DST [DST …] [--name NAME] [--from SNAPSHOT] [--convert]
    1. SRC is snapshotted as <dataset>@${KCLONE_PREFIX}<UTC stamp> (or --from an existing snapshot of it).
    2. The snapshot is cloned next to SRC's dataset (same parent) once per DST, each clone named
       after its DST's last part (or --name, one DST only), mounted at its DST. Properties SRC
       sets itself (compression, recordsize, quota, user properties …) are set on each clone; what
       SRC inherits the clones inherit from the same parent; mountpoint is DST, canmount on.
       Nothing is copied: all sides share the blocks, and each side's writes stay its own. Each
       clone carries org.kldload:cmd (the command as if given its DST alone), shown by kclone --list.
    SRC: a folder (absolute or relative) or a dataset name. A dataset with datasets below it,
    a boot environment (kbe create) and the pool's root dataset are refused. Each DST must be
    missing or an empty folder; every DST is checked before anything is made. Many DSTs in one
    command share one snapshot and cost one zfs clone each (kclone /srv/www /srv/t{1..100}).
  kclone --list (or kclone list)
    every clone and its origin (zfs's origin property): kclone's, boot environments, others.
  kclone destroy DST [DST …]
    each DST (a clone's mountpoint or dataset) with its snapshots, then each snapshot kclone took
    for them once no other clone uses it. Refused for a dataset other clones were made from —
    zfs promote CLONE first hands the shared snapshots to that clone — for one that is not a
    clone, and for one with a held snapshot (zfs holds); every DST is checked first.

${CONVERT_HELP}

kclone --list --json:
${LIST_JSON_HELP.replace(/^JSON \(--json\):\n/, '')}
  create --json: { "ok", "steps", "facts": { "source", "snapshot", "clones": [ { "clone", "mountpoint" } ],
  "kept", and with one DST also "clone", "mountpoint" }, "log" }; destroy --json: { "ok", "steps",
  "facts": { "datasets", "originsDestroyed", and with one DST also "dataset", "origin",
  "originDestroyed" }, "log" }; --dry-run: { "ok", "dryRun", "plan" }.

Examples:
  kclone /srv/www /srv/www-test
  kclone /srv/www /srv/try-{1..20}                      # 20 clones of one snapshot
  kclone /srv/www /srv/www-monday --from rpool/srv/www@autosnap_2026-12-01_00:00:01_daily
  kclone /srv/app /srv/app-copy --convert --dry-run     # /srv/app: a plain folder in rpool/srv
  kclone --list
  kclone destroy /srv/www-test
  kclone destroy /srv/try-{1..20}
${DAY2_HELP_EXIT}`;

export function cloneCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  const clone = program
    .command('clone')
    .description('Instant copy-on-write copies of dataset folders (kclone): clone, --list, destroy')
    .addHelpText('after', HELP)
    // Usage errors are bad input (2), as in the exit codes below; commander's own default is 1.
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput));
  clone
    .command('create [src] [dst...]', { isDefault: true })
    .description('clone SRC (a dataset mountpoint) at each DST (the default: kclone SRC DST…)')
    .option('--list', 'list clones and their origins instead')
    .option('--name <name>', "the clone's dataset name after its parent (default: DST's last part)")
    .option('--from <snapshot>', 'clone this snapshot of SRC instead of taking a new one')
    .option('--convert', 'SRC is a plain folder: make it a dataset first (see kldload clone --help)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action(
      (
        src: string | undefined,
        dst: string[],
        o: {
          list?: boolean;
          name?: string;
          from?: string;
          convert?: boolean;
          dryRun?: boolean;
          json?: boolean;
        },
      ) =>
        run(async () => {
          if (o.list) return cloneList(env());
          if (!src || !dst.length)
            throw new KldloadError('kclone SRC DST: both are needed (kclone --help)', EXIT.badInput);
          return cloneCreate(env(), src, dst, o);
        }, !!o.json),
    );
  clone
    .command('list')
    .description('clones and their origins')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) => run(() => cloneList(env()), !!o.json));
  clone
    .command('destroy <dst...>')
    .description('destroy clones (not one other clones were made from: zfs promote is offered)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((dst: string[], o: { dryRun?: boolean; json?: boolean }) =>
      run(() => cloneDestroy(env(), dst, o), !!o.json),
    );
}
