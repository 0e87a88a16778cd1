/** answers + facts → the ordered install plan, from the step builders of install-*.ts. */
import type { RoleSettingValue } from '../answers/role-settings.ts';
import type { Answers } from '../answers/schema.ts';
import { type Plan, run } from '../core/plan.ts';
import { zpool } from '../zfs/zpool.ts';
import { type InstallFacts, installContext } from './install.ts';
import { bootSteps } from './install-boot.ts';
import { day2Steps } from './install-day2.ts';
import { diskSteps } from './install-disk.ts';
import { finishSteps } from './install-finish.ts';
import { packageSteps } from './install-packages.ts';
import { systemSteps } from './install-system.ts';

/** answers + facts → the ordered install plan. Pure: no I/O. */
export function planInstall(
  answers: Answers,
  f: InstallFacts,
  settings: readonly RoleSettingValue[] = [],
): Plan {
  const ctx = installContext(answers, f);
  const { R, pool, disks } = ctx;
  const steps = [
    ...diskSteps(ctx),
    ...systemSteps(ctx),
    ...packageSteps(ctx),
    ...bootSteps(ctx),
    ...day2Steps(ctx),
    ...finishSteps(ctx, settings),
  ];

  return {
    facts: { ...f, disks, answersPool: pool },
    steps,
    cleanup: [
      ...['boot/efi', 'run', 'dev', 'sys', 'proc'].map((m) =>
        run(['umount', '-l', `${R}/${m}`], { mayFail: true }),
      ),
      run(zpool.destroy(pool), { mayFail: true }),
      ...disks.flatMap((d) => [
        run(['wipefs', '--all', '--force', d], { mayFail: true }),
        run(['sgdisk', '--zap-all', d], { mayFail: true }),
      ]),
    ],
  };
}

/** Cleanup only runs once a step at or after this one began: before it, nothing was written. */
export const FIRST_WRITING_STEP = new Set(['wipe', 'partition']);
