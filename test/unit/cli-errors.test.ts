/**
 * Every command's failure path, through the real CLI (the bundle, rebuilt from this tree first):
 * in text mode the message reaches stderr, in --json mode stdout holds one JSON error object.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, rebuildBundle } from './cli-helper.ts';

const work = mkdtempSync(join(tmpdir(), 'kl-cli-errors-'));
const missing = join(work, 'missing');
const fakeRepo = join(work, 'repo');

before(() => {
  const b = rebuildBundle();
  assert.equal(b.code, 0, b.stderr);
  // Enough of a darksite for serve's checks to reach the address rule.
  mkdirSync(join(fakeRepo, 'dists', 'trixie'), { recursive: true });
  writeFileSync(join(fakeRepo, 'dists', 'trixie', 'InRelease'), '');
});

after(() => rmSync(work, { recursive: true, force: true }));

/** [argv, exit code, what the message must say, and in JSON if that differs] */
const failures: [string[], number, RegExp, RegExp?][] = [
  [['darksite', 'serve', missing], 2, /missing: not a darksite repository/],
  [['darksite', 'serve', fakeRepo, '--listen', '0.0.0.0:0'], 2, /not a loopback address; add --public/],
  [['darksite', 'serve', fakeRepo, '--listen', 'nowhere'], 2, /--listen nowhere: expected HOST:PORT/],
  [['darksite', 'ls', missing], 2, /missing/],
  [['darksite', 'verify', missing], 1, /missing\/dists\/trixie\/InRelease\b/],
  [['darksite', 'resolve', '--deb', `${missing}.deb`], 2, /missing\.deb/],
  [['darksite', 'build', '--deb', `${missing}.deb`], 2, /missing\.deb/],
  [['answers', 'validate', missing], 2, /missing: no such file/, /missing","message":"no such file/],
  [
    ['install', '--config', missing, '--dry-run'],
    2,
    /missing: no such file/,
    /missing","message":"no such file/,
  ],
  [['install', '--dry-run'], 2, /--config FILE is required/],
  [['build', '--answers', missing, '-o', join(work, 'x.iso')], 2, /missing/],
  [['build', '--payload', missing, '-o', join(work, 'x.iso')], 2, /missing/],
  [['build', '--role', 'no-such-role', '-o', join(work, 'x.iso')], 2, /no-such-role/],
  [['test', `${missing}.iso`], 2, /missing\.iso: no such ISO/],
  [['postinstall', 'check', missing], 2, /missing/],
  [['postinstall', 'plan', missing, '--host', 'web-01'], 2, /missing: no such folder/],
  // Day 2, on a host that did not boot from a boot environment: names refused before any fact is read.
  [['snap', 'destroy', 'rpool/ROOT/test'], 2, /rpool\/ROOT\/test: not a snapshot .*kbe destroy/],
  [['snap', 'diff', 'rpool/home@a', 'rpool/srv'], 2, /rpool\/srv is not of rpool\/home/],
  [['snap', 'create'], 1, /did not boot from a ZFS boot environment/],
  [['snap', 'list', 'not a dataset'], 2, /neither a path .* nor a dataset/],
  [['be', 'rename', 'old', 'a b'], 2, /boot environment name "a b"/, /boot environment name \\"a b\\"/],
  [['be', 'mount', 'old'], 1, /did not boot from a ZFS boot environment/],
  // kupgrade's default subcommand takes the options; day-2 commands need a ZFS boot environment.
  [['upgrade', '--dry-run'], 1, /did not boot from a ZFS boot environment/],
  [['upgrade', 'status'], 1, /did not boot from a ZFS boot environment/],
];

test('text mode: every failure prints its message to stderr and nothing to stdout', () => {
  for (const [args, code, message] of failures) {
    const r = cli(args);
    const what = `kldload ${args.join(' ')}`;
    assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, `${what}: stderr was ${JSON.stringify(r.stderr)}`);
    assert.equal(r.stdout, '', `${what}: stdout`);
  }
});

test('--json mode: every failure is one JSON object with ok false on stdout', () => {
  for (const [args, code, message, jsonMessage] of failures) {
    const r = cli([...args, '--json']);
    const what = `kldload ${args.join(' ')} --json`;
    assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
    const j = JSON.parse(r.stdout) as {
      ok?: boolean;
      error?: string;
      findings?: unknown[];
      errors?: unknown[];
    };
    assert.equal(j.ok, false, what);
    assert.match(JSON.stringify(j), jsonMessage ?? message, what);
  }
});
