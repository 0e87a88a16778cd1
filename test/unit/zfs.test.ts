import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KldloadError } from '../../src/core/errors.ts';
import {
  checkUserProps,
  parseGet,
  parseHolds,
  parseList,
  propsByName,
  USER_PROP_MAX,
  zfs,
} from '../../src/zfs/zfs.ts';
import { parseDiff } from '../../src/zfs/zfs-diff.ts';

const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof KldloadError && e.exitCode === 2 && re.test(e.message));

test('argv builders for day 2', () => {
  assert.deepEqual(
    zfs.snapshot('rpool/ROOT/default@kpkg-20261122-031800', true, { 'org.kldload:cmd': 'install htop' }),
    [
      'zfs',
      'snapshot',
      '-r',
      '-o',
      'org.kldload:cmd=install htop',
      'rpool/ROOT/default@kpkg-20261122-031800',
    ],
  );
  assert.deepEqual(
    zfs.clone('rpool/ROOT/default@a', 'rpool/ROOT/b', { canmount: 'noauto', mountpoint: '/' }),
    [
      'zfs',
      'clone',
      '-p',
      '-o',
      'canmount=noauto',
      '-o',
      'mountpoint=/',
      'rpool/ROOT/default@a',
      'rpool/ROOT/b',
    ],
  );
  assert.deepEqual(zfs.promote('rpool/ROOT/b'), ['zfs', 'promote', 'rpool/ROOT/b']);
  assert.deepEqual(zfs.rename('rpool/ROOT/b', 'rpool/ROOT/c'), [
    'zfs',
    'rename',
    'rpool/ROOT/b',
    'rpool/ROOT/c',
  ]);
  assert.deepEqual(zfs.rename('rpool@a', 'rpool@b', true), ['zfs', 'rename', '-r', 'rpool@a', 'rpool@b']);
  assert.deepEqual(zfs.destroy('rpool/ROOT/b', { recursive: true }), [
    'zfs',
    'destroy',
    '-r',
    'rpool/ROOT/b',
  ]);
  assert.deepEqual(zfs.destroy('rpool/home@x', { dryRun: true }), [
    'zfs',
    'destroy',
    '-n',
    '-v',
    '-p',
    'rpool/home@x',
  ]);
  assert.ok(!zfs.destroy('rpool/a', { recursive: true }).includes('-R'), 'never -R');
  assert.deepEqual(zfs.rollback('rpool/home@x'), ['zfs', 'rollback', 'rpool/home@x']);
  assert.deepEqual(zfs.rollback('rpool/home@x', true), ['zfs', 'rollback', '-r', 'rpool/home@x']);
  assert.deepEqual(zfs.hold('kldload', 'rpool@a', true), ['zfs', 'hold', '-r', 'kldload', 'rpool@a']);
  assert.deepEqual(zfs.release('kldload', 'rpool@a'), ['zfs', 'release', 'kldload', 'rpool@a']);
  assert.deepEqual(zfs.holds('rpool@a', true), ['zfs', 'holds', '-H', '-p', '-r', 'rpool@a']);
  assert.deepEqual(
    zfs.list(['name', 'used'], { roots: ['rpool/ROOT'], types: ['filesystem'], depth: 1, sortBy: 'name' }),
    ['zfs', 'list', '-Hp', '-o', 'name,used', '-t', 'filesystem', '-d', '1', '-s', 'name', 'rpool/ROOT'],
  );
  assert.deepEqual(zfs.list(['name'], { recursive: true, types: ['snapshot'] }), [
    'zfs',
    'list',
    '-Hp',
    '-o',
    'name',
    '-t',
    'snapshot',
    '-r',
  ]);
  assert.deepEqual(zfs.get('rpool', ['org.kldload:cmd', 'creation'], true), [
    'zfs',
    'get',
    '-Hp',
    '-r',
    '-o',
    'name,property,value,source',
    'org.kldload:cmd,creation',
    'rpool',
  ]);
  assert.deepEqual(zfs.setUser('rpool/ROOT/b', { 'org.kldload:be': 'yes' }), [
    'zfs',
    'set',
    'org.kldload:be=yes',
    'rpool/ROOT/b',
  ]);
  assert.deepEqual(zfs.inherit('rpool/ROOT/b', 'org.kldload:be'), [
    'zfs',
    'inherit',
    'org.kldload:be',
    'rpool/ROOT/b',
  ]);
  assert.deepEqual(zfs.diff('rpool/home@a'), ['zfs', 'diff', '-H', '-F', 'rpool/home@a']);
  assert.deepEqual(zfs.diff('rpool/home@a', 'rpool/home@b'), [
    'zfs',
    'diff',
    '-H',
    '-F',
    'rpool/home@a',
    'rpool/home@b',
  ]);
  assert.deepEqual(zfs.mountAt('rpool/ROOT/b', '/run/kldload/be/b'), [
    'mount',
    '-t',
    'zfs',
    '-o',
    'zfsutil',
    'rpool/ROOT/b',
    '/run/kldload/be/b',
  ]);
});

test('bad names and user properties are refused before anything runs (exit 2, names the value)', () => {
  refused(() => zfs.snapshot('rpool/ROOT/default'), /snapshot "rpool\/ROOT\/default"/);
  refused(() => zfs.snapshot('rpool@a b'), /snapshot "rpool@a b"/);
  refused(() => zfs.clone('rpool@a', 'rpool/ROOT/x;rm -rf /'), /dataset/);
  refused(() => zfs.destroy('-r'), /dataset or snapshot "-r"/);
  refused(() => zfs.rename('rpool/a', 'rpool@b'), /both must be snapshots or both datasets/);
  refused(() => zfs.rename('rpool/a', 'rpool/b', true), /snapshots only/);
  refused(() => zfs.hold('bad tag', 'rpool@a'), /hold tag/);
  refused(() => checkUserProps({ cmd: 'x' }), /user property "cmd": module:name/);
  refused(() => checkUserProps({ 'Org.kldload:cmd': 'x' }), /lowercase/);
  refused(() => checkUserProps({ 'org.kldload:cmd': 'a\tb' }), /no tabs or newlines/);
  refused(() => checkUserProps({ 'org.kldload:cmd': 'a\nb' }), /no tabs or newlines/);
  refused(() => checkUserProps({ 'org.kldload:cmd': 'é'.repeat(USER_PROP_MAX) }), /at most 8191 bytes/);
  checkUserProps({ 'org.kldload:cmd': 'x'.repeat(USER_PROP_MAX) });
});

test('parsers of -Hp output', () => {
  const get = parseGet(
    [
      'rpool/ROOT/default@kpkg-1\torg.kldload:cmd\tinstall htop tmux\tlocal',
      'rpool/ROOT/default@kpkg-1\tcreation\t1763781480\t-',
      'rpool/ROOT/default@kpkg-1\torg.kldload:pkgs\t-\t-',
      '',
    ].join('\n'),
  );
  const by = propsByName(get);
  assert.deepEqual(by.get('rpool/ROOT/default@kpkg-1'), {
    'org.kldload:cmd': { value: 'install htop tmux', source: 'local' },
    creation: { value: '1763781480', source: '-' },
  });
  assert.deepEqual(
    parseList('rpool/ROOT/a\t1024\t/\nrpool/ROOT/b\t0\t-\n', ['name', 'used', 'mountpoint'] as const),
    [
      { name: 'rpool/ROOT/a', used: '1024', mountpoint: '/' },
      { name: 'rpool/ROOT/b', used: '0', mountpoint: '-' },
    ],
  );
  assert.deepEqual(parseHolds('rpool@a\tkldload\t1763781480\nrpool/home@a\tkldload\t1763781481\n'), [
    { snapshot: 'rpool@a', tag: 'kldload', created: 1763781480 },
    { snapshot: 'rpool/home@a', tag: 'kldload', created: 1763781481 },
  ]);
  assert.deepEqual(
    parseDiff(
      'M\t/\t/etc\n+\tF\t/etc/my\\040file\n-\t@\t/usr/bin/x\nR\tF\t/a\t/b\\303\\251\nM\tF\t/etc/ln\t(-1)\n',
    ),
    [
      { change: 'M', type: '/', path: '/etc' },
      { change: '+', type: 'F', path: '/etc/my file' },
      { change: '-', type: '@', path: '/usr/bin/x' },
      { change: 'R', type: 'F', path: '/a', to: '/bé' },
      // A link count change is not a rename target.
      { change: 'M', type: 'F', path: '/etc/ln', links: -1 },
    ],
  );
  assert.throws(() => parseDiff('garbage\n'), /unexpected line/);
  assert.throws(() => parseDiff('+\tF\t/a\t/b\n'), /unexpected line/);
});
