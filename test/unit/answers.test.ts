/**
 * Golden tests for the answers-file validator.
 *
 * test/fixtures/answers/good/*.env must validate. Each test/fixtures/answers/bad/NN-name.env holds exactly
 * one mistake; its first line is `# WRONG: <what> (line N)` and NN-name.expected.json is the exact error list
 * (without `file`/`text`). To add a case, drop in both files; the tests below pick them up.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIELD_KEYS, fieldDef } from '../../src/answers/schema.ts';
import { type AnswerError, secretsOf, validateAnswersText } from '../../src/answers/validate.ts';
import { librarySettings } from '../../src/image/role-library.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/answers/', import.meta.url));
const GOOD = join(FIXTURES, 'good');
const BAD = join(FIXTURES, 'bad');

const envFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.env'))
    .sort();
const goodFiles = envFiles(GOOD);
const badFiles = envFiles(BAD);

/** Fixtures are validated as `kldload answers validate` does by default: with the library's role settings. */
const LIBRARY_SETTINGS = librarySettings();

function validateFixture(dir: string, name: string) {
  const path = join(dir, name);
  return {
    path,
    text: readFileSync(path, 'utf8'),
    result: validateAnswersText(readFileSync(path, 'utf8'), path, { roleSettings: LIBRARY_SETTINGS }),
  };
}

function validGood(name: string) {
  const { result } = validateFixture(GOOD, name);
  assert.ok(result.ok, `${name}: ${result.ok ? '' : result.errors.map((e) => e.text).join('\n')}`);
  return result;
}

const SECRET_KEYS = new Set<string>([
  ...FIELD_KEYS.filter((k) => fieldDef(k).secret),
  ...LIBRARY_SETTINGS.filter((s) => s.secret).map((s) => s.key),
]);

/** Values of secret keys as written in a fixture (quotes stripped, even an unterminated one). */
function secretValuesIn(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.replace(/\r$/, ''));
    if (!m?.[1] || !SECRET_KEYS.has(m[1])) continue;
    const v = (m[2] ?? '').trim().replace(/^(["'])(.*?)\1?$/, '$2');
    if (v) out.push(v);
  }
  return out;
}

const strip = (errors: AnswerError[]) => errors.map(({ file: _file, text: _text, ...rest }) => rest);

test('fixture folders are populated (guards against a glob that finds nothing)', () => {
  assert.ok(goodFiles.length >= 5, `only ${goodFiles.length} good fixtures`);
  assert.ok(badFiles.length >= 20, `only ${badFiles.length} bad fixtures`);
  const expected = readdirSync(BAD).filter((f) => f.endsWith('.expected.json'));
  assert.deepEqual(
    expected.map((f) => f.replace(/\.expected\.json$/, '.env')).sort(),
    badFiles,
    'every bad .env needs a .expected.json and vice versa',
  );
});

for (const name of goodFiles) {
  test(`good/${name} validates`, () => {
    validGood(name);
  });
}

test('good fixtures: typed values', () => {
  const basic = validGood('basic.env').answers;
  assert.equal(basic.KLDLOAD_ESP_SIZE, 512, 'default ESP size is 512 MiB');
  assert.equal(basic.KLDLOAD_DEBIAN_SUITE, 'trixie');
  assert.equal(basic.KLDLOAD_ZFS_ENCRYPT, false);
  assert.equal(basic.KLDLOAD_NET_IP, undefined);

  const net = validGood('static-network.env');
  assert.equal(net.answers.KLDLOAD_ESP_SIZE, 1024, '1G is 1024 MiB');
  assert.equal(net.answers.KLDLOAD_DEBIAN_SUITE, 'bookworm');
  assert.equal(net.answers.KLDLOAD_PROFILE, 'core');
  assert.equal(net.answers.KLDLOAD_NET_METHOD, 'static');
  assert.equal(net.answers.KLDLOAD_NET_IP, '192.168.10.50/24');
  assert.deepEqual(net.answers.KLDLOAD_NET_DNS, ['192.168.10.2', '1.1.1.1', '2606:4700:4700::1111']);
  assert.equal(net.lines.KLDLOAD_NET_IP, 13);

  const mirror = validGood('mirror-encrypted.env').answers;
  assert.equal(mirror.KLDLOAD_ZFS_TOPOLOGY, 'mirror');
  assert.deepEqual(mirror.KLDLOAD_ZFS_DATA_DISKS, [
    '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567',
    '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K7654321',
  ]);
  assert.equal(mirror.KLDLOAD_ZFS_ENCRYPT, true);
  assert.equal(mirror.KLDLOAD_FORCE_WIPE, true);
  assert.equal(mirror.KLDLOAD_POOL_NAME, 'tank');
  assert.match(mirror.KLDLOAD_PASSWORD_HASH ?? '', /^\$6\$kldloadsalt\$/, 'single quotes keep the $ literal');
  assert.match(mirror.KLDLOAD_SSH_PUBKEY ?? '', /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ?/);

  const raidz = validGood('raidz1-postinstall.env').answers;
  assert.deepEqual(raidz.KLDLOAD_ZFS_DATA_DISKS, ['/dev/vda', '/dev/vdb', '/dev/vdc']);
  assert.equal(raidz.KLDLOAD_ESP_SIZE, 256);
  assert.equal(raidz.KLDLOAD_PASSWORD, 'Tr0ub4dor&3', 'an unquoted value is the rest of the line');
  assert.equal(
    raidz.KLDLOAD_POSTINSTALL_B64,
    '#!/bin/bash\nset -euo pipefail\necho "postinstall ran" > /root/postinstall.done\n',
  );

  const ssh = validGood('sshkey-only-crlf.env').answers;
  assert.equal(ssh.KLDLOAD_HOSTNAME, 'node-3.infra.local', 'CRLF is stripped');
  assert.equal(ssh.KLDLOAD_PASSWORD, undefined, 'an empty optional value counts as unset');
  assert.equal(ssh.KLDLOAD_INFRA_MODE, 'cluster');
  assert.equal(ssh.KLDLOAD_POSTINSTALL_URL, 'https://deploy.example.net/kldload/postinstall.sh?node=3');
});

for (const name of badFiles) {
  test(`bad/${name} is rejected with the expected errors`, () => {
    const { path, text, result } = validateFixture(BAD, name);
    assert.equal(result.ok, false, `${name} validated ok`);
    if (result.ok) return;

    const expected: unknown = JSON.parse(
      readFileSync(join(BAD, name.replace(/\.env$/, '.expected.json')), 'utf8'),
    );
    assert.deepEqual(strip(result.errors), expected);
    assert.equal(strip(result.errors).length, 1, 'a bad fixture holds exactly one mistake');

    // The header comment names the line independently of the generated .expected.json.
    const header = /^# WRONG: .*\(line (\d+)/.exec(text.split('\n')[0] ?? '');
    assert.ok(header?.[1], `${name}: first line must be '# WRONG: … (line N)'`);
    assert.equal(result.errors[0]?.line, Number(header[1]), 'error points at the line the header names');

    for (const e of result.errors) {
      assert.equal(e.file, path);
      assert.equal(typeof e.line, 'number', `error without a line: ${e.text}`);
      const prefix = `${path}:${e.line}: ${e.key ? `${e.key}: ` : ''}`;
      assert.ok(e.text.startsWith(prefix), `'${e.text}' should start with '${prefix}'`);
      assert.equal(e.text, `${prefix}${e.message}`);
    }
  });
}

test('bad fixtures: secret values never appear in errors', () => {
  let checked = 0;
  for (const name of badFiles) {
    const { text, result } = validateFixture(BAD, name);
    if (result.ok) continue;
    for (const secret of secretValuesIn(text)) {
      checked++;
      for (const e of result.errors) {
        assert.ok(!e.text.includes(secret), `${name}: error text shows secret '${secret}': ${e.text}`);
        assert.ok(!e.message.includes(secret), `${name}: error message shows secret '${secret}'`);
      }
    }
  }
  assert.ok(checked >= 20, `only ${checked} secret values checked`);
  // The fixtures whose mistake *is* a secret value really carry that value.
  assert.deepEqual(secretValuesIn(readFileSync(join(BAD, '26-passphrase-short.env'), 'utf8')), [
    'correct horse',
    'Zq7pW3x',
  ]);
  assert.deepEqual(secretValuesIn(readFileSync(join(BAD, '34-password-hash-bad.env'), 'utf8')), [
    '5f4dcc3b5aa765d61d8327deb882cf99',
  ]);
});

test('secretsOf returns the password, hash, root password and passphrase values', () => {
  assert.deepEqual(secretsOf(validGood('basic.env').answers), ['correct horse']);
  assert.deepEqual(secretsOf(validGood('mirror-encrypted.env').answers), [
    '$6$kldloadsalt$vIwXET2lNzLYPMREL3BMTxtvmIdk74U8hmnKk1WGGjVNqxCxtFt0zTBGSr80bawq1UE1Bjl4vSd3WnrHtptY1/',
    'open sesame 42',
  ]);
  assert.deepEqual(secretsOf(validGood('raidz1-postinstall.env').answers), ['Tr0ub4dor&3', 'root pw']);
  // The postinstall URL is a secret: it may carry a token.
  assert.deepEqual(secretsOf(validGood('sshkey-only-crlf.env').answers), [
    'https://deploy.example.net/kldload/postinstall.sh?node=3',
  ]);
});

// Regressions of validator defects found while writing these fixtures.
const MINIMAL = 'KLDLOAD_HOSTNAME=test-01\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\n';

test('a malformed required key gets one error, not an extra line-less "required"', () => {
  const r = validateAnswersText(
    'KLDLOAD_HOSTNAME=`hostname`\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\nKLDLOAD_PASSWORD=x\n',
  );
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.deepEqual(
      strip(r.errors).map((e) => e.line),
      [1],
    );
});

test("a secret line without '=' is not echoed", () => {
  const r = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD: hunter2hunter2\n`);
  assert.equal(r.ok, false);
  if (!r.ok) for (const e of r.errors) assert.ok(!e.text.includes('hunter2hunter2'), e.text);
});

test('current IANA zone names are accepted', () => {
  for (const tz of ['Asia/Kolkata', 'Europe/Kyiv', 'Asia/Kathmandu', 'America/Nuuk', 'Asia/Ho_Chi_Minh']) {
    const r = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD=x\nKLDLOAD_TIMEZONE=${tz}\n`);
    assert.ok(r.ok, tz);
  }
});

test('a comment after a quoted value is allowed', () => {
  const r = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD="correct horse" # admin login\n`);
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.answers.KLDLOAD_PASSWORD, 'correct horse');
});

test('IPv6 literals are checked by a real parser', () => {
  for (const ip of [':::/64', '12345::/64', '1:2/64', '10.0.0.5/024']) {
    const r = validateAnswersText(
      `${MINIMAL}KLDLOAD_PASSWORD=x\nKLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=${ip}\nKLDLOAD_NET_GW=10.0.0.1\nKLDLOAD_NET_DNS=10.0.0.1\n`,
    );
    assert.equal(r.ok, false, ip);
  }
  const ok = validateAnswersText(
    `${MINIMAL}KLDLOAD_PASSWORD=x\nKLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=2001:db8::5/64\nKLDLOAD_NET_GW=fe80::1\nKLDLOAD_NET_DNS="2001:db8::53 9.9.9.9"\n`,
  );
  assert.ok(ok.ok);
});

test("regression: an unquoted value with ' #' is refused, never cut (it silently became 'Tr0ub4dor')", () => {
  const r = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD=Tr0ub4dor #3 and more\n`);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(
      strip(r.errors).map((e) => [e.line, e.key]),
      [[4, 'KLDLOAD_PASSWORD']],
    );
    assert.match(r.errors[0]?.message ?? '', /refused, not cut.*quote it.*own line/);
  }
  const quoted = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD='Tr0ub4dor #3 and more'\n`);
  assert.ok(quoted.ok);
  if (quoted.ok) assert.equal(quoted.answers.KLDLOAD_PASSWORD, 'Tr0ub4dor #3 and more');
});

test('an unquoted value is the rest of the line: spaces and a # without a blank before it stay', () => {
  const r = validateAnswersText(`${MINIMAL}KLDLOAD_PASSWORD=correct horse#1  \n`);
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.answers.KLDLOAD_PASSWORD, 'correct horse#1');
});
