import { join } from 'node:path';
import type { Command } from 'commander';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { newRunDir } from '../../core/paths.ts';
import { renderTest, runTest } from '../../vm/harness.ts';
import { jsonOption, type Run } from '../options.ts';
import { intIn } from '../output.ts';

/** Default run folders kept: each holds a few GB of disks. */
const KEEP_RUNS = 3;

export function testCommand(program: Command, run: Run) {
  program
    .command('test <iso>')
    .description('Prove an ISO in QEMU: unattended offline install, then boot the disk alone and check it')
    .option(
      '--answers <file>',
      'answers.env to install with (needs KLDLOAD_PASSWORD; the test sets the ssh key, and the disk unless KLDLOAD_DISK is empty: then the installer picks it)',
    )
    .option(
      '--workdir <dir>',
      `where disks and serial logs are kept (default: a new folder in the cache's vm/; the ${KEEP_RUNS} newest stay)`,
    )
    .option('--install-timeout <s>', 'seconds for the install phase', intIn(60, 86400), 1800)
    .option('--boot-timeout <s>', 'seconds for each boot', intIn(60, 86400), 900)
    .option('--no-reboot', 'skip the second boot')
    .option('--memory <MiB>', 'guest memory for the installed system', intIn(1024, 16384), 2048)
    .addOption(jsonOption())
    .action(
      (
        iso: string,
        o: {
          answers?: string;
          workdir?: string;
          installTimeout: number;
          bootTimeout: number;
          reboot: boolean;
          memory: number;
          json?: boolean;
        },
      ) =>
        run(async () => {
          const workDir = o.workdir ?? newRunDir('', KEEP_RUNS);
          const log = new Logger({ file: join(workDir, 'test.log'), quiet: !!o.json });
          const r = await runTest(new SystemExecutor(log), log, {
            iso,
            workDir,
            ...(o.answers ? { answers: o.answers } : {}),
            installTimeoutSec: o.installTimeout,
            bootTimeoutSec: o.bootTimeout,
            reboot: o.reboot,
            memoryMiB: o.memory,
          });
          return { exitCode: r.ok ? 0 : 1, json: r, text: renderTest(r), report: true };
        }, !!o.json),
    );
}
