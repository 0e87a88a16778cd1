import type { Readable } from 'node:stream';
import spawn, { type SubprocessError } from 'nano-spawn';
import { CommandError } from './errors.ts';
import type { Logger } from './log.ts';

export interface RunOptions {
  /** Data for stdin. Marked secret so it is never logged or shown in a plan. */
  input?: string;
  secretInput?: boolean;
  /** stdin fed while the command runs (typing at a VM's serial console); never logged. */
  stdin?: Readable;
  env?: Record<string, string>;
  cwd?: string;
  /** false: return a non-zero result instead of throwing. */
  check?: boolean;
  /** Called with each output line as it arrives (progress for long steps). */
  onLine?: (line: string) => void;
  /** Called with raw output chunks, before line splitting (prompts without a newline). */
  onChunk?: (chunk: string) => void;
  timeoutMs?: number;
  /** Abort kills the process (SIGTERM); the result then carries a non-zero exit code. */
  signal?: AbortSignal;
  /** Open file descriptors of this process the command gets as fd 3, 4, … (e.g. `flock 3`). */
  fds?: number[];
  /** The caller logged the command already (applyPlan's plan line, which shows more): not twice. */
  logged?: boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  /** stdout and stderr interleaved, as a person would have seen it. */
  all: string;
  /** The signal that killed the command (exitCode is then 255), e.g. SIGINT from Ctrl-C. */
  signal?: string;
}

/** The one subprocess port. Real commands go through `SystemExecutor`; unit tests use a recorder. */
export interface Executor {
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
}

/** After a timeout or an abort's SIGTERM, a command still running gets SIGKILL this much later. */
const KILL_AFTER_MS = 5000;

export class SystemExecutor implements Executor {
  constructor(private readonly log?: Logger) {}

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error('empty command');
    if (!opts.logged) this.log?.detail(`$ ${argv.join(' ')}${opts.input !== undefined ? ' <<stdin' : ''}`);
    // A timeout is an abort of its own, so both end the same way (SIGTERM, then SIGKILL).
    const timeout = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
    const signals = [opts.signal, timeout].filter((s): s is AbortSignal => !!s);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    // nano-spawn runs without a shell (no quoting bugs, no injection from answers values) and
    // loads in a fraction of execa's time: seconds in a TCG guest, where every k* tool starts.
    const proc = spawn(cmd, args, {
      stdio: [
        opts.input !== undefined ? { string: opts.input } : 'pipe',
        'pipe',
        'pipe',
        ...(opts.fds ?? []),
      ],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(signal ? { signal, killSignal: 'SIGTERM' as const } : {}),
    });
    let stdout = '';
    const lines: string[] = [];
    let buf = '';
    const onLine = (line: string) => {
      lines.push(line);
      this.log?.detail(`  ${line}`);
      opts.onLine?.(line);
    };
    const onData = (chunk: string) => {
      opts.onChunk?.(chunk);
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        onLine(buf.slice(0, nl).replace(/\r$/, ''));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    };
    let killer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    /** The process's own end: nano-spawn settles at an abort already, before the process is gone. */
    let ended: Promise<{ code: number | null; sig: NodeJS.Signals | null }> | undefined;
    try {
      // Resolves once the process runs, before any of its output is read (nano-spawn's own
      // listeners are on already; these see the same chunks, as utf8 strings).
      const child = await proc.nodeChildProcess;
      ended = new Promise((resolve) => child.once('close', (code, sig) => resolve({ code, sig })));
      child.stdout?.on('data', (c: string) => {
        stdout += c;
        onData(c);
      });
      child.stderr?.on('data', onData);
      child.stdin?.on('error', () => {}); // EPIPE: the command exited without reading all of it
      if (opts.stdin && child.stdin) opts.stdin.pipe(child.stdin);
      onAbort = () => {
        killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
        killer.unref();
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    } catch {
      // It did not start: the awaited result below says why.
    }
    let failure: SubprocessError | undefined;
    try {
      await proc;
    } catch (e) {
      failure = e as SubprocessError;
    }
    const end = ended ? await ended : undefined;
    clearTimeout(killer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    const exitCode = end ? (end.code ?? 255) : 255;
    const killedBy = end?.sig ?? undefined;
    const why = !end
      ? `${failure?.message ?? 'failed to start'}${failure?.cause instanceof Error ? ` (${failure.cause.message})` : ''}`
      : killedBy
        ? `${timeout?.aborted ? `timed out after ${opts.timeoutMs} ms` : opts.signal?.aborted ? 'canceled' : 'killed'} (${killedBy}): ${argv.join(' ')}`
        : undefined;
    if (buf) onLine(buf);
    const result: RunResult = {
      exitCode,
      stdout,
      all: lines.join('\n'),
      ...(killedBy ? { signal: killedBy } : {}),
    };
    if (exitCode !== 0 && opts.check !== false) {
      const msg = why ?? result.all;
      throw new CommandError(argv, exitCode, this.log ? this.log.redact(msg) : msg);
    }
    return result;
  }
}

/** Records the command plan instead of running it; answers from a script of canned results. */
export class RecordingExecutor implements Executor {
  readonly calls: { argv: string[]; input?: string }[] = [];
  constructor(
    private readonly respond: (argv: string[]) => Partial<RunResult> | undefined = () => undefined,
  ) {}

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    const r = { exitCode: 0, stdout: '', all: '', ...this.respond(argv) };
    if (r.exitCode !== 0 && opts.check !== false) throw new CommandError(argv, r.exitCode, r.all);
    return r;
  }
}
