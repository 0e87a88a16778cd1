/**
 * kpkg: what apt's simulation says decides whether a snapshot is taken; the hook finds the apt run
 * it serves through shells and node (the hook file read by the real apt-config:
 * test/integration/day2-pkg.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aptRun, statFields } from '../../src/cli/commands/pkg.ts';
import { renderPlan } from '../../src/core/plan.ts';
import { aptArgs, parseSimulate, planPkg, snapshotName } from '../../src/day2/pkg.ts';

// apt-get -s output as Debian's apt prints it (captured from apt 2.6: install tree; purge cpio).
const INSTALL = `Reading package lists...
Building dependency tree...
Reading state information...
The following NEW packages will be installed:
  tree
0 upgraded, 1 newly installed, 0 to remove and 138 not upgraded.
Inst tree (2.1.0-1 Debian:12.15/oldstable [amd64])
Conf tree (2.1.0-1 Debian:12.15/oldstable [amd64])
`;
const PURGE = `The following packages will be REMOVED:
  cpio*
0 upgraded, 0 newly installed, 1 to remove and 138 not upgraded.
Purg cpio [2.13+dfsg-7.1]
`;
const NOTHING = `tree is already the newest version (2.1.0-1).
0 upgraded, 0 newly installed, 0 to remove and 138 not upgraded.
`;

const F = {
  booted: 'rpool/ROOT/default',
  stamp: '20261130T102551Z',
  snapshots: ['install-20261122T031800Z'],
};

test("apt's simulation: Inst/Remv/Purg lines are the changes; Conf lines are not counted twice", () => {
  assert.deepEqual(parseSimulate(INSTALL), [{ action: 'install', name: 'tree' }]);
  assert.deepEqual(parseSimulate(PURGE), [{ action: 'purge', name: 'cpio' }]);
  assert.deepEqual(parseSimulate(NOTHING), []);
});

test('kpkg install: one snapshot of the running BE with the command and packages, then apt without the hook', () => {
  const plan = planPkg(F, 'install', ['tree'], parseSimulate(INSTALL));
  assert.equal(
    renderPlan(plan, '/'),
    `[1/2] snapshot: rpool/ROOT/default@kpkg-20261130T102551Z: the boot environment before 1 change(s)
    $ zfs snapshot -r -o 'org.kldload:cmd=kpkg install tree' -o org.kldload:packages=tree rpool/ROOT/default@kpkg-20261130T102551Z
[2/2] apt: apt-get install tree
    $ env KLDLOAD_KPKG=1 apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install tree
[on failure] cleanup:`,
  );
});

test('kpkg: no change, no snapshot and no apt run', () => {
  const plan = planPkg(F, 'install', ['tree'], parseSimulate(NOTHING));
  assert.deepEqual(plan.steps, []);
  assert.equal(plan.facts.snapshot, null);
});

test('kpkg: purge is remove --purge; names are checked; upgrade takes none', () => {
  assert.deepEqual(aptArgs('purge', ['cpio']), ['remove', '--purge', 'cpio']);
  assert.deepEqual(aptArgs('full-upgrade', []), ['full-upgrade']);
  assert.throws(() => aptArgs('install', []), /needs at least one package name/);
  assert.throws(() => aptArgs('upgrade', ['x']), /takes no package names/);
  assert.throws(() => aptArgs('install', ['-o', 'x']), /not a package name/);
  assert.throws(() => aptArgs('install', ['tree;rm']), /not a package name/);
  assert.deepEqual(aptArgs('install', ['tree=2.1.0-1', 'htop/trixie-backports']), [
    'install',
    'tree=2.1.0-1',
    'htop/trixie-backports',
  ]);
});

test('two snapshots in the same second get distinct names', () => {
  assert.equal(snapshotName('S', []), 'kpkg-S');
  assert.equal(snapshotName('S', ['kpkg-S']), 'kpkg-S-2');
  assert.equal(snapshotName('S', ['kpkg-S', 'kpkg-S-2']), 'kpkg-S-3');
});

test('the hook finds the apt run through sh -c and kldload’s node, and reads comm with spaces', () => {
  const procs: Record<number, string> = {
    400: '400 (node) S 399 400 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 9000 1 1',
    399: '399 (sh) S 300 399 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 8999 1 1',
    300: '300 (apt-get) S 1 300 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 8888 1 1',
  };
  assert.deepEqual(
    aptRun((p) => procs[p] ?? '', 399),
    { pid: 300, start: '8888' },
  );
  assert.deepEqual(statFields('77 (unattended-upgr ade) S 1 77 1 0 -1 0 1 0 0 0 0 0 0 0 20 0 1 0 5555 1 1'), {
    comm: 'unattended-upgr ade',
    ppid: 1,
    start: '5555',
  });
});
