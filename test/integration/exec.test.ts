/**
 * The one subprocess layer (src/core/exec.ts) against real processes: what every caller relies on —
 * stdout whole (its last newline kept), stdout and stderr interleaved in `all`, lines and raw chunks
 * as they come, input and streamed stdin, extra fds, env and cwd, and how a failure, a command that
 * does not exist, a timeout and an abort end (exit code, signal, a message that says which).
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { CommandError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';

const exec = new SystemExecutor();
const dir = mkdtempSync(join(tmpdir(), 'kl-exec-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sh = (script: string) => ['sh', '-c', script];

test('stdout is kept whole, its last newline too; all interleaves stderr in arrival order', async () => {
  const r = await exec.run(sh('printf "a\\n\\nb\\n"; sleep 0.1; echo err >&2; sleep 0.1; printf "tail"'));
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'a\n\nb\ntail');
  assert.equal(r.all, 'a\n\nb\nerr\ntail');
  assert.equal((await exec.run(['echo', 'x'])).stdout, 'x\n');
  assert.equal(r.signal, undefined);
});

test('lines and raw chunks reach their callbacks as they come (a prompt without newline too)', async () => {
  const lines: string[] = [];
  const chunks: string[] = [];
  await exec.run(sh('echo one; printf "two\\r\\n"; printf "Password: "; sleep 0.2; echo'), {
    onLine: (l) => lines.push(l),
    onChunk: (c) => chunks.push(c),
  });
  assert.deepEqual(lines, ['one', 'two', 'Password: ']);
  assert.ok(chunks.join('').includes('Password: '));
  assert.ok(chunks.length >= 2, `chunks: ${JSON.stringify(chunks)}`);
});

test('input and a streamed stdin reach the command; env is added to the inherited one; cwd', async () => {
  assert.equal((await exec.run(['cat'], { input: 'secret\nline2' })).stdout, 'secret\nline2');
  const keys = new PassThrough();
  const p = exec.run(['head', '-n', '2'], { stdin: keys });
  keys.write('k1\n');
  setTimeout(() => keys.write('k2\nk3\n'), 100);
  assert.equal((await p).stdout, 'k1\nk2\n');
  const r = await exec.run(sh('test -n "$PATH" && echo "$KL_T_ONE path $(pwd)"'), {
    env: { KL_T_ONE: '1' },
    cwd: dir,
  });
  assert.equal(r.stdout, `1 path ${dir}\n`);
});

test('an input the command does not read is no error (EPIPE)', async () => {
  const r = await exec.run(['true'], { input: 'x'.repeat(1 << 20) });
  assert.equal(r.exitCode, 0);
});

test('fds: an open descriptor of this process is fd 3 in the command', async () => {
  const f = join(dir, 'fd3');
  const fd = openSync(f, 'w');
  try {
    await exec.run(sh('echo via-fd3 >&3'), { fds: [fd] });
  } finally {
    closeSync(fd);
  }
  assert.equal((await exec.run(['cat', f])).stdout, 'via-fd3\n');
});

test('a failure throws CommandError with the exit code and the output; check:false returns it', async () => {
  await assert.rejects(exec.run(sh('echo out; echo bad >&2; exit 3')), (e: unknown) => {
    assert.ok(e instanceof CommandError);
    assert.equal(e.code, 3);
    assert.match(e.message, /out\nbad/);
    return true;
  });
  const r = await exec.run(sh('echo partial; exit 4'), { check: false });
  assert.deepEqual([r.exitCode, r.stdout], [4, 'partial\n']);
});

test('a command that does not exist: 255 and a message naming it', async () => {
  const r = await exec.run(['kl-no-such-command'], { check: false });
  assert.equal(r.exitCode, 255);
  await assert.rejects(
    exec.run(['kl-no-such-command']),
    /kl-no-such-command.*ENOENT|ENOENT.*kl-no-such-command/,
  );
});

test('a timeout ends the command (SIGTERM) and says it timed out', async () => {
  const t0 = Date.now();
  const r = await exec.run(['sleep', '30'], { timeoutMs: 300, check: false });
  assert.ok(Date.now() - t0 < 10_000);
  assert.deepEqual([r.exitCode, r.signal], [255, 'SIGTERM']);
  await assert.rejects(exec.run(['sleep', '30'], { timeoutMs: 300 }), /timed out/);
});

test('a command that ignores SIGTERM is killed after the grace period', async () => {
  const t0 = Date.now();
  const r = await exec.run(sh('trap "" TERM; while :; do sleep 0.1; done'), { timeoutMs: 200, check: false });
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  assert.equal(r.signal, 'SIGKILL');
});

test('an abort ends the command; an already aborted signal does not run it long', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await exec.run(['sleep', '30'], { signal: ac.signal, check: false });
  assert.deepEqual([r.exitCode, r.signal], [255, 'SIGTERM']);
  const t0 = Date.now();
  await exec.run(['sleep', '30'], { signal: AbortSignal.abort(), check: false });
  assert.ok(Date.now() - t0 < 10_000);
});

test('many runs with one long-lived signal leave no listener behind', async () => {
  const ac = new AbortController();
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarn);
  for (let i = 0; i < 30; i++) await exec.run(['true'], { signal: ac.signal });
  await new Promise((r) => setTimeout(r, 50));
  process.off('warning', onWarn);
  assert.deepEqual(warnings, []);
});
