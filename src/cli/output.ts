import { InvalidArgumentError } from 'commander';

/** Handlers return data; the CLI decides how to print it (human text or --json). */
export interface CommandResult {
  exitCode: number;
  json: unknown;
  text: string;
  /** Lines for stderr in text mode (with --json they are part of `json`). */
  warnings?: string[];
}

export function emit(r: CommandResult, asJson: boolean): never {
  if (!asJson) for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (asJson) process.stdout.write(`${JSON.stringify(r.json, null, 2)}\n`);
  else if (r.text) process.stdout.write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
  process.exit(r.exitCode);
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
