import type { Readable } from 'node:stream';
import { execa } from 'execa';
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

export class SystemExecutor implements Executor {
  constructor(private readonly log?: Logger) {}

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error('empty command');
    this.log?.detail(`$ ${argv.join(' ')}${opts.input !== undefined ? ' <<stdin' : ''}`);
    // execa runs without a shell: no quoting bugs, no injection from answers values.
    const proc = execa(cmd, args, {
      input: opts.input ?? opts.stdin,
      env: opts.env,
      extendEnv: true,
      cwd: opts.cwd,
      reject: false,
      all: true,
      stripFinalNewline: false,
      timeout: opts.timeoutMs,
      lines: false,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      // execa types a numeric stdio entry as 0-9 only; node (and execa at run time) take any open fd.
      ...(opts.fds?.length
        ? { stdio: ['pipe', 'pipe', 'pipe', ...opts.fds] as unknown as ['pipe', 'pipe', 'pipe'] }
        : {}),
    });
    const lines: string[] = [];
    if (proc.all) {
      let buf = '';
      proc.all.setEncoding('utf8');
      proc.all.on('data', (chunk: string) => {
        opts.onChunk?.(chunk);
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          lines.push(line);
          this.log?.detail(`  ${line}`);
          opts.onLine?.(line);
          nl = buf.indexOf('\n');
        }
      });
      proc.all.on('end', () => {
        if (buf) {
          lines.push(buf);
          this.log?.detail(`  ${buf}`);
          opts.onLine?.(buf);
        }
      });
    }
    const r = await proc;
    const exitCode = r.exitCode ?? (r.failed ? 255 : 0);
    const result: RunResult = {
      exitCode,
      stdout: String(r.stdout ?? ''),
      all: lines.join('\n'),
      ...(r.signal ? { signal: r.signal } : {}),
    };
    if (exitCode !== 0 && opts.check !== false) {
      const msg = r.exitCode === undefined ? `${r.shortMessage ?? 'failed to start'}` : result.all;
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
