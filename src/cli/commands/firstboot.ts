import type { Command } from 'commander';
import { SystemExecutor } from '../../core/exec.ts';
import { describeState, readState, runFirstboot } from '../../firstboot/firstboot.ts';
import { jsonOption, type Run } from '../options.ts';

export function firstbootCommand(program: Command, run: Run) {
  const fb = program
    .command('firstboot')
    .description('The first-boot postinstaller (kldload-firstboot.service)');
  fb.command('run')
    .description('run /root/darksite/postinstall.sh once (the service calls this)')
    .option('--again', 'run again even if it already succeeded')
    .addOption(jsonOption())
    .action((o: { again?: boolean; json?: boolean }) =>
      run(async () => {
        const s = await runFirstboot(new SystemExecutor(), { again: !!o.again });
        return { exitCode: s.status === 'ok' ? 0 : 1, json: s, text: `first boot: ${describeState(s)}` };
      }, !!o.json),
    );
  fb.command('status')
    .description('ok, failed, running or not-run')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) =>
      run(async () => {
        const s = readState();
        return {
          exitCode: s.status === 'failed' ? 1 : 0,
          json: s,
          text: describeState(s),
          report: true,
        };
      }, !!o.json),
    );
}
