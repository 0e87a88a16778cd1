import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { sleep } from '../../core/time.ts';
import type { BootFacts } from '../../day2/be-entry.ts';
import { read, readBootFacts, rootDataset } from '../../day2/facts.ts';
import { parseRecord, UPGRADE_STATE, type UpgradeRecord } from '../../day2/upgrade-record.ts';
import { PATHS, readState } from '../../firstboot/firstboot.ts';
import {
  type PoolHealth,
  STATUS_JSON_HELP,
  type StatusFacts,
  statusJson,
  verdict,
} from '../../status/status.ts';
import {
  DATASET_COLS,
  datasetFacts,
  POOL_COLS,
  parseFailedUnits,
  parseLoadavg,
  parseMeminfo,
  poolFacts,
} from '../../status/status-facts.ts';
import { parseStatusJson, parseStatusText } from '../../status/status-parse.ts';
import { CLEAR_SCREEN, redraw, renderStatus } from '../../status/status-render.ts';
import { parseList, zfs } from '../../zfs/zfs.ts';
import { zpool } from '../../zfs/zpool.ts';
import { efiVar } from '../day2.ts';
import { jsonOption, type Run } from '../options.ts';
import { type CommandResult, emit, errorResult, intIn } from '../output.ts';
import { beRows } from './be.ts';

/** Where kst reads from: the one executor, a root prefixing every file (a fixture tree in tests). */
export interface StatusSource {
  exec: Executor;
  root?: string;
  /** The ESP as the installer mounts it. */
  esp?: string;
  now?: () => Date;
}

export const GUARD_HELD_DIR = '/var/lib/kldload/kernel-guard';
const FAILED_UNITS = ['systemctl', '--failed', '--plain', '--no-legend', '--no-pager'];
// zpool prints times in the local zone and words in the locale: read them in UTC and C.
const C_UTC = { TZ: 'UTC', LC_ALL: 'C' };

const why = (out: string) => out.trim().split('\n').slice(-2).join(' ') || 'no output';

/** zpool status: JSON when the userland has it (OpenZFS 2.3+), else the text form. */
async function poolHealth(exec: Executor): Promise<Map<string, PoolHealth> | { error: string }> {
  const j = await exec.run(zpool.status(true), { check: false, env: C_UTC });
  if (j.exitCode === 0)
    try {
      return parseStatusJson(j.stdout);
    } catch {
      // Not the JSON this reader knows: the text form still says everything kst shows.
    }
  const t = await exec.run(zpool.status(false), { check: false, env: C_UTC });
  return t.exitCode === 0 ? parseStatusText(t.stdout) : { error: why(t.all) };
}

/**
 * Reads every fact kst shows. Nothing here throws for a missing part: what cannot be read is named
 * in `unread` (a problem: kst exits 1) or, for the boot environments, in their note.
 */
export async function readStatusFacts(s: StatusSource): Promise<StatusFacts> {
  const R = s.root ?? '';
  const exec = s.exec;
  const unread: StatusFacts['unread'] = [];

  const zl = await exec.run(zpool.list(POOL_COLS), { check: false });
  if (zl.exitCode !== 0) unread.push({ what: 'zpool list', error: why(zl.all) });
  const health = await poolHealth(exec);
  if ('error' in health) unread.push({ what: 'zpool status', error: health.error });
  const dl = await exec.run(zfs.list(DATASET_COLS, { types: ['filesystem', 'volume', 'snapshot'] }), {
    check: false,
  });
  if (dl.exitCode !== 0) unread.push({ what: 'zfs list', error: why(dl.all) });
  const { datasets, lastKpkg } = datasetFacts(dl.exitCode === 0 ? parseList(dl.stdout, DATASET_COLS) : []);
  const pools = poolFacts(
    zl.exitCode === 0 ? parseList(zl.stdout, POOL_COLS) : [],
    'error' in health ? new Map() : health,
    datasets,
  );

  const bootEnvironments = await bes(s, pools, datasets);

  const fu = await exec.run(FAILED_UNITS, { check: false });
  if (fu.exitCode !== 0) unread.push({ what: 'systemctl --failed', error: why(fu.all) });
  // is-system-running exits non-zero for anything but "running": its word is the fact.
  const state = (await exec.run(['systemctl', 'is-system-running'], { check: false })).stdout.trim();

  let firstboot: StatusFacts['firstboot'];
  try {
    const p = Object.fromEntries(Object.entries(PATHS).map(([k, v]) => [k, `${R}${v}`])) as typeof PATHS;
    firstboot = readState(p);
  } catch (e) {
    firstboot = {
      status: 'unreadable',
      error: `${PATHS.state}: ${e instanceof Error ? e.message : String(e)}`,
    };
  }

  let upgrade: UpgradeRecord | null = null;
  if (existsSync(`${R}${UPGRADE_STATE}`))
    try {
      upgrade = parseRecord(read(`${R}${UPGRADE_STATE}`));
    } catch (e) {
      unread.push({ what: 'kupgrade record', error: e instanceof Error ? e.message : String(e) });
    }

  const held = `${R}${GUARD_HELD_DIR}`;
  const heldKernels = existsSync(held)
    ? readdirSync(held)
        .filter((f) => f.endsWith('.held'))
        .map((f) => f.slice(0, -'.held'.length))
        .sort()
    : [];

  return {
    host: read(`${R}/proc/sys/kernel/hostname`).trim() || 'localhost',
    kernel: read(`${R}/proc/sys/kernel/osrelease`).trim(),
    at: (s.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    pools,
    datasets,
    bootEnvironments,
    system: {
      memory: parseMeminfo(read(`${R}/proc/meminfo`)),
      cpus: (read(`${R}/proc/cpuinfo`).match(/^processor\s*:/gm) ?? []).length,
      load: parseLoadavg(read(`${R}/proc/loadavg`)),
      uptime: Math.floor(Number(read(`${R}/proc/uptime`).split(' ')[0]) || 0),
      state: state || 'unknown',
    },
    failedUnits: fu.exitCode === 0 ? parseFailedUnits(fu.stdout) : [],
    firstboot,
    lastKpkg,
    upgrade,
    heldKernels,
    unread,
  };
}

/**
 * kbe list's table. Reading the ESP needs root; without it the BEs still come from zfs (active from
 * /proc/cmdline, default from the pool's bootfs) and the note says what is missing.
 */
async function bes(
  s: StatusSource,
  pools: StatusFacts['pools'],
  datasets: StatusFacts['datasets'],
): Promise<StatusFacts['bootEnvironments']> {
  const R = s.root ?? '';
  try {
    const f = await readBootFacts({ exec: s.exec, root: R, ...(s.esp ? { esp: s.esp } : {}) });
    const bootfs = pools.find((p) => p.name === f.pool)?.bootfs ?? undefined;
    const dflt = efiVar('LoaderEntryDefault', R);
    const oneshot = efiVar('LoaderEntryOneShot', R);
    return {
      rows: beRows(f, {
        ...(bootfs ? { bootfs } : {}),
        ...(dflt ? { default: dflt } : {}),
        ...(oneshot ? { oneshot } : {}),
      }),
    };
  } catch (e) {
    const booted = rootDataset(read(`${R}/proc/cmdline`)) ?? '';
    const pool = booted.split('/')[0] || pools[0]?.name || '';
    const f: BootFacts = {
      pool,
      bes: datasets
        .map((d) => d.name)
        .filter((n) => n.startsWith(`${pool}/ROOT/`) && n.split('/').length === 3),
      booted,
      esp: { path: s.esp ?? '/boot/efi', freeBytes: 0, files: [] },
      entries: [],
      cmdline: [],
      osName: '',
      stamp: '',
    };
    const bootfs = pools.find((p) => p.name === pool)?.bootfs ?? undefined;
    return {
      rows: beRows(f, bootfs ? { bootfs } : {}),
      note: `${e instanceof Error ? e.message : String(e)}; default from the pool's bootfs, boot entries and the one-shot not read`,
    };
  }
}

export async function status(s: StatusSource): Promise<CommandResult> {
  const f = await readStatusFacts(s);
  const v = verdict(f);
  return { exitCode: v.exitCode, json: statusJson(f), text: renderStatus(f), report: true };
}

/**
 * --watch: read and redraw every `seconds` until the signal (Ctrl-C) aborts; resolves to the last
 * verdict's exit code. With --json each refresh is one line of JSON (a stream), no screen control.
 */
export async function watchStatus(
  readFacts: () => Promise<StatusFacts>,
  o: {
    seconds: number;
    json: boolean;
    write: (s: string) => void;
    signal: AbortSignal;
    sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  },
): Promise<number> {
  const wait = o.sleep ?? sleep;
  let code: number = EXIT.ok;
  let first = true;
  let refreshed = false;
  while (!o.signal.aborted) {
    let f: StatusFacts;
    try {
      f = await readFacts();
    } catch (e) {
      // Ctrl-C reaches the whole process group: zpool/zfs/systemctl of a refresh die of it too, and
      // their failure may be seen just before or just after our own SIGINT handler runs.
      if (!o.signal.aborted) await wait(200, o.signal);
      if (!o.signal.aborted) throw e;
      // No refresh finished before Ctrl-C: there is no verdict; 130 is the shell's "interrupted".
      return refreshed ? code : 130;
    }
    // Ctrl-C came while this refresh read: what it read may come from dying children. It decides nothing.
    if (o.signal.aborted) break;
    refreshed = true;
    code = verdict(f).exitCode;
    if (o.json) o.write(`${JSON.stringify(statusJson(f))}\n`);
    else
      o.write(
        `${first ? CLEAR_SCREEN : ''}${redraw(`${renderStatus(f)}\n\nevery ${o.seconds}s · Ctrl-C to stop`)}`,
      );
    first = false;
    await wait(o.seconds * 1000, o.signal);
  }
  return refreshed ? code : 130;
}

/**
 * The executor of --watch: Ctrl-C reaches the whole process group, so a zpool, zfs or systemctl of
 * the refresh under way may die of it before our handler runs; the readers would take that for a
 * missing pool or an unknown state. A command killed by a signal voids the refresh instead.
 */
export function watchExecutor(exec: Executor): Executor {
  return {
    run: async (argv, opts) => {
      const r = await exec.run(argv, opts);
      if (r.signal) throw new KldloadError(`${argv[0]} died of ${r.signal}`, EXIT.failed);
      return r;
    },
  };
}

const HELP = `
kst = kldload st: one screen of the machine as it is now — pools (health, errors, usage,
compressratio, last scrub), datasets (used, compressratio, snapshot count), boot environments (now,
default, next boot only), CPU load, memory, uptime, failed units, the first boot's result, the newest
kpkg snapshot and the last kupgrade. Read-only; as root it also reads the ESP's boot entries.

Exit status:
  0  no problem found
  1  a problem (each one in "problems", with its kind):
       pool       a pool is not ONLINE (DEGRADED, FAULTED, …) or shows device or data errors
       unit       a systemd unit failed (systemctl --failed)
       firstboot  the first boot's postinstaller failed (kldload firstboot status)
       unread     a fact could not be read (zpool, zfs or systemctl failed; a broken kupgrade record)
     Everything else (a pending or failed kupgrade, a pool 80% full, a held-back kernel) is a note.
  2  bad usage (an unknown option, --watch out of range)
  With --watch, the exit status is that of the last refresh before Ctrl-C.

${STATUS_JSON_HELP}

Examples:
  kst
  kst --watch 5                      # redraw every 5 s until Ctrl-C
  kst --json | jq '.problems[].what'
  kst >/dev/null || echo "needs a look"`;

export function statusCommand(program: Command, run: Run) {
  program
    .command('st')
    .alias('status')
    .description('One screen of the machine: pools, datasets, boot environments, units, first boot (kst)')
    .addOption(jsonOption('machine-readable result (shape below)'))
    .option('--watch [seconds]', 'redraw in place every SECONDS (default 2) until Ctrl-C', intIn(1, 3600))
    .addHelpText('after', HELP)
    // 1 means "a problem found": a usage error must not look like one (commander's default is 1).
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput))
    .action((o: { json?: boolean; watch?: number | true }) => {
      const exec = new SystemExecutor();
      if (o.watch === undefined) return run(() => status({ exec }), !!o.json);
      const src: StatusSource = { exec: watchExecutor(exec) };
      const ac = new AbortController();
      // on, not once: timeout(1) and terminals may deliver SIGINT twice (to the process and to its
      // group), and a second one with no handler left kills node (exit 130) before the verdict.
      process.on('SIGINT', () => ac.abort());
      watchStatus(() => readStatusFacts(src), {
        seconds: o.watch === true ? 2 : o.watch,
        json: !!o.json,
        write: (t) => process.stdout.write(t),
        signal: ac.signal,
      }).then(
        (code) => {
          if (!o.json) process.stdout.write('\n');
          process.exit(code);
        },
        (e: unknown) => emit(errorResult(e, e instanceof KldloadError ? e.exitCode : EXIT.failed), !!o.json),
      );
    });
}
