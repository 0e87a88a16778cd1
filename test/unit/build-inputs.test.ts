import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { cli, cliJson } from './cli-helper.ts';

// Real CLI (the bundle): bad build inputs are refused before any work (a payload that fails bash -n:
// test/integration/build-inputs.test.ts).
function build(args: string[]) {
  const r = cliJson(['build', ...args]);
  return { code: r.code, json: r.json, cache: r.cache };
}

test('invalid embedded answers are refused with file:line', () => {
  const r = build(['--answers', 'test/fixtures/answers/bad/03-hostname-underscore.env']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /03-hostname-underscore\.env:\d+: KLDLOAD_HOSTNAME: /);
});

test('an unknown profile is refused by the option parser', () => {
  const r = cli(['build', '--profile', 'gaming']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /must be one of core, server, desktop/);
});

test('--dry-run checks the inputs like a build and leaves no lock, log or layer behind', () => {
  const r = build(['--dry-run', '--answers', 'test/fixtures/answers/bad/03-hostname-underscore.env']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /03-hostname-underscore\.env:\d+: KLDLOAD_HOSTNAME: /);
  assert.deepEqual(readdirSync(r.cache), []);
});
