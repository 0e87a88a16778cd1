/**
 * The receiving side's forced command (replicate-serve) and file reader (replicate-read), run by the
 * host's real bash with SSH_ORIGINAL_COMMAND as sshd sets it. zfs, zpool, ps, sudo, mount and umount
 * are PATH shims that print the argv they got, so each test sees exactly what would have run.
 * The accepted lines are what trixie's syncoid 2.2.0 sent to a target in a recorded run
 * (test/fixtures/replicate/syncoid-2.2.0-target.txt: a first and an incremental sync, with the
 * options of syncoidArgv).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPLICATE_READ, REPLICATE_SERVE } from '../../src/fleet/replicate-serve.ts';

const d = mkdtempSync(join(tmpdir(), 'kl-repl-'));
const bin = join(d, 'bin');
mkdirSync(bin);
const shim = (name: string, body = `printf 'RAN %s\\n' "${name} $*"`) =>
  writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
for (const n of ['zfs', 'zpool', 'sudo']) shim(n);
shim('ps', "printf 'sshd: x\\nzfs receive -u -s -F rpool/replica/data\\nbash\\n'");
shim('logger', 'true');
writeFileSync(join(d, 'serve'), REPLICATE_SERVE, { mode: 0o755 });
writeFileSync(join(d, 'read'), REPLICATE_READ, { mode: 0o755 });

const PATH = `${bin}:/usr/bin:/bin`;
const serve = (line: string, root = 'rpool/replica') =>
  spawnSync('bash', [join(d, 'serve'), root], {
    encoding: 'utf8',
    env: { PATH, SSH_ORIGINAL_COMMAND: line },
  });

test('every command syncoid 2.2.0 sent to the target runs, unquoted, as an argv', () => {
  const lines = readFileSync('test/fixtures/replicate/syncoid-2.2.0-target.txt', 'utf8').split('\n');
  const expect: Record<string, string> = {
    exit: '',
    'echo -n': '',
    "zpool get -o value -H feature@extensible_dataset 'rpool'":
      'RAN zpool get -o value -H feature@extensible_dataset rpool\n',
    'ps -Ao args=': 'zfs receive -u -s -F rpool/replica/data\n',
    "zfs get -H name 'rpool/replica/data'": 'RAN zfs get -H name rpool/replica/data\n',
    "zfs get -Hpd 1 -t snapshot guid,creation 'rpool/replica/data'":
      'RAN zfs get -Hpd 1 -t snapshot guid,creation rpool/replica/data\n',
    "  zfs receive -u  -s -F 'rpool/replica/data'": 'RAN zfs receive -u -s -F rpool/replica/data\n',
    " zfs destroy 'rpool/replica/data'@syncoid_web_vm_2026-12-01:18:56:30-GMT00:00":
      'RAN zfs destroy rpool/replica/data@syncoid_web_vm_2026-12-01:18:56:30-GMT00:00\n',
  };
  let checked = 0;
  for (const line of lines.filter(Boolean)) {
    const r = serve(line);
    if (line === 'command -v mbuffer') {
      // "Not here": syncoid then sends without mbuffer on this side (no pipeline is allowed).
      assert.equal(r.status, 1, line);
      assert.equal(r.stdout, '');
      continue;
    }
    assert.equal(r.status, 0, `${line}: ${r.stderr}`);
    if (line in expect) {
      assert.equal(r.stdout, expect[line], line);
      checked++;
    }
  }
  assert.ok(checked >= Object.keys(expect).length, 'every expected form was among the recorded lines');
});

test("receive's stderr reaches stdout when syncoid asks for 2>&1", () => {
  shim('zfs', 'echo "cannot receive: oops" >&2; exit 1');
  try {
    const r = serve("  zfs receive -u  -s -F 'rpool/replica/data' 2>&1");
    assert.equal(r.status, 1);
    assert.match(r.stdout, /cannot receive: oops/);
  } finally {
    shim('zfs');
  }
});

test('chained syncoid prunes run each destroy; any other part in the chain refuses all of them', () => {
  const ok = serve(
    "zfs destroy 'rpool/replica/data'@syncoid_a_h_1; zfs destroy 'rpool/replica/data'@syncoid_a_h_2",
  );
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(
    ok.stdout,
    'RAN zfs destroy rpool/replica/data@syncoid_a_h_1\nRAN zfs destroy rpool/replica/data@syncoid_a_h_2\n',
  );
  for (const bad of [
    "zfs destroy 'rpool/replica/data'@syncoid_a; rm -rf /",
    "zfs destroy 'rpool/replica/data'@syncoid_a; zfs destroy rpool/replica/data",
    "zfs destroy 'rpool/replica/data'@syncoid_a; zfs destroy rpool/other/x@syncoid_b",
  ]) {
    const r = serve(bad);
    assert.equal(r.status, 126, bad);
    assert.equal(r.stdout, '', `${bad}: nothing ran`);
  }
});

test("a broken resume is reset with syncoid's own 'zfs receive -A', below the root only", () => {
  const r = serve("zfs receive -A 'rpool/replica/data'");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'RAN zfs receive -A rpool/replica/data\n');
  assert.equal(serve("zfs receive -A 'rpool/other/data'").status, 126);
});

test('refused: other datasets, other commands, shell syntax, the parent itself', () => {
  for (const bad of [
    '',
    'bash',
    'sh -c id',
    "zfs receive -u -s -F 'rpool/other/data'",
    "zfs receive -u -s -F 'rpool/replica'",
    "zfs receive -s -F 'rpool/replica/data'", // without -u (mounting needs root; and it is not syncoid's line)
    "zfs receive -u -s -F 'rpool/replica/data' -o mountpoint=/etc",
    "zfs receive -u -s -F 'rpool/replica/../secret'",
    'zfs destroy -r rpool/replica/data',
    'zfs destroy rpool/replica/data',
    'zfs destroy rpool/replica/data@autosnap_2026',
    'zfs send -R rpool/replica/data@s',
    'zfs send -L -c -e rpool/other/data@s',
    'zfs get -H name rpool/replica/data $(reboot)',
    'zfs get -H name `reboot`',
    "zfs get -H name 'rpool/replica/data' | sh",
    'zfs get -H name rpool/replica/data && reboot',
    'zfs get -H name rpool/replica/data\nreboot',
    'zfs get -H name "rpool/replica/data"',
    "zfs get -H name 'rpool/replica/data",
    'zfs get all rpool/replica/data',
    'zpool get -o value -H feature@extensible_dataset tank',
    'zpool destroy rpool',
    'zfs allow rpool/replica/data',
    'kldload-read cat rpool/other/x@s cGF0aA==',
    'kldload-read rm rpool/replica/x@s cGF0aA==',
  ]) {
    const r = serve(bad);
    assert.equal(r.status, 126, `${JSON.stringify(bad)} was not refused: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', `${JSON.stringify(bad)}: nothing ran`);
    assert.match(r.stderr, /refused/);
  }
});

test("kldload's own lines: snapshot list, send of a replica snapshot, a file through sudo's helper", () => {
  const list = serve('zfs list -Hp -o name,creation -t snapshot -s creation -d 1 rpool/replica/data');
  assert.equal(
    list.stdout,
    'RAN zfs list -Hp -o name,creation -t snapshot -s creation -d 1 rpool/replica/data\n',
  );
  const send = serve('zfs send -L -c -e rpool/replica/data@syncoid_a_h_1');
  assert.equal(send.stdout, 'RAN zfs send -L -c -e rpool/replica/data@syncoid_a_h_1\n');
  const read = serve('kldload-read cat rpool/replica/data@s1 L2EvYi50eHQ=');
  assert.equal(
    read.stdout,
    'RAN sudo -n /usr/lib/kldload/replicate-read cat rpool/replica rpool/replica/data@s1 L2EvYi50eHQ=\n',
  );
});

test('replicate-read: a file of the snapshot; .. parts, symlinks out of it and non-files refused', () => {
  const tree = join(d, 'snap-tree');
  mkdirSync(join(tree, 'docs'), { recursive: true });
  writeFileSync(join(tree, 'docs/report one.txt'), 'the report\n', { mode: 0o640 });
  symlinkSync('/etc/passwd', join(tree, 'abs-link'));
  symlinkSync('../../../../../../etc/passwd', join(tree, 'docs/rel-out'));
  symlinkSync('report one.txt', join(tree, 'docs/rel-in'));
  // Out of the snapshot to nothing: refused the same way, so the answer never tells whether a path
  // exists on the receiving host.
  symlinkSync('/nonexistent-kldload-probe', join(tree, 'docs/gone-out'));
  const run = join(d, 'run');
  mkdirSync(run);
  // mount copies the fixture "snapshot" into the folder; umount empties it (as a real umount leaves it).
  shim('mount', `[ "$1 $2 $3 $4" = "-t zfs -o ro" ] || exit 9; cp -a ${tree}/. "$6"`);
  shim('umount', 'find "$1" -mindepth 1 -delete');
  const read = (verb: string, path: string, snap = 'rpool/replica/data@s1') =>
    spawnSync('bash', [join(d, 'read'), verb, 'rpool/replica', snap, Buffer.from(path).toString('base64')], {
      encoding: 'utf8',
      env: { PATH, KLDLOAD_REPL_RUN: run },
    });
  const cat = read('cat', '/docs/report one.txt');
  assert.equal(cat.status, 0, cat.stderr);
  assert.equal(cat.stdout, 'the report\n');
  assert.match(read('stat', 'docs/report one.txt').stdout, /^640 \d+ \d+ 11\n$/);
  assert.equal(read('cat', 'docs/rel-in').stdout, 'the report\n');
  for (const [path, why] of [
    ['../../etc/passwd', /\.\. parts/],
    ['/docs/../../x', /\.\. parts/],
    ['abs-link', /leaves the snapshot/],
    ['docs/rel-out', /leaves the snapshot/],
    ['docs/gone-out', /leaves the snapshot/],
    ['docs', /not a regular file/],
    ['nope', /no such file/],
    ['', /must name a file/],
  ] as const) {
    const r = read('cat', path);
    assert.equal(r.status, 126, `${path}: ${r.stdout}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, why, path);
  }
  assert.match(read('cat', 'docs/rel-in', 'rpool/other/data@s1').stderr, /not a snapshot below/);
  // Every mount was undone and its folder removed.
  assert.equal(spawnSync('ls', ['-A', run], { encoding: 'utf8' }).stdout, '');
});

test('both scripts pass shellcheck', { skip: spawnSync('shellcheck', ['--version']).status !== 0 }, () => {
  for (const f of ['serve', 'read']) {
    const r = spawnSync('shellcheck', ['-s', 'bash', join(d, f)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout);
  }
});
