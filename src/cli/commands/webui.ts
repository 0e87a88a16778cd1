import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { validateAnswersText } from '../../answers/validate.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { MEDIUM } from '../../layout.ts';
import { systemHost } from '../../live/blockdev.ts';
import { readImage } from '../../live/facts.ts';
import { readRoles, rolesDirOf } from '../../postinstall/roles.ts';
import { watchAddresses } from '../../webui/console.ts';
import { InstallJob } from '../../webui/job.ts';
import { pageAssets } from '../../webui/page-assets.ts';
import { checked, newToken, startWebui } from '../../webui/server.ts';
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
  port: number;
}

function saveFile(name: string, text: string): string {
  mkdirSync(WEB_DIR, { recursive: true, mode: 0o700 });
  chmodSync(WEB_DIR, 0o700);
  const path = join(WEB_DIR, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** The boot's token: made once, kept in /run (tmpfs, root only), so a restarted server keeps the page's. */
function bootToken(): string {
  const file = join(WEB_DIR, 'token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const t = newToken();
  saveFile('token', t);
  return t;
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
    checked(validateAnswersText(text, 'answers.env', { roleSettings: settings }));
  const token = bootToken();
  const unitState = async () =>
    (await exec.run(['systemctl', 'is-active', WEB_INSTALL_UNIT], { check: false })).stdout.trim();
  /** Waits until the install unit is no longer running (a server restarted while it ran). */
  const unitEnded = async () => {
    while (['active', 'activating', 'reloading'].includes(await unitState()))
      await new Promise((r) => setTimeout(r, 2000));
    return { exitCode: (await unitState()) === 'failed' ? 1 : 0 };
  };
  const job = new InstallJob(
    INSTALL_LOG,
    async (answers) => {
      if (answers !== WEB_ANSWERS) throw new Error(`${answers}: the install unit reads ${WEB_ANSWERS}`);
      // `systemctl start` of a unit already starting joins that start: never for a second install.
      if (['active', 'activating'].includes(await unitState()))
        return {
          exitCode: 1,
          output: `${WEB_INSTALL_UNIT} is already running: this install was not started`,
        };
      // A oneshot: `systemctl start` returns when the install ended (the machine then powers off).
      const r = await exec.run(['systemctl', 'start', WEB_INSTALL_UNIT], { check: false });
      if (r.exitCode === 0) return { exitCode: 0 };
      // This run's journal only: an earlier failed install's lines would read as this one's.
      const id = (
        await exec.run(['systemctl', 'show', '-p', 'InvocationID', '--value', WEB_INSTALL_UNIT], {
          check: false,
        })
      ).stdout.trim();
      const j = id
        ? await exec.run(
            ['journalctl', `_SYSTEMD_INVOCATION_ID=${id}`, '-n', '40', '--no-pager', '-o', 'cat'],
            {
              check: false,
            },
          )
        : { all: '' };
      return { exitCode: r.exitCode, output: `${r.all}\n${j.all}` };
    },
    { recordFile: join(WEB_DIR, 'job.json') },
  );
  // A server that restarted attaches to the install it started (running or ended).
  if (job.resume(unitEnded())) log.info('web installer: attached to the install this boot started');
  const srv = await startWebui(
    {
      token,
      assets: await pageAssets(),
      facts: () => wizardFacts(host, { image: readImage(), roles, settings, pool: 'rpool' }),
      validate,
      plan: async (text) => {
        // The same dry run `kldload install --dry-run` prints, on this machine, told nothing secret.
        const quiet = new Logger({ quiet: true });
        const config = saveFile('plan.env', text);
        try {
          const r = await install(
            { config, dryRun: true, live: true, root: '/mnt' },
            { exec: new SystemExecutor(quiet), log: quiet, host },
          );
          const error = (r.json as { error?: unknown } | undefined)?.error;
          return { ok: r.exitCode === 0, text: r.text || (error ? String(error) : '') };
        } finally {
          rmSync(config, { force: true });
        }
      },
      saveAnswers: (text) => saveFile('answers.env', text),
      job,
      log,
    },
    { host: o.listen, port: o.port },
  );
  watchAddresses(print, { host: o.listen, port: srv.port }, token);
  // Serves until the machine powers off after the install (or someone stops the unit).
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => void srv.close().then(done));
  });
  return { exitCode: 0, json: { ok: true }, text: '' };
}

const portNumber = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new InvalidArgumentError('a TCP port: 1-65535');
  return n;
};

export function webuiCommand(program: Command, run: Run) {
  program
    .command('webui')
    .description(
      'Serve the web installer on the live medium: a wizard, then the same plan/apply as answers files',
    )
    // '::' takes IPv4 too: every address the console shows answers.
    .option('--listen <address>', 'address to listen on', '::')
    .option('--port <port>', 'TCP port', portNumber, 80)
    .action((o: WebuiOpts) => run(() => webui(o), false));
}
