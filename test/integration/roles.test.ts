/** The role library with real tools: bash -n and shellcheck on every role, tar, the real trixie index. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { safeRemove } from '../../src/core/fs.ts';
import { resolveProfile } from '../../src/darksite/resolve.ts';
import { resolverIndex } from '../../src/darksite/resolve-index.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { assemblePayload, availableRoles, rolePackages } from '../../src/image/role-library.ts';
import { check } from '../../src/postinstall/check.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

// assemblePayload and the index go to a throw-away cache (test/unit/cache.ts).
useThrowAwayCache({ downloads: true });

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

test(
  'real trixie index: every role package list resolves, for the server and the core profile',
  { timeout: 300_000 },
  async () => {
    const ri = resolverIndex(await loadSuiteIndex(new SystemExecutor(), hostMirror(), 'trixie'));
    for (const profile of ['server', 'core']) {
      const r = resolveProfile(
        ri,
        profile,
        rolePackages(availableRoles()).map((p) => p.name),
      );
      assert.deepEqual(
        r.errors.map((e) => `${e.message} (${e.chain.join(' ← ')})`),
        [],
        profile,
      );
    }
  },
);
