import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';

/**
 * The one install a web installer runs, read back from the installer's own log: the same
 * `==> [i/n] step` lines and KLDLOAD-INSTALL-OK/FAIL markers an unattended install writes. Where an
 * install began in that log is kept in a record file, so a server that restarted mid-install (or
 * after it) attaches to it again instead of offering a second one.
 */
export type JobState = 'idle' | 'running' | 'ok' | 'failed';

export interface JobStep {
  index: number;
  of: number;
  name: string;
  title: string;
  seconds?: number;
}

/** Who the install is for: what the page tells the person at the end (never a secret). */
export interface JobWho {
  user: string;
  host: string;
}

export interface JobSnapshot {
  state: JobState;
  steps: JobStep[];
  /** The step that failed (KLDLOAD-INSTALL-FAIL step=…). */
  failedStep?: string;
  who?: JobWho;
  lines: string[];
}

export type JobEvent =
  | { type: 'line'; line: string }
  | { type: 'state'; snapshot: Omit<JobSnapshot, 'lines'> };

/**
 * Starts the install of an answers file; resolves when it ended, with the launcher's exit code and,
 * when it failed, what it said (shown on the page: the install may have died before its log began).
 */
export type Launcher = (answersPath: string) => Promise<{ exitCode: number; output?: string }>;

/** Where an install began (its log offset) and for whom: JSON in the record file. */
interface JobRecord {
  offset: number;
  who?: JobWho;
}

const STEP = /^==> \[(\d+)\/(\d+)\] ([\w-]+): (.*)$/;
const DONE = /^ {4}([\w-]+) done in ([\d.]+)s$/;
const FAIL = /KLDLOAD-INSTALL-FAIL step=([\w-]+)/;
/** The installer's log lines start with their ISO time (core/log.ts); the page shows the rest. */
const STAMP = /^\d{4}-\d\d-\d\dT[\d:.]+Z /;
/** Kept for a page that attaches late: the whole log of an install is a few thousand lines. */
const MAX_LINES = 5000;

export class InstallJob {
  private state: JobState = 'idle';
  private steps: JobStep[] = [];
  private failedStep: string | undefined;
  private who: JobWho | undefined;
  private lines: string[] = [];
  private offset = 0;
  /** Bytes after the last newline: a line (or a character) the installer has not finished writing. */
  private partial = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  /** The launcher of the newest install is still running (the unit outlives the OK line: poweroff). */
  private launched = false;
  private run = 0;
  private readonly listeners = new Set<(e: JobEvent) => void>();

  constructor(
    private readonly logFile: string,
    private readonly launch: Launcher,
    private readonly o: { pollMs?: number; recordFile?: string } = {},
  ) {}

  snapshot(): JobSnapshot {
    return { ...this.status(), lines: [...this.lines] };
  }

  subscribe(fn: (e: JobEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** An install runs, or the one that ended has not let go of the machine yet. */
  get running(): boolean {
    return this.state === 'running' || this.launched;
  }

  /** Starts an install; refused (false) while one runs. A failed or finished one may be followed by another. */
  start(answersPath: string, who?: JobWho): boolean {
    if (this.running) return false;
    // Only what this install writes: the log already holds the boot's own lines.
    const offset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    if (this.o.recordFile)
      writeFileSync(this.o.recordFile, JSON.stringify({ offset, ...(who ? { who } : {}) }), { mode: 0o600 });
    this.follow(offset, who, this.launch(answersPath));
    return true;
  }

  /**
   * A restarted server: the install its record names, followed from where it began; `ended` resolves
   * when that install's unit is no longer running. No record: nothing to attach to (false).
   */
  resume(ended: Promise<{ exitCode: number; output?: string }>): boolean {
    const file = this.o.recordFile;
    if (!file || !existsSync(file)) return false;
    const rec = JSON.parse(readFileSync(file, 'utf8')) as JobRecord;
    this.follow(rec.offset, rec.who, ended);
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private follow(
    offset: number,
    who: JobWho | undefined,
    ended: Promise<{ exitCode: number; output?: string }>,
  ) {
    this.offset = offset;
    this.partial = Buffer.alloc(0);
    this.lines = [];
    this.steps = [];
    this.failedStep = undefined;
    this.who = who;
    this.setState('running');
    this.timer = setInterval(() => this.poll(), this.o.pollMs ?? 250);
    this.launched = true;
    const run = ++this.run;
    // Each launcher's end belongs to its own install only.
    ended.then(
      (r) => run === this.run && this.ended(r.exitCode, r.output),
      (e: unknown) => run === this.run && this.ended(-1, e instanceof Error ? e.message : String(e)),
    );
  }

  private status(): Omit<JobSnapshot, 'lines'> {
    return {
      state: this.state,
      steps: this.steps.map((s) => ({ ...s })),
      ...(this.failedStep ? { failedStep: this.failedStep } : {}),
      ...(this.who ? { who: this.who } : {}),
    };
  }

  private emit(e: JobEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  private setState(s: JobState): void {
    this.state = s;
    this.emit({ type: 'state', snapshot: this.status() });
  }

  private ended(code: number, output?: string): void {
    this.launched = false;
    this.poll();
    // The installer's last line, if it ended without a newline.
    if (this.partial.length) this.line(this.partial.toString('utf8'));
    this.partial = Buffer.alloc(0);
    this.stop();
    if (this.state !== 'running') return;
    // The launcher ended without the installer's verdict: a crash, a kill, a unit that never ran.
    // What it said is shown as it is, never read for step or verdict lines.
    for (const l of (output ?? '').split('\n').filter(Boolean)) this.plain(l);
    this.plain(`the install ended without a result (exit ${code})`);
    this.failedStep = this.steps.at(-1)?.name ?? 'setup';
    this.setState('failed');
  }

  private poll(): void {
    try {
      if (!existsSync(this.logFile)) return;
      const size = statSync(this.logFile).size;
      // A log that shrank was replaced: read the new one from its start.
      if (size < this.offset) this.offset = 0;
      if (size === this.offset) return;
      const fd = openSync(this.logFile, 'r');
      const buf = Buffer.alloc(size - this.offset);
      try {
        readSync(fd, buf, 0, buf.length, this.offset);
      } finally {
        closeSync(fd);
      }
      this.offset = size;
      // Split on newline bytes before decoding: a character written in two pieces stays whole.
      let data = Buffer.concat([this.partial, buf]);
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
        this.line(data.subarray(0, nl).toString('utf8'));
        data = data.subarray(nl + 1);
      }
      this.partial = Buffer.from(data);
    } catch (e) {
      // A log that vanished between two reads is read again at the next tick; nothing else is lost.
      this.plain(`reading ${this.logFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private plain(l: string): void {
    this.lines.push(l);
    if (this.lines.length > MAX_LINES) this.lines.shift();
    this.emit({ type: 'line', line: l });
  }

  private line(raw: string): void {
    const l = raw.replace(STAMP, '');
    this.plain(l);
    const step = STEP.exec(l);
    if (step) {
      this.steps.push({
        index: Number(step[1]),
        of: Number(step[2]),
        name: step[3] ?? '',
        title: step[4] ?? '',
      });
      this.emit({ type: 'state', snapshot: this.status() });
      return;
    }
    const done = DONE.exec(l);
    if (done) {
      const s = this.steps.find((x) => x.name === done[1]);
      if (s) s.seconds = Number(done[2]);
      this.emit({ type: 'state', snapshot: this.status() });
      return;
    }
    if (/KLDLOAD-INSTALL-OK/.test(l) && this.state === 'running') this.setState('ok');
    const fail = FAIL.exec(l);
    if (fail && this.state === 'running') {
      this.failedStep = fail[1];
      this.setState('failed');
    }
  }
}
