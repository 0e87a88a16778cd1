/** Exit codes are part of the CLI contract: scripts branch on them. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/** An error the user can act on: its message names the field/step and the fix. */
export class KldloadError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'KldloadError';
  }
}

/** A subprocess that exited non-zero; carries what a log reader needs to reproduce it. */
export class CommandError extends KldloadError {
  constructor(
    readonly argv: string[],
    readonly code: number,
    readonly output: string,
  ) {
    super(`command failed (exit ${code}): ${argv.join(' ')}\n${tail(output, 20)}`, EXIT.failed, {
      argv,
      code,
    });
    this.name = 'CommandError';
  }
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
