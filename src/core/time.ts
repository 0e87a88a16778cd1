/** A compact UTC timestamp for names (snapshots, log files, work folders): 20261122T031800Z. */
export function utcStamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Waits `ms`; an abort ends the wait early and is not an error (the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal?.aborted) return done();
    const t = setTimeout(finish, ms);
    function finish() {
      clearTimeout(t);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}

export interface RetryOptions {
  attempts: number;
  /** The wait after failed attempt `i` (0-based) before the next one. */
  delayMs: (i: number) => number;
  /** The error when every attempt failed, made from the last one's. */
  giveUp: (last: unknown) => Error;
  /** An error trying again cannot help is thrown at once (default: every error is retried). */
  retryable?: (e: unknown) => boolean;
  /** Tests pass a fake (default: sleep). */
  wait?: (ms: number) => Promise<void>;
}

/** Runs `fn` until it succeeds, at most `attempts` times, waiting `delayMs(i)` after failure i. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const wait = o.wait ?? sleep;
  let last: unknown;
  for (let i = 0; i < o.attempts; i++) {
    try {
      return await fn(i);
    } catch (e) {
      if (o.retryable && !o.retryable(e)) throw e;
      last = e;
      if (i < o.attempts - 1) await wait(o.delayMs(i));
    }
  }
  throw o.giveUp(last);
}
