import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatEnvLine } from '../answers/parse.ts';
import { validateAnswersText } from '../answers/validate.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { SEED_LABEL } from '../live/answers-source.ts';
import { type CheckResult, evaluate, GUEST_REPORT, parseReport, roleSeconds } from './checks.ts';
import { freePort, ovmfArgs, QEMU_BASE, runVm } from './qemu.ts';

export const TARGET_SERIAL = 'kltarget';
export const TARGET_DISK = `/dev/disk/by-id/virtio-${TARGET_SERIAL}`;

export interface TestOptions {
  iso: string;
  workDir: string;
  /** A user answers file; the harness overrides KLDLOAD_DISK and KLDLOAD_SSH_PUBKEY. */
  answers?: string;
  installTimeoutSec: number;
  bootTimeoutSec: number;
  /** Also reboot once and prove the first-boot script did not run again. */
  reboot: boolean;
  /** Guest memory in MiB for the boots of the installed disk (roles like docker + prometheus want more). */
  memoryMiB?: number;
}

export interface Phase {
  name: string;
  seconds: number;
  ok: boolean;
  detail?: string;
}

export interface TestResult {
  ok: boolean;
  phases: Phase[];
  checks: CheckResult[];
  workDir: string;
  logs: string[];
  /** Seconds each role took on first boot, from the guest's postinstall.log. */
  roleSeconds?: Record<string, number>;
}

export const DEFAULT_TEST_ANSWERS = `# kldload test: answers for the VM proof
KLDLOAD_HOSTNAME=kltest.example.net
KLDLOAD_USERNAME=admin
KLDLOAD_PASSWORD=kl-test-Secret-7
KLDLOAD_ROOT_PASSWORD=kl-root-Secret-9
KLDLOAD_TIMEZONE=Europe/Berlin
KLDLOAD_LOCALE=en_US.UTF-8
KLDLOAD_PROFILE=server
# Installed at install time from the signed darksite on the ISO (the build adds it with --packages).
KLDLOAD_EXTRA_PACKAGES=tree
`;

/** Replaces or appends KEY=value lines, leaving the rest of the user's file as written. */
export function overrideAnswers(text: string, set: Record<string, string>): string {
  const lines = text
    .split('\n')
    .filter((l) => !Object.keys(set).some((k) => new RegExp(`^\\s*(export\\s+)?${k}=`).test(l)));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return `${lines.join('\n')}\n${Object.entries(set)
    .map(([k, v]) => formatEnvLine(k, v))
    .join('\n')}\n`;
}

export const sshOpts = (key: string, port: number) => [
  '-i',
  key,
  '-p',
  String(port),
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
  '-o',
  'BatchMode=yes',
  '-o',
  'ConnectTimeout=10',
  '-o',
  'ServerAliveInterval=15',
];

/** Runs a script as root in the guest: sudo takes the password from stdin, the script comes base64 in argv. */
export async function guestRoot(
  exec: Executor,
  ssh: string[],
  user: string,
  password: string,
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 900_000,
) {
  const envs = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const b64 = Buffer.from(script).toString('base64');
  return exec.run(
    [
      'ssh',
      ...ssh,
      `${user}@127.0.0.1`,
      `sudo -S -p '' env ${envs} bash -c "echo ${b64} | base64 -d | bash"`,
    ],
    {
      input: `${password}\n`,
      secretInput: true,
      check: false,
      timeoutMs,
    },
  );
}

export async function waitForSsh(
  exec: Executor,
  ssh: string[],
  user: string,
  deadline: number,
  alive: () => boolean,
): Promise<boolean> {
  while (Date.now() < deadline && alive()) {
    const r = await exec.run(['ssh', ...ssh, `${user}@127.0.0.1`, 'true'], {
      check: false,
      timeoutMs: 30_000,
    });
    if (r.exitCode === 0) return true;
    await new Promise((res) => setTimeout(res, 5000));
  }
  return false;
}

export interface InstallOutcome {
  ok: boolean;
  /** The installer refused or failed and said so (KLDLOAD-INSTALL-FAIL). */
  refused: boolean;
  seconds: number;
  detail: string;
  serialLog: string;
}

/**
 * Boots the ISO with a seed volume holding `answersFile` and `disk` as the only other disk, no NIC,
 * and waits for the installer's verdict (power-off after OK, or its FAIL line).
 */
export async function installPhase(
  exec: Executor,
  log: Logger,
  o: { iso: string; workDir: string; answersFile: string; disk: string; timeoutSec: number; name?: string },
): Promise<InstallOutcome> {
  const name = o.name ?? 'install';
  // Seed volume: a FAT image labelled KLDLOADSEED, made without mounting anything on the host.
  const seed = join(o.workDir, `${name}-seed.img`);
  await exec.run(['rm', '-f', seed]);
  await exec.run(['mkfs.vfat', '-C', '-n', SEED_LABEL, seed, '8192']);
  await exec.run(['mcopy', '-i', seed, o.answersFile, '::answers.env']);
  const serialLog = join(o.workDir, `${name}-serial.log`);
  log.info(`${name}: booting ${o.iso} (TCG, no network); serial → ${serialLog}`);
  let okLine = false;
  const r = await runVm(exec, {
    args: [
      ...QEMU_BASE,
      '-m',
      '3072',
      '-nic',
      'none',
      '-no-reboot',
      ...ovmfArgs(join(o.workDir, `${name}-vars.fd`)),
      '-drive',
      `file=${resolve(o.iso)},media=cdrom,readonly=on,if=none,id=cd`,
      '-device',
      'ide-cd,drive=cd,bootindex=0',
      '-drive',
      `file=${o.disk},if=none,id=t,format=qcow2,cache=unsafe,discard=unmap`,
      '-device',
      `virtio-blk-pci,drive=t,serial=${TARGET_SERIAL}`,
      '-drive',
      `file=${seed},if=none,id=s,format=raw`,
      '-device',
      'virtio-blk-pci,drive=s,serial=klseed',
    ],
    serialLog,
    timeoutSec: o.timeoutSec,
    onLine: (l) => {
      if (/KLDLOAD-INSTALL-OK/.test(l)) okLine = true;
      if (/==> \[\d+\/\d+\]|KLDLOAD-INSTALL|done in|: KLDLOAD_/.test(l)) log.info(`  guest: ${l.trim()}`);
    },
  });
  const refused = r.end === 'fail-pattern' && /KLDLOAD-INSTALL-FAIL/.test(r.pattern ?? '');
  return {
    ok: okLine && r.end === 'exit',
    refused,
    seconds: r.seconds,
    detail: `${r.end}${r.pattern ? `: ${r.pattern}` : ''}`,
    serialLog,
  };
}

/** The image facts the ISO carries (kldload/image.json), read with xorriso without mounting. */
async function isoImageInfo(
  exec: Executor,
  iso: string,
  work: string,
): Promise<{ roles?: string[]; images?: string[] } | undefined> {
  const out = join(work, 'image.json');
  const r = await exec.run(
    ['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', '/kldload/image.json', out],
    {
      check: false,
    },
  );
  return r.exitCode === 0 && existsSync(out)
    ? (JSON.parse(readFileSync(out, 'utf8')) as { roles?: string[]; images?: string[] })
    : undefined;
}

/** The web role's page, fetched from the host through QEMU's port forward, as a visitor would. */
async function webCheck(port: number): Promise<CheckResult> {
  const name = 'web: nginx serves the page to the host (port forward)';
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(30_000) });
    const body = await res.text();
    return {
      name,
      ok: res.status === 200 && body.includes('kldload web role'),
      detail: `HTTP ${res.status} ${body.slice(0, 80).replace(/\n/g, ' ')}`,
    };
  } catch (e) {
    return { name, ok: false, detail: String(e) };
  }
}

/**
 * `kldload test`: install from the ISO onto a blank disk with no network, then boot the disk alone
 * under OVMF with SSH forwarded to 127.0.0.1, and check what the guest reports about itself.
 */
export async function runTest(exec: Executor, log: Logger, o: TestOptions): Promise<TestResult> {
  if (!existsSync(o.iso)) throw new KldloadError(`${o.iso}: no such ISO`, EXIT.badInput);
  const W = resolve(o.workDir);
  mkdirSync(W, { recursive: true });
  const phases: Phase[] = [];
  const res: TestResult = { ok: false, phases, checks: [], workDir: W, logs: [] };

  // Answers: the user's (validated) or the built-in test answers, pointed at the test disk.
  const key = join(W, 'id_ed25519');
  if (!existsSync(key))
    await exec.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'kldload-test', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  const base = o.answers ? readFileSync(o.answers, 'utf8') : DEFAULT_TEST_ANSWERS;
  const text = overrideAnswers(base, { KLDLOAD_DISK: TARGET_DISK, KLDLOAD_SSH_PUBKEY: pub });
  const v = validateAnswersText(text, o.answers ?? 'test answers');
  if (!v.ok) throw new KldloadError(v.errors.map((e) => e.text).join('\n'), EXIT.badInput);
  const a = v.answers;
  if (a.KLDLOAD_PASSWORD === undefined)
    throw new KldloadError(
      'kldload test needs KLDLOAD_PASSWORD in the answers (checks run through sudo)',
      EXIT.badInput,
    );
  log.addSecret(a.KLDLOAD_PASSWORD);
  writeFileSync(join(W, 'answers.env'), text, { mode: 0o600 });

  const disk = join(W, 'target.qcow2');
  await exec.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '16G']);
  const inst = await installPhase(exec, log, {
    iso: o.iso,
    workDir: W,
    answersFile: join(W, 'answers.env'),
    disk,
    timeoutSec: o.installTimeoutSec,
  });
  res.logs.push(inst.serialLog);
  phases.push({ name: 'install', seconds: inst.seconds, ok: inst.ok, detail: inst.detail });
  if (!inst.ok) return res;

  // Phase 2: the installed disk alone (fresh NVRAM: proves the fallback loader path), SSH forwarded.
  const overlay = join(W, 'boot.qcow2');
  await exec.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', disk, '-F', 'qcow2', overlay]);
  const port = await freePort();
  const image = await isoImageInfo(exec, o.iso, W);
  const roles = image?.roles ?? [];
  const webPort = roles.includes('web') ? await freePort() : undefined;
  const ssh = sshOpts(key, port);
  const bootLog = join(W, 'boot-serial.log');
  res.logs.push(bootLog);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  let running = true;
  log.info(`boot: installed disk under OVMF; ssh on 127.0.0.1:${port}; serial → ${bootLog}`);
  const vm = runVm(exec, {
    args: [
      ...QEMU_BASE,
      '-m',
      String(o.memoryMiB ?? 2048),
      ...ovmfArgs(join(W, 'vars-boot.fd')),
      '-drive',
      `file=${overlay},if=none,id=t,format=qcow2,cache=unsafe`,
      '-device',
      `virtio-blk-pci,drive=t,serial=${TARGET_SERIAL}`,
      '-nic',
      `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${port}-:22${webPort ? `,hostfwd=tcp:127.0.0.1:${webPort}-:80` : ''}`,
    ],
    serialLog: bootLog,
    timeoutSec: o.bootTimeoutSec,
    stopWhen: stopped,
  }).finally(() => {
    running = false;
  });
  const user = a.KLDLOAD_USERNAME;
  const t0 = Date.now();
  const deadline = Date.now() + o.bootTimeoutSec * 1000;
  const up = await waitForSsh(exec, ssh, user, deadline, () => running);
  phases.push({
    name: 'first-boot',
    seconds: (Date.now() - t0) / 1000,
    ok: up,
    detail: up ? 'ssh reachable' : 'no ssh',
  });
  const expect = {
    pool: a.KLDLOAD_POOL_NAME,
    secrets: [a.KLDLOAD_PASSWORD, a.KLDLOAD_ROOT_PASSWORD ?? ''].filter(Boolean),
    postinstallRuns: 1,
    extra: a.KLDLOAD_EXTRA_PACKAGES ?? [],
    roles,
    images: image?.images ?? [],
  };
  const password = a.KLDLOAD_PASSWORD;
  /**
   * Waits for boot to finish (first-boot service included), then reads the guest's report. Polled in
   * short ssh calls: one long `--wait` would outlive guestRoot's own timeout on a slow first boot.
   */
  const report = async (name: string, until: number) => {
    while (Date.now() < until && running) {
      const st = await guestRoot(
        exec,
        ssh,
        user,
        password,
        'timeout 60 systemctl is-system-running --wait',
        {},
        90_000,
      );
      if (!/^(starting|initializing)?$/.test(st.stdout.trim())) break;
      await new Promise((r) => setTimeout(r, 10_000));
    }
    const rep = await guestRoot(exec, ssh, user, password, GUEST_REPORT, {
      POOL: a.KLDLOAD_POOL_NAME,
      EXTRA: `'${expect.extra.join(' ')}'`,
    });
    writeFileSync(join(W, `report-${name}.txt`), rep.stdout);
    return parseReport(rep.stdout);
  };
  if (up) {
    const t1 = Date.now();
    const first = await report('boot1', deadline);
    res.checks.push(...evaluate(first, expect));
    res.roleSeconds = roleSeconds(first);
    if (webPort) res.checks.push(await webCheck(webPort));
    phases.push({ name: 'checks', seconds: (Date.now() - t1) / 1000, ok: res.checks.every((c) => c.ok) });
    if (o.reboot) {
      const t2 = Date.now();
      await guestRoot(exec, ssh, user, a.KLDLOAD_PASSWORD, 'systemctl reboot');
      await new Promise((r) => setTimeout(r, 15_000));
      const back = await waitForSsh(exec, ssh, user, Date.now() + o.bootTimeoutSec * 1000, () => running);
      let again: CheckResult = {
        name: 'reboot: first-boot did not run again',
        ok: false,
        detail: 'no ssh after reboot',
      };
      if (back) {
        const c = evaluate(await report('boot2', Date.now() + o.bootTimeoutSec * 1000), expect);
        const runs = c.find((x) => x.name.startsWith('postinstall'));
        const failed = c.find((x) => x.name.startsWith('systemctl --failed'));
        again = {
          name: 'reboot: first-boot did not run again',
          ok: !!runs?.ok && !!failed?.ok,
          detail: `${runs?.detail}; failed=${failed?.detail}`,
        };
      }
      res.checks.push(again);
      phases.push({ name: 'reboot', seconds: (Date.now() - t2) / 1000, ok: again.ok });
    }
  }
  stop();
  await vm;
  res.ok = phases.every((p) => p.ok) && res.checks.length > 0 && res.checks.every((c) => c.ok);
  return res;
}

export function renderTest(r: TestResult): string {
  const lines = [
    ...r.phases.map(
      (p) =>
        `phase ${p.name.padEnd(11)} ${p.seconds.toFixed(0).padStart(5)}s ${p.ok ? 'ok' : 'FAILED'}${p.detail ? ` (${p.detail})` : ''}`,
    ),
    ...r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.name}${c.detail ? ` — ${c.detail}` : ''}`),
    ...Object.entries(r.roleSeconds ?? {}).map(
      ([role, s]) => `role ${role.padEnd(12)} ${String(s).padStart(5)}s on first boot`,
    ),
    `logs: ${r.logs.join(' ')}`,
    r.ok ? 'RESULT: PASS' : 'RESULT: FAIL',
  ];
  return lines.join('\n');
}
