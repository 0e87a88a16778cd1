import { Command } from 'commander';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Run } from './options.ts';
import { emit, errorResult } from './output.ts';

/**
 * Each command's module, loaded only for the command that runs: esbuild splits each dynamically
 * imported module into chunks (scripts/bundle.mjs) that node reads only when imported, so `kclone`
 * or the kpkg apt hook does not pay for zod, the image builder or the darksite server at every start
 * (seconds in a slow VM).
 * With no known command (--help, --version, a typo) every command is registered, for commander's help.
 */
const COMMANDS: [names: string[], load: () => Promise<(program: Command, run: Run) => void>][] = [
  [['answers'], async () => (await import('./commands/answers.ts')).answersCommand],
  [['build'], async () => (await import('./commands/build.ts')).buildCommand],
  [['install'], async () => (await import('./commands/install.ts')).installCommand],
  [['test'], async () => (await import('./commands/test.ts')).testCommand],
  [['firstboot'], async () => (await import('./commands/firstboot.ts')).firstbootCommand],
  [['postinstall'], async () => (await import('./commands/postinstall.ts')).postinstallCommand],
  [['darksite'], async () => (await import('./commands/darksite.ts')).darksiteCommand],
  [['be'], async () => (await import('./commands/be.ts')).beCommand],
  [['snap'], async () => (await import('./commands/snap.ts')).snapCommand],
  [['pkg'], async () => (await import('./commands/pkg.ts')).pkgCommand],
  [['upgrade'], async () => (await import('./commands/upgrade.ts')).upgradeCommand],
  [['st', 'status'], async () => (await import('./commands/status.ts')).statusCommand],
  [['clone'], async () => (await import('./commands/clone.ts')).cloneCommand],
  [['export', 'identity'], async () => (await import('./commands/export.ts')).exportCommand],
  [['esp'], async () => (await import('./commands/esp.ts')).espCommand],
  [['replicate'], async () => (await import('./commands/replicate.ts')).replicateCommand],
  [['webui'], async () => (await import('./commands/webui.ts')).webuiCommand],
  [['image'], async () => (await import('./commands/image.ts')).imageCommand],
  [['cluster'], async () => (await import('./commands/cluster.ts')).clusterCommand],
  [['spray'], async () => (await import('./commands/spray.ts')).sprayCommand],
];

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

const wanted = COMMANDS.filter(([names]) => names.includes(process.argv[2] ?? ''));
for (const [, load] of wanted.length ? wanted : COMMANDS) (await load())(program, run);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`kldload: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
