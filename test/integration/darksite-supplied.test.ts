/**
 * User-supplied .debs on the darksite, with real tools: .debs made by dpkg-deb, their dependencies
 * resolved against the real Debian index and fetched from the mirror, apt-ftparchive, gpg, and
 * apt-get in a scratch root as the judge.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { buildDarksite, type DarksiteOptions } from '../../src/darksite/darksite.ts';
import {
  darksitePackageNames,
  listRepo,
  makeScratchRoot,
  scratchApt,
  simulateInstall,
  sourcesLine,
  verifyRepo,
} from '../../src/darksite/repo.ts';
import { ensureSigningKey, type SigningKey } from '../../src/darksite/signing-key.ts';
import { inspectDebs, payloadDebs, type SuppliedDeb } from '../../src/darksite/supplied.ts';
import { hostMirror, loadSuiteIndex, type SuiteIndex } from '../../src/debian/archive.ts';
import { REPO } from '../../src/layout.ts';
import { useThrowAwayCache } from '../unit/cache.ts';
import { cliJson } from '../unit/cli-helper.ts';
import { killAgent, makeDeb } from './darksite-helpers.ts';

const exec = new SystemExecutor();
const log = new Logger({ quiet: true });
const work = mkdtempSync(join(tmpdir(), 'kl-supplied-'));
const suite = 'trixie';
const debs = join(work, 'debs');
let mirror = '';
let index: SuiteIndex;
let key: SigningKey;
let supplied: SuppliedDeb[] = [];
let main = '';
let lib = '';
let hello = '';

// Darksites and gate scratch roots go to a throw-away cache; the run's index and .deb downloads
// are shared (test/unit/cache.ts).
useThrowAwayCache({ downloads: true });

const small: Partial<DarksiteOptions> = {
  // No Priority/Essential roots: the repository holds the supplied packages and their closure only.
  packageSet: [],
  resolve: { includePriorities: [], essential: false },
  localDebs: [],
};

before(async () => {
  mkdirSync(debs, { recursive: true });
  // Depends on a real archive package (tree) and on another supplied one, which Pre-Depends on
  // another archive package (jq, which pulls libjq1 and libonig5).
  main = makeDeb(debs, { name: 'kl-test-supplied', version: '1.0-1', depends: 'tree, kl-test-lib (>= 2.0)' });
  lib = makeDeb(debs, { name: 'kl-test-lib', version: '2.0-1', arch: 'amd64', preDepends: 'jq' });
  // Same name as an archive package: the supplied one wins.
  hello = makeDeb(debs, { name: 'hello', version: '99.0-kl1', arch: 'amd64' });
  mirror = hostMirror();
  index = await loadSuiteIndex(exec, mirror, suite);
  key = await ensureSigningKey(exec, join(work, 'gnupg'));
  supplied = await inspectDebs(exec, [
    { path: main, from: '--deb' },
    { path: lib, from: '--deb' },
    { path: hello, from: '--deb' },
  ]);
});

after(() => {
  killAgent(join(work, 'gnupg'));
  rmSync(work, { recursive: true, force: true });
});

const opts = (s: SuppliedDeb[]): DarksiteOptions => ({
  mirror,
  suite,
  profile: 'test',
  extra: [],
  localDebs: [],
  ...small,
  supplied: s,
  signingKey: key,
});

test('supplied .debs and their archive dependencies are on the darksite; it verifies', async () => {
  const r = await buildDarksite(exec, log, index, opts(supplied));
  assert.equal(r.cached, false);
  assert.deepEqual(r.supplied.map((d) => d.name).sort(), ['hello', 'kl-test-lib', 'kl-test-supplied']);
  const names = darksitePackageNames(r.dir, suite);
  for (const n of ['kl-test-supplied', 'kl-test-lib', 'hello', 'tree', 'jq', 'libjq1', 'libonig5', 'libc6'])
    assert.ok(names.has(n), `${n} missing from the darksite: ${[...names].join(' ')}`);
  // The supplied hello, not Debian's.
  const h = listRepo(r.dir, suite).filter((p) => p.name === 'hello');
  assert.deepEqual(
    h.map((p) => p.version),
    ['99.0-kl1'],
  );
  assert.deepEqual(await verifyRepo(exec, r.dir, suite), []);
  assert.equal(r.signer, key.fingerprint);

  // apt, on an empty system that sees only the darksite, installs the supplied package with
  // everything it needs, and downloads it with matching hashes.
  const sim = await simulateInstall(exec, {
    dir: r.dir,
    suite,
    packages: ['kl-test-supplied', 'hello'],
    scratch: join(work, 'sim'),
  });
  assert.ok(sim.ok, sim.output);
  for (const n of ['kl-test-supplied', 'kl-test-lib', 'tree', 'jq', 'libonig5'])
    assert.match(sim.output, new RegExp(`^Inst ${n} `, 'm'));
  assert.match(sim.output, /^Inst hello \(99\.0-kl1 /m);
  const root = join(work, 'dl');
  makeScratchRoot(root, sourcesLine(r.dir, suite, join(r.dir, REPO.keyring)));
  const apt = scratchApt(root);
  await exec.run(['apt-get', ...apt, 'update']);
  const dl = await exec.run(['apt-get', ...apt, '-y', '--download-only', 'install', 'kl-test-supplied'], {
    check: false,
  });
  assert.equal(dl.exitCode, 0, dl.all);

  // Same inputs: the cached repository. Another set of supplied files: another repository.
  const again = await buildDarksite(exec, log, index, opts(supplied));
  assert.equal(again.cached, true);
  assert.equal(again.dir, r.dir);
  const fewer = await buildDarksite(exec, log, index, opts(supplied.filter((d) => d.name !== 'hello')));
  assert.notEqual(fewer.key, r.key);
  assert.deepEqual(
    listRepo(fewer.dir, suite)
      .filter((p) => p.name === 'hello')
      .map((p) => p.version),
    [],
  );
});

test('a supplied .deb whose dependency nothing provides: build error naming the file and the name', async () => {
  const bad = makeDeb(debs, { name: 'kl-test-bad', version: '1.0', depends: 'tree, kl-no-such-package-xyz' });
  const s = await inspectDebs(exec, [{ path: bad, from: '--deb' }]);
  await assert.rejects(buildDarksite(exec, log, index, opts(s)), (e: unknown) => {
    assert.ok(e instanceof KldloadError);
    assert.equal(e.exitCode, EXIT.badInput);
    assert.match(
      e.message,
      new RegExp(
        `--deb ${bad.replace(/[.+]/g, '\\$&')}: cannot satisfy 'kl-no-such-package-xyz' for kl-test-bad`,
      ),
    );
    assert.match(e.message, /supply it with --deb too/);
    return true;
  });
  // A version the archive cannot meet is the same kind of error.
  const tooNew = makeDeb(debs, { name: 'kl-test-toonew', version: '1.0', depends: 'tree (>= 999)' });
  await assert.rejects(
    buildDarksite(exec, log, index, opts(await inspectDebs(exec, [{ path: tooNew, from: '--deb' }]))),
    /kl-test-toonew_1\.0_all\.deb: cannot satisfy 'tree' .*tree \(>= 999\)/s,
  );
});

test('each supplied file is checked first: exists, readable by dpkg-deb, amd64 or all', async () => {
  const reject = async (path: string, want: RegExp) =>
    assert.rejects(inspectDebs(exec, [{ path, from: '--deb' }]), (e: unknown) => {
      assert.ok(e instanceof KldloadError);
      assert.equal(e.exitCode, EXIT.badInput);
      assert.match(e.message, want);
      return true;
    });
  const missing = join(work, 'nope.deb');
  await reject(missing, new RegExp(`^--deb ${missing}: no such file; give the path of a \\.deb`));
  const text = join(work, 'text.deb');
  writeFileSync(text, 'not a package\n');
  await reject(text, new RegExp(`^--deb ${text}: not a readable Debian package .*dpkg-deb --build`));
  await reject(debs, /not a file/);
  const arm = makeDeb(work, { name: 'kl-test-arm', version: '1.0', arch: 'arm64' });
  await reject(arm, new RegExp(`^--deb ${arm}: kl-test-arm 1\\.0 is built for arm64; the darksite is amd64`));
  // Two different files of one package are refused; the same file twice counts once.
  const other = makeDeb(join(work, 'other'), { name: 'kl-test-lib', version: '3.0', arch: 'amd64' });
  await assert.rejects(
    inspectDebs(exec, [
      { path: lib, from: '--deb' },
      { path: other, from: '--deb' },
    ]),
    /are both package kl-test-lib \(3\.0, 2\.0-1\); give only one/,
  );
  const twice = await inspectDebs(exec, [
    { path: lib, from: '--deb' },
    { path: lib, from: '--deb' },
  ]);
  assert.equal(twice.length, 1);
});

test("the payload's debs/*.deb count as if given with --deb", async () => {
  const payload = join(work, 'payload');
  mkdirSync(join(payload, 'debs'), { recursive: true });
  makeDeb(join(payload, 'debs'), { name: 'kl-test-payload', version: '1.0' });
  writeFileSync(join(payload, 'debs', 'README'), 'not a package\n');
  const src = payloadDebs(payload);
  assert.deepEqual(
    src.map((s) => s.path),
    [join(payload, 'debs', 'kl-test-payload_1.0_all.deb')],
  );
  const [d] = await inspectDebs(exec, src);
  assert.equal(d?.name, 'kl-test-payload');
  assert.deepEqual(payloadDebs(join(work, 'no-payload')), []);
  assert.deepEqual(payloadDebs(undefined), []);
});

test('the CLI refuses a bad --deb or payload debs/ file before any work (exit 2, names file and fix)', () => {
  const cli = (args: string[]) => {
    const r = cliJson(args);
    return { code: r.code, error: r.json.error ?? '', cache: r.cache };
  };
  const missing = join(work, 'missing.deb');
  const b = cli(['build', '--deb', missing, '-o', join(work, 'x.iso')]);
  assert.equal(b.code, EXIT.badInput);
  assert.match(b.error, new RegExp(`^--deb ${missing}: no such file`));
  assert.ok(!existsSync(join(b.cache, 'layers')) && !existsSync(join(b.cache, 'index')), 'work was done');

  const payload = join(work, 'cli-payload');
  makeDeb(join(payload, 'debs'), { name: 'kl-test-arm', version: '1.0', arch: 'arm64' });
  const p = cli(['build', '--payload', payload, '-o', join(work, 'x.iso')]);
  assert.equal(p.code, EXIT.badInput);
  assert.match(p.error, /^--payload .*cli-payload debs\/kl-test-arm_1\.0_arm64\.deb: .*built for arm64/);

  const text = join(work, 'cli-text.deb');
  writeFileSync(text, 'no\n');
  const d = cli(['darksite', 'build', '--deb', text]);
  assert.equal(d.code, EXIT.badInput);
  assert.match(d.error, /cli-text\.deb: not a readable Debian package/);
  assert.ok(!existsSync(join(d.cache, 'index')), 'the index was fetched before the check');
});
