/** The install's last steps: manifest, role settings, payload, first boot, factory snapshot, export. */
import type { RoleSettingValue } from '../answers/role-settings.ts';
import { type Action, inTarget, run, type Step, write } from '../core/plan.ts';
import { isoMarker, LOGS, TARGET } from '../layout.ts';
import { zfs } from '../zfs/zfs.ts';
import { zpool } from '../zfs/zpool.ts';
import { FIRSTBOOT_UNIT, type InstallContext, manifest, roleSettingsActions } from './install.ts';

/** manifest, role-settings (when there are settings), payload, firstboot, snapshot and export, in that order. */
export function finishSteps(
  { a, f, R, pool }: InstallContext,
  settings: readonly RoleSettingValue[],
): Step[] {
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  step('manifest', `${TARGET.manifest} (no secrets, mode 0640)`, [
    { kind: 'mkdir', path: `${R}${TARGET.configDir}` },
    write(`${R}${TARGET.manifest}`, manifest(a, f), 0o640),
  ]);
  if (settings.length)
    step('role-settings', 'settings of the roles for first boot; secrets in a root-only file', [
      ...roleSettingsActions(R, settings),
    ]);

  const payload: Action[] = [{ kind: 'mkdir', path: `${R}${TARGET.payload}`, mode: 0o700 }];
  if (f.payloadDir) payload.push({ kind: 'copy', from: f.payloadDir, to: `${R}${TARGET.payload}` });
  if (f.postinstall) payload.push(write(`${R}${TARGET.postinstall}`, f.postinstall.content, 0o755));
  step(
    'payload',
    f.postinstall
      ? `${TARGET.payload} + postinstall.sh from ${f.postinstall.source}`
      : `${TARGET.payload} payload`,
    payload,
  );

  step('firstboot', 'kldload-firstboot.service runs postinstall.sh once on the first boot', [
    write(`${R}/etc/systemd/system/kldload-firstboot.service`, FIRSTBOOT_UNIT),
    inTarget(['systemctl', 'enable', 'kldload-firstboot.service']),
  ]);

  step('snapshot', `factory snapshot ${pool}@install-${f.stamp}`, [
    { kind: 'mkdir', path: `${R}${LOGS.dir}` },
    { kind: 'copy', from: f.logFile, to: `${R}${LOGS.installer}` },
    run(zfs.snapshot(`${pool}@install-${f.stamp}`), { unless: zfs.exists(`${pool}@install-${f.stamp}`) }),
  ]);

  const unmounts = ['boot/efi', 'run', 'dev', 'sys', 'proc'].map((m) =>
    run(['umount', `${R}/${m}`], { unless: ['sh', '-c', `! mountpoint -q ${R}/${m}`] }),
  );
  step('export', 'unmount everything and export the pool for a clean first import', [
    ...unmounts,
    // Marks the disk as installed by this ISO, so an ISO left attached does not wipe it on the next boot.
    ...(f.isoBuild ? [run(zpool.set(pool, 'comment', isoMarker(f.isoBuild)))] : []),
    run(zpool.export(pool)),
  ]);
  return steps;
}
