/**
 * Install-time inputs: the postinstall URL (a secret, https or pinned), the warning for secrets
 * embedded by `build --answers`, and the human override for reinstalling over this ISO's own disk.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { secretsOf, validateAnswersText } from '../../src/answers/validate.ts';
import { install } from '../../src/cli/commands/install.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { renderPlan } from '../../src/core/plan.ts';
import { checkBuildInputs, embeddedSecretWarnings } from '../../src/image/inputs.ts';
import { grubConfig } from '../../src/image/iso.ts';
import { fetchPostinstall, gatherFacts, reinstallAsked } from '../../src/live/facts.ts';
import { planInstall } from '../../src/plan/install-plan.ts';

const BASE = 'KLDLOAD_HOSTNAME=test-01\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\n';
const URL_WITH_TOKEN = 'https://deploy.example.net/postinstall.sh?token=hunter2-s3cr3t';
const SCRIPT = '#!/bin/sh\necho hi\n';
const SHA = createHash('sha256').update(SCRIPT).digest('hex');

function valid(text: string) {
  const v = validateAnswersText(text);
  assert.ok(v.ok, v.ok ? '' : v.errors.map((e) => e.text).join('\n'));
  return v.answers;
}

test('postinstall URL: https, or http with a SHA-256 pin; plain http alone is refused', () => {
  valid(`${BASE}KLDLOAD_PASSWORD=x1\nKLDLOAD_POSTINSTALL_URL=${URL_WITH_TOKEN}\n`);
  valid(
    `${BASE}KLDLOAD_PASSWORD=x1\nKLDLOAD_POSTINSTALL_URL=http://10.0.0.1/p.sh\nKLDLOAD_POSTINSTALL_SHA256=${SHA.toUpperCase()}\n`,
  );
  const r = validateAnswersText(
    `${BASE}KLDLOAD_PASSWORD=x1\nKLDLOAD_POSTINSTALL_URL=http://10.0.0.1/p.sh?token=abc123\n`,
  );
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(
      r.errors[0]?.text ?? '',
      /:5: KLDLOAD_POSTINSTALL_URL: http:\/\/ can be altered.*KLDLOAD_POSTINSTALL_SHA256/,
    );
    assert.ok(!r.errors[0]?.text.includes('abc123'), 'the URL (and its token) is not echoed');
  }
});

test('the fetched postinstaller is checked against KLDLOAD_POSTINSTALL_SHA256; messages never name the URL', async () => {
  const get = async () => new Response(SCRIPT);
  assert.equal(await fetchPostinstall(URL_WITH_TOKEN, SHA, get), SCRIPT);
  assert.equal(await fetchPostinstall(URL_WITH_TOKEN, undefined, get), SCRIPT);
  await assert.rejects(fetchPostinstall(URL_WITH_TOKEN, '0'.repeat(64), get), (e: Error) => {
    assert.match(
      e.message,
      /KLDLOAD_POSTINSTALL_URL: the fetched script has sha256 [0-9a-f]{64}, KLDLOAD_POSTINSTALL_SHA256 says 0{64}; refusing/,
    );
    assert.ok(!e.message.includes('hunter2'), e.message);
    return true;
  });
});

test('the postinstall URL is a secret: not in the plan, the manifest, the dry-run output or the log', async () => {
  const a = valid(`${BASE}KLDLOAD_PASSWORD=x1\nKLDLOAD_POSTINSTALL_URL=${URL_WITH_TOKEN}\n`);
  assert.ok(secretsOf(a).includes(URL_WITH_TOKEN), 'registered for redaction');
  const f = await gatherFacts(a, {
    root: '/mnt',
    live: false,
    logFile: '/tmp/x.log',
    bundle: '/b.mjs',
  });
  assert.equal(f.postinstall?.source, 'KLDLOAD_POSTINSTALL_URL');
  const plan = planInstall(a, f);
  const text = renderPlan(plan, '/mnt');
  assert.match(text, /postinstall\.sh from KLDLOAD_POSTINSTALL_URL/);
  assert.ok(!text.includes('hunter2'), 'URL in the rendered plan');
  assert.ok(!JSON.stringify(plan).includes('hunter2'), 'URL in the plan data');

  const dir = mkdtempSync(join(tmpdir(), 'kl-url-'));
  const cfg = join(dir, 'answers.env');
  writeFileSync(cfg, `${BASE}KLDLOAD_PASSWORD=x1\nKLDLOAD_POSTINSTALL_URL=${URL_WITH_TOKEN}\n`);
  const lines: string[] = [];
  const r = await install(
    { config: cfg, root: mkdtempSync(join(tmpdir(), 'kl-root-')), dryRun: true },
    { exec: new RecordingExecutor(), log: new Logger({ echo: (l) => lines.push(l) }) },
  );
  assert.equal(r.exitCode, 0);
  assert.ok(
    !r.text.includes('hunter2') && !JSON.stringify(r.json).includes('hunter2'),
    'URL in dry-run output',
  );
  const log = new Logger({ echo: (l) => lines.push(l) });
  for (const s of secretsOf(a)) log.addSecret(s);
  log.info(`fetching ${URL_WITH_TOKEN}`);
  assert.ok(!lines.join('\n').includes('hunter2'), lines.join('\n'));
});

test('build --answers warns once per plain-text secret, naming the key, never the value', () => {
  const a = valid(
    `${BASE}KLDLOAD_PASSWORD="correct horse"\nKLDLOAD_ROOT_PASSWORD=rootpw1\nKLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE="open sesame 42"\n`,
  );
  const w = embeddedSecretWarnings('answers.env', a);
  assert.deepEqual(
    w.map((l) => /: (KLDLOAD_[A-Z_0-9]+) goes onto the ISO in plain text/.exec(l)?.[1]),
    ['KLDLOAD_PASSWORD', 'KLDLOAD_ROOT_PASSWORD', 'KLDLOAD_ZFS_PASSPHRASE'],
  );
  assert.match(w[0] ?? '', /^WARNING: --answers answers\.env: KLDLOAD_PASSWORD .*use KLDLOAD_PASSWORD_HASH/);
  for (const l of w) assert.ok(!/correct horse|rootpw1|open sesame/.test(l), l);
  const hashed = valid(
    `${BASE}KLDLOAD_PASSWORD_HASH='$y$j9T$abcdefghijklmnopqrstuv$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'\n`,
  );
  assert.deepEqual(embeddedSecretWarnings('answers.env', hashed), [], 'a crypt hash is the recommended form');

  // The build prints them (through its logger, to stderr) while checking its inputs, before any work.
  const dir = mkdtempSync(join(tmpdir(), 'kl-build-'));
  writeFileSync(join(dir, 'answers.env'), `${BASE}KLDLOAD_PASSWORD="correct horse"\n`);
  const got: string[] = [];
  checkBuildInputs(
    {
      profile: 'server',
      suite: 'trixie',
      mirror: 'http://deb.debian.org/debian',
      output: join(dir, 'x.iso'),
      bundle: 'package.json',
      answers: join(dir, 'answers.env'),
      extraPackages: [],
      roles: [],
    },
    (m) => got.push(m),
  );
  assert.equal(got.length, 1);
  assert.match(got[0] ?? '', /KLDLOAD_PASSWORD goes onto the ISO in plain text/);
});

test('kldload.reinstall=1 on the kernel command line is the human override; the boot menu offers it', () => {
  assert.equal(reinstallAsked('boot=live components kldload.install'), false);
  assert.equal(reinstallAsked('boot=live kldload.install kldload.reinstall=1 quiet'), true);
  assert.equal(reinstallAsked('kldload.reinstall'), true);
  assert.equal(reinstallAsked('kldload.reinstall=0'), false);
  assert.equal(reinstallAsked('xkldload.reinstall=1'), false);
  const cfg = grubConfig();
  assert.match(
    cfg,
    /set default=0\nmenuentry "kldload: install unattended/,
    'the default entry is unchanged',
  );
  assert.match(
    cfg,
    /menuentry "kldload: install again over a disk this ISO installed \(erases it\)" \{\n {2}linux \S+ .* kldload\.install kldload\.reinstall=1\n/,
  );
});
