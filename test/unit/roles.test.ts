import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assemblePayload, availableRoles, rolePackages, rolesDir } from '../../src/build/roles.ts';
import { safeRemove } from '../../src/core/fs.ts';
import { check } from '../../src/postinstall/check.ts';

test('the role library ships web and postgres, each with a package list', () => {
  const roles = availableRoles();
  for (const r of ['web', 'postgres']) {
    assert.ok(roles.includes(r), `${r} missing from ${rolesDir()}`);
    assert.ok(existsSync(join(rolesDir(), r, 'packages.list')));
  }
  assert.deepEqual(
    rolePackages(['web', 'postgres']).map((p) => p.name),
    ['nginx', 'nftables', 'postgresql'],
  );
  assert.match(rolePackages(['web'])[0]?.from ?? '', /^roles\/web\/packages\.list:\d+$/);
});

test('every library role passes kldload postinstall check (bash -n, shellcheck, order)', async () => {
  const dir = assemblePayload(undefined, availableRoles());
  assert.ok(dir);
  try {
    const findings = await check(dir);
    assert.deepEqual(
      findings.filter((f) => f.level !== 'info'),
      [],
    );
  } finally {
    safeRemove(dir);
  }
});

test('roles join the user payload in order, with the dispatcher as postinstall.sh', () => {
  const dir = assemblePayload('test/vm/payload', ['postgres', 'web']);
  assert.ok(dir);
  try {
    assert.deepEqual(readdirSync(join(dir, 'roles')).sort(), ['05-record.sh', '20-web.sh', '30-postgres.sh']);
    assert.equal(
      readFileSync(join(dir, 'postinstall.sh'), 'utf8'),
      readFileSync('payload/target/postinstall/dispatch.sh', 'utf8'),
    );
  } finally {
    safeRemove(dir);
  }
  assert.equal(
    assemblePayload('test/vm/payload', []),
    'test/vm/payload',
    'no roles: the folder is used as it is',
  );
});

test('an unknown role is refused, naming the ones that exist', () => {
  assert.throws(() => rolePackages(['webserverz']), /--role webserverz: no such role; available: .*web/);
});

test('--image: tarballs go to images/ in the payload; anything else is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-img-'));
  const tar = join(dir, 'app.tar');
  execFileSync('tar', ['-cf', tar, '-C', 'test/vm/payload', '.']);
  const payload = assemblePayload(undefined, [], [tar]);
  assert.ok(payload);
  try {
    assert.deepEqual(readdirSync(join(payload, 'images')), ['app.tar']);
  } finally {
    safeRemove(payload);
  }
  writeFileSync(join(dir, 'notatar.tar'), 'hello');
  assert.throws(() => assemblePayload(undefined, [], [join(dir, 'notatar.tar')]), /not a tar archive/);
  assert.throws(() => assemblePayload(undefined, [], [join(dir, 'missing.tar')]), /no such file/);
});
