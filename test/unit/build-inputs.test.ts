import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// Real CLI (the bundle), real bash and shellcheck: bad build inputs are refused before any work.
function build(args: string[]) {
  const cache = mkdtempSync(join(tmpdir(), 'kl-cache-'));
  const r = spawnSync('node', ['dist/kldload.mjs', 'build', ...args, '-o', join(cache, 'x.iso'), '--json'], {
    encoding: 'utf8',
    env: { ...process.env, KLDLOAD_CACHE: cache },
  });
  return { code: r.status, json: JSON.parse(r.stdout || '{}') as { ok?: boolean; error?: string }, cache };
}

test('a payload whose postinstaller does not parse is refused (exit 2) and nothing is built', () => {
  const r = build(['--payload', 'test/fixtures/postinstall/bad-syntax']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /postinstaller has errors[\s\S]*:\d+: error:/);
  assert.equal(spawnSync('ls', [join(r.cache, 'layers')]).status, 2, 'a layer was built');
});

test('invalid embedded answers are refused with file:line', () => {
  const r = build(['--answers', 'test/fixtures/answers/bad/03-hostname-underscore.env']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /03-hostname-underscore\.env:\d+: KLDLOAD_HOSTNAME: /);
});

test('an unknown profile is refused by the option parser', () => {
  const r = spawnSync('node', ['dist/kldload.mjs', 'build', '--profile', 'gaming'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /must be one of core, server, desktop/);
});

test('--dry-run checks the inputs like a build and leaves no lock, log or layer behind', () => {
  const r = build(['--dry-run', '--answers', 'test/fixtures/answers/bad/03-hostname-underscore.env']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /03-hostname-underscore\.env:\d+: KLDLOAD_HOSTNAME: /);
  assert.deepEqual(readdirSync(r.cache), []);
});
