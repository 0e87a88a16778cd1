import { InvalidArgumentError } from 'commander';

/** Handlers return data; the CLI decides how to print it (human text or --json). */
export interface CommandResult {
  exitCode: number;
  json: unknown;
  text: string;
  /** Lines for stderr in text mode (with --json they are part of `json`). */
  warnings?: string[];
  /**
   * The text is the command's report (a status, a test result), not an error message: it goes to
   * stdout whatever the exit code, which then only says what the report found.
   */
  report?: boolean;
}

/**
 * Prints a result and exits. JSON goes to stdout whatever the outcome (scripts parse it); text
 * goes to stdout on success and to stderr on failure, so a failure is never silent and never
 * mixed into output a script captures. A failure without text still says that it failed.
 */
export function emit(r: CommandResult, asJson: boolean): never {
  if (!asJson) for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (asJson) process.stdout.write(`${JSON.stringify(r.json, null, 2)}\n`);
  else {
    const text = r.text || (r.exitCode !== 0 ? `kldload: failed (exit ${r.exitCode})` : '');
    const out = r.exitCode === 0 || r.report ? process.stdout : process.stderr;
    if (text) out.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  process.exit(r.exitCode);
}

/** The result of a command that threw: the message (and a KldloadError's details) as a failure. */
export function errorResult(
  e: unknown,
  exitCode: number,
  details: Record<string, unknown> = {},
): CommandResult {
  const message = e instanceof Error ? e.message : String(e);
  return { exitCode, json: { ok: false, error: message, ...details }, text: `kldload: ${message}` };
}

/** commander option parser that accepts only the listed values. */
export function choice(allowed: readonly string[]) {
  return (v: string) => {
    if (!allowed.includes(v)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return v;
  };
}

/** commander option parser for a whole number in [min, max]. */
export function intIn(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}
