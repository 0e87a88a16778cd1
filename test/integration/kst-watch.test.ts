/**
 * kst --watch as a real process: Ctrl-C ends it with the last verdict. `timeout -s INT` (and a
 * terminal) can deliver SIGINT twice — to the process and to its process group — and the second
 * must not kill it (seen in a guest as exit 130, 2026-11-30 20:5x). On this host zpool and systemd
 * are missing: kst reports them unread, so its verdict is 1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';

test('kst --watch 1: two SIGINTs in a row end it with the last verdict, not killed by the second', async () => {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'st', '--watch', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.setEncoding('utf8');
  const drawn = new Promise<void>((r) =>
    p.stdout.on('data', (c: string) => {
      out += c;
      if (out.includes('Ctrl-C to stop')) r();
    }),
  );
  await drawn;
  const exited = once(p, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  p.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 30));
  p.kill('SIGINT');
  const [code, signal] = await exited;
  assert.equal(signal, null, 'killed by the second SIGINT');
  assert.equal(code, 1, `exit ${code}: the verdict of the last refresh (unread zpool, systemd) is 1`);
});
