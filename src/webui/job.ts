import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

/**
 * The one install a web installer runs, read back from the installer's own log: the same
 * `==> [i/n] step` lines and KLDLOAD-INSTALL-OK/FAIL markers an unattended install writes. The log
 * is the source of truth, so a reloaded page (or a restarted server) sees what the install did.
 */
export type JobState = 'idle' | 'running' | 'ok' | 'failed';

export interface JobStep {
  index: number;
  of: number;
  name: string;
  title: string;
  seconds?: number;
}

export interface JobSnapshot {
  state: JobState;
  steps: JobStep[];
  /** The step that failed (KLDLOAD-INSTALL-FAIL step=…). */
  failedStep?: string;
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

const STEP = /^==> \[(\d+)\/(\d+)\] ([\w-]+): (.*)$/;
const DONE = /^ {4}([\w-]+) done in ([\d.]+)s$/;
const FAIL = /KLDLOAD-INSTALL-FAIL step=([\w-]+)/;
/** Kept for a page that attaches late: the whole log of an install is a few thousand lines. */
const MAX_LINES = 5000;

export class InstallJob {
  private state: JobState = 'idle';
  private steps: JobStep[] = [];
  private failedStep: string | undefined;
  private lines: string[] = [];
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  /** The launcher of the newest install is still running (the unit outlives the OK line: poweroff). */
  private launched = false;
  private run = 0;
  private readonly listeners = new Set<(e: JobEvent) => void>();

  constructor(
    private readonly logFile: string,
    private readonly launch: Launcher,
    private readonly pollMs = 250,
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
  start(answersPath: string): boolean {
    if (this.running) return false;
    // Only what this install writes: the log already holds the boot's own lines.
    this.offset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    this.partial = '';
    this.lines = [];
    this.steps = [];
    this.failedStep = undefined;
    this.setState('running');
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.launched = true;
    const run = ++this.run;
    // Each launcher's end belongs to its own install only.
    this.launch(answersPath).then(
      (r) => run === this.run && this.ended(r.exitCode, r.output),
      (e: unknown) => run === this.run && this.ended(-1, e instanceof Error ? e.message : String(e)),
    );
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private status(): Omit<JobSnapshot, 'lines'> {
    return {
      state: this.state,
      steps: this.steps.map((s) => ({ ...s })),
      ...(this.failedStep ? { failedStep: this.failedStep } : {}),
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
    this.stop();
    if (this.state !== 'running') return;
    // The launcher ended without the installer's verdict: a crash, a kill, a unit that never ran.
    for (const l of (output ?? '').split('\n').filter(Boolean)) this.line(l);
    this.line(`the install ended without a result (exit ${code})`);
    this.failedStep = this.steps.at(-1)?.name ?? 'setup';
    this.setState('failed');
  }

  private poll(): void {
    if (!existsSync(this.logFile)) return;
    const size = statSync(this.logFile).size;
    if (size <= this.offset) return;
    const fd = openSync(this.logFile, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const l of parts) this.line(l);
    } finally {
      closeSync(fd);
    }
  }

  private line(raw: string): void {
    // The installer's log lines start with their ISO time (core/log.ts); the page shows the rest.
    const l = raw.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, '');
    this.lines.push(l);
    if (this.lines.length > MAX_LINES) this.lines.shift();
    this.emit({ type: 'line', line: l });
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
