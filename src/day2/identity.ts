import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
import { IDENTITY_UNIT, REIDENTIFY_MARKER, TARGET } from '../layout.ts';
import { zpool } from '../zfs/zpool.ts';
import { entriesOf } from './be.ts';
import { type BootFacts, contentName, ESP_DIR, type KernelPair } from './be-entry.ts';
import { ESP_SYNC_UNIT, formatEspList } from './esp.ts';

/**
 * A machine's identity, left out of every copy of it (kexport now, golden images later) and made
 * anew on the copy's first boot.
 *
 * Left out: machine-id (empty file: systemd makes a new one at boot and commits it; not
 * "uninitialized", which would also run first-boot presets and systemd-firstboot's prompts), the
 * D-Bus copy of it (systemd falls back to it when /etc/machine-id is empty), ssh host keys, hostid,
 * zpool.cache (names the source pool's guid), random seeds, DHCP leases, logs and shell history.
 *
 * Made anew by `kldload identity renew` (kldload-identity.service, once, while the marker exists):
 * ssh host keys, zpool.cache and a hostid. The hostid is the delicate one: ZFS refuses to import a
 * pool last used by another hostid. The copy's first boot imports with none (the sealed initrd holds
 * none, and a cleanly exported pool imports anywhere), so the new hostid goes into the initrd first
 * and into /etc/hostid last: a power cut in between leaves an initrd and a pool that still agree.
 */
/**
 * The new hostid while only initrds carry it. On the root filesystem, not /run: after a power cut
 * between the ESP's initrd and /etc/hostid, the next run must take the same hostid again (the pool's
 * label may already carry it), not make another one.
 */
export const PENDING_HOSTID = '/etc/kldload/hostid.pending';
const SNAKEOIL = ['/etc/ssl/private/ssl-cert-snakeoil.key', '/etc/ssl/certs/ssl-cert-snakeoil.pem'];

export const IDENTITY_UNIT_TEXT = `[Unit]
Description=kldload: a new identity for a copy of a machine (ssh host keys, hostid, zpool.cache)
# Early, before sshd needs its keys; after the local filesystems (the ESP is nofail, hence named).
DefaultDependencies=no
ConditionPathExists=${REIDENTIFY_MARKER}
After=local-fs.target
RequiresMountsFor=/boot/efi /var/log
Before=sysinit.target ssh.service systemd-bless-boot.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/kldload identity renew

[Install]
WantedBy=sysinit.target
`;

const HISTORY = [
  '.bash_history',
  '.zsh_history',
  '.python_history',
  '.lesshst',
  '.viminfo',
  '.mysql_history',
  '.psql_history',
];

/**
 * Shell and tool histories under `dir` (home folders sit at depth 2 of a root, 1 of rpool/home;
 * fish keeps its history in ~/.local/share/fish).
 */
export function historyAction(dir: string): Action {
  const names = HISTORY.flatMap((n, i) => [...(i ? ['-o'] : []), '-name', n]);
  return run(['find', dir, '-xdev', '-maxdepth', '6', '-type', 'f', '(', ...names, ')', '-delete']);
}

/**
 * Seals a mounted copy of a boot environment (a clone, never the running root): identity files out,
 * the ESP's new PARTUUID in fstab, the marker and the unit that renews the identity on first boot.
 */
export function sealRootActions(mnt: string, o: { espGuid: string }): Action[] {
  return [
    write(`${mnt}/etc/machine-id`, '', 0o444),
    run([
      'rm',
      '-f',
      `${mnt}/var/lib/dbus/machine-id`,
      `${mnt}/etc/hostid`,
      `${mnt}/etc/zfs/zpool.cache`,
      `${mnt}/var/lib/systemd/random-seed`,
      `${mnt}/var/lib/systemd/credential.secret`,
      `${mnt}${PENDING_HOSTID}`,
      // ssl-cert's self-signed pair is per machine too (made again on first boot when ssl-cert is there).
      ...SNAKEOIL.map((f) => `${mnt}${f}`),
    ]),
    // The install's facts name its hostid: the copy's is written there on its first boot.
    run(['sed', '-i', '-E', 's/^KLDLOAD_HOSTID=.*/KLDLOAD_HOSTID=/', `${mnt}${TARGET.manifest}`]),
    run(['find', `${mnt}/etc/ssh`, '-maxdepth', '1', '-name', 'ssh_host_*', '-delete']),
    // The BE's own /var/log folder (the var/log dataset is never exported): a log from an early boot.
    run(['find', `${mnt}/var/log`, '-xdev', '-type', 'f', '-delete']),
    run([
      'find',
      `${mnt}/var/lib`,
      '-maxdepth',
      '2',
      '-xdev',
      '-type',
      'f',
      '(',
      '-name',
      '*.leases',
      '-o',
      '-name',
      '*.lease',
      ')',
      '-delete',
    ]),
    historyAction(mnt),
    run([
      'sed',
      '-i',
      '-E',
      `s#^PARTUUID=[^[:space:]]+([[:space:]]+/boot/efi[[:space:]])#PARTUUID=${o.espGuid}\\1#`,
      `${mnt}/etc/fstab`,
    ]),
    run(['grep', '-q', `^PARTUUID=${o.espGuid}[[:space:]]`, `${mnt}/etc/fstab`]),
    // The copy has one ESP: the source's list (several disks) would make every sync refuse.
    write(`${mnt}${TARGET.espList}`, formatEspList([o.espGuid])),
    run(['rm', '-f', `${mnt}/etc/systemd/system/multi-user.target.wants/${ESP_SYNC_UNIT}`]),
    write(
      `${mnt}${REIDENTIFY_MARKER}`,
      `# A copy of a machine: ${IDENTITY_UNIT} makes its ssh host keys, hostid and zpool.cache on the first boot, then removes this file.\n`,
    ),
    write(`${mnt}/etc/systemd/system/${IDENTITY_UNIT}`, IDENTITY_UNIT_TEXT),
    run(['systemctl', `--root=${mnt}`, 'enable', IDENTITY_UNIT]),
  ];
}

export interface IdentityFacts {
  boot: BootFacts;
  /** uname -r: the kernel whose entry is rewritten. */
  running: string;
  /** Every kernel version with an initrd in /boot: each initrd gets the hostid. */
  kernels: string[];
}

/** First half of `identity renew`: keys, cache, the hostid in every initrd of this BE. */
export function planIdentityRenew(f: IdentityFacts): Plan {
  const steps: Step[] = [
    {
      name: 'hostid',
      title: `a random hostid in ${PENDING_HOSTID} (kept from an interrupted run) until the initrds carry it`,
      actions: [run(['zgenhostid', '-o', PENDING_HOSTID], { unless: ['test', '-s', PENDING_HOSTID] })],
    },
    {
      name: 'ssh-keys',
      title: 'new ssh host keys (and ssl-cert snakeoil pair where ssl-cert is installed)',
      actions: [
        run(['ssh-keygen', '-A']),
        run(['make-ssl-cert', 'generate-default-snakeoil', '--force-overwrite'], {
          unless: ['sh', '-c', '! command -v make-ssl-cert >/dev/null'],
        }),
      ],
    },
    {
      name: 'zpool-cache',
      title: `zpool.cache for ${f.boot.pool} as imported here`,
      actions: [run(zpool.set(f.boot.pool, 'cachefile', '/etc/zfs/zpool.cache'))],
    },
    {
      name: 'initrd',
      title: `the new hostid and zpool.cache in front of ${f.kernels.length} initrd(s) in /boot`,
      actions: f.kernels.map(
        (k): Action => ({
          kind: 'initrd-early',
          initrd: `/boot/initrd.img-${k}`,
          files: { 'etc/hostid': PENDING_HOSTID, 'etc/zfs/zpool.cache': '/etc/zfs/zpool.cache' },
        }),
      ),
    },
  ];
  return {
    facts: { pool: f.boot.pool, be: f.boot.booted, kernel: f.running, kernels: f.kernels },
    steps,
    cleanup: [],
  };
}

/**
 * Second half, with the initrd as the first half left it: on the ESP under its content name, the
 * running BE's entries for this kernel point at it (rewritten in place: boot counting renames the
 * file later), the old file goes when no entry uses it; then /etc/hostid, then the marker.
 */
export function planIdentityBoot(f: BootFacts, kernel: KernelPair): Plan {
  const be = f.booted.slice(`${f.pool}/ROOT/`.length);
  const target = `/${ESP_DIR}/${contentName(kernel.initrd.sha256, 'initrd')}`;
  const mine = entriesOf(f, be).filter(
    (e) =>
      e.text && new RegExp(`^version\\s+${kernel.version.replace(/[.+]/g, '\\$&')}\\s*$`, 'm').test(e.text),
  );
  const rewritten = mine.map((e) => ({
    e,
    text: (e.text ?? '').replace(/^initrd\s+.*$/m, `initrd     ${target}`),
  }));
  const stillUsed = new Set(
    f.entries
      .filter((e) => !mine.includes(e))
      .flatMap((e) => e.files)
      .concat(target),
  );
  const orphans = [...new Set(mine.flatMap((e) => e.files))].filter(
    (p) => p.endsWith('-initrd') && p.startsWith(`/${ESP_DIR}/`) && !stillUsed.has(p),
  );
  return {
    facts: { be: f.booted, kernel: kernel.version, initrd: target, entries: mine.map((e) => e.file) },
    steps: [
      {
        name: 'esp',
        title: `the initrd on the ESP as ${target}; ${mine.length} entr${mine.length === 1 ? 'y' : 'ies'} of ${be} point at it`,
        actions: [
          ...(f.esp.files.includes(target.slice(ESP_DIR.length + 2))
            ? []
            : [{ kind: 'copy', from: kernel.initrd.path, to: `${f.esp.path}${target}` } satisfies Action]),
          ...rewritten.map(({ e, text }) => write(`${f.esp.path}/loader/entries/${e.file}`, text)),
          ...orphans.map((p) => run(['rm', '-f', `${f.esp.path}${p}`])),
        ],
      },
      {
        name: 'commit',
        title: '/etc/hostid (the initrds carry the same) and the manifest; the marker removed',
        actions: [
          { kind: 'copy', from: PENDING_HOSTID, to: '/etc/hostid' },
          run([
            'sh',
            '-c',
            'sed -i -E "s/^KLDLOAD_HOSTID=.*/KLDLOAD_HOSTID=$(hostid)/" "$1"',
            'manifest',
            TARGET.manifest,
          ]),
          run(['rm', '-f', PENDING_HOSTID, REIDENTIFY_MARKER]),
        ],
      },
    ],
    cleanup: [],
  };
}
