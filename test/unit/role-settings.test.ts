/**
 * Role settings: declared in role headers, carried by answers, checked at build and install, and
 * handed to first boot with the secrets in a root-only file that no plan, log or manifest shows.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FIELD_KEYS } from '../../src/answers/schema.ts';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { applyPlan } from '../../src/apply/apply.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { buildSettings } from '../../src/image/inputs.ts';
import { availableRoles, librarySettings, rolesDir } from '../../src/image/role-library.ts';
import { TARGET } from '../../src/layout.ts';
import { roleSettingsActions } from '../../src/plan/install.ts';
import { settingsFromHeader } from '../../src/postinstall/settings.ts';

const { roleSecrets: ROLE_SECRETS, roleSettings: ROLE_SETTINGS } = TARGET;

import { renderPlan } from '../../src/core/plan.ts';
import { check } from '../../src/postinstall/check.ts';
import { cli, rebuildBundle } from './cli-helper.ts';

const work = mkdtempSync(join(tmpdir(), 'kl-settings-'));
// The CLI cases run the bundle: build it from this tree first.
before(() => {
  const b = rebuildBundle();
  assert.equal(b.code, 0, b.stderr);
});
after(() => rmSync(work, { recursive: true, force: true }));

const BASE =
  'KLDLOAD_HOSTNAME=ci-01\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\nKLDLOAD_PASSWORD="correct horse"\n';
const TOKEN = 'glrt-S3cr3tT0kenValue';

/** KLDLOAD_* a role reads that are not its own settings: answers, and what the runner/dispatcher set. */
const RUNTIME = new Set([
  'KLDLOAD_POSTINSTALL_LIB',
  'KLDLOAD_DARKSITE',
  'KLDLOAD_STATE_DIR',
  'KLDLOAD_ROLE',
  'KLDLOAD_ROLE_FILE',
  'KLDLOAD_LOG',
]);

test('every library role declares each setting it reads, and reads each one it declares', () => {
  for (const role of availableRoles()) {
    const text = readFileSync(join(rolesDir(), role, 'role.sh'), 'utf8');
    const { settings, errors } = settingsFromHeader(role, text);
    assert.deepEqual(errors, [], role);
    const body = text.split('\n').filter((l) => !l.startsWith('#'));
    const read = new Set(body.join('\n').match(/KLDLOAD_[A-Z0-9_]+/g) ?? []);
    const declared = new Set(settings.map((s) => s.key));
    for (const k of read)
      if (!declared.has(k) && !RUNTIME.has(k))
        assert.ok((FIELD_KEYS as string[]).includes(k), `${role} reads ${k}: declare it with '# setting:'`);
    for (const k of declared) assert.ok(read.has(k), `${role} declares ${k} but never reads it`);
  }
  const secrets = librarySettings()
    .filter((s) => s.secret)
    .map((s) => s.key)
    .sort();
  assert.deepEqual(secrets, ['KLDLOAD_CI_TOKEN', 'KLDLOAD_XMPP_CF_TOKEN']);
});

test('a malformed setting line is an error naming its line', () => {
  const { settings, errors } = settingsFromHeader(
    'x',
    '#!/bin/bash\n# setting: KLDLOAD_A url\n# setting: KLDLOAD_B nope\n# setting: lower url\n# setting: KLDLOAD_C token hidden\n',
  );
  assert.deepEqual(
    settings.map((s) => s.key),
    ['KLDLOAD_A'],
  );
  assert.deepEqual(
    errors.map((e) => e.line),
    [3, 4, 5],
  );
  assert.match(errors[0]?.message ?? '', /check 'nope' is not one of url, token/);
});

test('kldload postinstall check reports a broken setting line as an error', async () => {
  const roles = join(work, 'check-payload', 'roles');
  mkdirSync(roles, { recursive: true });
  writeFileSync(
    join(roles, '10-app.sh'),
    '#!/bin/bash\n# provides: app\n# setting: KLDLOAD_APP_URL link\n# shellcheck source=/dev/null\nsource "$KLDLOAD_POSTINSTALL_LIB"\nkl_strict\necho "$KLDLOAD_APP_URL"\n',
  );
  const findings = await check(join(work, 'check-payload'));
  const header = findings.filter((f) => f.code === 'header');
  assert.deepEqual(
    header.map((f) => [f.level, f.line]),
    [['error', 3]],
  );
  assert.match(header[0]?.message ?? '', /KLDLOAD_APP_URL: check 'link' is not one of/);
});

test('answers carry the settings of the roles they are for; values are checked, secrets never shown', () => {
  const ci = librarySettings(['docker', 'ci-runner']);
  const ok = validateAnswersText(
    `${BASE}KLDLOAD_CI_URL=https://gitlab.example.com\nKLDLOAD_CI_TOKEN=${TOKEN}\n`,
    'a.env',
    {
      roleSettings: ci,
    },
  );
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.map((e) => e.text).join('\n'));
  assert.deepEqual(ok.settings, [
    { key: 'KLDLOAD_CI_URL', value: 'https://gitlab.example.com', secret: false, role: 'ci-runner' },
    { key: 'KLDLOAD_CI_TOKEN', value: TOKEN, secret: true, role: 'ci-runner' },
  ]);

  const bad = validateAnswersText(`${BASE}KLDLOAD_CI_TOKEN="${TOKEN} x"\n`, 'a.env', { roleSettings: ci });
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(
      bad.errors[0]?.text,
      `a.env:5: KLDLOAD_CI_TOKEN: must be a token of 8-1024 letters, digits and . _ ~ + / = : - (a setting of role ci-runner)`,
    );
    assert.ok(!JSON.stringify(bad.errors).includes(TOKEN), 'the secret is shown');
  }

  // A role the ISO does not carry: refused, naming the role.
  const other = validateAnswersText(`${BASE}KLDLOAD_NFS_CLIENTS=10.0.0.0/24\n`, 'a.env', {
    roleSettings: ci,
    otherSettings: librarySettings(['nfs']),
  });
  assert.equal(other.ok, false);
  if (!other.ok)
    assert.match(
      other.errors[0]?.text ?? '',
      /^a\.env:5: KLDLOAD_NFS_CLIENTS: a setting of role nfs, which is not chosen; add --role nfs/,
    );
  // Nothing declared: an unknown answer, as before.
  const none = validateAnswersText(`${BASE}KLDLOAD_CI_TOKEN=${TOKEN}\n`, 'a.env');
  assert.equal(none.ok, false);
  if (!none.ok) assert.match(none.errors[0]?.message ?? '', /^unknown answer/);
});

test('build: embedded answers may carry the settings of the chosen roles only', () => {
  const file = join(work, 'ci.env');
  writeFileSync(file, `${BASE}KLDLOAD_CI_TOKEN=${TOKEN}\n`);
  const chosen = buildSettings({ roles: ['ci-runner'] });
  assert.ok(validateAnswersText(readFileSync(file, 'utf8'), file, chosen).ok);
  // Through the real CLI: refused before any work, the role named, the token not shown.
  const r = cli(['build', '--answers', file, '--role', 'web', '-o', join(work, 'x.iso')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /ci\.env:5: KLDLOAD_CI_TOKEN: a setting of role ci-runner, which is not chosen; add --role ci-runner/,
  );
  assert.ok(!r.stderr.includes(TOKEN));
});

test('install: plain settings in a 0640 file, secrets in a 0600 file shown nowhere in the plan', async () => {
  const root = join(work, 'target');
  const actions = roleSettingsActions(root, [
    { key: 'KLDLOAD_CI_URL', value: 'https://gitlab.example.com', secret: false, role: 'ci-runner' },
    {
      key: 'KLDLOAD_MONITORING_ALLOW',
      value: '10.0.0.0/8,192.168.1.0/24',
      secret: false,
      role: 'monitoring',
    },
    { key: 'KLDLOAD_CI_TOKEN', value: TOKEN, secret: true, role: 'ci-runner' },
  ]);
  const plan = { facts: {}, steps: [{ name: 'role-settings', title: 't', actions }], cleanup: [] };
  const shown = renderPlan(plan, root);
  assert.match(shown, /KLDLOAD_CI_URL=https:\/\/gitlab\.example\.com/);
  assert.match(shown, new RegExp(`write ${root}${ROLE_SECRETS} \\(mode 600\\)\\n\\s+\\| <redacted>`));
  assert.ok(!shown.includes(TOKEN), 'the plan shows the token');
  const log = new Logger({ quiet: true, file: join(work, 'installer.log') });
  log.addSecret(TOKEN);
  const r = await applyPlan(new RecordingExecutor(), log, plan, { root, cleanupFrom: new Set() });
  assert.ok(r.ok);
  assert.equal(statSync(`${root}${ROLE_SECRETS}`).mode & 0o777, 0o600);
  assert.equal(statSync(`${root}${ROLE_SETTINGS}`).mode & 0o777, 0o640);
  assert.match(
    readFileSync(`${root}${ROLE_SECRETS}`, 'utf8'),
    new RegExp(`^KLDLOAD_CI_TOKEN=${TOKEN}$`, 'm'),
  );
  assert.ok(!readFileSync(`${root}${ROLE_SETTINGS}`, 'utf8').includes(TOKEN));
  assert.ok(!readFileSync(join(work, 'installer.log'), 'utf8').includes(TOKEN), 'the log shows the token');
});

test('install --dry-run --json: the secret file is <redacted>, the manifest has no role secret', () => {
  const file = join(work, 'dry.env');
  writeFileSync(file, `${BASE}KLDLOAD_CI_URL=https://gitlab.example.com\nKLDLOAD_CI_TOKEN=${TOKEN}\n`);
  const r = cli(['install', '--config', file, '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(!r.stdout.includes(TOKEN), 'the JSON plan shows the token');
  const plan = JSON.parse(r.stdout) as {
    plan: { steps: { name: string; actions: { path?: string; content?: string }[] }[] };
  };
  const step = plan.plan.steps.find((s) => s.name === 'role-settings');
  assert.ok(step, 'no role-settings step');
  assert.deepEqual(
    step.actions.map((a) => [
      a.path?.replace(/^.*?\/etc\//, '/etc/'),
      a.content?.includes('KLDLOAD_CI_URL') ? 'url' : a.content,
    ]),
    [
      [ROLE_SETTINGS, 'url'],
      [ROLE_SECRETS, '<redacted>'],
    ],
  );
  const manifest =
    plan.plan.steps.find((s) => s.name === 'manifest')?.actions.find((a) => a.content)?.content ?? '';
  assert.doesNotMatch(manifest, /KLDLOAD_CI_/);
});
