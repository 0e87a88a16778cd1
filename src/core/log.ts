import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Line logger shared by build, installer and VM harness. Every line passes through redaction first,
 * so a secret registered once (a password, a passphrase) can never reach a log file or the console.
 */
export class Logger {
  private readonly secrets = new Set<string>();
  private readonly t0 = Date.now();

  private dirReady = false;

  constructor(
    private readonly opts: { file?: string; echo?: (line: string) => void; quiet?: boolean } = {},
  ) {}

  get file(): string | undefined {
    return this.opts.file;
  }

  addSecret(value: string | undefined): void {
    if (value && value.length >= 3) this.secrets.add(value);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('<redacted>');
    return out;
  }

  /** Seconds since the logger started, for phase timings. */
  elapsed(): number {
    return (Date.now() - this.t0) / 1000;
  }

  info(msg: string): void {
    this.write(msg, true);
  }

  /** Detail lines (command output): always in the file, on the console only when verbose. */
  detail(msg: string, echo = false): void {
    this.write(msg, echo);
  }

  private write(msg: string, echo: boolean): void {
    const clean = this.redact(msg);
    const stamp = new Date().toISOString();
    if (this.opts.file) {
      // Created on first write, so a command refused before doing anything leaves no trace.
      if (!this.dirReady) mkdirSync(dirname(this.opts.file), { recursive: true });
      this.dirReady = true;
      const lines = clean.split('\n').map((l) => `${stamp} ${l}`);
      appendFileSync(this.opts.file, `${lines.join('\n')}\n`);
    }
    if (echo && !this.opts.quiet) (this.opts.echo ?? ((l: string) => process.stderr.write(`${l}\n`)))(clean);
  }
}

/** Prints "label: still running (Ns)" every `everySec` while `work` runs: long steps never go silent. */
export async function withHeartbeat<T>(
  log: Logger,
  label: string,
  work: Promise<T>,
  everySec = 30,
): Promise<T> {
  const t0 = Date.now();
  const timer = setInterval(
    () => log.info(`${label}: still running (${((Date.now() - t0) / 1000).toFixed(0)}s)`),
    everySec * 1000,
  );
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
