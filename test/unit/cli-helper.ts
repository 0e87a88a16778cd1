/**
 * The one way tests run the real CLI as a child process: the bundle (`dist/kldload.mjs`, built by
 * scripts/test.sh before the tests) or the sources through tsx. Every run gets a throw-away
 * KLDLOAD_CACHE unless the test names one, so no test reads or fills ~/.cache/kldload; the VM tests'
 * `vmCli` names the cache scripts/test.sh set for them, so their layers are built once per run.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { cacheDir } from '../../src/core/paths.ts';
import { throwAwayCache } from './cache.ts';

export interface CliOptions {
  /** `bundle` (default): node dist/kldload.mjs; `tsx`: node --import tsx src/cli/main.ts. */
  via?: 'bundle' | 'tsx';
  /** KLDLOAD_CACHE for the run; default a fresh empty folder (returned as `cache`). */
  cache?: string;
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Milliseconds; default 60 s; 0: none. */
  timeout?: number;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The KLDLOAD_CACHE the run had. */
  cache: string;
}

function argv(args: string[], via: CliOptions['via']): string[] {
  return via === 'tsx' ? ['--import', 'tsx', 'src/cli/main.ts', ...args] : ['dist/kldload.mjs', ...args];
}

function env(o: CliOptions, cache: string): NodeJS.ProcessEnv {
  return { ...process.env, ...o.env, KLDLOAD_CACHE: cache };
}

/** Runs `kldload ARGS…` to the end. */
export function cli(args: string[], o: CliOptions = {}): CliResult {
  const cache = o.cache ?? throwAwayCache();
  const r = spawnSync(process.execPath, argv(args, o.via), {
    encoding: 'utf8',
    timeout: o.timeout === 0 ? undefined : (o.timeout ?? 60_000),
    // A build's or a VM test's --json report outgrows the 1 MiB default.
    maxBuffer: 64 << 20,
    env: env(o, cache),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, cache };
}

/**
 * `kldload ARGS…` as the VM tests run it: in the cache the test command named (KLDLOAD_CACHE, set by
 * scripts/test.sh to a cache of its own), with no time limit (a build or an install takes minutes).
 */
export function vmCli(args: string[], o: CliOptions = {}): CliResult {
  return cli(args, { cache: cacheDir(), timeout: 0, ...o });
}

/** `kldload ARGS… --json`, its stdout parsed (`{}` when empty). */
export function cliJson<T = { ok?: boolean; error?: string }>(
  args: string[],
  o: CliOptions = {},
): CliResult & { json: T } {
  const r = cli([...args, '--json'], o);
  return { ...r, json: JSON.parse(r.stdout || '{}') as T };
}

/** Starts `kldload ARGS…` in the background (a server); the caller stops it. */
export function cliSpawn(args: string[], o: CliOptions = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, argv(args, o.via), {
    stdio: 'pipe',
    env: env(o, o.cache ?? throwAwayCache()),
  });
}

/** Rebuilds dist/kldload.mjs from this tree (for a test file run on its own after an edit). */
export function rebuildBundle(): { code: number | null; stderr: string } {
  const b = spawnSync(process.execPath, ['scripts/bundle.mjs'], { encoding: 'utf8', timeout: 60_000 });
  return { code: b.status, stderr: b.stderr };
}
