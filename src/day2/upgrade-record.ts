/**
 * kupgrade's record and units: the state file (/var/lib/kldload/upgrade/state.json) read and written,
 * the confirm and boot-ok units the installer enables, and `kldload upgrade status`.
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import { BOOT_TRIES } from './be-entry.ts';
import { afterBootUnit } from './units.ts';

export const UPGRADE_STATE = '/var/lib/kldload/upgrade/state.json';

/** The unit that promotes (or gives up on) a pending upgrade once a boot has reached multi-user. */
export const CONFIRM_UNIT = 'kldload-upgrade-confirm.service';
export const CONFIRM_UNIT_TEXT = afterBootUnit({
  description: 'kldload: a kupgrade boot environment that reached multi-user becomes the default',
  comment: [
    'Wanted by multi-user.target but ordered after it: DefaultDependencies=no keeps the target from',
    `waiting for this unit (which would be an ordering cycle). Decides from ${UPGRADE_STATE}.`,
  ],
  after: ['zfs.target'],
  condition: UPGRADE_STATE,
  exec: '/usr/sbin/kldload upgrade confirm',
});

/**
 * systemd-bless-boot marks a boot-counted entry good at boot-complete.target, which systemd reaches
 * right after sysinit.target unless something is ordered before it. This holds it until
 * multi-user.target, so "good" means what the issue asks: the entry reached multi-user.
 */
export const BOOT_OK_UNIT = 'kldload-boot-ok.service';
export const BOOT_OK_UNIT_TEXT = `[Unit]
Description=kldload: a boot-counted entry is good only once multi-user.target is reached
After=multi-user.target
Before=boot-complete.target

[Service]
Type=oneshot
ExecStart=/usr/bin/true
RemainAfterExit=yes

[Install]
RequiredBy=boot-complete.target
`;

export type UpgradeStatus = 'pending' | 'done' | 'failed';

/** One kupgrade attempt: /var/lib/kldload/upgrade/state.json (JSON, like firstboot.json). */
export interface UpgradeRecord {
  /** BE name, e.g. upgrade-20261201T101500Z. */
  name: string;
  /** Its dataset. */
  be: string;
  /** The BE that was running (and stays the default until the new one booted once). */
  from: string;
  /** The snapshot of `from` the BE was cloned from. */
  snapshot: string;
  /** systemd-boot entry id (without the boot-counting suffix). */
  entry: string;
  /** The kernel the entry boots. */
  kernel?: string;
  /** Newer kernels in the BE left without an entry: their initramfs has no ZFS. */
  heldKernels?: string[];
  /** Packages apt installed, upgraded or removed. */
  changes: number;
  started: string;
  /** /proc/sys/kernel/random/boot_id of the boot kupgrade ran in: the verdict waits for another boot. */
  bootId: string;
  status: UpgradeStatus;
  finished?: string;
  /** What happened, for `kldload upgrade status`. */
  reason?: string;
}

export const recordText = (r: UpgradeRecord) => `${JSON.stringify(r, null, 1)}\n`;

/** The state file's text → the record; a file kldload did not write is named with the fix. */
export function parseRecord(text: string, file = UPGRADE_STATE): UpgradeRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KldloadError(
      `${file}: not JSON (${e instanceof Error ? e.message : String(e)}); move it away to start afresh`,
      EXIT.failed,
    );
  }
  const r = v as Partial<UpgradeRecord>;
  const strings = ['name', 'be', 'from', 'snapshot', 'entry', 'started', 'bootId'] as const;
  const bad = strings.filter((k) => typeof r[k] !== 'string');
  if (bad.length || !['pending', 'done', 'failed'].includes(String(r.status)))
    throw new KldloadError(
      `${file}: not a kupgrade record (${bad.length ? `missing ${bad.join(', ')}` : `status ${JSON.stringify(r.status)}`}); move it away to start afresh`,
      EXIT.failed,
    );
  return v as UpgradeRecord;
}

/** A failed attempt as recorded in the running BE (the BE, if made, stays for inspection). */
export function failedRecord(r: UpgradeRecord, now: string, reason: string): UpgradeRecord {
  return { ...r, status: 'failed', finished: now, reason };
}

export const shortName = (b: { pool: string }, ds: string) =>
  ds.startsWith(`${b.pool}/ROOT/`) ? ds.slice(`${b.pool}/ROOT/`.length) : ds;

/** `kldload upgrade status` as text. */
export function renderStatus(r: UpgradeRecord | undefined, booted: string, pool: string): string {
  if (!r) return `no upgrade recorded (${UPGRADE_STATE}); running ${shortName({ pool }, booted)}`;
  const lines = [
    `upgrade ${r.name}: ${r.status}`,
    `  from      ${r.from} (snapshot ${r.snapshot})`,
    `  BE        ${r.be}, entry ${r.entry}${r.kernel ? `, kernel ${r.kernel}` : ''}`,
    `  started   ${r.started}, ${r.changes} package change(s)`,
    ...(r.finished ? [`  finished  ${r.finished}`] : []),
    ...(r.heldKernels?.length
      ? [`  held back ${r.heldKernels.join(', ')}: no ZFS module in the initramfs (not bootable)`]
      : []),
    ...(r.reason ? [`  what      ${r.reason}`] : []),
    `  running   ${booted}`,
  ];
  if (r.status === 'pending')
    lines.push(
      `  next      reboot: the next boot runs ${r.name} once (${BOOT_TRIES} tries on its entry); it becomes the default when that boot reaches multi-user, else the machine comes back on ${shortName({ pool }, r.from)}`,
    );
  return lines.join('\n');
}
