import { mkdirSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { bootedDataset, read, rootDataset } from '../../day2/facts.ts';
import {
  aptArgs,
  CHANGING,
  NO_HOOK_ENV,
  type PkgOp,
  parseSimulate,
  planPkg,
  SNAP_PREFIX,
  snapshotName,
} from '../../day2/pkg.ts';
import { utcStamp } from '../../live/facts.ts';
import { parseList, zfs } from '../../zfs/zfs.ts';
import { DAY2_HELP_EXIT, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';

async function snapshotsOf(exec: Executor, ds: string): Promise<string[]> {
  const r = await exec.run(zfs.list(['name'], { roots: [ds], types: ['snapshot'], depth: 1 }));
  return parseList(r.stdout, ['name'] as const).map((x) => x.name.slice(x.name.indexOf('@') + 1));
}

/** apt's own refusal (unknown package, conflicts) is bad input: nothing was changed. */
export async function simulate(exec: Executor, args: string[]) {
  const r = await exec.run(['apt-get', '-s', ...args], { check: false, env: { LC_ALL: 'C.UTF-8' } });
  if (r.exitCode !== 0)
    throw new KldloadError(
      `apt-get -s ${args.join(' ')} refused; nothing was changed:\n${r.all.trim().split('\n').slice(-5).join('\n')}`,
      EXIT.badInput,
    );
  return parseSimulate(r.stdout);
}

/** comm, ppid (field 4) and start time (field 22) of /proc/PID/stat; comm may hold spaces. */
export function statFields(stat: string): { comm: string; ppid: number; start: string } {
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { comm, ppid: Number(rest[1]), start: rest[19] ?? '' };
}

/** Shells and kldload's own node sit between apt and this hook; how many depends on the shell. */
const BETWEEN = new Set(['sh', 'dash', 'bash', 'node', 'kldload']);

/** The apt run this hook serves: the nearest ancestor that is neither a shell nor kldload. */
export function aptRun(stat: (pid: number) => string, from: number): { pid: number; start: string } {
  let pid = from;
  for (let i = 0; i < 8 && pid > 1; i++) {
    const st = statFields(stat(pid));
    if (!BETWEEN.has(st.comm)) return { pid, start: st.start };
    pid = st.ppid;
  }
  return { pid: from, start: statFields(stat(from)).start };
}

/**
 * DPkg::Pre-Invoke for plain apt: one snapshot per apt run (apt may call dpkg more than once; the
 * run is known by its pid and start time).
 */
async function aptHook(exec: Executor): Promise<CommandResult> {
  if (process.env[NO_HOOK_ENV])
    return { exitCode: EXIT.ok, json: { snapshot: null, why: `${NO_HOOK_ENV} is set` }, text: '' };
  if (process.env.KLDLOAD_NO_SNAPSHOT === '1')
    return { exitCode: EXIT.ok, json: { snapshot: null, why: 'KLDLOAD_NO_SNAPSHOT=1' }, text: '' };
  const ds = rootDataset(read('/proc/cmdline'));
  // Not running from a boot environment (an installer chroot, a rescue system): nothing to protect.
  if (!ds) return { exitCode: EXIT.ok, json: { snapshot: null, why: 'no root=ZFS=' }, text: '' };
  const { pid: apt, start } = aptRun((pid) => read(`/proc/${pid}/stat`), process.ppid);
  const marker = `/run/kldload/apt-hook-${apt}`;
  if (read(marker).trim() === start)
    return { exitCode: EXIT.ok, json: { snapshot: null, why: 'taken earlier in this apt run' }, text: '' };
  const argv = read(`/proc/${apt}/cmdline`)
    .split('\0')
    .filter(Boolean)
    .join(' ')
    .replace(/[\t\r\n]/g, ' ');
  // Kept whole or named by its size, never cut: a user property holds 8191 bytes.
  const cmd = !argv
    ? 'apt'
    : Buffer.byteLength(argv) <= 4000
      ? argv
      : `apt command line of ${Buffer.byteLength(argv)} bytes (see /var/log/apt/history.log)`;
  const snap = `${ds}@${snapshotName(utcStamp(), await snapshotsOf(exec, ds))}`;
  const r = await exec.run(zfs.snapshot(snap, true, { 'org.kldload:cmd': cmd }), {
    check: false,
  });
  if (r.exitCode !== 0)
    throw new KldloadError(
      `could not snapshot ${ds} before apt changes it (${r.all.trim()}); free space in the pool, or run apt with KLDLOAD_NO_SNAPSHOT=1 to go on without a snapshot`,
      EXIT.failed,
    );
  mkdirSync('/run/kldload', { recursive: true });
  writeFileSync(marker, `${start}\n`);
  return { exitCode: EXIT.ok, json: { snapshot: snap }, text: `kldload: snapshot ${snap} before apt` };
}

export function pkgCommand(program: Command, run: Run) {
  const pkg = program
    .command('pkg')
    .description('Packages (kpkg): apt with a snapshot of the boot environment before every change')
    .addHelpText(
      'after',
      `
Before apt changes anything, kpkg simulates the operation (apt-get -s). When something would be
installed, upgraded or removed, the running boot environment is snapshotted as
<pool>/ROOT/<be>@${SNAP_PREFIX}<UTC stamp> with the command (org.kldload:cmd) and the packages
(org.kldload:packages) as user properties; when nothing would change, no snapshot is taken. Plain
apt and apt-get get the same snapshot through an APT hook (${'DPkg::Pre-Invoke'}), once per run;
kpkg's own apt does not take a second one. Undo with: kldload snap rollback <snapshot>.
${DAY2_HELP_EXIT}`,
    );
  for (const op of CHANGING) {
    const takesNames = op !== 'upgrade' && op !== 'full-upgrade';
    pkg
      .command(takesNames ? `${op} <packages...>` : op)
      .description(
        {
          install: 'install packages (snapshot first)',
          remove: 'remove packages, keep their configuration (snapshot first)',
          purge: 'remove packages and their configuration (snapshot first)',
          upgrade: 'upgrade what can be upgraded without removing anything (snapshot first)',
          'full-upgrade': 'upgrade everything, removing what must go (snapshot first)',
        }[op],
      )
      .addOption(dryRunOption('print what would change and the plan; change nothing'))
      .addOption(jsonOption())
      .action((...a: unknown[]) => {
        const pkgs = takesNames ? (a[0] as string[]) : [];
        const o = a[takesNames ? 1 : 0] as { dryRun?: boolean; json?: boolean };
        run(async () => {
          const exec = new SystemExecutor();
          const args = aptArgs(op as PkgOp, pkgs);
          const ds = bootedDataset();
          const changes = await simulate(exec, args);
          const plan = planPkg(
            { booted: ds, stamp: utcStamp(), snapshots: await snapshotsOf(exec, ds) },
            op,
            pkgs,
            changes,
          );
          if (!plan.steps.length)
            return {
              exitCode: EXIT.ok,
              json: { ok: true, changes: 0, snapshot: null },
              text: 'nothing to do: apt would change nothing (no snapshot taken)',
            };
          return runDay2Plan(plan, o, `pkg ${op}${pkgs.length ? ` ${pkgs.join(' ')}` : ''}`);
        }, !!o.json);
      });
  }
  const passthrough = (name: string, describe: string, argv: (args: string[]) => string[], arg = '') =>
    pkg
      .command(`${name}${arg}`)
      .description(describe)
      .addOption(jsonOption('machine-readable result (the command output as text)'))
      .action((...a: unknown[]) => {
        const args = arg ? [a[0] as string] : [];
        const o = a[arg ? 1 : 0] as { json?: boolean };
        run(async () => {
          const r = await new SystemExecutor().run(argv(args), { check: false });
          return {
            exitCode: r.exitCode === 0 ? EXIT.ok : EXIT.failed,
            json: { output: r.stdout },
            text: r.all,
          };
        }, !!o.json);
      });
  passthrough('update', 'refresh the package lists (no snapshot: nothing installed changes)', () => [
    'apt-get',
    'update',
  ]);
  passthrough('search', 'search names and descriptions', (a) => ['apt-cache', 'search', ...a], ' <term>');
  passthrough(
    'info',
    'versions and description of a package',
    (a) => ['apt-cache', 'policy', ...a],
    ' <package>',
  );
  // dpkg-query's own ${field} format, not a template.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format string
  passthrough('list', 'installed packages', () => ['dpkg-query', '-W', '-f', '${Package}\t${Version}\n']);
  pkg
    .command('apt-hook', { hidden: true })
    .description("APT's DPkg::Pre-Invoke: the snapshot for plain apt (once per apt run)")
    .addOption(jsonOption())
    .action((o: { json?: boolean }) => run(() => aptHook(new SystemExecutor()), !!o.json));
}
