import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/**
 * Runs `kldload test ISO` as a user would and requires every check to pass, the reboot check
 * included (a second QEMU start on the same disk, timed). Returns its stdout.
 */
export function kldloadTestPasses(iso: string, workDir: string, args: string[] = []): string {
  const r = spawnSync('node', ['dist/kldload.mjs', 'test', iso, ...args, '--workdir', workDir], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  process.stdout.write(r.stdout);
  assert.equal(r.status, 0, `kldload test failed:\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /RESULT: PASS/);
  assert.doesNotMatch(r.stdout, /^FAIL /m);
  assert.match(r.stdout, /^boot \d+ \(reboot check(, again after an emulator fault)?\): ssh after \d+s/m);
  return r.stdout;
}
