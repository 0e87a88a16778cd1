import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { Typist } from './typist.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** Guests hang under KVM on this kind of host: TCG with both cores is the measured-good setup. */
export const QEMU_BASE = [
  '-accel',
  'tcg,thread=multi',
  '-smp',
  '2',
  '-cpu',
  'max',
  '-machine',
  'q35',
  '-display',
  'none',
  '-monitor',
  'none',
];

/** Dead ends that never recover: stop at once instead of waiting for the timeout. */
export const FAIL_PATTERNS = [
  /Kernel panic/,
  /\(initramfs\) $/m,
  /You are in emergency mode/,
  /Give root password for maintenance/,
  /UEFI Interactive Shell/,
  /KLDLOAD-INSTALL-FAIL[^\n]*\n/,
];

/**
 * A guest kernel killed by the emulator, not by anything it ran: an int3 trap in kernel text (ring 0,
 * `RIP: 0010:`) is the kernel's own live-patching breakpoint (text_poke_bp: jump labels, static
 * calls) reaching a vCPU after the patch was complete, a cross-modifying-code race of QEMU's
 * multi-threaded TCG. Nothing kldload installs puts int3 into kernel text (kprobes are not used; a
 * BUG() is `invalid opcode`). Seen once in a cold CI run on 2026-11-30 (kmem_cache_free, reboot check).
 */
export function emulatorFault(serial: string): string | undefined {
  const m = /Oops: int3: \w+ \[#\d+\][^\n]*\n(?:[^\n]*\n){0,12}?[^\n]*RIP: 0010:(\S+)/.exec(serial);
  return m ? `kernel int3 at ${m[1]} (QEMU TCG cross-modifying code)` : undefined;
}

/** qemu-img's arguments for a qcow2 overlay at `path` on `base` (writes go to the overlay only). */
export function overlayArgs(base: string, path: string): string[] {
  return ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', path];
}

export function ovmfArgs(varsCopy: string): string[] {
  if (!existsSync(varsCopy)) copyFileSync(OVMF_VARS, varsCopy);
  return [
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${varsCopy}`,
  ];
}

export interface VmOutcome {
  /** How the run ended: guest exited QEMU, a watched pattern, or the time limit. */
  end: 'exit' | 'fail-pattern' | 'timeout' | 'stopped';
  exitCode: number;
  seconds: number;
  pattern?: string;
  /** The run died of the emulator (see emulatorFault), not of the guest's software. */
  emulatorFault?: string;
  serialLog: string;
}

/**
 * A prompt on the serial console and what to type at it (a line, Enter added). `reply` is asked each
 * time the prompt shows; undefined types nothing. The typed text never reaches the serial log.
 */
export interface SerialPrompt {
  pattern: RegExp;
  reply: () => string | undefined;
}

export interface VmRun {
  args: string[];
  serialLog: string;
  timeoutSec: number;
  failPatterns?: RegExp[];
  /** Resolves when the caller wants the VM stopped (checks done). */
  stopWhen?: Promise<unknown>;
  onLine?: (line: string) => void;
  prompts?: SerialPrompt[];
}

/**
 * Runs QEMU with the serial console on stdio, writes a timestamped serial log, and ends the run on a
 * failure pattern (checked on partial lines too: prompts carry no newline), a time limit, or demand.
 */
export async function runVm(exec: Executor, v: VmRun): Promise<VmOutcome> {
  writeFileSync(v.serialLog, '');
  const t0 = Date.now();
  const ac = new AbortController();
  let end: VmOutcome['end'] = 'exit';
  let pattern: string | undefined;
  let window = '';
  const timer = setTimeout(() => {
    end = 'timeout';
    ac.abort();
  }, v.timeoutSec * 1000);
  v.stopWhen?.then(() => {
    if (end === 'exit') end = 'stopped';
    ac.abort();
  });
  const patterns = v.failPatterns ?? FAIL_PATTERNS;
  // The serial console's input: QEMU's stdin (stdio chardev).
  const keys = v.prompts?.length ? new PassThrough() : undefined;
  const stamp = () => ((Date.now() - t0) / 1000).toFixed(2).padStart(8);
  const typist = new Typist(
    (text) => keys?.write(text),
    (what) => appendFileSync(v.serialLog, `${stamp()} [harness: ${what}]\n`),
  );
  const r = await exec.run(
    ['qemu-system-x86_64', ...v.args, '-chardev', 'stdio,id=s0,signal=off', '-serial', 'chardev:s0'],
    {
      check: false,
      signal: ac.signal,
      ...(keys ? { stdin: keys } : {}),
      onChunk: (chunk) => {
        typist.output();
        window = (window + chunk.replace(/\r/g, '')).slice(-4096);
        for (const p of patterns) {
          const m = p.exec(window);
          if (m && end === 'exit') {
            end = 'fail-pattern';
            pattern = m[0].trim();
            ac.abort();
          }
        }
        for (const p of v.prompts ?? []) {
          const m = p.pattern.exec(window);
          if (!m || end !== 'exit') continue;
          // Answered once: what follows the prompt is a fresh window.
          window = '';
          const reply = p.reply();
          if (reply !== undefined) typist.prompted(reply);
          appendFileSync(
            v.serialLog,
            `${((Date.now() - t0) / 1000).toFixed(2).padStart(8)} [harness: ${reply === undefined ? 'nothing typed' : 'a line typed'} at "${m[0].trim()}"]\n`,
          );
        }
      },
      onLine: (line) => {
        appendFileSync(
          v.serialLog,
          `${((Date.now() - t0) / 1000).toFixed(2).padStart(8)} ${line.replace(/\r/g, '')}\n`,
        );
        v.onLine?.(line);
      },
    },
  );
  clearTimeout(timer);
  typist.cancel();
  keys?.end();
  // `end` is set in callbacks: TypeScript's narrowing does not see that, hence the widening cast.
  // A run the caller stopped was fine; any other end may have been the emulator's doing.
  const fault =
    (end as VmOutcome['end']) === 'stopped' ? undefined : emulatorFault(readFileSync(v.serialLog, 'utf8'));
  return {
    end,
    exitCode: r.exitCode,
    seconds: (Date.now() - t0) / 1000,
    ...(pattern ? { pattern } : {}),
    ...(fault ? { emulatorFault: fault } : {}),
    serialLog: v.serialLog,
  };
}

/** A free TCP port on 127.0.0.1 for a user-mode network forward. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() =>
        a && typeof a === 'object' ? resolve(a.port) : reject(new KldloadError('no free port')),
      );
    });
  });
}
