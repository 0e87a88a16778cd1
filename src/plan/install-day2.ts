/** The install's day-2 steps: the kldload tools on the target (kbe, ksnap, kpkg, kupgrade …, their APT hook and units) and sanoid's snapshot policy. */
import { type Action, inTarget, type Step, write } from '../core/plan.ts';
import { ESP_SYNC_UNIT, ESP_SYNC_UNIT_TEXT, espGuidFor, formatEspList } from '../day2/esp.ts';
import { APT_HOOK, APT_HOOK_CONF } from '../day2/pkg.ts';
import {
  SANOID_BASE,
  SANOID_COMPOSE,
  SANOID_COMPOSE_PATH,
  SANOID_DIR,
  SANOID_SERVICE_CONF,
  SANOID_SERVICE_DROPIN,
  sanoidPolicy,
} from '../day2/sanoid.ts';
import { BOOT_OK_UNIT, BOOT_OK_UNIT_TEXT, CONFIRM_UNIT, CONFIRM_UNIT_TEXT } from '../day2/upgrade-record.ts';
import { ZED_DROPIN, ZED_DROPIN_TEXT } from '../day2/zed.ts';
import { bundleChunks, TARGET } from '../layout.ts';
import { DATASETS, type InstallContext } from './install.ts';

/** kldload-tools, zed, esps and sanoid, in that order. */
export function day2Steps({ f, R, pool, disks }: InstallContext): Step[] {
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  step(
    'kldload-tools',
    'the kldload bundle (run by Debian nodejs), kbe, ksnap, kpkg and kupgrade, the APT snapshot hook, the upgrade-confirm and boot-ok units, and the postinstall library',
    [
      { kind: 'mkdir', path: `${R}${TARGET.libDir}` },
      { kind: 'copy', from: f.bundle, to: `${R}${TARGET.bundle}` },
      { kind: 'copy', from: bundleChunks(f.bundle), to: `${R}${bundleChunks(TARGET.bundle)}` },
      write(`${R}/usr/sbin/kldload`, `#!/bin/sh\nexec /usr/bin/node ${TARGET.bundle} "$@"\n`, 0o755),
      // The seed's short names: thin wrappers, one implementation.
      ...Object.entries({
        kbe: 'be',
        ksnap: 'snap',
        kpkg: 'pkg',
        kupgrade: 'upgrade',
        kst: 'st',
        kclone: 'clone',
        kexport: 'export',
      }).map(([short, sub]) =>
        write(`${R}/usr/sbin/${short}`, `#!/bin/sh\nexec /usr/sbin/kldload ${sub} "$@"\n`, 0o755),
      ),
      // Plain apt gets kpkg's snapshot; written after the install's own apt runs (and a chroot
      // without a booted BE makes the hook a no-op anyway).
      write(`${R}${APT_HOOK_CONF}`, APT_HOOK),
      // kupgrade's BE becomes the default after a boot that reached multi-user; a boot-counted entry
      // is good only from multi-user on.
      write(`${R}/etc/systemd/system/${CONFIRM_UNIT}`, CONFIRM_UNIT_TEXT),
      write(`${R}/etc/systemd/system/${BOOT_OK_UNIT}`, BOOT_OK_UNIT_TEXT),
      inTarget(['systemctl', 'enable', CONFIRM_UNIT, BOOT_OK_UNIT]),
      ...(f.postinstallLib
        ? [{ kind: 'copy', from: f.postinstallLib, to: `${R}${TARGET.postinstallLib}` } satisfies Action]
        : []),
    ],
  );

  step(
    'zed',
    "zed's event shells at background priority: a bulk ZFS operation (kldload spray) keeps the CPU, and no event is dropped",
    [write(`${R}${ZED_DROPIN}`, ZED_DROPIN_TEXT)],
  );

  const esps = disks.map((_, i) => espGuidFor(f.espGuid, i));
  step(
    'esps',
    esps.length > 1
      ? `the ${esps.length} ESPs listed in ${TARGET.espList}; the others get a copy of the first (kldload esp sync, as after every kernel update and boot)`
      : `the ESP listed in ${TARGET.espList} (one disk: nothing to keep in step)`,
    [
      write(`${R}${TARGET.espList}`, formatEspList(esps)),
      ...(esps.length > 1
        ? [
            write(`${R}/etc/systemd/system/${ESP_SYNC_UNIT}`, ESP_SYNC_UNIT_TEXT),
            inTarget(['systemctl', 'enable', ESP_SYNC_UNIT]),
            inTarget(['kldload', 'esp', 'sync']),
          ]
        : []),
    ],
  );

  step(
    'sanoid',
    `automatic snapshots: sanoid's policy for the dataset tree (${SANOID_BASE}), composed with what roles add`,
    [
      { kind: 'mkdir', path: `${R}${SANOID_DIR}` },
      write(`${R}${SANOID_BASE}`, sanoidPolicy(pool, DATASETS)),
      write(`${R}${SANOID_COMPOSE_PATH}`, SANOID_COMPOSE, 0o755),
      write(`${R}${SANOID_SERVICE_DROPIN}`, SANOID_SERVICE_CONF),
      // Composed now as well: sanoid.service runs only when sanoid.conf is not empty
      // (ConditionFileNotEmpty is checked before ExecStartPre could write it).
      inTarget([SANOID_COMPOSE_PATH]),
      // The server and desktop profiles carry sanoid; core does not (kpkg install sanoid later finds
      // the policy ready, and its package enables the timer).
      inTarget(['systemctl', 'enable', 'sanoid.timer'], {
        unless: ['sh', '-c', `! test -e ${R}/usr/sbin/sanoid`],
      }),
    ],
  );
  return steps;
}
