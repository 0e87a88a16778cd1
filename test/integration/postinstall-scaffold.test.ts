/** `kldload postinstall new`: what it writes passes check (real bash -n and shellcheck). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { check, formatFinding } from '../../src/postinstall/check.ts';
import { parseHeader, readRoles } from '../../src/postinstall/roles.ts';
import { newRole } from '../../src/postinstall/scaffold.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kl-pi-new-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a payload built with `new` runs in the intended order and passes check with no findings', async () => {
  const dir = join(tmp, 'payload');
  const base = newRole(dir, 'base-hardening', { shared: true, provides: ['hardening'] });
  const docker = newRole(dir, 'docker', { requires: ['zfs'] });
  const web = newRole(dir, 'web', {
    requires: ['docker', 'hardening'],
    description: 'nginx in docker',
  });
  const verify = newRole(dir, 'verification', { requires: ['hardening'], provides: [] });
  assert.deepEqual(
    [base.file, docker.file, web.file, verify.file],
    ['00-base-hardening.sh', '10-docker.sh', '20-web.sh', '90-verification.sh'],
  );
  assert.equal(base.rolesDir, join(dir, 'roles'));
  assert.equal(statSync(web.path).mode & 0o777, 0o755);

  const text = readFileSync(web.path, 'utf8');
  assert.match(text, /^#!\/bin\/bash\n# 20-web\.sh — nginx in docker\n/);
  assert.match(text, /^source "\$\{KLDLOAD_POSTINSTALL_LIB:-\/usr\/lib\/kldload\/postinstall\/lib\.sh\}"$/m);
  assert.match(text, /^kl_strict$/m);
  assert.match(text, /^kl_phase "verify"$/m);
  const h = parseHeader(text);
  assert.deepEqual(
    h.get('requires')?.map((w) => w.word),
    ['docker', 'hardening'],
  );
  assert.deepEqual(
    h.get('provides')?.map((w) => w.word),
    ['web'],
  );
  assert.equal(readRoles(join(dir, 'roles')).roles.find((r) => r.name === 'base-hardening')?.shared, true);

  // With the built-in map a web- host selects only `web`, so its docker requirement is unmet …
  const before = await check(dir);
  assert.deepEqual(
    before.map((f) => `${f.file}:${f.line} ${f.code}`),
    ['roles/20-web.sh:3 requires'],
  );
  // … until roles/map selects docker for those hosts too.
  writeFileSync(join(dir, 'roles', 'map'), 'web-  web docker\n');
  const findings = await check(dir);
  assert.deepEqual(findings, [], findings.map(formatFinding).join('\n'));
});
