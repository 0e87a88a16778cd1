import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { type Action, type Plan, renderAction } from '../core/plan.ts';
import { type Host, systemHost } from '../live/blockdev.ts';
import { checkDiskSafe, checkUefi, checkZfsLoads, type DiskSafeArgs } from './checks.ts';
import { prependEarly, stripEarly } from './initrd.ts';

export interface ApplyResult {
  ok: boolean;
  steps: { name: string; seconds: number; ok: boolean }[];
  failed?: { step: string; action: string; error: string };
}

export interface ApplyOptions {
  root: string;
  /** Steps from which a failure triggers the plan's cleanup (nothing was written before them). */
  cleanupFrom: Set<string>;
  /** The machine the checks read (tests stand a fixture machine in); default the real one. */
  host?: Host;
  /** What the cleanup does, for the log (default: the installer's). */
  cleanupNote?: string;
}

/**
 * Progress of a long command for the console: its output split at \r and \n (qemu-img -p, dd and
 * zfs send -v redraw one line), at most one line every `everyMs`.
 */
export function progressPrinter(say: (line: string) => void, everyMs = 10_000): (chunk: string) => void {
  let last = 0;
  return (chunk) => {
    const line = chunk
      .split(/[\r\n]/)
      .map((l) => l.trim())
      .filter(Boolean)
      .pop();
    const now = Date.now();
    if (line && now - last >= everyMs) {
      last = now;
      say(`    … ${line}`);
    }
  };
}

type Say = (line: string) => void;

async function runAction(exec: Executor, a: Action, root: string, host: Host, say: Say): Promise<void> {
  switch (a.kind) {
    case 'run': {
      if (a.unless) {
        const probe = await exec.run(a.unless, { check: false });
        if (probe.exitCode === 0) return;
      }
      const argv = a.chroot ? ['chroot', root, ...a.argv] : a.argv;
      await exec.run(argv, {
        ...(a.input !== undefined ? { input: a.input, secretInput: !!a.secretInput } : {}),
        env: { DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8' },
        check: !a.mayFail,
        logged: true,
        ...(a.progress ? { onChunk: progressPrinter(say) } : {}),
      });
      return;
    }
    case 'pipe':
      if (a.unless && (await exec.run(a.unless, { check: false })).exitCode === 0) return;
      // bash's positional arguments carry both argv unquoted: $1 is the length of the first.
      await exec.run(
        [
          'bash',
          '-c',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own parameter expansion
          'set -o pipefail; "${@:2:$1}" | "${@:$(($1 + 2))}"',
          'pipe',
          String(a.from.length),
          ...a.from,
          ...a.to,
        ],
        {
          env: { LC_ALL: 'C.UTF-8' },
          logged: true,
          ...(a.progress ? { onChunk: progressPrinter(say) } : {}),
        },
      );
      return;
    case 'initrd-strip':
      stripEarly(a.initrd);
      return;
    case 'write':
      mkdirSync(dirname(a.path), { recursive: true });
      writeFileSync(a.path, a.content, { mode: a.mode ?? 0o644 });
      if (a.mode !== undefined) chmodSync(a.path, a.mode);
      return;
    case 'mkdir':
      mkdirSync(a.path, { recursive: true, ...(a.mode !== undefined ? { mode: a.mode } : {}) });
      if (a.mode !== undefined) chmodSync(a.path, a.mode);
      return;
    case 'copy':
      cpSync(a.from, a.to, { recursive: true, force: true, preserveTimestamps: true });
      return;
    case 'initrd-early':
      prependEarly(
        a.initrd,
        Object.fromEntries(Object.entries(a.files).map(([k, v]) => [k, readFileSync(v)])),
      );
      return;
    case 'check':
      if (a.check === 'disk-safe') return checkDiskSafe(host, a.args as unknown as DiskSafeArgs);
      if (a.check === 'zfs-loads') return checkZfsLoads(exec);
      if (a.check === 'uefi') return checkUefi(host);
  }
}

/** Runs a plan step by step, logging each; on failure names the step and command and cleans up. */
export async function applyPlan(
  exec: Executor,
  log: Logger,
  plan: Plan,
  o: ApplyOptions,
): Promise<ApplyResult> {
  const result: ApplyResult = { ok: true, steps: [] };
  const host = o.host ?? systemHost(exec);
  const say: Say = (line) => log.info(line);
  let writing = false;
  for (const [i, s] of plan.steps.entries()) {
    if (o.cleanupFrom.has(s.name)) writing = true;
    const t0 = Date.now();
    log.info(`==> [${i + 1}/${plan.steps.length}] ${s.name}: ${s.title}`);
    for (const a of s.actions) {
      const shown = renderAction(a, o.root);
      log.detail(shown.split('\n')[0] ?? '');
      try {
        await runAction(exec, a, o.root, host, say);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        result.ok = false;
        result.steps.push({ name: s.name, seconds: (Date.now() - t0) / 1000, ok: false });
        result.failed = {
          step: s.name,
          action: log.redact(shown.split('\n')[0] ?? ''),
          error: log.redact(msg),
        };
        log.info(`FAILED step ${s.name}: ${result.failed.action}\n${result.failed.error}`);
        if (log.file) log.info(`full log: ${log.file}`);
        if (writing && plan.cleanup.length) {
          log.info(
            `cleaning up: ${o.cleanupNote ?? 'unmount, destroy the half-made pool, clear the partition tables this run wrote'}`,
          );
          for (const c of plan.cleanup) await runAction(exec, c, o.root, host, say).catch(() => undefined);
        }
        return result;
      }
    }
    const secs = (Date.now() - t0) / 1000;
    result.steps.push({ name: s.name, seconds: secs, ok: true });
    log.info(`    ${s.name} done in ${secs.toFixed(1)}s`);
  }
  return result;
}

/** `what` names the command (install, kldload spray create web …): a day-2 failure is no install's. */
export function failureMessage(r: ApplyResult, what: string, logFile?: string): string {
  if (!r.failed) return '';
  return `${what} failed in step '${r.failed.step}'\n  command: ${r.failed.action}\n  ${r.failed.error.split('\n').join('\n  ')}${logFile ? `\n  log: ${logFile}` : ''}`;
}
