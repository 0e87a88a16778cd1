import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, type Step, write } from '../core/plan.ts';
import { beMountDir, cleanupMount, cloneSteps } from './be.ts';
import {
  type BootFacts,
  beDataset,
  checkBeName,
  ESP_RESERVE,
  GUARD,
  type KernelPair,
  mib,
  stampedName,
} from './be-entry.ts';
import { type Change, NO_HOOK_ENV } from './pkg.ts';
import type { UpgradeRecord } from './upgrade-record.ts';

/**
 * kupgrade: apt full-upgrade inside a NEW boot environment; the running one is never modified.
 *
 *   simulate (apt-get -s full-upgrade, running system) → nothing to do: no BE, exit 0
 *   download the packages in the running system (its network and DNS; into the shared /var/cache)
 *   snapshot the booted BE → clone upgrade-<stamp> (own root= and entry token, like kbe create)
 *   chroot mounts (no ESP: see below) → apt-get full-upgrade [+ zfs-modules-<abi> of new kernels]
 *   → then, with the kernels the upgrade left in the BE: the newest whose initramfs holds ZFS gets the
 *   BE's entry (+3 tries, content-addressed files) → unmount → bootctl set-oneshot → state pending.
 *
 * The ESP is not mounted in the chroot: Debian's kernel hooks (zz-systemd-boot, the initramfs
 * post-update hook) start with `bootctl is-installed || exit 0`, so kernel-install writes nothing from
 * inside the BE. Entries it wrote would carry sort-key debian and a newer version, and systemd-boot
 * (no LoaderEntryDefault set after an install) would make the untried BE the default at once; each
 * regenerated initramfs would also cost ~50 MB of ESP. kupgrade writes the one entry itself, after
 * the same check the kernel guard makes (its `check` mode).
 *
 * The second half (the BE's entry, the record, the next boot): upgrade-boot.ts.
 *
 * After the reboot, kldload-upgrade-confirm.service (planConfirm, upgrade-confirm.ts) makes the BE the
 * default when the boot reached multi-user, or records that the machine came back on the old BE
 * instead. The record and the units: upgrade-record.ts.
 */

export const UPGRADE_SNAP_PREFIX = 'kupgrade-';
/** initramfs-tools' panic(): reboot after this many seconds instead of waiting at (initramfs). */
export const PANIC_ARG = 'panic=10';
/** Datasets every BE shares, bound into the chroot: the download (/var/cache), the apt/dpkg logs. */
const SHARED_MOUNTS = ['/var/cache', '/var/log'] as const;

/** The kernel ABIs a simulated transaction installs: linux-image-<abi>[-unsigned], not the meta package. */
export function newKernels(changes: readonly Change[]): string[] {
  const abis = changes
    .filter((c) => c.action === 'install')
    .map((c) => /^linux-image-(\d[^\s]*?)(-unsigned)?$/.exec(c.name))
    .filter((m): m is RegExpExecArray => !!m && !m[1]?.endsWith('-dbg'))
    .map((m) => m[1] ?? '');
  return [...new Set(abis)].sort();
}

/** `apt-cache policy PKG` → whether an apt source offers it (a Candidate other than "(none)"). */
export function hasCandidate(policy: string): boolean {
  const c = /^\s*Candidate:\s*(\S+)/m.exec(policy)?.[1];
  return !!c && c !== '(none)';
}

/** The BE's kernel arguments: the running ones, with panic=10 unless a panic= is set already. */
export function withPanic(cmdline: readonly string[]): string[] {
  return cmdline.some((a) => a.startsWith('panic=')) ? [...cmdline] : [...cmdline, PANIC_ARG];
}

export interface UpgradeFacts {
  boot: BootFacts;
  /** `apt-get -s full-upgrade` of the running system. */
  changes: Change[];
  /** ABIs of new kernels in the transaction for which an apt source has zfs-modules-<abi>. */
  zfsModules: string[];
  /** The running kernel: its files' sizes estimate what the BE's entry needs on the ESP. */
  running: KernelPair;
  /** /usr/sbin/policy-rc.d exists (the BE's copy is then the user's and stays as it is). */
  policyRcd: boolean;
  /** The running BE's state file, if any, and whether its BE still exists. */
  record?: UpgradeRecord;
  bootId: string;
  /** ISO time, for the record. */
  now: string;
}

export interface UpgradeOptions {
  /** BE name; default upgrade-<stamp>. */
  name?: string;
}

/** apt-get full-upgrade, with the ZFS modules of new kernels in the same transaction. */
export function upgradeArgs(f: Pick<UpgradeFacts, 'changes' | 'zfsModules'>): string[] {
  const listed = new Set(f.changes.map((c) => c.name));
  const modules = f.zfsModules.map((abi) => `zfs-modules-${abi}`).filter((p) => !listed.has(p));
  return ['full-upgrade', ...modules];
}

const APT_OPTS = [
  '-y',
  // A locally changed conffile keeps the local version (dpkg would otherwise ask on a pipe).
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
];

/** A pending upgrade whose BE still exists blocks a second one (one one-shot at a time). */
function checkNotPending(f: UpgradeFacts): void {
  const r = f.record;
  if (r?.status === 'pending' && f.boot.bes.includes(r.be))
    throw new KldloadError(
      `upgrade ${r.name} is pending (made ${r.started}, not booted yet): reboot to try it once, or remove it with kbe destroy ${r.name}; then run kupgrade again`,
      EXIT.badInput,
      { pending: r.name },
    );
}

/** The new BE's name: --name, else upgrade-<stamp> (one place for the planner and the CLI). */
export const upgradeName = (b: BootFacts, name?: string) => name ?? stampedName('upgrade', b.stamp);

/**
 * The first half of kupgrade, up to a BE upgraded in its chroot and still mounted at
 * beMountDir(name). An empty plan when apt would change nothing: no snapshot, no BE.
 */
export function planUpgrade(f: UpgradeFacts, o: UpgradeOptions = {}): Plan {
  const b = f.boot;
  const name = upgradeName(b, o.name);
  checkBeName(name);
  if (!f.changes.length)
    return {
      facts: { changes: 0, be: null, why: 'apt-get -s full-upgrade changes nothing' },
      steps: [],
      cleanup: [],
    };
  checkNotPending(f);
  const ds = beDataset(b, name);
  if (b.bes.includes(ds))
    throw new KldloadError(`boot environment ${name} exists (${ds}); choose another --name`, EXIT.badInput);
  // Refused before the download: the entry needs about one kernel + initrd more on the ESP.
  const need = f.running.vmlinuz.size + f.running.initrd.size;
  if (need + ESP_RESERVE > b.esp.freeBytes)
    throw new KldloadError(
      `the ESP ${b.esp.path} has ${mib(b.esp.freeBytes)} free; the upgrade's boot entry needs about ${mib(need)} (+${mib(ESP_RESERVE)} kept free). Destroy a boot environment you no longer need (kbe destroy NAME) and try again`,
      EXIT.badInput,
    );
  const bf: BootFacts = { ...b, cmdline: withPanic(b.cmdline) };
  const mnt = beMountDir(name);
  const snap = `${b.booted}@${UPGRADE_SNAP_PREFIX}${b.stamp}`;
  const args = upgradeArgs(f);
  const kernels = newKernels(f.changes);
  const withModules = kernels.filter((k) => f.zfsModules.includes(k));
  const mounts: { at: string; argv: string[] }[] = [
    { at: '/proc', argv: ['mount', '-t', 'proc', 'proc', `${mnt}/proc`] },
    { at: '/sys', argv: ['mount', '-t', 'sysfs', 'sysfs', `${mnt}/sys`] },
    { at: '/dev', argv: ['mount', '--bind', '/dev', `${mnt}/dev`] },
    // A fresh /run: maintainer scripts must not reach the running system's services or locks.
    { at: '/run', argv: ['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', `${mnt}/run`] },
    { at: '/tmp', argv: ['mount', '-t', 'tmpfs', '-o', 'mode=1777', 'tmpfs', `${mnt}/tmp`] },
    ...SHARED_MOUNTS.map((d) => ({ at: d, argv: ['mount', '--bind', d, `${mnt}${d}`] })),
  ];
  const policy = `${mnt}/usr/sbin/policy-rc.d`;
  const steps: Step[] = [
    {
      name: 'download',
      title: `download what apt-get full-upgrade needs (${f.changes.length} change(s)) in the running system, into the shared /var/cache; package lists as of the last kpkg update`,
      actions: [run(['env', `${NO_HOOK_ENV}=1`, 'apt-get', ...APT_OPTS, '--download-only', ...args])],
    },
    ...cloneSteps(bf, name, { snapshot: snap, cmd: `kupgrade ${name}` }),
    {
      name: 'chroot',
      title: `kernel filesystems, a fresh /run and /tmp, the shared ${SHARED_MOUNTS.join(' and ')} for ${name}'s chroot (no ESP: its kernel hooks write no entry); no service starts`,
      actions: [
        ...mounts.map(({ at, argv }) => run(argv, { unless: ['mountpoint', '-q', `${mnt}${at}`] })),
        ...(f.policyRcd
          ? []
          : [
              write(
                policy,
                '#!/bin/sh\n# kldload kupgrade: no service starts inside a boot environment being upgraded\nexit 101\n',
                0o755,
              ),
            ]),
      ],
    },
    {
      name: 'upgrade',
      title: `apt-get ${args.join(' ')} inside ${name} (the running BE is not touched; no APT snapshot: ${NO_HOOK_ENV} is set)`,
      actions: [
        run([
          'chroot',
          mnt,
          'env',
          `${NO_HOOK_ENV}=1`,
          'DEBIAN_FRONTEND=noninteractive',
          'apt-get',
          ...APT_OPTS,
          ...args,
        ]),
      ],
    },
  ];
  if (withModules.length)
    steps.push({
      name: 'initramfs',
      title: `initramfs of ${withModules.join(', ')} rebuilt with its ZFS module (skipped when it holds ZFS already)`,
      actions: withModules.map((k) =>
        run(
          [
            'chroot',
            mnt,
            'sh',
            '-c',
            'm=-u; [ -e "/boot/initrd.img-$1" ] || m=-c; exec update-initramfs "$m" -k "$1"',
            'sh',
            k,
          ],
          { unless: [GUARD, 'check', k, `${mnt}/boot/initrd.img-${k}`] },
        ),
      ),
    });
  steps.push({
    name: 'leave-chroot',
    title: `unmount ${name}'s chroot filesystems (the BE stays mounted at ${mnt} for its boot entry)`,
    actions: [
      ...(f.policyRcd ? [] : [run(['rm', '-f', policy])]),
      ...[...mounts].reverse().map(({ at }) => run(['umount', `${mnt}${at}`])),
    ],
  });
  return {
    facts: {
      pool: b.pool,
      booted: b.booted,
      be: ds,
      from: snap,
      changes: f.changes.length,
      newKernels: kernels,
      zfsModules: withModules,
      kernelsWithoutModule: kernels.filter((k) => !f.zfsModules.includes(k)),
    },
    steps,
    cleanup: [
      ...[...mounts].reverse().map(({ at }) => run(['umount', '-l', `${mnt}${at}`], { mayFail: true })),
      ...cleanupMount(mnt),
    ],
  };
}
