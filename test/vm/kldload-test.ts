import assert from 'node:assert/strict';
import { vmCli } from '../unit/cli-helper.ts';

/**
 * Runs `kldload test ISO` as a user would and requires every check to pass, the reboot check
 * included (a second QEMU start on the same disk, timed). Returns its stdout.
 */
export function kldloadTestPasses(iso: string, workDir: string, args: string[] = []): string {
  const r = vmCli(['test', iso, ...args, '--workdir', workDir]);
  process.stdout.write(r.stdout);
  assert.equal(r.code, 0, `kldload test failed:\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /RESULT: PASS/);
  assert.doesNotMatch(r.stdout, /^FAIL /m);
  assert.match(r.stdout, /^boot \d+ \(reboot check(, again after an emulator fault)?\): ssh after \d+s/m);
  return r.stdout;
}

/** `kldload build --profile server -o ISO` (a plain server ISO, the VM tests' common base), which must succeed. */
export function buildPlainIso(iso: string): void {
  const b = vmCli(['build', '--profile', 'server', '-o', iso]);
  assert.equal(b.code, 0, `build failed: ${b.stderr.slice(-3000)}`);
}
