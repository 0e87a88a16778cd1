import {
  appendFileSync,
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parseEnvText } from '../answers/parse.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { NO_HOOK_ENV } from '../day2/pkg.ts';
import { LOGS, REPO, TARGET } from '../layout.ts';
import { readRoles } from '../postinstall/roles.ts';

/** What first boot reads and writes (src/layout.ts); tests give their own. */
export const PATHS = {
  manifest: TARGET.manifest,
  script: TARGET.postinstall,
  done: TARGET.firstbootDone,
  state: TARGET.firstbootState,
  postinstallLog: LOGS.postinstall,
  firstbootLog: LOGS.firstboot,
  failure: TARGET.postinstallFailure,
  lib: `${TARGET.postinstallLib}/lib.sh`,
  strictEnv: `${TARGET.postinstallLib}/strict-env.sh`,
  /** The darksite copied for first-boot roles; removed after success unless KLDLOAD_KEEP_DARKSITE=1. */
  darksiteList: REPO.firstbootList,
  darksiteDir: REPO.targetDir,
  /** Role settings from the answers (the installer writes them). */
  roleSettings: TARGET.roleSettings,
  /** The secret ones, mode 0600: read into the postinstaller's environment, never logged. */
  roleSecrets: TARGET.roleSecrets,
  lock: TARGET.firstbootLock,
};

/** The same places, any paths (tests run first boot in a sandbox). */
export type FirstbootPaths = { [K in keyof typeof PATHS]: string };

export interface FirstbootState {
  status: 'running' | 'ok' | 'failed' | 'not-run';
  started?: string;
  finished?: string;
  exitCode?: number;
  script?: string;
  /** Where it failed, from the ERR trap's record. */
  failure?: { line: string; command: string; file: string; exit: string; role?: string };
  /** Role files in the payload's roles/ and those the dispatcher recorded as done (roles.done). */
  roles?: { carried: string[]; ran: string[] };
  /** Things a human should know although the run succeeded (e.g. no role ran). */
  warnings?: string[];
}

const now = () => new Date().toISOString();

function logTo(file: string, line: string): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${now()} ${line}\n`);
}

export function readState(p: FirstbootPaths = PATHS): FirstbootState {
  if (!existsSync(p.state)) return { status: existsSync(p.done) ? 'ok' : 'not-run' };
  return JSON.parse(readFileSync(p.state, 'utf8')) as FirstbootState;
}

function writeState(s: FirstbootState, p: FirstbootPaths = PATHS): void {
  mkdirSync(dirname(p.state), { recursive: true });
  writeFileSync(p.state, `${JSON.stringify(s, null, 1)}\n`);
}

/**
 * The manifest as environment variables, read as data by the one env-file codec. A line it refuses
 * (only a hand edit can make one) is named in the first-boot log, not dropped silently.
 */
export function manifestEnv(p: FirstbootPaths = PATHS): Record<string, string> {
  return envFile(p.manifest, p.firstbootLog);
}

/** An env file read by the one codec; a line it refuses (only a hand edit can make one) is logged. */
function envFile(path: string, log: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const { entries, errors } = parseEnvText(readFileSync(path, 'utf8'));
  for (const e of errors)
    logTo(log, `${path}:${e.line}: ${e.key ? `${e.key}: ` : ''}${e.message}; not passed on`);
  return Object.fromEntries([...entries].map(([k, v]) => [k, v.value]));
}

/** What the postinstaller gets: the manifest, then the roles' settings and secrets. */
export function postinstallEnv(p: FirstbootPaths = PATHS): Record<string, string> {
  return {
    ...manifestEnv(p),
    ...envFile(p.roleSettings, p.firstbootLog),
    ...envFile(p.roleSecrets, p.firstbootLog),
  };
}

/**
 * Runs /root/darksite/postinstall.sh once with the install manifest in its environment. The
 * done-marker is written only on success, so a failed or interrupted run happens again next boot.
 */
export async function runFirstboot(
  exec: Executor,
  o: { again: boolean },
  p: FirstbootPaths = PATHS,
): Promise<FirstbootState> {
  const lock = await takeLock(exec, p);
  try {
    return await runLocked(exec, o, p);
  } finally {
    closeSync(lock);
  }
}

/**
 * An exclusive flock(1) on p.lock, held by this process until the returned fd is closed (flock
 * locks belong to the open file, which the child shares). A run already holding it is refused:
 * two dispatchers must never run roles side by side. The fd is close-on-exec, so nothing the
 * postinstaller starts keeps the lock after the run.
 */
async function takeLock(exec: Executor, p: FirstbootPaths): Promise<number> {
  mkdirSync(dirname(p.lock), { recursive: true });
  const fd = openSync(p.lock, 'a+', 0o600);
  const r = await exec.run(['flock', '--nonblock', '--exclusive', '3'], { check: false, fds: [fd] });
  if (r.exitCode !== 0) {
    const holder = readFileSync(p.lock, 'utf8').trim();
    closeSync(fd);
    throw new KldloadError(
      `first boot is already running (${holder || 'pid unknown'}); wait for it to finish (kldload firstboot status), then run again if needed`,
      EXIT.failed,
    );
  }
  ftruncateSync(fd);
  writeSync(fd, `pid ${process.pid}`);
  return fd;
}

async function runLocked(exec: Executor, o: { again: boolean }, p: FirstbootPaths): Promise<FirstbootState> {
  if (existsSync(p.done) && !o.again) return readState(p);
  if (o.again) rmSync(p.done, { force: true });
  rmSync(p.failure, { force: true });
  const state: FirstbootState = { status: 'running', started: now(), script: p.script };
  writeState(state, p);
  logTo(p.firstbootLog, `first boot: start (${existsSync(p.script) ? p.script : 'no postinstall.sh'})`);
  let code = 0;
  if (existsSync(p.script)) {
    logTo(p.postinstallLog, `=== ${p.script} start`);
    const r = await exec.run(['bash', p.script], {
      cwd: dirname(p.script),
      env: {
        ...postinstallEnv(p),
        // This runner already writes the script's output to postinstall.log; lib.sh must not write it twice.
        KLDLOAD_LOG: '',
        // Roles' apt runs are part of the install: the factory snapshot covers them, not one each.
        [NO_HOOK_ENV]: 'firstboot',
        KLDLOAD_STATE_DIR: dirname(p.state),
        KLDLOAD_FAILURE_FILE: p.failure,
        KLDLOAD_POSTINSTALL_LIB: p.lib,
        // Strict mode and the failure record come from the library, sourced before the script runs.
        ...(existsSync(p.strictEnv) && existsSync(p.lib) ? { BASH_ENV: p.strictEnv } : {}),
      },
      check: false,
      onLine: (l) => {
        logTo(p.postinstallLog, l);
        process.stdout.write(`${l}\n`);
      },
    });
    code = r.exitCode;
    logTo(p.postinstallLog, `=== ${p.script} exit ${code}`);
  }
  const failure = code !== 0 ? readFailure(p) : undefined;
  const roles = rolesOf(p);
  const warnings = code === 0 && roles ? noRoleRan(roles) : [];
  const final: FirstbootState = {
    ...state,
    status: code === 0 ? 'ok' : 'failed',
    finished: now(),
    exitCode: code,
    ...(failure ? { failure } : {}),
    ...(roles ? { roles } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
  for (const w of warnings) logTo(p.firstbootLog, `first boot: warning: ${w}`);
  writeState(final, p);
  if (code === 0) {
    mkdirSync(dirname(p.done), { recursive: true });
    writeFileSync(p.done, `${final.finished}\n`);
    if (existsSync(p.darksiteList) && manifestEnv(p).KLDLOAD_KEEP_DARKSITE !== '1') {
      // The roles are done; from now on apt uses the public mirror (KLDLOAD_KEEP_DARKSITE=0).
      rmSync(p.darksiteList, { force: true });
      rmSync(p.darksiteDir, { recursive: true, force: true });
      logTo(p.firstbootLog, `first boot: removed the darksite copy at ${p.darksiteDir}`);
    }
  }
  logTo(p.firstbootLog, `first boot: ${final.status} (exit ${code})`);
  return final;
}

/**
 * The roles the payload carries (roles/ next to postinstall.sh, as the dispatcher finds them) and
 * those recorded in roles.done; undefined when the payload has no roles folder.
 */
function rolesOf(p: FirstbootPaths): FirstbootState['roles'] {
  const dir = join(dirname(p.script), 'roles');
  if (!existsSync(dir)) return undefined;
  const carried = readRoles(dir).roles.map((r) => r.file);
  const doneFile = join(dirname(p.state), 'roles.done');
  const done = new Set(
    existsSync(doneFile)
      ? readFileSync(doneFile, 'utf8')
          .split('\n')
          .map((l) => l.split('\t')[0] ?? '')
      : [],
  );
  return { carried, ran: carried.filter((f) => done.has(f)) };
}

/** A run that carried roles and ran none of them did not do what the ISO was built for. */
function noRoleRan(r: NonNullable<FirstbootState['roles']>): string[] {
  if (!r.carried.length || r.ran.length) return [];
  const n = r.carried.length;
  return [
    `none of the ${n} role${n === 1 ? '' : 's'} it carries ran (${r.carried.join(' ')}): the host name selected none; see the plan in ${PATHS.postinstallLog} or run kldload postinstall plan ${TARGET.payload} --host NAME`,
  ];
}

function readFailure(p: FirstbootPaths): FirstbootState['failure'] {
  if (!existsSync(p.failure)) return undefined;
  // lib.sh writes the record with kl_env_quote: the same env-file format as the manifest.
  const { entries } = parseEnvText(readFileSync(p.failure, 'utf8'));
  const get = (k: string) => entries.get(k)?.value;
  return {
    line: get('line') ?? '?',
    command: get('command') ?? '?',
    file: get('file') ?? '?',
    exit: get('exit') ?? '?',
    ...(get('role') ? { role: get('role') } : {}),
  };
}

export function describeState(s: FirstbootState): string {
  if (s.status === 'ok' && s.warnings?.length) return `ok, but ${s.warnings.join('; ')}`;
  if (s.status !== 'failed') return s.status;
  const f = s.failure;
  return f
    ? `failed: ${f.file} line ${f.line}: ${f.command} (exit ${f.exit})${f.role ? ` in role ${f.role}` : ''}; fix it, then: kldload firstboot run --again`
    : `failed (exit ${s.exitCode}); see ${PATHS.postinstallLog}`;
}
