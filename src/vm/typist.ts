/**
 * Typing a reply at a serial-console prompt the way a person does: not the instant the prompt
 * shows. A reader that prints its prompt and only then turns echo off with TCSAFLUSH (zfs load-key)
 * drops input that arrived in between — and the tty echoed it, so a passphrase landed in the serial
 * log and the boot waited forever (CI cold run 2026-12-01 17:23, the encrypted mirror's reboot).
 * So: type after a pause; if the machine then stays silent for a long time, the line was dropped:
 * type it again (a few times at most).
 */
export const TYPE_DELAY_MS = 2000;
/** Longer than a right passphrase's key derivation under TCG takes before the boot speaks again. */
export const RETYPE_AFTER_SILENCE_MS = 120_000;
export const MAX_RETYPES = 2;

export class Typist {
  private pending: NodeJS.Timeout | undefined;
  private silence: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly note: (what: string) => void,
    private readonly o = { delayMs: TYPE_DELAY_MS, silenceMs: RETYPE_AFTER_SILENCE_MS, retypes: MAX_RETYPES },
  ) {}

  /** The prompt showed: type `reply` once the pause is over. */
  prompted(reply: string): void {
    this.cancel();
    this.pending = setTimeout(() => this.type(reply, 0), this.o.delayMs);
  }

  /** The machine said something: a line typed before this was taken. */
  output(): void {
    if (this.silence) clearTimeout(this.silence);
    this.silence = undefined;
  }

  cancel(): void {
    if (this.pending) clearTimeout(this.pending);
    this.output();
    this.pending = undefined;
  }

  private type(reply: string, again: number): void {
    this.pending = undefined;
    this.write(`${reply}\n`);
    if (again) this.note(`typed again after ${this.o.silenceMs / 1000}s of silence`);
    if (again < this.o.retypes)
      this.silence = setTimeout(() => this.type(reply, again + 1), this.o.silenceMs);
  }
}
