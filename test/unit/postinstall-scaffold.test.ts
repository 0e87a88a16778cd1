/** `kldload postinstall new`: numbering, headers, refusals (that what it writes passes check:
 * test/integration/postinstall-scaffold.test.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { postinstallCommand } from '../../src/cli/commands/postinstall.ts';
import type { CommandResult } from '../../src/cli/output.ts';
import { KldloadError } from '../../src/core/errors.ts';
import { parseHeader } from '../../src/postinstall/roles.ts';
import { newRole, nextRoleNumber } from '../../src/postinstall/scaffold.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kl-pi-new-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('next free number: 00-09 shared, 10 up in tens for host roles, 90 for verification', () => {
  assert.equal(nextRoleNumber([], {}), 10);
  assert.equal(nextRoleNumber([0, 1], {}), 10);
  assert.equal(nextRoleNumber([0, 10, 20, 90], {}), 30);
  assert.equal(nextRoleNumber([0, 10, 40, 40, 90], {}), 50);
  assert.equal(nextRoleNumber([10, 80, 90], {}), 81);
  assert.equal(nextRoleNumber([], { shared: true }), 0);
  assert.equal(nextRoleNumber([0, 1, 10], { shared: true }), 2);
  assert.equal(nextRoleNumber([10], { name: 'verification' }), 90);
  assert.throws(() => nextRoleNumber([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], { shared: true }), KldloadError);
});

test('given a roles folder, `new` writes into it', () => {
  const dir = join(tmp, 'direct', 'roles');
  const r = newRole(dir, 'app');
  assert.equal(r.path, join(dir, '10-app.sh'));
});

test('refuses a bad name, a duplicate role, bad header words and an existing file', () => {
  const dir = join(tmp, 'refuse');
  newRole(dir, 'app');
  for (const [name, opts] of [
    ['App', {}],
    ['10-app', {}],
    ['app', {}],
    ['other', { requires: ['a,b'] }],
    ['other', { number: 10.5 }],
    ['app2', { number: 10 }],
  ] as const) {
    if (name === 'app2') {
      // Same NN as an existing role is allowed (40-web and 40-db is the seed's own layout) …
      assert.equal(newRole(dir, name, opts).file, '10-app2.sh');
      continue;
    }
    assert.throws(
      () => newRole(dir, name, opts),
      (e: unknown) => e instanceof KldloadError && e.exitCode === 2,
      `${name} ${JSON.stringify(opts)}`,
    );
  }
  // … but never overwriting a file.
  assert.throws(() => newRole(dir, 'app2', { number: 10 }), /already exists/);
});

test('CLI: postinstall new --role NAME DIR', async () => {
  const dir = join(tmp, 'cli');
  let result: Promise<CommandResult> | undefined;
  const program = new Command().exitOverride();
  postinstallCommand(program, (fn) => {
    result = fn();
  });
  await program.parseAsync([
    'node',
    'kldload',
    'postinstall',
    'new',
    '--role',
    'webserver',
    '--requires',
    'docker, hardening',
    dir,
  ]);
  const r = await result;
  assert.equal(r?.exitCode, 0);
  assert.equal(r?.text, `wrote ${join(dir, 'roles', '10-webserver.sh')}`);
  const h = parseHeader(readFileSync(join(dir, 'roles', '10-webserver.sh'), 'utf8'));
  assert.deepEqual(
    h.get('requires')?.map((w) => w.word),
    ['docker', 'hardening'],
  );
});
