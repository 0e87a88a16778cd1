import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseEnvText } from '../answers/parse.ts';
import type { Executor } from '../core/exec.ts';

export const PATHS = {
  manifest: '/etc/kldload/install-manifest.env',
  script: '/root/darksite/postinstall.sh',
  done: '/var/lib/kldload/firstboot.done',
  state: '/var/lib/kldload/firstboot.json',
  postinstallLog: '/var/log/kldload/postinstall.log',
  firstbootLog: '/var/log/kldload/firstboot.log',
};

export interface FirstbootState {
  status: 'running' | 'ok' | 'failed' | 'not-run';
  started?: string;
  finished?: string;
  exitCode?: number;
  script?: string;
}

const now = () => new Date().toISOString();

function logTo(file: string, line: string): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${now()} ${line}\n`);
}

export function readState(p = PATHS): FirstbootState {
  if (!existsSync(p.state)) return { status: existsSync(p.done) ? 'ok' : 'not-run' };
  return JSON.parse(readFileSync(p.state, 'utf8')) as FirstbootState;
}

function writeState(s: FirstbootState, p = PATHS): void {
  mkdirSync(dirname(p.state), { recursive: true });
  writeFileSync(p.state, `${JSON.stringify(s, null, 1)}\n`);
}

/** The manifest as environment variables (read as data, like answers). */
export function manifestEnv(p = PATHS): Record<string, string> {
  if (!existsSync(p.manifest)) return {};
  const { entries } = parseEnvText(readFileSync(p.manifest, 'utf8'));
  return Object.fromEntries([...entries].map(([k, v]) => [k, v.value]));
}

/**
 * Runs /root/darksite/postinstall.sh once with the install manifest in its environment. The
 * done-marker is written only on success, so a failed or interrupted run happens again next boot.
 */
export async function runFirstboot(
  exec: Executor,
  o: { again: boolean },
  p = PATHS,
): Promise<FirstbootState> {
  if (existsSync(p.done) && !o.again) return readState(p);
  if (o.again) rmSync(p.done, { force: true });
  const state: FirstbootState = { status: 'running', started: now(), script: p.script };
  writeState(state, p);
  logTo(p.firstbootLog, `first boot: start (${existsSync(p.script) ? p.script : 'no postinstall.sh'})`);
  let code = 0;
  if (existsSync(p.script)) {
    logTo(p.postinstallLog, `=== ${p.script} start`);
    const r = await exec.run(['bash', p.script], {
      cwd: dirname(p.script),
      // This runner already writes the script's output to postinstall.log; lib.sh must not write it twice.
      env: { ...manifestEnv(p), KLDLOAD_LOG: '' },
      check: false,
      onLine: (l) => {
        logTo(p.postinstallLog, l);
        process.stdout.write(`${l}\n`);
      },
    });
    code = r.exitCode;
    logTo(p.postinstallLog, `=== ${p.script} exit ${code}`);
  }
  const final: FirstbootState = {
    ...state,
    status: code === 0 ? 'ok' : 'failed',
    finished: now(),
    exitCode: code,
  };
  writeState(final, p);
  if (code === 0) {
    mkdirSync(dirname(p.done), { recursive: true });
    writeFileSync(p.done, `${final.finished}\n`);
  }
  logTo(p.firstbootLog, `first boot: ${final.status} (exit ${code})`);
  return final;
}
