/**
 * Role settings at first boot, with real bash: the postinstaller gets the settings and secrets as
 * environment, the logs do not (the rest: test/unit/role-settings.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { runFirstboot } from '../../src/firstboot/firstboot.ts';
import { sandboxPaths } from '../unit/firstboot-sandbox.ts';

const work = mkdtempSync(join(tmpdir(), 'kl-settings-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TOKEN = 'glrt-S3cr3tT0kenValue';

test('first boot: the postinstaller gets the settings and secrets as environment; logs do not', async () => {
  const d = join(work, 'fb');
  mkdirSync(join(d, 'darksite'), { recursive: true });
  mkdirSync(join(d, 'etc'));
  const p = sandboxPaths(d);
  writeFileSync(p.manifest, 'KLDLOAD_HOSTNAME=ci-01\n');
  writeFileSync(p.roleSettings, "KLDLOAD_MONITORING_ALLOW='10.0.0.0/8,192.168.1.0/24'\n");
  writeFileSync(p.roleSecrets, `KLDLOAD_CI_TOKEN=${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(
    p.script,
    '#!/bin/bash\necho "allow=$KLDLOAD_MONITORING_ALLOW"\n[[ "$KLDLOAD_CI_TOKEN" == glrt-* ]] && echo "token: present"\n',
  );
  const s = await runFirstboot(new SystemExecutor(), { again: false }, p);
  assert.equal(s.status, 'ok');
  const log = readFileSync(p.postinstallLog, 'utf8') + readFileSync(p.firstbootLog, 'utf8');
  assert.match(log, /allow=10\.0\.0\.0\/8,192\.168\.1\.0\/24/);
  assert.match(log, /token: present/);
  assert.ok(!log.includes(TOKEN));
  assert.ok(!JSON.stringify(s).includes(TOKEN));
});
