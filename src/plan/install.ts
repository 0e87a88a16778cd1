/**
 * What an install is made from and what it writes besides commands: the facts, the context every
 * step builder reads, the manifest, the network unit, the role settings and the dataset tree. The
 * plan itself is put together in install-plan.ts from the step builders (install-disk.ts,
 * install-system.ts, install-packages.ts, install-boot.ts, install-day2.ts, install-finish.ts).
 */
import { formatEnvLine } from '../answers/parse.ts';
import type { RoleSettingValue } from '../answers/role-settings.ts';
import type { Answers } from '../answers/schema.ts';
import { FIELD_KEYS, fieldDef } from '../answers/schema.ts';
import type { Action } from '../core/plan.ts';
import type { SnapshotPolicy } from '../day2/sanoid.ts';
import { TARGET } from '../layout.ts';
import type { GoldenManifest } from '../layout-image.ts';
import type { Props } from '../zfs/zfs.ts';
import { type TargetDisks, targetDisks } from './disks.ts';

/** Everything besides the answers that decides the plan. Gathered in the live system, fixed in tests. */
export interface InstallFacts {
  /** Where the target is assembled (altroot). */
  root: string;
  kabi: string;
  suite: string;
  /** The target base image (squashfs) on the medium. */
  image: string;
  /** The kldload bundle to install on the target. */
  bundle: string;
  /** Directory copied to /root/darksite, when the medium has one. */
  payloadDir?: string;
  /** A postinstall.sh obtained from KLDLOAD_POSTINSTALL_URL/_B64 (not secret). */
  postinstall?: { source: string; content: string };
  /** A user-supplied ZFSBootMenu EFI binary on the medium. */
  zbm?: string;
  /** The postinstall framework (lib.sh, dispatch.sh) on the medium. */
  postinstallLib?: string;
  /** The signed APT repository (darksite) on the medium. */
  aptRepo?: string;
  /** The payload has roles/: first boot installs their packages from the darksite on the disk. */
  payloadRoles?: boolean;
  /** 8 hex digits, written once to /etc/hostid and baked into the initramfs. */
  hostid: string;
  /** Unique GUID of the ESP partition, so fstab can name it before it exists. */
  espGuid: string;
  /** UTC stamp for the factory snapshot, e.g. 20261122T031800Z. */
  stamp: string;
  /** EFI variables are writable in the live system (booted via UEFI). */
  efiVars: boolean;
  /** Kernel device behind the boot disk (efibootmgr wants the real node). */
  diskReal: string;
  /** Kernel devices behind every disk of the install, boot first (one firmware entry each); default [diskReal]. */
  disksReal?: string[];
  /**
   * The disk picked at preflight when KLDLOAD_DISK is empty or absent (and no
   * KLDLOAD_ZFS_DATA_DISKS): the one eligible disk (see pickDisk). Unset in a dry run: the plan then
   * shows PICKED_DISK (src/plan/disks.ts) in its place.
   */
  pickedDisk?: string;
  /** Build id of the ISO (image.json): written on the pool after a good install, checked before a wipe. */
  isoBuild?: string;
  /** kldload.reinstall=1 on the kernel command line: a human allows wiping a disk this ISO installed. */
  reinstall?: boolean;
  /** console= arguments the live system booted with; the installed system keeps them. */
  console: string[];
  /** The installer log, copied to the target at the end. */
  logFile: string;
  secureBoot: boolean;
  tpm: boolean;
  /**
   * A golden image on the medium (build --golden): its streams are received instead of unpacking
   * the base image; kabi is then its kernel.
   */
  golden?: { dir: string; manifest: GoldenManifest };
}

/** What every step builder of the install plan reads, made once by installContext. */
export interface InstallContext {
  /** The answers, naming the boot disk actually used (KLDLOAD_DISK), also when it was picked. */
  a: Answers;
  f: InstallFacts;
  target: TargetDisks;
  /** Where the target is assembled (altroot). */
  R: string;
  pool: string;
  /** Every disk that is partitioned, boot first. */
  disks: string[];
  /** The root boot environment. */
  be: string;
}

export function installContext(answers: Answers, f: InstallFacts): InstallContext {
  const target = targetDisks(answers, f.pickedDisk);
  // From here on the plan, the manifest included, names the boot disk actually used.
  const a = { ...answers, KLDLOAD_DISK: target.boot };
  const pool = a.KLDLOAD_POOL_NAME;
  return { a, f, target, R: f.root, pool, disks: target.all, be: `${pool}/ROOT/default` };
}

export const FIRSTBOOT_UNIT = `[Unit]
Description=kldload first boot: run ${TARGET.postinstall} once
Documentation=file://${TARGET.manifest}
After=network-online.target zfs-mount.service
Wants=network-online.target
ConditionPathExists=!${TARGET.firstbootDone}

[Service]
Type=oneshot
ExecStart=/usr/sbin/kldload firstboot run
RemainAfterExit=yes
TimeoutStartSec=infinity
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

/** The KLDLOAD_* facts of this install, for postinstallers; never a secret. */
export function manifest(a: Answers, f: InstallFacts): string {
  const lines: string[] = ['# Written by the kldload installer. Facts of this install; no secrets.'];
  // The disk actually used, also when it was picked at preflight.
  const effective: Answers = { ...a, KLDLOAD_DISK: targetDisks(a, f.pickedDisk).boot };
  for (const k of FIELD_KEYS) {
    const def = fieldDef(k);
    if (def.secret || def.noManifest) continue;
    const v = effective[k];
    if (v === undefined) continue;
    const s = Array.isArray(v)
      ? v.join(' ')
      : typeof v === 'boolean'
        ? v
          ? '1'
          : '0'
        : k === 'KLDLOAD_ESP_SIZE'
          ? `${v}M`
          : String(v);
    lines.push(formatEnvLine(k, s));
  }
  const facts: [string, string][] = [
    ['KLDLOAD_STORAGE_MODE', 'zfs'],
    ['KLDLOAD_KERNEL', f.kabi],
    ['KLDLOAD_HOSTID', f.hostid],
    ['KLDLOAD_FACTORY_SNAPSHOT', `${a.KLDLOAD_POOL_NAME}@install-${f.stamp}`],
    ['KLDLOAD_SECURE_BOOT', f.secureBoot ? '1' : '0'],
    ['KLDLOAD_TPM_PRESENT', f.tpm ? '1' : '0'],
    ['KLDLOAD_BOOTLOADER', f.zbm ? 'zfsbootmenu' : 'systemd-boot'],
    ...(f.golden ? [['KLDLOAD_GOLDEN', f.golden.manifest.name] as [string, string]] : []),
  ];
  for (const [k, v] of facts) lines.push(formatEnvLine(k, v));
  return `${lines.join('\n')}\n`;
}

export function networkUnit(a: Answers): string {
  const match = a.KLDLOAD_NET_IFACE === '*' ? 'Name=en* eth*' : `Name=${a.KLDLOAD_NET_IFACE}`;
  if (a.KLDLOAD_NET_METHOD === 'dhcp') return `[Match]\n${match}\n\n[Network]\nDHCP=yes\n`;
  return `[Match]\n${match}\n\n[Network]\nAddress=${a.KLDLOAD_NET_IP}\nGateway=${a.KLDLOAD_NET_GW}\n${(a.KLDLOAD_NET_DNS ?? []).map((d) => `DNS=${d}`).join('\n')}\n`;
}

/** The pool comment that marks a disk installed by an ISO: it lives in every ZFS label (zdb -l reads it). */

/**
 * Role settings from the answers, for first boot: the plain ones in role-settings.env (0640), the
 * secret ones in role-secrets.env (0600, root only; shown as <redacted> in every plan output).
 */
export function roleSettingsActions(R: string, settings: readonly RoleSettingValue[]): Action[] {
  const file = (secret: boolean) => {
    const lines = settings.filter((s) => s.secret === secret).map((s) => formatEnvLine(s.key, s.value));
    if (!lines.length) return [];
    const head = `# Written by the kldload installer: ${secret ? 'secret ' : ''}settings of the roles (from the answers).`;
    const content = `${head}\n${lines.join('\n')}\n`;
    const path = `${R}${secret ? TARGET.roleSecrets : TARGET.roleSettings}`;
    return [
      {
        kind: 'write',
        path,
        content,
        mode: secret ? 0o600 : 0o640,
        ...(secret ? { secret: true } : {}),
      } satisfies Action,
    ];
  };
  return [...file(false), ...file(true)];
}

const noSnap = { 'com.sun:auto-snapshot': 'false' };

/**
 * The dataset tree the installer makes (below the pool, in creation order) and how sanoid snapshots
 * each (src/day2/sanoid.ts): the datasets step and the sanoid policy are both made from this list.
 */
export const DATASETS: readonly { name: string; props: Props; snapshots: SnapshotPolicy }[] = [
  { name: 'ROOT', props: { canmount: 'off', mountpoint: 'none' }, snapshots: 'boot-environments' },
  { name: 'ROOT/default', props: { canmount: 'noauto', mountpoint: '/' }, snapshots: 'covered' },
  { name: 'home', props: { mountpoint: '/home' }, snapshots: 'data' },
  { name: 'root', props: { mountpoint: '/root' }, snapshots: 'data' },
  { name: 'srv', props: { mountpoint: '/srv' }, snapshots: 'data' },
  { name: 'var', props: { canmount: 'off', mountpoint: '/var' }, snapshots: 'covered' },
  { name: 'var/log', props: {}, snapshots: 'system' },
  { name: 'var/cache', props: noSnap, snapshots: 'none' },
  { name: 'var/tmp', props: noSnap, snapshots: 'none' },
  {
    name: 'tmp',
    props: { mountpoint: '/tmp', sync: 'disabled', exec: 'off', setuid: 'off', devices: 'off', ...noSnap },
    snapshots: 'none',
  },
];
