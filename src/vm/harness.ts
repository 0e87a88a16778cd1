import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEnvText } from '../answers/parse.ts';
import { TOPOLOGY_DISKS, validateAnswersText } from '../answers/validate.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { MEDIUM } from '../layout.ts';
import { AnyImageInfoSchema } from '../layout-image.ts';
import { type CheckResult, evaluate, GUEST_REPORT, parseReport, roleSeconds } from './checks.ts';
import { type Drive, targetDisk, targetSerial } from './drives.ts';
import { type InstallOutcome, installPhase } from './install-phase.ts';
import {
  evaluateLayout,
  LAYOUT_REPORT,
  type LayoutExpect,
  notInClear,
  passphraseCheck,
  WRONG_PASSPHRASE,
} from './layout-checks.ts';
import { BootError, type BootRecord, Machine, renderBoots } from './machine.ts';
import { freePort, overlayArgs } from './qemu.ts';
import { type InstallTimes, installTimes, renderLiveBoot } from './serial-times.ts';
import { type IsoImage, overrideAnswers, testAnswers } from './test-answers.ts';

/**
 * `kldload test`: the whole proof and its report. The install phase: install-phase.ts; the answers
 * it installs with: test-answers.ts; the machine it boots: machine.ts.
 */

export interface TestOptions {
  iso: string;
  workDir: string;
  /** A user answers file; the harness sets KLDLOAD_SSH_PUBKEY, and KLDLOAD_DISK unless the file leaves it empty. */
  answers?: string;
  installTimeoutSec: number;
  bootTimeoutSec: number;
  /** Also reboot once and prove the first-boot script did not run again. */
  reboot: boolean;
  /** Guest memory in MiB for the boots of the installed disk (roles like docker + prometheus want more). */
  memoryMiB?: number;
  /**
   * Another way to install the disks than the seed volume (the web installer's browser test): gets
   * the answers the checks expect and the blank disks; the checks of the installed disk are the same.
   */
  install?: (a: {
    answers: string;
    answersFile: string;
    disks: string[];
    workDir: string;
  }) => Promise<InstallOutcome>;
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
  /** Every start of the installed disk, with how long each reboot took. */
  boots?: BootRecord[];
  /** The live system's boot and the installer's steps, from the install's serial log. */
  install?: InstallTimes;
}

/** The image facts the ISO carries (kldload/image.json), read with xorriso without mounting. */
async function isoImageInfo(exec: Executor, iso: string, work: string): Promise<IsoImage | undefined> {
  const out = join(work, 'image.json');
  const r = await exec.run(
    ['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', `/${MEDIUM.image}`, out],
    {
      check: false,
    },
  );
  return r.exitCode === 0 && existsSync(out)
    ? AnyImageInfoSchema.parse(JSON.parse(readFileSync(out, 'utf8')))
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

  // The ISO's own description says what it carries: the test answers ask only for that.
  const image = await isoImageInfo(exec, o.iso, W);
  // A golden image's copy does not run first boot: it is what the roles made on the original.
  const golden = image?.golden;
  const roles = golden ? golden.roles : (image?.roles ?? []);

  // Answers: the user's (validated) or the built-in test answers, pointed at the test disk.
  const key = join(W, 'id_ed25519');
  if (!existsSync(key))
    await exec.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'kldload-test', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  const base = o.answers ? readFileSync(o.answers, 'utf8') : testAnswers(image);
  const raw = (k: string) => parseEnvText(base).entries.get(k)?.value ?? '';
  // The pool's disks: as many as the topology takes (or the file lists), attached with serials so
  // the answers name them /dev/disk/by-id/virtio-kltarget, …kltarget2, … as on real hardware.
  const topology = (raw('KLDLOAD_ZFS_TOPOLOGY') || 'single') as LayoutExpect['topology'];
  const need = TOPOLOGY_DISKS[topology] ?? 1;
  const n =
    topology === 'single'
      ? 1
      : Math.max(need, raw('KLDLOAD_ZFS_DATA_DISKS').split(/\s+/).filter(Boolean).length);
  const names = Array.from({ length: n }, (_, i) => targetDisk(i));
  // A user file that leaves KLDLOAD_DISK empty keeps it so: the installer's own pick is under test
  // (the guest has one eligible disk). A disk the file names is one of its own machine: replaced.
  const pick = o.answers !== undefined && n === 1 && !raw('KLDLOAD_DISK');
  const text = overrideAnswers(base, {
    ...(pick ? {} : { KLDLOAD_DISK: names[0] as string }),
    ...(n > 1 ? { KLDLOAD_ZFS_DATA_DISKS: names.join(' ') } : {}),
    KLDLOAD_SSH_PUBKEY: pub,
  });
  if (pick) log.info('KLDLOAD_DISK is empty in the answers: the installer picks the disk');
  const v = validateAnswersText(text, o.answers ?? 'test answers');
  if (!v.ok) throw new KldloadError(v.errors.map((e) => e.text).join('\n'), EXIT.badInput);
  const a = v.answers;
  if (a.KLDLOAD_PASSWORD === undefined)
    throw new KldloadError(
      'kldload test needs KLDLOAD_PASSWORD in the answers (checks run through sudo)',
      EXIT.badInput,
    );
  log.addSecret(a.KLDLOAD_PASSWORD);
  const passphrase = a.KLDLOAD_ZFS_ENCRYPT ? a.KLDLOAD_ZFS_PASSPHRASE : undefined;
  if (passphrase) log.addSecret(passphrase);
  writeFileSync(join(W, 'answers.env'), text, { mode: 0o600 });

  const disks = names.map((_, i) => join(W, `target${i ? i + 1 : ''}.qcow2`));
  for (const d of disks) await exec.run(['qemu-img', 'create', '-q', '-f', 'qcow2', d, '16G']);
  const inst = o.install
    ? await o.install({ answers: text, answersFile: join(W, 'answers.env'), disks, workDir: W })
    : await installPhase(exec, log, {
        iso: o.iso,
        workDir: W,
        answersFile: join(W, 'answers.env'),
        disk: disks[0] as string,
        extraDisks: disks.slice(1),
        timeoutSec: o.installTimeoutSec,
      });
  res.logs.push(inst.serialLog);
  phases.push({ name: 'install', seconds: inst.seconds, ok: inst.ok, detail: inst.detail });
  if (existsSync(inst.serialLog)) {
    res.install = installTimes(readFileSync(inst.serialLog, 'utf8'));
    if (res.install.liveBoot) log.info(renderLiveBoot(res.install.liveBoot));
  }
  if (!inst.ok) return res;

  // Phase 2: the installed disk alone (fresh NVRAM: proves the fallback loader path), SSH forwarded.
  const drives: Drive[] = [];
  for (const [i, d] of disks.entries()) {
    const file = join(W, `boot${i ? i + 1 : ''}.qcow2`);
    await exec.run(['qemu-img', ...overlayArgs(d, file)]);
    drives.push({ file, serial: targetSerial(i) });
  }
  const webPort = roles.includes('web') ? await freePort() : undefined;
  const password = a.KLDLOAD_PASSWORD;
  const m = await Machine.start(
    exec,
    {
      disk: drives[0]?.file as string,
      drives,
      ...(passphrase ? { passphrase } : {}),
      workDir: W,
      name: 'boot',
      key,
      user: a.KLDLOAD_USERNAME,
      password,
      memoryMiB: o.memoryMiB ?? 2048,
      cache: 'unsafe',
      ...(webPort ? { webPort } : {}),
      log,
    },
    'first boot',
  );
  res.boots = m.boots;
  // An encrypted pool: the first prompt gets a wrong passphrase, which must be refused and asked again.
  if (passphrase) m.typeFirst.push(WRONG_PASSPHRASE);
  try {
    const t0 = Date.now();
    // mustBeUp: a boot the emulator killed is started again once (and listed in the boots).
    const up = await m.mustBeUp(o.bootTimeoutSec).then(
      () => true,
      (e: unknown) => {
        if (!(e instanceof BootError)) throw e;
        return false;
      },
    );
    phases.push({
      name: 'first-boot',
      seconds: (Date.now() - t0) / 1000,
      ok: up,
      detail: up ? 'ssh reachable' : `no ssh (${m.current.serialLog})`,
    });
    if (!up) return res;
    // Every start so far (an emulator-fault retry answers its own prompt with the right one).
    if (passphrase)
      res.checks.push(passphraseCheck(m.boots.map((b) => readFileSync(b.serialLog, 'utf8')).join('\n')));
    const layout: LayoutExpect = {
      topology,
      disks: n,
      encrypted: !!passphrase,
      // Named by-id when the answers named the disks (the harness did); a disk the installer picked
      // is named the way the kernel calls it.
      byId: !pick && names.every((d) => d.startsWith('/dev/disk/by-id/')),
    };
    const expect = {
      pool: a.KLDLOAD_POOL_NAME,
      secrets: [a.KLDLOAD_PASSWORD, a.KLDLOAD_ROOT_PASSWORD ?? '', passphrase ?? ''].filter(Boolean),
      postinstallRuns: golden ? 0 : 1,
      extra: a.KLDLOAD_EXTRA_PACKAGES ?? [],
      // Their verification ran on the original; the copy's own checks are the web page and the rest.
      roles: golden ? [] : roles,
      images: image?.images ?? [],
    };
    /** Waits for the end of boot (first-boot service included), then reads the guest's report. */
    const report = async (name: string) => {
      await m.settled(o.bootTimeoutSec);
      const rep = await m.root(GUEST_REPORT + LAYOUT_REPORT, {
        POOL: a.KLDLOAD_POOL_NAME,
        EXTRA: `'${expect.extra.join(' ')}'`,
      });
      writeFileSync(join(W, `report-${name}.txt`), rep.stdout);
      return parseReport(rep.stdout);
    };
    const t1 = Date.now();
    const first = await report('boot1');
    res.checks.push(
      ...evaluate(first, expect),
      ...evaluateLayout((k) => first.get(k) ?? '', a.KLDLOAD_POOL_NAME, layout),
    );
    res.roleSeconds = roleSeconds(first);
    if (webPort) res.checks.push(await webCheck(webPort));
    phases.push({ name: 'checks', seconds: (Date.now() - t1) / 1000, ok: res.checks.every((c) => c.ok) });
    if (o.reboot) {
      const t2 = Date.now();
      const name = 'reboot: first-boot did not run again';
      let again: CheckResult;
      try {
        await m.reboot('reboot check', { upSec: o.bootTimeoutSec });
        const c = evaluate(await report('boot2'), expect);
        const runs = c.find((x) => x.name.startsWith('postinstall'));
        const failed = c.find((x) => x.name.startsWith('systemctl --failed'));
        again = { name, ok: !!runs?.ok && !!failed?.ok, detail: `${runs?.detail}; failed=${failed?.detail}` };
      } catch (e) {
        if (!(e instanceof BootError)) throw e;
        again = { name, ok: false, detail: e.message };
      }
      res.checks.push(again);
      phases.push({ name: 'reboot', seconds: (Date.now() - t2) / 1000, ok: again.ok });
    }
  } finally {
    await m.stop();
    res.logs.push(...m.boots.map((b) => b.serialLog));
  }
  if (passphrase)
    res.checks.push(
      await notInClear(exec, W, passphrase, [...disks, ...drives.map((d) => d.file), ...res.logs]),
    );
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
    ...renderBoots(r.boots ?? []),
    `logs: ${r.logs.join(' ')}`,
    r.ok ? 'RESULT: PASS' : 'RESULT: FAIL',
  ];
  return lines.join('\n');
}
