import { join } from 'node:path';
import type { Command } from 'commander';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { cacheDir } from '../../core/paths.ts';
import { utcStamp } from '../../live/facts.ts';
import { renderTest, runTest } from '../../vm/harness.ts';
import type { CommandResult } from '../output.ts';

export function testCommand(
  program: Command,
  run: (fn: () => Promise<CommandResult>, json: boolean) => void,
) {
  program
    .command('test <iso>')
    .description('Prove an ISO in QEMU: unattended offline install, then boot the disk alone and check it')
    .option(
      '--answers <file>',
      'answers.env to install with (needs KLDLOAD_PASSWORD; disk and ssh key are set by the test)',
    )
    .option('--workdir <dir>', 'where disks and serial logs are kept')
    .option('--install-timeout <s>', 'seconds for the install phase', '1800')
    .option('--boot-timeout <s>', 'seconds for each boot', '900')
    .option('--no-reboot', 'skip the second boot')
    .option('--json', 'machine-readable result')
    .action(
      (
        iso: string,
        o: {
          answers?: string;
          workdir?: string;
          installTimeout: string;
          bootTimeout: string;
          reboot: boolean;
          json?: boolean;
        },
      ) =>
        run(async () => {
          const workDir = o.workdir ?? cacheDir('vm', utcStamp());
          const log = new Logger({ file: join(workDir, 'test.log'), quiet: !!o.json });
          const r = await runTest(new SystemExecutor(log), log, {
            iso,
            workDir,
            ...(o.answers ? { answers: o.answers } : {}),
            installTimeoutSec: Number(o.installTimeout),
            bootTimeoutSec: Number(o.bootTimeout),
            reboot: o.reboot,
          });
          return { exitCode: r.ok ? 0 : 1, json: r, text: renderTest(r) };
        }, !!o.json),
    );
}
