/**
 * --darksite-key: the darksite signed with the user's own key, with real gpg homes made here, a
 * real repository (a .deb built by dpkg-deb), gpgv and apt-get as judges.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { buildDarksite, type DarksiteOptions } from '../../src/darksite/darksite.ts';
import { simulateInstall, verifyRepo } from '../../src/darksite/repo.ts';
import { ensureSigningKey, type SigningKey, suppliedSigningKey } from '../../src/darksite/signing-key.ts';
import { inspectDebs, type SuppliedDeb } from '../../src/darksite/supplied.ts';
import type { SuiteIndex } from '../../src/debian/archive.ts';
import { REPO } from '../../src/layout.ts';
import { cliJson } from '../unit/cli-helper.ts';
import { killAgent, makeDeb, makeGpgHome } from './darksite-helpers.ts';

const exec = new SystemExecutor();
const log = new Logger({ quiet: true });
const work = mkdtempSync(join(tmpdir(), 'kl-key-'));
process.env.KLDLOAD_CACHE = join(work, 'cache');
const suite = 'trixie';
const homes: string[] = [];
const home = (name: string): string => {
  const h = join(work, name);
  homes.push(h);
  return h;
};
/** No archive packages: the repository is the supplied .deb alone, nothing is downloaded. */
const emptyIndex: SuiteIndex = {
  mirror: 'http://127.0.0.1:9/debian',
  suite,
  release: new Map(),
  packages: [],
};
let supplied: SuppliedDeb[] = [];

before(async () => {
  const deb = makeDeb(join(work, 'debs'), { name: 'kl-test-signed', version: '1.0' });
  supplied = await inspectDebs(exec, [{ path: deb, from: '--deb' }]);
});

after(() => {
  for (const h of homes) killAgent(h);
  rmSync(work, { recursive: true, force: true });
});

const opts = (signingKey?: SigningKey): DarksiteOptions => ({
  mirror: emptyIndex.mirror,
  suite,
  profile: 'keytest',
  extra: [],
  localDebs: [],
  packageSet: [],
  resolve: { includePriorities: [], essential: false },
  supplied,
  ...(signingKey ? { signingKey } : {}),
});

async function refused(dir: string, want: RegExp): Promise<void> {
  await assert.rejects(suppliedSigningKey(exec, dir), (e: unknown) => {
    assert.ok(e instanceof KldloadError);
    assert.equal(e.exitCode, EXIT.badInput);
    assert.match(e.message, want);
    return true;
  });
}

test('--darksite-key must be a directory holding exactly one usable secret signing key', async () => {
  await refused(join(work, 'nope'), /^--darksite-key .*nope: no such directory; give a GNUPGHOME/);
  const file = join(work, 'a-file');
  writeFileSync(file, '');
  await refused(file, /no such directory/);
  const empty = home('empty');
  mkdirSync(empty, { mode: 0o700 });
  await refused(empty, /^--darksite-key .*empty: holds no usable secret signing key; create one there/);
  const two = home('two');
  const a = makeGpgHome(two, 'one <one@kldload.invalid>');
  const b = makeGpgHome(two, 'two <two@kldload.invalid>');
  await refused(
    two,
    new RegExp(
      `holds 2 secret signing keys \\((${a}, ${b}|${b}, ${a})\\); give a GNUPGHOME with exactly one`,
    ),
  );
  // A certify-only key next to the signing key does not count.
  const mixed = home('mixed');
  const signer = makeGpgHome(mixed, 'signer <s@kldload.invalid>');
  makeGpgHome(mixed, 'certifier <c@kldload.invalid>', 'cert');
  const k = await suppliedSigningKey(exec, mixed);
  assert.equal(k.fingerprint, signer);
  // The exported keyring holds that key only, and kldload wrote nothing into the user's home.
  const show = home('show');
  mkdirSync(show, { mode: 0o700 });
  const shown = execFileSync('gpg', ['--batch', '--with-colons', '--show-keys', k.keyring], {
    encoding: 'utf8',
    env: { ...process.env, GNUPGHOME: show },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.deepEqual(
    [...shown.matchAll(/^fpr:(?:[^:]*:){8}([0-9A-F]+):/gm)].map((m) => m[1]),
    [signer],
  );
  assert.ok(!k.keyring.startsWith(mixed));
});

test('a key that needs a passphrase is refused up front (builds are unattended)', async () => {
  const locked = home('locked');
  mkdirSync(locked, { mode: 0o700 });
  execFileSync(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      'secret',
      '--quick-gen-key',
      'locked <l@kldload.invalid>',
      'ed25519',
      'sign',
      'never',
    ],
    { env: { ...process.env, GNUPGHOME: locked }, stdio: 'pipe' },
  );
  killAgent(locked); // forget the cached passphrase
  await refused(
    locked,
    /^--darksite-key .*locked: gpg cannot sign with key [0-9A-F]{40} unattended.*without a passphrase/,
  );
});

test('the darksite is signed with the supplied key; another key is another repository', async () => {
  const mine = home('mine');
  const fpr = makeGpgHome(mine, 'my darksite <ds@kldload.invalid>');
  const key = await suppliedSigningKey(exec, mine);
  const r = await buildDarksite(exec, log, emptyIndex, opts(key));
  assert.equal(r.signer, fpr);
  assert.deepEqual(await verifyRepo(exec, r.dir, suite), []);
  // The keyring that ships with the repository is the user's public key, and gpgv accepts the
  // InRelease with it alone.
  assert.deepEqual(readFileSync(join(r.dir, REPO.keyring)), readFileSync(key.keyring));
  const v = spawnSync(
    'gpgv',
    ['--status-fd', '1', '--keyring', key.keyring, join(r.dir, 'dists', suite, 'InRelease')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`VALIDSIG ${fpr} `));
  const sim = await simulateInstall(exec, {
    dir: r.dir,
    suite,
    packages: ['kl-test-signed'],
    scratch: join(work, 'sim'),
  });
  assert.ok(sim.ok, sim.output);

  // Same key: cached. The build's own key: a different content key, a different repository,
  // which the user's key does not verify.
  assert.equal((await buildDarksite(exec, log, emptyIndex, opts(key))).cached, true);
  const own = await ensureSigningKey(exec, home('own'));
  const o = await buildDarksite(exec, log, emptyIndex, opts(own));
  assert.notEqual(o.key, r.key);
  assert.notEqual(o.dir, r.dir);
  assert.equal(o.signer, own.fingerprint);
  assert.deepEqual(await verifyRepo(exec, o.dir, suite), []);
  assert.deepEqual(await verifyRepo(exec, o.dir, suite, key.keyring), [
    { file: join(o.dir, 'dists', suite, 'InRelease'), problem: 'bad or missing signature' },
  ]);
});

test('the CLI refuses a bad --darksite-key before any work (exit 2, names the flag)', () => {
  const empty = home('cli-empty');
  mkdirSync(empty, { mode: 0o700 });
  for (const args of [
    ['darksite', 'build', '--darksite-key', empty],
    ['build', '--darksite-key', empty, '-o', join(work, 'x.iso')],
  ]) {
    const r = cliJson<{ error: string }>(args);
    assert.equal(r.code, EXIT.badInput, r.stdout + r.stderr);
    assert.match(r.json.error, /^--darksite-key .*cli-empty: holds no usable secret signing key/);
  }
});
