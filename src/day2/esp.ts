/**
 * Several ESPs, one content. A mirror or raidz pool puts an ESP on every disk so that any disk can
 * boot the machine. The installer records each ESP's PARTUUID in /etc/kldload/esps (the first is the
 * one fstab mounts at /boot/efi); everything that writes boot files (kernel-install, kbe, kupgrade)
 * writes to /boot/efi only, and the sync steps here copy that ESP to the others: at the end of the
 * install, from the kernel-install plugin, after each boot's boot counting (kldload-esp-sync.service)
 * and at the end of every day-2 plan that changed the ESP. proxmox-boot-tool keeps its ESPs in step
 * the same way, from one list of UUIDs. A missing disk's ESP is skipped and named; the next sync
 * brings it up to date.
 */
import { createHash } from 'node:crypto';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, run, type Step } from '../core/plan.ts';
import { TARGET } from '../layout.ts';
import { afterBootUnit } from './units.ts';

export const ESP_SYNC_UNIT = 'kldload-esp-sync.service';

/**
 * After each boot, once systemd-bless-boot marked the entry good (a rename on the booted ESP), the
 * other ESPs get the same names. Ordered like kldload-upgrade-confirm: after multi-user.target
 * without holding it up (DefaultDependencies=no avoids the ordering cycle).
 */
export const ESP_SYNC_UNIT_TEXT = afterBootUnit({
  description: `kldload: copy the booted ESP to the machine's other ESPs (${TARGET.espList})`,
  after: ['systemd-bless-boot.service', 'boot-efi.mount'],
  condition: TARGET.espList,
  exec: '/usr/sbin/kldload esp sync',
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The PARTUUID of disk `i`'s ESP: the install's random GUID for the first disk, and for the others a
 * GUID derived from it (so the plan stays pure and every install still gets its own).
 */
export function espGuidFor(first: string, i: number): string {
  if (i === 0) return first;
  const h = createHash('sha256').update(`${first}:esp:${i}`).digest('hex');
  // RFC 9562 layout: version 4 nibble and variant bits, like any random GUID.
  const variant = ((Number.parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function formatEspList(uuids: readonly string[]): string {
  return `# kldload: this machine's ESPs (PARTUUIDs); the first is the one fstab mounts at /boot/efi.\n# kldload esp sync copies the mounted one to the others.\n${uuids.join('\n')}\n`;
}

/** /etc/kldload/esps → PARTUUIDs (lower case), refusing a line that is not one. */
export function parseEspList(text: string, file: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim().toLowerCase();
    if (!line) return;
    if (!UUID.test(line))
      throw new KldloadError(
        `${file}:${i + 1}: '${raw.trim()}' is not a PARTUUID (one per line, like 0b5f…-…); fix the line or remove it`,
        EXIT.badInput,
      );
    out.push(line);
  });
  return out;
}

/** One ESP besides the mounted one: its PARTUUID, the device to mount, and whether it is there now. */
export interface OtherEsp {
  partuuid: string;
  device: string;
  present: boolean;
}

/** The ESP written to (mounted at `path`) and the ESPs it is copied to. */
export interface EspSet {
  path: string;
  /** The mounted ESP's PARTUUID (undefined: not one of the list). */
  mounted?: string;
  others: OtherEsp[];
}

export const espMountDir = (partuuid: string) => `/run/kldload/esp-${partuuid}`;

/**
 * rsync from the mounted ESP to each present other ESP, mounted for the copy only. New files first,
 * deletions after (--delete-delay): a sync cut short leaves the old entries bootable. --checksum
 * because FAT keeps times to 2 s and entries are rewritten in place. The random seed stays per ESP.
 */
export function espSyncActions(e: EspSet): Action[] {
  return e.others
    .filter((o) => o.present)
    .flatMap((o) => {
      const mnt = espMountDir(o.partuuid);
      return [
        { kind: 'mkdir', path: mnt } satisfies Action,
        run(['mount', '-t', 'vfat', '-o', 'umask=0077', o.device, mnt], {
          unless: ['mountpoint', '-q', mnt],
        }),
        run([
          'rsync',
          '-rt',
          '--checksum',
          '--delete-delay',
          '--modify-window=1',
          '--exclude=/loader/random-seed',
          `${e.path}/`,
          `${mnt}/`,
        ]),
        run(['umount', mnt]),
      ];
    });
}

/** The esp-sync step, or none for a machine with one ESP; refused when the mounted ESP is not listed. */
export function espSyncSteps(e: EspSet): Step[] {
  if (!e.others.length) return [];
  checkEspSet(e);
  const missing = e.others.filter((o) => !o.present).map((o) => o.partuuid);
  const present = e.others.length - missing.length;
  return [
    {
      name: 'esp-sync',
      title: `copy ${e.path} to the ${present} other ESP${present === 1 ? '' : 's'}${missing.length ? ` (missing now, skipped: ${missing.join(', ')})` : ''}`,
      actions: espSyncActions(e),
    },
  ];
}

/** The last step of a day-2 plan that changed the ESP (BootFacts.esp): the other ESPs follow. */
export const bootEspSync = (esp: { path: string; mounted?: string; others?: OtherEsp[] }): Step[] =>
  espSyncSteps({
    path: esp.path,
    ...(esp.mounted ? { mounted: esp.mounted } : {}),
    others: esp.others ?? [],
  });

/** A plan's facts about the ESPs: refuses a mounted ESP that is not in the list (nothing to copy from). */
export function checkEspSet(e: EspSet): void {
  if (e.others.length && !e.mounted)
    throw new KldloadError(
      `${e.path} is not one of the ESPs in ${TARGET.espList}: mount one of them there (or fix the list) before syncing`,
      EXIT.badInput,
    );
}
