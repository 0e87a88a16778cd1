/**
 * `kldload postinstall check` on the fixtures in test/fixtures/postinstall/ (see its README): the good
 * payload has no findings at all; each bad one has exactly the finding it was written for. Runs the real
 * bash and shellcheck (Debian package `shellcheck`).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { postinstallCommand } from '../../src/cli/commands/postinstall.ts';
import type { CommandResult } from '../../src/cli/output.ts';
import { KldloadError } from '../../src/core/errors.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { check, type Finding, formatFinding, postinstallLibDir } from '../../src/postinstall/check.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/postinstall/', import.meta.url));
const PAYLOAD = fileURLToPath(new URL('../../payload/target/postinstall/', import.meta.url));
const fx = (name: string) => join(FIXTURES, name);
const show = (fs: Finding[]) => fs.map(formatFinding).join('\n');

const tmp = mkdtempSync(join(tmpdir(), 'kl-pi-check-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function role(dir: string, file: string, body: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), body, { mode: 0o755 });
}

const LIB = [
  '# shellcheck source=lib.sh',
  `source "\${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"`,
  'kl_strict',
].join('\n');

test('the good payload has no findings, not even warnings', async () => {
  const findings = await check(fx('good'));
  assert.deepEqual(findings, [], show(findings));
});

test('lib.sh and dispatch.sh themselves pass check', async () => {
  const findings = await check(PAYLOAD);
  assert.deepEqual(findings, [], show(findings));
});

test('a syntax error is reported by bash -n with file and line, and only once', async () => {
  const findings = await check(fx('bad-syntax'));
  assert.equal(findings.length, 1, show(findings));
  const [f] = findings;
  assert.equal(f?.file, 'roles/10-broken.sh');
  assert.equal(f?.line, 7);
  assert.equal(f?.level, 'error');
  assert.equal(f?.code, 'syntax');
  assert.match(f?.message ?? '', /syntax error near unexpected token `fi'/);
  assert.match(formatFinding(f as Finding), /^roles\/10-broken\.sh:7: error: /);
});

test('a shellcheck warning is reported with its code and line', async () => {
  const findings = await check(fx('shellcheck-warning'));
  assert.equal(findings.length, 1, show(findings));
  assert.deepEqual(
    { ...findings[0], message: undefined },
    { file: 'roles/10-warn.sh', line: 8, column: 1, level: 'warning', code: 'SC2034', message: undefined },
  );
  assert.match(findings[0]?.message ?? '', /unused_setting appears unused/);
});

test('a requirement provided only by a later role is an error at the requires line', async () => {
  const findings = await check(fx('bad-order'));
  assert.equal(findings.length, 1, show(findings));
  const [f] = findings;
  assert.equal(f?.file, 'roles/10-app.sh');
  assert.equal(f?.line, 3);
  assert.equal(f?.level, 'error');
  assert.equal(f?.code, 'requires');
  assert.match(f?.message ?? '', /10-app\.sh requires 'docker'/);
  assert.match(f?.message ?? '', /20-docker\.sh provides it but runs later/);
});

test('a requirement the role map leaves out for some hosts is an error naming those hosts', async () => {
  const findings = await check(fx('bad-map'));
  assert.equal(findings.length, 1, show(findings));
  assert.equal(findings[0]?.file, 'roles/40-monitoring.sh');
  assert.equal(findings[0]?.line, 3);
  assert.match(
    findings[0]?.message ?? '',
    /on hosts 'mon-\*'.*20-docker\.sh provides it but is not selected/,
  );
});

test('base-system capabilities need no provider; unknown ones name the base list', async () => {
  const dir = join(tmp, 'base');
  role(join(dir, 'roles'), '10-a.sh', `#!/bin/bash\n# requires: zfs systemd gpu\n${LIB}\n`);
  const findings = await check(dir);
  assert.equal(findings.length, 1, show(findings));
  assert.match(
    findings[0]?.message ?? '',
    /requires 'gpu'.*no role provides it; the base system provides base/,
  );
});

test('shared roles run first: a shared role cannot require what a host role provides', async () => {
  const dir = join(tmp, 'shared');
  role(join(dir, 'roles'), '10-docker.sh', `#!/bin/bash\n# provides: docker\n${LIB}\n`);
  role(join(dir, 'roles'), '30-agent.sh', `#!/bin/bash\n# requires: docker\n# shared: yes\n${LIB}\n`);
  const findings = await check(dir);
  assert.equal(findings.length, 1, show(findings));
  assert.match(
    findings[0]?.message ?? '',
    /30-agent\.sh requires 'docker'.*10-docker\.sh provides it but runs later/,
  );
});

test('map, naming and header mistakes are warnings', async () => {
  const dir = join(tmp, 'warnings');
  const roles = join(dir, 'roles');
  role(roles, '10-web.sh', `#!/bin/bash\n# provides: web, tls\n${LIB}\n`);
  role(roles, '20-nostrict.sh', '#!/bin/bash\n# provides: x\nset -euo pipefail\necho hi\n');
  role(roles, 'helper.sh', '#!/bin/bash\necho helper\n');
  writeFileSync(join(roles, 'map'), 'web- web\nweb-prod- web\ndb- database\n');
  const findings = await check(dir);
  assert.ok(
    findings.every((f) => f.level === 'warning'),
    show(findings),
  );
  const codes = findings.map((f) => `${f.file}:${f.line ?? ''}:${f.code}`);
  assert.deepEqual(codes, [
    'roles/10-web.sh:2:header',
    'roles/20-nostrict.sh::kl-strict',
    'roles/helper.sh::role-name',
    'roles/map:2:map',
    'roles/map:3:map',
  ]);
  assert.match(findings[3]?.message ?? '', /'web-prod-' is never used: line 1/);
  assert.match(findings[4]?.message ?? '', /'database' selects no role/);
});

test('shellcheck is run once with -x, -S warning and the lib folder as source path', async () => {
  const exec = new RecordingExecutor();
  await check(fx('good'), exec);
  const sc = exec.calls.filter((c) => c.argv[0] === 'shellcheck');
  assert.equal(sc.length, 1);
  const argv = sc[0]?.argv ?? [];
  assert.deepEqual(argv.slice(0, 6), ['shellcheck', '-x', '-S', 'warning', '-f', 'json1']);
  assert.ok(argv.includes(postinstallLibDir() ?? '?'), argv.join(' '));
  const bashN = exec.calls.filter((c) => c.argv[0] === 'bash' && c.argv[1] === '-n');
  assert.equal(bashN.length, 8, 'one bash -n per .sh file');
});

test('a missing shellcheck is a warning, not a pass and not an error', async () => {
  const exec = new RecordingExecutor((argv) =>
    argv[0] === 'shellcheck' ? { exitCode: 255, stdout: '', all: '' } : undefined,
  );
  const findings = await check(fx('bad-order'), exec);
  assert.deepEqual(
    findings.map((f) => [f.level, f.code]),
    [
      ['warning', 'shellcheck-missing'],
      ['error', 'requires'],
    ],
  );
});

test('a folder that does not exist is bad input', async () => {
  await assert.rejects(
    check(join(tmp, 'nope')),
    (e: unknown) => e instanceof KldloadError && e.exitCode === 2,
  );
});

async function cli(...args: string[]): Promise<CommandResult> {
  let result: Promise<CommandResult> | undefined;
  const program = new Command().exitOverride();
  postinstallCommand(program, (fn) => {
    result = fn();
  });
  await program.parseAsync(['node', 'kldload', 'postinstall', ...args]);
  assert.ok(result, 'the command ran');
  return result;
}

test('CLI: check exits 0 when clean, 1 on errors, 0 on warnings only; --json lists findings', async () => {
  assert.equal((await cli('check', fx('good'))).exitCode, 0);
  assert.equal((await cli('check', fx('shellcheck-warning'))).exitCode, 0);
  const bad = await cli('check', fx('bad-syntax'), '--json');
  assert.equal(bad.exitCode, 1);
  const json = bad.json as { ok: boolean; errors: number; findings: Finding[] };
  assert.equal(json.ok, false);
  assert.equal(json.errors, 1);
  assert.equal(json.findings[0]?.file, 'roles/10-broken.sh');
  assert.match(bad.text, /^roles\/10-broken\.sh:7: error: bash -n: /m);
});

test('CLI: plan shows the roles a host runs, in order', async () => {
  const r = await cli('plan', fx('good'), '--host', 'mon-01', '--json');
  assert.equal(r.exitCode, 0);
  assert.deepEqual((r.json as { run: string[] }).run, [
    '00-base-hardening.sh',
    '10-datasets.sh',
    '20-docker.sh',
    '45-monitoring.sh',
    '90-verification.sh',
  ]);
  const bad = await cli('plan', fx('bad-map'), '--host', 'mon-01');
  assert.equal(bad.exitCode, 1);
  assert.match(bad.text, /error: 40-monitoring\.sh requires 'docker'/);
});
