import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run } from '../core/plan.ts';
import { zfs } from '../zfs/zfs.ts';

/**
 * kpkg: apt with a snapshot before every change. apt simulates first (`apt-get -s`); only when it
 * would install, upgrade or remove something is the running boot environment snapshotted
 * (`@kpkg-<UTC stamp>`, the command and the packages in user properties), then apt runs for real
 * with KLDLOAD_KPKG set so the APT hook (plain apt's snapshot) does not take a second one.
 */

/** Operations that change the system (the others only read: search, list, info, update). */
export const CHANGING = ['install', 'remove', 'purge', 'upgrade', 'full-upgrade'] as const;
export type PkgOp = (typeof CHANGING)[number];

/** Set by kpkg for the apt it runs, and by first boot: the APT hook then takes no snapshot. */
export const NO_HOOK_ENV = 'KLDLOAD_KPKG';
export const SNAP_PREFIX = 'kpkg-';
/** The apt.conf.d file that gives plain apt/apt-get the same snapshot. */
export const APT_HOOK_CONF = '/etc/apt/apt.conf.d/80kldload-snapshot';
/**
 * APT's configuration syntax has no escape for a double quote inside a value, so the command holds
 * none. The shell tests keep apt working without node (apt can then reinstall it) and skip starting
 * node at all when kpkg or first boot is the caller.
 */
export const APT_HOOK = `// kldload: snapshot the running boot environment before dpkg changes anything (kldload pkg
// apt-hook: once per apt run; not when kpkg or first boot is the caller). KLDLOAD_NO_SNAPSHOT=1 skips it.
DPkg::Pre-Invoke { "if test -x /usr/bin/node && test -x /usr/sbin/kldload && test x\${${NO_HOOK_ENV}:-} = x; then /usr/sbin/kldload pkg apt-hook; fi"; };
`;

export interface Change {
  action: 'install' | 'remove' | 'purge';
  name: string;
}

/** `apt-get -s` output → what would change (Inst/Remv/Purg lines; Conf lines repeat Inst). */
export function parseSimulate(stdout: string): Change[] {
  const out: Change[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(Inst|Remv|Purg) (\S+)/.exec(line);
    if (!m) continue;
    const action = m[1] === 'Inst' ? 'install' : m[1] === 'Remv' ? 'remove' : 'purge';
    out.push({ action, name: m[2] ?? '' });
  }
  return out;
}

/** apt-get's arguments for an operation (-y: kpkg is the confirmation). */
export function aptArgs(op: PkgOp, pkgs: string[]): string[] {
  if ((op === 'upgrade' || op === 'full-upgrade') && pkgs.length)
    throw new KldloadError(`kpkg ${op} takes no package names (use kpkg install NAME)`, EXIT.badInput);
  if (op !== 'upgrade' && op !== 'full-upgrade' && !pkgs.length)
    throw new KldloadError(`kpkg ${op} needs at least one package name`, EXIT.badInput);
  for (const p of pkgs)
    if (!/^[a-z0-9][a-z0-9+.:=~/-]*$/.test(p))
      throw new KldloadError(
        `${JSON.stringify(p)}: not a package name (name, name=version or name/suite)`,
        EXIT.badInput,
      );
  return op === 'purge' ? ['remove', '--purge', ...pkgs] : [op, ...pkgs];
}

/** A snapshot name not yet taken: kpkg-<stamp>, then kpkg-<stamp>-2 … (ksnap passes its own prefix). */
export function snapshotName(stamp: string, taken: readonly string[], prefix = SNAP_PREFIX): string {
  const base = `${prefix}${stamp}`;
  let name = base;
  for (let i = 2; taken.includes(name); i++) name = `${base}-${i}`;
  return name;
}

export interface PkgFacts {
  /** The running boot environment (root=ZFS=). */
  booted: string;
  stamp: string;
  /** Snapshot names (after @) the booted BE has. */
  snapshots: string[];
}

/** kpkg OP PKG… → [snapshot, apt] or nothing at all when apt would change nothing. */
export function planPkg(f: PkgFacts, op: PkgOp, pkgs: string[], changes: Change[]): Plan {
  const args = aptArgs(op, pkgs);
  const cmd = ['kpkg', op, ...pkgs].join(' ');
  if (!changes.length) return { facts: { cmd, changes: 0, snapshot: null }, steps: [], cleanup: [] };
  const snap = `${f.booted}@${snapshotName(f.stamp, f.snapshots)}`;
  const names = [...new Set(changes.map((c) => c.name))];
  // A user property holds 8191 bytes: a long list is named by count, never cut mid-name.
  const listed = names.join(' ');
  const packages =
    Buffer.byteLength(listed) <= 4000 ? listed : `${names.length} packages (see /var/log/apt/history.log)`;
  return {
    facts: { cmd, changes: changes.length, snapshot: snap },
    steps: [
      {
        name: 'snapshot',
        title: `${snap}: the boot environment before ${changes.length} change(s)`,
        actions: [
          run(zfs.snapshot(snap, true, { 'org.kldload:cmd': cmd, 'org.kldload:packages': packages })),
        ],
      },
      {
        name: 'apt',
        title: `apt-get ${args.join(' ')}`,
        // A locally changed conffile keeps the local version (dpkg would otherwise ask on a pipe).
        actions: [
          run([
            'env',
            `${NO_HOOK_ENV}=1`,
            'apt-get',
            '-y',
            '-o',
            'Dpkg::Options::=--force-confdef',
            '-o',
            'Dpkg::Options::=--force-confold',
            ...args,
          ]),
        ],
      },
    ],
    cleanup: [],
  };
}
