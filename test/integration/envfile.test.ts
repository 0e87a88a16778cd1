/**
 * The one env-file codec (src/answers/parse.ts): what its writer writes, its reader, lib.sh's
 * kl_load_manifest (real bash) and bash's own `source` all read back unchanged; the reader and
 * lib.sh refuse the same lines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatEnvLine, formatEnvValue, parseEnvText } from '../../src/answers/parse.ts';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { manifestEnv, PATHS } from '../../src/firstboot/firstboot.ts';
import { manifest } from '../../src/plan/install.ts';
import { FACTS } from '../unit/plan-facts.ts';

const LIB = fileURLToPath(new URL('../../payload/target/postinstall/lib.sh', import.meta.url));
const exec = new SystemExecutor();
const dir = mkdtempSync(join(tmpdir(), 'kl-envfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));
for (const k of Object.keys(process.env))
  if (k.startsWith('KLDLOAD_') || k.startsWith('KV_')) delete process.env[k];

const AWKWARD = [
  '',
  'plain',
  "it's",
  "''",
  "'",
  '"',
  '"quoted"',
  'a#b',
  'a #b',
  '#start',
  'Tr0ub4dor #3 and more',
  ' lead and trail ',
  'a b  c',
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${…} is the awkward value
  '${x}',
  '$(id)',
  '`id`',
  'pa$$word',
  '$',
  'ends with $',
  'back\\slash',
  '\\$HOME',
  '\\',
  '\\\\"',
  'tab\there',
  'ünïcödé ✓ 日本語 🚀',
  '=',
  'k=v',
  '*',
  '~',
  '!bang',
  ';rm -rf /',
  'mix \'single\' "double" $dollar `tick` \\ #hash',
  '$6$salt$hash/./',
];

/** Runs bash with NAMES in the environment list and prints each variable NUL-separated. */
async function bashRead(prelude: string, names: string[]): Promise<Record<string, string>> {
  const script = join(dir, `read-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(
    script,
    `${prelude}\nfor k in ${names.join(' ')}; do if [[ -n "\${!k+set}" ]]; then printf '%s=%s\\0' "$k" "\${!k}"; fi; done\n`,
  );
  const r = await exec.run(['bash', script], {
    env: { KLDLOAD_POSTINSTALL_LIB: LIB, KLDLOAD_LOG: '', KLDLOAD_STATE_DIR: join(dir, 'state') },
    check: false,
  });
  assert.equal(r.exitCode, 0, r.all);
  const out: Record<string, string> = {};
  for (const rec of r.stdout.split('\0').filter(Boolean)) {
    const i = rec.indexOf('=');
    out[rec.slice(0, i)] = rec.slice(i + 1);
  }
  return out;
}

test("regression: a manifest value holding ' reaches first boot (the writer used '\\'' which the reader refused)", () => {
  const v = validateAnswersText(
    'KLDLOAD_HOSTNAME=test-01\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\nKLDLOAD_PASSWORD=x\n',
  );
  assert.ok(v.ok);
  // No validated answer can hold a quote today; role settings will. The writer must not care.
  const a = { ...v.answers, KLDLOAD_CLUSTER_DOMAIN: "it's" };
  const file = join(dir, 'quote-manifest.env');
  writeFileSync(file, manifest(a, FACTS));
  assert.equal(manifestEnv({ ...PATHS, manifest: file }).KLDLOAD_CLUSTER_DOMAIN, "it's");
});

test('round trip: the writer, the TS reader, lib.sh and bash `source` agree on awkward values', async () => {
  const names = AWKWARD.map((_, i) => `KV_${i}`);
  const text = `${AWKWARD.map((v, i) => formatEnvLine(`KV_${i}`, v)).join('\n')}\n`;
  const file = join(dir, 'awkward.env');
  writeFileSync(file, text);
  const want = Object.fromEntries(AWKWARD.map((v, i) => [`KV_${i}`, v]));

  const { entries, errors } = parseEnvText(text);
  assert.deepEqual(errors, []);
  assert.deepEqual(Object.fromEntries([...entries].map(([k, e]) => [k, e.value])), want, 'TS reader');
  assert.deepEqual(
    await bashRead(`source "$KLDLOAD_POSTINSTALL_LIB"\nkl_load_manifest ${JSON.stringify(file)}`, names),
    want,
    'lib.sh kl_load_manifest',
  );
  assert.deepEqual(await bashRead(`source ${JSON.stringify(file)}`, names), want, 'bash source');
});

test("lib.sh's kl_env_quote (the failure record's writer) writes what the TS reader reads back", async () => {
  const file = join(dir, 'quote-values.txt');
  writeFileSync(file, AWKWARD.map((v) => `${v}\0`).join(''));
  const script = join(dir, 'quote.sh');
  writeFileSync(
    script,
    `source "$KLDLOAD_POSTINSTALL_LIB"\ni=0\nwhile IFS= read -r -d '' v; do kl_env_quote "$v"; printf 'KQ_%s=%s\\n' "$i" "$REPLY"; i=$((i + 1)); done < ${JSON.stringify(file)}\n`,
  );
  const r = await exec.run(['bash', script], {
    env: { KLDLOAD_POSTINSTALL_LIB: LIB, KLDLOAD_LOG: '', KLDLOAD_STATE_DIR: join(dir, 'state') },
    check: false,
  });
  assert.equal(r.exitCode, 0, r.all);
  const { entries, errors } = parseEnvText(r.stdout);
  assert.deepEqual(errors, []);
  AWKWARD.forEach((v, i) => {
    assert.equal(entries.get(`KQ_${i}`)?.value, v, `kl_env_quote ${JSON.stringify(v)}`);
    assert.equal(r.stdout.split('\n')[i], formatEnvLine(`KQ_${i}`, v), 'the same form as the TS writer');
  });
});

test('the writer refuses what one line cannot hold', () => {
  for (const v of ['a\nb', 'a\rb', 'a\0b']) assert.throws(() => formatEnvValue(v), /newline/);
  assert.throws(() => formatEnvLine('1BAD', 'x'), /not a variable name/);
  assert.equal(formatEnvValue('/dev/disk/by-id/ata-X_1'), '/dev/disk/by-id/ata-X_1', 'bare when safe');
});

// Lines as people write them: [right-hand side, value or undefined when refused].
const READS: [string, string | undefined][] = [
  ['/dev/sdb /dev/sdc', '/dev/sdb /dev/sdc'],
  ['  correct horse  ', 'correct horse'],
  ['"correct horse"', 'correct horse'],
  ["'correct horse'", 'correct horse'],
  ['"correct horse" # a comment', 'correct horse'],
  ["'x' # a comment", 'x'],
  ['Tr0ub4dor #3 and more', undefined],
  [' #only a comment', undefined],
  ['a#b', 'a#b'],
  ["it's", "it's"],
  ["'it'\\''s'", undefined],
  ['"a\\"b"', 'a"b'],
  ['"a\\nb"', 'a\\nb'],
  ['"\\\\$HOME"', undefined],
  ['"pa$$word"', undefined],
  ['$HOME', undefined],
  ['$(id)', undefined],
  ['`id`', undefined],
  ['"open', undefined],
  ["'open", undefined],
  ['"a"b', undefined],
  ['cost $ 5', 'cost $ 5'],
  ['cost $5', undefined],
  ['', ''],
];

test('reading: the rest of the line, quotes optional, never cut', async () => {
  const text = READS.map(([rhs], i) => `KR_${i}=${rhs}`).join('\n');
  const { entries } = parseEnvText(text);
  const file = join(dir, 'reads.env');
  writeFileSync(file, text);
  const names = READS.map((_, i) => `KR_${i}`);
  const fromBash = await bashRead(
    // Its warnings (tested below) go to stdout with the log lines.
    `source "$KLDLOAD_POSTINSTALL_LIB"\nkl_load_manifest ${JSON.stringify(file)} >/dev/null`,
    names,
  );
  READS.forEach(([rhs, want], i) => {
    assert.equal(entries.get(`KR_${i}`)?.value, want, `TS reader: KEY=${rhs}`);
    assert.equal(fromBash[`KR_${i}`], want, `lib.sh: KEY=${rhs}`);
  });
});

test('lib.sh names a manifest line it refuses instead of dropping it silently', async () => {
  const file = join(dir, 'refused.env');
  writeFileSync(file, 'KLDLOAD_A=ok\nKLDLOAD_B=a #b\n');
  const script = join(dir, 'refused.sh');
  writeFileSync(script, `source "$KLDLOAD_POSTINSTALL_LIB"\nkl_load_manifest ${JSON.stringify(file)}\n`);
  const r = await exec.run(['bash', script], {
    env: { KLDLOAD_POSTINSTALL_LIB: LIB, KLDLOAD_LOG: '', KLDLOAD_STATE_DIR: join(dir, 'state') },
    check: false,
  });
  assert.equal(r.exitCode, 0);
  assert.match(r.all, /WARNING: .*refused\.env:2: KLDLOAD_B: has ' #' in an unquoted value; not exported/);
});

test('first boot names a manifest line it refuses in its log', () => {
  const file = join(dir, 'fb-manifest.env');
  const log = join(dir, 'fb.log');
  writeFileSync(file, 'KLDLOAD_A=ok\nKLDLOAD_B=$HOME\n');
  const env = manifestEnv({ ...PATHS, manifest: file, firstbootLog: log });
  assert.deepEqual(env, { KLDLOAD_A: 'ok' });
  assert.match(
    readFileSync(log, 'utf8'),
    /fb-manifest\.env:2: KLDLOAD_B: contains \$ expansion.*not passed on/,
  );
});
