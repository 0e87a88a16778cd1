import { Command } from 'commander';
import { EXIT, KldloadError } from '../core/errors.ts';
import { answersValidate } from './commands/answers.ts';
import { beCommand } from './commands/be.ts';
import { buildCommand } from './commands/build.ts';
import { cloneCommand } from './commands/clone.ts';
import { darksiteCommand } from './commands/darksite.ts';
import { exportCommand } from './commands/export.ts';
import { firstbootCommand } from './commands/firstboot.ts';
import { installCommand } from './commands/install.ts';
import { pkgCommand } from './commands/pkg.ts';
import { postinstallCommand } from './commands/postinstall.ts';
import { snapCommand } from './commands/snap.ts';
import { statusCommand } from './commands/status.ts';
import { testCommand } from './commands/test.ts';
import { upgradeCommand } from './commands/upgrade.ts';
import { jsonOption, repeat } from './options.ts';
import { emit, errorResult } from './output.ts';

const program = new Command()
  .name('kldload')
  .description('Build sealed offline installer ISOs: Debian with ZFS on root, unattended.')
  .version('0.1.0')
  .showHelpAfterError();

function run(fn: () => Promise<import('./output.ts').CommandResult>, json: boolean) {
  fn().then(
    (r) => emit(r, json),
    (e: unknown) => {
      const ke = e instanceof KldloadError ? e : undefined;
      emit(errorResult(e, ke?.exitCode ?? EXIT.failed, ke?.details), json);
    },
  );
}

const answers = program.command('answers').description('Answers files (answers.env)');
answers
  .command('validate <file>')
  .description('Check an answers file; errors name file:line, the key, and what is allowed')
  .option(
    '--role <name>',
    'a role the ISO carries: its settings are allowed (repeatable; default: every library role)',
    repeat,
    [] as string[],
  )
  .option('--payload <dir>', "a payload folder: its roles' settings are allowed")
  .addOption(jsonOption())
  .action((file: string, o: { json?: boolean; role: string[]; payload?: string }) =>
    run(() => answersValidate(file, o), !!o.json),
  );

buildCommand(program, run);
installCommand(program, run);
testCommand(program, run);
firstbootCommand(program, run);
postinstallCommand(program, run);
darksiteCommand(program, run);
beCommand(program, run);
snapCommand(program, run);
pkgCommand(program, run);
upgradeCommand(program, run);
statusCommand(program, run);
cloneCommand(program, run);
exportCommand(program, run);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`kldload: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
