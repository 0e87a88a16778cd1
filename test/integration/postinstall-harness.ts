/**
 * What the postinstall framework's tests share: lib.sh and dispatch.sh run with the host's bash, in a
 * fresh folder each, with stub commands on PATH that record their arguments. Importing it clears
 * KLDLOAD_* from the environment and points the cache at a throw-away folder.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEnvText } from '../../src/answers/parse.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

export const PAYLOAD = fileURLToPath(new URL('../../payload/target/postinstall/', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/postinstall/', import.meta.url));
export const LIB = join(PAYLOAD, 'lib.sh');
export const DISPATCH = join(PAYLOAD, 'dispatch.sh');
export const exec = new SystemExecutor();

// Nothing from the environment of whoever runs the tests may steer the scripts.
for (const k of Object.keys(process.env)) if (k.startsWith('KLDLOAD_')) delete process.env[k];
// assemblePayload writes into the cache: a throw-away one (test/unit/cache.ts).
useThrowAwayCache();

export const root = mkdtempSync(join(tmpdir(), 'kl-pi-lib-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
export const freshDir = (tag: string) => {
  const d = join(root, `${tag}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** Environment pointing every state path into DIR. */
export function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KLDLOAD_STATE_DIR: join(dir, 'state'),
    KLDLOAD_LOG: join(dir, 'postinstall.log'),
    KLDLOAD_MANIFEST: join(dir, 'no-manifest.env'),
    KLDLOAD_POSTINSTALL_LIB: LIB,
    ...extra,
  };
}

export const PRELUDE = 'source "$KLDLOAD_POSTINSTALL_LIB"\nkl_strict\n';

/** Runs SCRIPT (line 1 = first line of SCRIPT) as a file with bash. */
export async function bash(script: string, extra: Record<string, string> = {}, dir = freshDir('sh')) {
  const file = join(dir, 'role.sh');
  writeFileSync(file, script);
  const r = await exec.run(['bash', file], { env: envFor(dir, extra), check: false, cwd: dir });
  return { ...r, file, dir, state: join(dir, 'state') };
}

/** An env file (the failure record) read by the one codec; a line it refuses fails the test. */
export function kv(text: string): Record<string, string> {
  const { entries, errors } = parseEnvText(text);
  assert.deepEqual(errors, [], text);
  return Object.fromEntries([...entries].map(([k, e]) => [k, e.value]));
}

export const failureOf = (state: string) => kv(readFileSync(join(state, 'postinstall-failure'), 'utf8'));

/** A folder of stub commands; each appends `name args…` to $STUB_LOG and runs BODY. */
export function stubs(defs: Record<string, string>): { PATH: string; STUB_LOG: string; dir: string } {
  const dir = freshDir('bin');
  for (const [name, body] of Object.entries(defs)) {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/bash\nprintf '%s\\n' "${name} $*" >>"$STUB_LOG"\n${body}\n`);
    chmodSync(p, 0o755);
  }
  return { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, STUB_LOG: join(dir, 'calls.log'), dir };
}

export const calls = (s: { STUB_LOG: string }) =>
  existsSync(s.STUB_LOG) ? readFileSync(s.STUB_LOG, 'utf8').trimEnd().split('\n') : [];
