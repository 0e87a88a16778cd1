import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliJson } from '../unit/cli-helper.ts';

// Real CLI (the bundle), real bash and shellcheck: a bad payload is refused before any work.
function build(args: string[]) {
  const r = cliJson(['build', ...args]);
  return { code: r.code, json: r.json, cache: r.cache };
}

test('a payload whose postinstaller does not parse is refused (exit 2) and nothing is built', () => {
  const r = build(['--payload', 'test/fixtures/postinstall/bad-syntax']);
  assert.equal(r.code, 2);
  assert.match(r.json.error ?? '', /postinstaller has errors[\s\S]*:\d+: error:/);
  assert.equal(existsSync(join(r.cache, 'layers')), false, 'a layer was built');
});
