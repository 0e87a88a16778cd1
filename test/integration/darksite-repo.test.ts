/**
 * The darksite repository with real tools: packages fetched from the Debian mirror and checked
 * against the signed index, apt-ftparchive, gpg, and apt-get itself as the judge.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { debCachePath, fetchDebs } from '../../src/darksite/fetch.ts';
import {
  makeScratchRoot,
  type RepoDeb,
  scratchApt,
  simulateInstall,
  sourcesLine,
  verifyRepo,
  writeRepo,
} from '../../src/darksite/repo.ts';
import { resolve } from '../../src/darksite/resolve.ts';
import { buildIndex } from '../../src/darksite/resolve-index.ts';
import { ensureSigningKey } from '../../src/darksite/signing-key.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { REPO } from '../../src/layout.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

useThrowAwayCache({ downloads: true });

const exec = new SystemExecutor();
const log = new Logger({ quiet: true });
const work = mkdtempSync(join(tmpdir(), 'kl-darksite-'));
const repo = join(work, 'repo');
const suite = 'trixie';
let mirror = '';
let debs: RepoDeb[] = [];

before(async () => {
  mirror = hostMirror();
  const index = await loadSuiteIndex(exec, mirror, suite);
  // A small closure: `hello` and its libraries only (no required/important set).
  const r = resolve(buildIndex(index.packages), [{ name: 'hello', from: 'test' }], {
    includePriorities: [],
    essential: false,
  });
  assert.deepEqual(r.errors, []);
  const paths = await fetchDebs(mirror, r.packages, { concurrency: 4 });
  debs = r.packages.map((p) => ({
    name: p.name,
    version: p.version,
    arch: p.arch,
    path: paths.get(p.name) ?? '',
  }));
  const key = await ensureSigningKey(exec, join(work, 'gnupg'));
  await writeRepo(exec, log, { dir: repo, suite, debs, key });
});

test('a built repository verifies: signature, Packages, every .deb', async () => {
  assert.ok(debs.length >= 2 && debs.some((d) => d.name === 'hello'));
  assert.ok(existsSync(join(repo, 'dists', suite, 'InRelease')));
  assert.ok(existsSync(join(repo, 'dists', suite, 'Release.gpg')));
  assert.deepEqual(await verifyRepo(exec, repo, suite), []);
});

test('apt accepts it with signed-by and installs from it offline (simulated, empty system)', async () => {
  const r = await simulateInstall(exec, {
    dir: repo,
    suite,
    packages: ['hello'],
    scratch: join(work, 'sim'),
  });
  assert.ok(r.ok, r.output);
  assert.match(r.output, /Inst hello /);
});

test('apt rejects it when signed-by names another key', async () => {
  const other = await ensureSigningKey(exec, join(work, 'other-gnupg'));
  const root = join(work, 'wrongkey');
  makeScratchRoot(root, sourcesLine(repo, suite, other.keyring));
  const r = await exec.run(['apt-get', ...scratchApt(root), 'update'], { check: false });
  assert.match(r.all, /NO_PUBKEY|not signed|signature/i);
  const sim = await exec.run(['apt-get', ...scratchApt(root), '-s', 'install', 'hello'], { check: false });
  assert.notEqual(sim.exitCode, 0, 'apt installed from a repository signed by an untrusted key');
});

test('a flipped byte in a .deb: verify names the file and apt refuses it', async () => {
  const tampered = join(work, 'tampered');
  cpSync(repo, tampered, { recursive: true });
  const pool = join(tampered, 'pool', REPO.component, 'h', 'hello');
  const deb = join(pool, readdirSync(pool)[0] as string);
  const bytes = readFileSync(deb);
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff;
  writeFileSync(deb, bytes);
  const findings = await verifyRepo(exec, tampered, suite);
  assert.deepEqual(findings, [{ file: deb, problem: 'SHA256 mismatch against Packages' }]);
  const root = join(work, 'tamper-apt');
  makeScratchRoot(root, sourcesLine(tampered, suite, join(tampered, REPO.keyring)));
  const apt = scratchApt(root);
  await exec.run(['apt-get', ...apt, 'update']);
  const dl = await exec.run(['apt-get', ...apt, '-y', '--download-only', 'install', 'hello'], {
    check: false,
  });
  assert.notEqual(dl.exitCode, 0);
  assert.match(dl.all, /Hash Sum mismatch|Hashes of expected file|SHA256/i);
});

test('a tampered Packages index fails the signature chain', async () => {
  const t = join(work, 'tampered-index');
  cpSync(repo, t, { recursive: true });
  const pk = join(t, 'dists', suite, REPO.component, 'binary-amd64', 'Packages');
  writeFileSync(pk, readFileSync(pk, 'utf8').replace('Package: hello', 'Package: hellp'));
  const f = await verifyRepo(exec, t, suite);
  assert.equal(f.length, 1);
  assert.match(f[0]?.problem ?? '', /does not match the signed Release/);
});

test('a download whose content does not match the index is refused and not cached', async () => {
  const real = debs.find((d) => d.name === 'hello');
  assert.ok(real);
  const index = await loadSuiteIndex(exec, mirror, suite);
  const st = index.packages.find((s) => s.get('Package') === 'hello');
  const wrong = '0'.repeat(64);
  await assert.rejects(
    fetchDebs(mirror, [
      { name: 'hello', filename: st?.get('Filename') ?? '', sha256: wrong, size: Number(st?.get('Size')) },
    ]),
    /SHA256 mismatch.*discarded/,
  );
  assert.ok(!existsSync(debCachePath(wrong)));
});
