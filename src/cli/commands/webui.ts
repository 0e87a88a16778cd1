import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { validateAnswersText } from '../../answers/validate.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { MEDIUM } from '../../layout.ts';
import { systemHost } from '../../live/blockdev.ts';
import { readRoles, rolesDirOf } from '../../postinstall/roles.ts';
import { watchAddresses } from '../../webui/console.ts';
import { InstallJob } from '../../webui/job.ts';
import { pageAssets } from '../../webui/page-assets.ts';
import { type Checked, newToken, startWebui } from '../../webui/server.ts';
import { wizardFacts } from '../../webui/wizard-facts.ts';
import type { Run } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { INSTALL_LOG, install, installSettings } from './install.ts';

/** Where the web installer keeps the answers it installs with: tmpfs, root only. */
const WEB_DIR = '/run/kldload/web';
/** The answers the install unit reads (payload/live/kldload-web-install.service). */
const WEB_ANSWERS = join(WEB_DIR, 'answers.env');
/** The unit each web install runs in: outlives the page and the server, shows on the console. */
export const WEB_INSTALL_UNIT = 'kldload-web-install.service';

interface WebuiOpts {
  listen: string;
  port: string;
}

function toChecked(v: ReturnType<typeof validateAnswersText>): Checked {
  return {
    ok: v.ok,
    errors: v.errors.map((e) => ({
      ...(e.line !== undefined ? { line: e.line } : {}),
      ...(e.key ? { key: e.key } : {}),
      message: e.message,
      text: e.text,
    })),
    warnings: v.warnings.map((w) => w.text),
  };
}

function saveFile(name: string, text: string): string {
  mkdirSync(WEB_DIR, { recursive: true, mode: 0o700 });
  chmodSync(WEB_DIR, 0o700);
  const path = join(WEB_DIR, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function webui(o: WebuiOpts): Promise<CommandResult> {
  const print = (l: string) => process.stdout.write(`${l}\n`);
  const log = new Logger({ echo: print });
  const exec = new SystemExecutor(log);
  const host = systemHost(exec);
  const payload = join(MEDIUM.root, MEDIUM.payload);
  const settings = installSettings(true);
  const roles = readRoles(rolesDirOf(payload)).roles.map((r) => r.name);
  const validate = (text: string) =>
    toChecked(validateAnswersText(text, 'answers.env', { roleSettings: settings }));
  const token = newToken();
  const job = new InstallJob(INSTALL_LOG, async (answers) => {
    if (answers !== WEB_ANSWERS) throw new Error(`${answers}: the install unit reads ${WEB_ANSWERS}`);
    // A oneshot: `systemctl start` returns when the install ended (the machine then powers off).
    const r = await exec.run(['systemctl', 'start', WEB_INSTALL_UNIT], { check: false });
    if (r.exitCode === 0) return { exitCode: 0 };
    const j = await exec.run(['journalctl', '-u', WEB_INSTALL_UNIT, '-n', '40', '--no-pager', '-o', 'cat'], {
      check: false,
    });
    return { exitCode: r.exitCode, output: `${r.all}\n${j.all}` };
  });
  const port = Number(o.port);
  const srv = await startWebui(
    {
      token,
      assets: await pageAssets(),
      facts: () =>
        wizardFacts(host, { imageJson: join(MEDIUM.root, MEDIUM.image), roles, settings, pool: 'rpool' }),
      validate,
      plan: async (text) => {
        // The same dry run `kldload install --dry-run` prints, on this machine, told nothing secret.
        const quiet = new Logger({ quiet: true });
        const r = await install(
          { config: saveFile('plan.env', text), dryRun: true, live: true, root: '/mnt' },
          { exec: new SystemExecutor(quiet), log: quiet, host },
        );
        return { ok: r.exitCode === 0, text: r.text };
      },
      saveAnswers: (text) => saveFile('answers.env', text),
      job,
      log,
    },
    { host: o.listen, port },
  );
  watchAddresses(print, { host: o.listen, port: srv.port }, token);
  // Serves until the machine powers off after the install (or someone stops the unit).
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => void srv.close().then(done));
  });
  return { exitCode: 0, json: { ok: true }, text: '' };
}

export function webuiCommand(program: Command, run: Run) {
  program
    .command('webui')
    .description(
      'Serve the web installer on the live medium: a wizard, then the same plan/apply as answers files',
    )
    .option('--listen <address>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'TCP port', '80')
    .action((o: WebuiOpts) => run(() => webui(o), false));
}
