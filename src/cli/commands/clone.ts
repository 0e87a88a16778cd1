import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import {
  type CloneFacts,
  type CloneSource,
  CONVERT_HELP,
  cloneRows,
  convertTarget,
  KCLONE_PREFIX,
  LIST_COLS,
  LIST_JSON_HELP,
  planClone,
  planCloneDestroy,
  planConvertAndClone,
  renderClones,
} from '../../day2/clone.ts';
import { readMounts } from '../../day2/facts.ts';
import { utcStamp } from '../../live/facts.ts';
import { isDataset, parseGet, parseList, zfs } from '../../zfs/zfs.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { DAY2_HELP_EXIT, type Day2Env, runDay2Plan } from './be.ts';

/** findmnt -r escapes blanks and the like as \xHH. */
const unhex = (s: string) =>
  s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

/**
 * `findmnt -n -r -o FSTYPE,SOURCE,TARGET -T PATH` → the filesystem holding PATH and where it is
 * mounted. A bind mount's source carries the folder it shows in brackets (`rpool/home[/ann]`).
 */
export function parseFindmntTarget(
  stdout: string,
): { fstype: string; source: string; target: string; bind: boolean } | undefined {
  const [fstype, source, target] = (stdout.trim().split('\n')[0] ?? '').split(' ');
  if (!fstype || !source || !target) return undefined;
  return {
    fstype,
    source: unhex(source.replace(/\[.*\]$/, '')),
    target: unhex(target),
    bind: /\[.*\]$/.test(source),
  };
}

const abs = (p: string) => resolve(p).replace(/(.)\/+$/, '$1');

type Src =
  | { kind: 'dataset'; dataset: string }
  | { kind: 'folder'; dir: string; dataset: string; mountpoint: string };

/** The filesystem a path is on; refused when it is not a ZFS dataset's. */
async function zfsAt(env: Day2Env, path: string, what: string) {
  const r = await env.exec.run(['findmnt', '-n', '-r', '-o', 'FSTYPE,SOURCE,TARGET', '-T', path], {
    check: false,
  });
  const m = r.exitCode === 0 ? parseFindmntTarget(r.stdout) : undefined;
  if (!m) throw new KldloadError(`${what} ${path}: findmnt found no filesystem there`, EXIT.badInput);
  if (m.fstype !== 'zfs')
    throw new KldloadError(
      `${what} ${path} is on ${m.fstype} (${m.source}), not on a ZFS dataset: kclone needs a dataset to clone`,
      EXIT.badInput,
    );
  if (m.bind)
    throw new KldloadError(
      `${what} ${path} is a bind mount of a folder of ${m.source}; name the dataset's own mountpoint or the dataset`,
      EXIT.badInput,
    );
  return m;
}

/**
 * SRC: a folder (absolute or relative to the current one) — the dataset mounted exactly there, or a
 * plain folder inside one — or, when no such folder exists, a dataset name.
 */
export async function resolveSrc(env: Day2Env, arg: string): Promise<Src> {
  const R = env.root ?? '';
  const dir = abs(arg);
  if (!existsSync(`${R}${dir}`)) {
    if (arg.includes('/') && !arg.startsWith('/') && !arg.startsWith('.') && isDataset(arg))
      return { kind: 'dataset', dataset: arg };
    throw new KldloadError(`SRC ${arg}: no such folder (nor a dataset pool/name)`, EXIT.badInput);
  }
  if (!statSync(`${R}${dir}`).isDirectory())
    throw new KldloadError(`SRC ${dir} is not a folder`, EXIT.badInput);
  const m = await zfsAt(env, dir, 'SRC');
  return m.target === dir
    ? { kind: 'dataset', dataset: m.source }
    : { kind: 'folder', dir, dataset: m.source, mountpoint: m.target };
}

const names = (stdout: string) => parseList(stdout, ['name'] as const).map((r) => r.name);

async function children(env: Day2Env, ds: string): Promise<string[]> {
  const r = await env.exec.run(
    zfs.list(['name'], { roots: [ds], depth: 1, types: ['filesystem', 'volume'] }),
  );
  return names(r.stdout).filter((n) => n !== ds);
}

export async function readSource(env: Day2Env, ds: string): Promise<CloneSource> {
  const g = await env.exec.run(zfs.get(ds, ['all']), { check: false });
  if (g.exitCode !== 0)
    throw new KldloadError(`no dataset ${ds} (${g.all.trim()}); see zfs list`, EXIT.badInput);
  const props = parseGet(g.stdout);
  const snaps = await env.exec.run(zfs.list(['name'], { roots: [ds], types: ['snapshot'], depth: 1 }));
  return {
    dataset: ds,
    type: props.find((p) => p.property === 'type')?.value ?? 'filesystem',
    props,
    children: await children(env, ds),
    snapshots: names(snaps.stdout).map((n) => n.slice(n.indexOf('@') + 1)),
  };
}

export function dstState(root: string, dst: string): CloneFacts['dstState'] {
  if (readMounts(root).some((m) => m.target === dst)) return 'mountpoint';
  const p = `${root}${dst}`;
  if (!existsSync(p)) return 'absent';
  if (!statSync(p).isDirectory()) return 'not-a-directory';
  return readdirSync(p).length ? 'not-empty' : 'empty';
}

const parentOf = (ds: string) => ds.slice(0, Math.max(0, ds.lastIndexOf('/')));

export async function cloneCreate(
  env: Day2Env,
  srcArg: string,
  dstArg: string,
  o: { name?: string; from?: string; convert?: boolean; dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const R = env.root ?? '';
  const stamp = env.stamp ?? utcStamp();
  const src = await resolveSrc(env, srcArg);
  const dst = abs(dstArg);
  const cmd = [
    'kclone',
    srcArg,
    dstArg,
    ...(o.name ? ['--name', o.name] : []),
    ...(o.from ? ['--from', o.from] : []),
    ...(o.convert ? ['--convert'] : []),
  ].join(' ');
  const state = dstState(R, dst);
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
      { dst, dstState: state },
      { cmd, ...(o.name ? { name: o.name } : {}) },
    );
    return runDay2Plan(plan, o, `clone ${src.dir} ${dst} (converted)`);
  }
  const source = await readSource(env, src.dataset);
  const siblings = src.dataset.includes('/') ? await children(env, parentOf(src.dataset)) : [];
  const plan = planClone(
    { src: source, dst, dstState: state, siblings, stamp },
    { cmd, ...(o.name ? { name: o.name } : {}), ...(o.from ? { from: o.from } : {}) },
  );
  const r = await runDay2Plan(plan, o, `clone ${src.dataset} ${dst}`);
  return r.exitCode === EXIT.ok && !o.dryRun
    ? {
        ...r,
        text: `${String(plan.facts.clone)} at ${dst}: a copy-on-write clone of ${String(plan.facts.snapshot)}`,
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
  target: string,
  o: { dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const R = env.root ?? '';
  let ds: string;
  const path = abs(target);
  if (existsSync(`${R}${path}`)) {
    const m = await zfsAt(env, path, 'DST');
    if (m.target !== path)
      throw new KldloadError(
        `${path} is a folder in ${m.source} (mounted at ${m.target}), not a clone's mountpoint; see kclone --list`,
        EXIT.badInput,
      );
    ds = m.source;
  } else if (isDataset(target) && target.includes('/')) ds = target;
  else
    throw new KldloadError(
      `${target}: no such folder (nor a dataset pool/name); see kclone --list`,
      EXIT.badInput,
    );
  const g = await env.exec.run(zfs.get(ds, ['origin', 'mountpoint']), { check: false });
  if (g.exitCode !== 0)
    throw new KldloadError(`no dataset ${ds} (${g.all.trim()}); see kclone --list`, EXIT.badInput);
  const props = new Map(parseGet(g.stdout).map((p) => [p.property, p.value]));
  const origin = props.get('origin');
  const mp = props.get('mountpoint') ?? '';
  const snaps = await env.exec.run(
    zfs.list(['name', 'clones'], { roots: [ds], types: ['snapshot'], depth: 1 }),
  );
  const dependents = parseList(snaps.stdout, ['name', 'clones'] as const)
    .map((s) => ({ snapshot: s.name, clones: s.clones.split(',').filter((c) => c && c !== '-') }))
    .filter((s) => s.clones.length);
  let originClones: string[] = [];
  let originHolds = 0;
  if (origin && origin !== '-') {
    const og = await env.exec.run(zfs.get(origin, ['clones', 'userrefs']), { check: false });
    const op = new Map(parseGet(og.stdout).map((p) => [p.property, p.value]));
    originClones = (op.get('clones') ?? '').split(',').filter((c) => c && c !== '-');
    originHolds = Number(op.get('userrefs') ?? 0) || 0;
  }
  const plan = planCloneDestroy({
    dataset: ds,
    mountpoint: mp.startsWith('/') ? mp : null,
    origin: origin && origin !== '-' ? origin : null,
    children: await children(env, ds),
    dependents,
    originClones,
    originHolds,
  });
  return runDay2Plan(plan, o, `clone destroy ${ds}`);
}

const HELP = `
kclone = kldload clone: an instant copy-on-write copy of a folder that is a ZFS dataset's mountpoint.

  kclone SRC DST [--name NAME] [--from SNAPSHOT] [--convert]
    1. SRC is snapshotted as <dataset>@${KCLONE_PREFIX}<UTC stamp> (or --from an existing snapshot of it).
    2. The snapshot is cloned next to SRC's dataset (same parent), named after DST's last part
       (or --name), mounted at DST. Properties SRC sets itself (compression, recordsize, quota,
       user properties …) are set on the clone; what SRC inherits the clone inherits from the same
       parent; mountpoint is DST, canmount on. Nothing is copied: both sides share the blocks,
       and each side's writes stay its own. The clone carries org.kldload:cmd (the command), shown by kclone --list.
    SRC: a folder (absolute or relative) or a dataset name. A dataset with datasets below it,
    a boot environment (kbe create) and the pool's root dataset are refused. DST must be missing
    or an empty folder.
  kclone --list (or kclone list)
    every clone and its origin (zfs's origin property): kclone's, boot environments, others.
  kclone destroy DST
    DST (a clone's mountpoint or dataset) with its snapshots, then the snapshot kclone took for it
    when no other clone uses it. Refused for a dataset other clones were made from — zfs promote
    CLONE first hands the shared snapshots to that clone — and for one that is not a clone.

${CONVERT_HELP}

kclone --list --json:
${LIST_JSON_HELP.replace(/^JSON \(--json\):\n/, '')}
  create and destroy --json: { "ok", "steps", "facts": { "source", "snapshot", "clone", "mountpoint",
  "kept" } | { "dataset", "origin", "originDestroyed" }, "log" }; --dry-run: { "ok", "dryRun", "plan" }.

Examples:
  kclone /srv/www /srv/www-test
  kclone /srv/www /srv/www-monday --from rpool/srv/www@autosnap_2026-12-01_00:00:01_daily
  kclone /srv/app /srv/app-copy --convert --dry-run     # /srv/app: a plain folder in rpool/srv
  kclone --list
  kclone destroy /srv/www-test
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
    .command('create [src] [dst]', { isDefault: true })
    .description('clone SRC (a dataset mountpoint) at DST (the default: kclone SRC DST)')
    .option('--list', 'list clones and their origins instead')
    .option('--name <name>', "the clone's dataset name after its parent (default: DST's last part)")
    .option('--from <snapshot>', 'clone this snapshot of SRC instead of taking a new one')
    .option('--convert', 'SRC is a plain folder: make it a dataset first (see kldload clone --help)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action(
      (
        src: string | undefined,
        dst: string | undefined,
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
          if (!src || !dst)
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
    .command('destroy <dst>')
    .description('destroy a clone (not one other clones were made from: zfs promote is offered)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((dst: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(() => cloneDestroy(env(), dst, o), !!o.json),
    );
}
