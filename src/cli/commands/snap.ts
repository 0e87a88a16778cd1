import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { FINDMNT_TARGET, parseFindmntTarget } from '../../core/fs.ts';
import { bootedDataset, readBootFacts, snapshotKernel } from '../../day2/facts.ts';
import {
  checkSnapshotArg,
  groupSnapshots,
  KSNAP_PREFIX,
  LIST_COLS,
  LIST_JSON_HELP,
  planRollback,
  planSnapCreate,
  planSnapDestroy,
  renderSnapshots,
} from '../../day2/snap.ts';
import { DIFF_JSON_HELP, diffArgv, diffCounts, renderDiff } from '../../day2/snap-diff.ts';
import { utcStamp } from '../../live/facts.ts';
import { isDataset, isSnapshot, parseGet, parseList, zfs } from '../../zfs/zfs.ts';
import { parseDiff } from '../../zfs/zfs-diff.ts';
import { DAY2_HELP_EXIT, type Day2Env, ROLLBACK_RULE, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';

/**
 * What ksnap create/list act on: a PATH (the dataset mounted there, by findmnt, so /home/alice/x
 * is rpool/home), a DATASET (checked to exist), or nothing: the booted boot environment.
 */
export async function resolveDataset(env: Day2Env, arg?: string): Promise<string> {
  if (arg === undefined) return bootedDataset(env.root ?? '');
  if (arg.includes('@'))
    throw new KldloadError(`${arg}: a snapshot; name a dataset or a path here`, EXIT.badInput);
  if (arg.startsWith('/')) {
    const r = await env.exec.run([...FINDMNT_TARGET, arg], { check: false });
    const m = r.exitCode === 0 ? parseFindmntTarget(r.stdout) : undefined;
    if (!m) throw new KldloadError(`${arg}: no such path (findmnt found no filesystem)`, EXIT.badInput);
    if (m.fstype !== 'zfs')
      throw new KldloadError(
        `${arg} is on ${m.fstype} (${m.source}), not on a ZFS dataset; name a path on one, e.g. /home`,
        EXIT.badInput,
      );
    return m.source;
  }
  if (!isDataset(arg))
    throw new KldloadError(
      `${JSON.stringify(arg)}: neither a path (starting with /) nor a dataset (pool/path)`,
      EXIT.badInput,
    );
  const r = await env.exec.run(zfs.list(['name'], { roots: [arg] }), { check: false });
  if (r.exitCode !== 0) throw new KldloadError(`no dataset ${arg}; see zfs list`, EXIT.badInput);
  return arg;
}

const snapNames = (stdout: string) =>
  parseList(stdout, ['name'] as const).map((x) => x.name.slice(x.name.indexOf('@') + 1));

export async function snapCreate(
  env: Day2Env,
  target: string | undefined,
  o: { recursive?: boolean; name?: string; dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const dataset = await resolveDataset(env, target);
  const ls = await env.exec.run(
    zfs.list(['name'], {
      roots: [dataset],
      types: ['snapshot'],
      ...(o.recursive ? { recursive: true } : { depth: 1 }),
    }),
  );
  const cmd = [
    'ksnap create',
    ...(target !== undefined ? [target] : []),
    ...(o.recursive ? ['--recursive'] : []),
    ...(o.name !== undefined ? ['--name', o.name] : []),
  ].join(' ');
  const plan = planSnapCreate(
    { dataset, stamp: env.stamp ?? utcStamp(), taken: snapNames(ls.stdout) },
    { recursive: !!o.recursive, cmd, ...(o.name !== undefined ? { name: o.name } : {}) },
  );
  return runDay2Plan(plan, o, `snap create ${String(plan.facts.snapshot)}`);
}

export async function snapList(
  env: Day2Env,
  target: string | undefined,
  _o: { json?: boolean },
): Promise<CommandResult> {
  const ds = target === undefined ? undefined : await resolveDataset(env, target);
  const r = await env.exec.run(
    zfs.list(LIST_COLS, {
      types: ['snapshot'],
      sortBy: 'createtxg',
      ...(ds ? { roots: [ds], recursive: true } : {}),
    }),
  );
  const datasets = groupSnapshots(parseList(r.stdout, LIST_COLS));
  return { exitCode: EXIT.ok, json: { datasets }, text: renderSnapshots(datasets, ds) };
}

export async function snapDestroy(
  env: Day2Env,
  snapshot: string,
  o: { dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  checkSnapshotArg(snapshot, 'ksnap destroy');
  const r = await env.exec.run(zfs.get(snapshot, ['clones', 'userrefs']), { check: false });
  if (r.exitCode !== 0)
    throw new KldloadError(`no snapshot ${snapshot} (${r.all.trim()}); see ksnap list`, EXIT.badInput);
  const props = new Map(parseGet(r.stdout).map((p) => [p.property, p.value]));
  const clones = (props.get('clones') ?? '').split(',').filter((c) => c && c !== '-');
  const plan = planSnapDestroy({ snapshot, clones, holds: Number(props.get('userrefs') ?? 0) || 0 });
  return runDay2Plan(plan, o, `snap destroy ${snapshot}`);
}

export async function snapDiff(env: Day2Env, from: string, to: string | undefined): Promise<CommandResult> {
  const argv = diffArgv(from, to);
  const r = await env.exec.run(argv, { check: false, env: { LC_ALL: 'C.UTF-8' } });
  if (r.exitCode !== 0) {
    const why = r.all.trim();
    const ds = from.slice(0, from.indexOf('@'));
    const be = /\/ROOT\/([^/]+)$/.exec(ds)?.[1];
    // zfs diff reads files through the dataset's mount: an unmounted BE must be mounted first.
    const fix = /unmounted|not mounted/i.test(why)
      ? `; mount it first (${be ? `kbe mount ${be}` : `zfs mount ${ds}`})`
      : '';
    throw new KldloadError(
      `zfs diff ${from}${to ? ` ${to}` : ''}: ${why}${fix}`,
      /does not exist/.test(why) ? EXIT.badInput : EXIT.failed,
    );
  }
  const changes = parseDiff(r.stdout);
  return {
    exitCode: EXIT.ok,
    json: { from, to: to ?? from.slice(0, from.indexOf('@')), counts: diffCounts(changes), changes },
    text: renderDiff(changes),
  };
}

const examples = (lines: string[]) =>
  `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n${DAY2_HELP_EXIT}`;

export function snapCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  const snap = program
    .command('snap')
    .description('Snapshots (ksnap): create, list, diff, destroy, roll back')
    .addHelpText(
      'after',
      `
Manual snapshots are named <dataset>@${KSNAP_PREFIX}<UTC stamp> and carry the command that took them
(org.kldload:cmd), as kpkg's snapshots (kpkg-<stamp>) and kbe's (kbe-<name>-<stamp>) do. Automatic
hourly/daily/weekly/monthly snapshots are sanoid's (autosnap_<date>_<kind>): the policy is
/etc/sanoid/sanoid.conf, composed from /etc/kldload/sanoid.d/*.conf before every sanoid run.
${ROLLBACK_RULE}
${DAY2_HELP_EXIT}`,
    );

  snap
    .command('create [target]')
    .description(
      `snapshot TARGET (a path: the dataset mounted there; or a dataset), default the running boot environment, as @${KSNAP_PREFIX}<UTC stamp>`,
    )
    .option('-r, --recursive', 'the same snapshot on every dataset below it too')
    .option('--name <name>', `the name after @ (default ${KSNAP_PREFIX}<UTC stamp>, made unique)`)
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      examples([
        'ksnap create                          # the running BE, e.g. rpool/ROOT/default@ksnap-20261130T102551Z',
        'ksnap create /home --recursive        # rpool/home and every dataset below it',
        'ksnap create rpool/srv --name before-migration',
      ]),
    )
    .action(
      (
        target: string | undefined,
        o: { recursive?: boolean; name?: string; dryRun?: boolean; json?: boolean },
      ) => run(() => snapCreate(env(), target, o), !!o.json),
    );

  snap
    .command('list [target]')
    .description(
      'snapshots by dataset, oldest first: creation time, space only it holds, the command that took it',
    )
    .addOption(jsonOption('machine-readable result (shape below)'))
    .addHelpText(
      'after',
      `\nTARGET: a dataset or a path (its dataset); with it, that dataset and those below it.\n${LIST_JSON_HELP}
${examples(['ksnap list', 'ksnap list /home', 'ksnap list rpool/ROOT --json | jq -r ".datasets[].snapshots[].snapshot"'])}`,
    )
    .action((target: string | undefined, o: { json?: boolean }) =>
      run(() => snapList(env(), target, o), !!o.json),
    );

  snap
    .command('destroy <snapshot>')
    .description(
      'destroy one snapshot; refused while a clone (a boot environment) is made from it or it is held',
    )
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      examples([
        'ksnap destroy rpool/home@ksnap-20261130T102551Z',
        'ksnap destroy rpool/ROOT/default@kbe-test-20261122-031800 --dry-run',
      ]),
    )
    .action((snapshot: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(() => snapDestroy(env(), snapshot, o), !!o.json),
    );

  snap
    .command('diff <snapshot> [later]')
    .description(
      'files created (+), removed (-), modified (M) and renamed (R) since SNAPSHOT: up to LATER (a later snapshot of the same dataset) or the dataset as it is now',
    )
    .addOption(jsonOption('machine-readable result (shape below)'))
    .addHelpText(
      'after',
      `\n${DIFF_JSON_HELP}\n${examples([
        'ksnap diff rpool/ROOT/default@kpkg-20261130T102551Z          # what changed since that kpkg run',
        'ksnap diff rpool/home@ksnap-20261130T102551Z rpool/home@autosnap_2026-12-01_00:00:01_daily',
      ])}`,
    )
    .action((from: string, to: string | undefined, o: { json?: boolean }) =>
      run(() => snapDiff(env(), from, to), !!o.json),
    );

  snap
    .command('rollback <snapshot>')
    .description('the root: into a new BE made the default; a data dataset: in place')
    .option('--destroy-newer', 'a data dataset: accept that snapshots newer than the target are destroyed')
    .option('--name <be>', 'name of the BE a root rollback makes (default rollback-<stamp>)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action(
      (target: string, o: { destroyNewer?: boolean; name?: string; dryRun?: boolean; json?: boolean }) =>
        run(async () => {
          if (!isSnapshot(target))
            throw new KldloadError(
              `${target}: not a snapshot (dataset@name); see zfs list -t snapshot`,
              EXIT.badInput,
            );
          const exec = new SystemExecutor();
          const f = await readBootFacts({ exec });
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
