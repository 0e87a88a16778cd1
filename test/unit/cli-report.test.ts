/**
 * A report (firstboot status, kldload test) is the command's output: stdout even when its exit code
 * says it found a failure. An error message goes to stderr. Found by the power-cut VM test, whose
 * `kldload firstboot status` of a failed first boot printed nothing on stdout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

function emitted(result: string) {
  const code = `import { emit } from './src/cli/output.ts'; emit(${result}, false);`;
  return spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
}

test('a failing report goes to stdout with its exit code; an error goes to stderr', () => {
  const report = emitted(`{ exitCode: 1, json: {}, text: 'failed: postinstall.sh line 3', report: true }`);
  assert.equal(report.status, 1);
  assert.equal(report.stdout, 'failed: postinstall.sh line 3\n');
  assert.equal(report.stderr, '');
  const error = emitted(`{ exitCode: 2, json: {}, text: 'kldload: bad input' }`);
  assert.equal(error.status, 2);
  assert.equal(error.stdout, '');
  assert.equal(error.stderr, 'kldload: bad input\n');
});
