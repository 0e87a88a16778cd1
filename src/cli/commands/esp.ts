/** kldload esp: the machine's ESPs (one per disk of a mirror or raidz pool) and keeping them in step. */
import type { Command } from 'commander';
import { EXIT } from '../../core/errors.ts';
import { type Plan, run } from '../../core/plan.ts';
import { type EspSet, espMountDir, espSyncSteps } from '../../day2/esp.ts';
import { readEspSet } from '../../day2/facts.ts';
import { TARGET } from '../../layout.ts';
import { DAY2_HELP_EXIT, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import type { CommandResult } from '../output.ts';

/** The sync plan for the ESPs as they are (readEspSet), each other ESP unmounted on failure. */
export function planEspSync(e: EspSet): Plan {
  return {
    facts: { esp: e.path, mounted: e.mounted ?? null, others: e.others },
    steps: espSyncSteps(e),
    cleanup: e.others
      .filter((o) => o.present)
      .map((o) => run(['umount', espMountDir(o.partuuid)], { mayFail: true })),
  };
}

export async function espSync(o: { dryRun?: boolean; json?: boolean }): Promise<CommandResult> {
  const e = readEspSet();
  const plan = planEspSync(e);
  const missing = e.others
    .filter((x) => !x.present)
    .map(
      (x) =>
        `ESP ${x.partuuid} (${TARGET.espList}) is not there (its disk is missing or failed): skipped; the next sync after the disk is back or replaced brings it up to date`,
    );
  if (!plan.steps.length && !missing.length)
    return {
      exitCode: EXIT.ok,
      json: { ok: true, facts: plan.facts, steps: [] },
      text: `one ESP (${TARGET.espList} lists no other): nothing to sync`,
    };
  const r = await runDay2Plan(plan, o, 'esp sync');
  return { ...r, warnings: missing, ...(o.json ? { json: { ...(r.json as object), missing } } : {}) };
}

export function espCommand(program: Command, run: Run) {
  const esp = program
    .command('esp')
    .description(`The machine's ESPs: one per disk of a mirror or raidz pool, listed in ${TARGET.espList}`)
    .addHelpText(
      'after',
      `
kernel-install, kbe and kupgrade write to the ESP mounted at /boot/efi (the one the machine booted
from); 'kldload esp sync' copies it to the others. It runs by itself after every kernel added or
removed, after every boot (kldload-esp-sync.service) and at the end of the day-2 plans that change
the ESP. An ESP whose disk is missing is named and skipped.
${DAY2_HELP_EXIT}`,
    );
  esp
    .command('list')
    .description('each ESP: PARTUUID, device, whether it is there and which one is mounted at /boot/efi')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) =>
      run(async () => {
        const e = readEspSet();
        const rows = [
          ...(e.mounted ? [{ partuuid: e.mounted, mounted: true, present: true }] : []),
          ...e.others.map((x) => ({ partuuid: x.partuuid, mounted: false, present: x.present })),
        ];
        return {
          exitCode: EXIT.ok,
          json: { path: e.path, esps: rows },
          text: rows.length
            ? [
                'PARTUUID                              STATE',
                ...rows.map(
                  (r) =>
                    `${r.partuuid}  ${r.mounted ? `mounted at ${e.path}` : r.present ? 'present' : 'MISSING'}`,
                ),
              ].join('\n')
            : `${TARGET.espList}: no ESPs listed (installed before kldload kept several in step)`,
        };
      }, !!o.json),
    );
  esp
    .command('sync')
    .description('copy the ESP mounted at /boot/efi to every other ESP that is there')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((o: { dryRun?: boolean; json?: boolean }) => run(() => espSync(o), !!o.json));
}
