/**
 * ksnap create / list / destroy / diff: the planners (golden plans), the list and diff views, and
 * the commands themselves run against a fixture machine (files under a scratch root; findmnt and
 * zfs answered by a recorder, as the real tools print).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveDataset, snapCreate, snapDestroy, snapDiff, snapList } from '../../src/cli/commands/snap.ts';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { RecordingExecutor, type RunResult } from '../../src/core/exec.ts';
import {
  groupSnapshots,
  LIST_COLS,
  planSnapCreate,
  planSnapDestroy,
  renderSnapshots,
} from '../../src/day2/snap.ts';
import { diffArgv, renderDiff } from '../../src/day2/snap-diff.ts';
import { humanBytes, parseList } from '../../src/zfs/zfs.ts';
import { parseDiff } from '../../src/zfs/zfs-diff.ts';
import { golden, refused } from './day2-golden.ts';

const STAMP = '20261130T102551Z';

test('ksnap create: the booted BE by default, @ksnap-<stamp> unique, the command kept', () => {
  golden(
    'snap-create',
    planSnapCreate(
      { dataset: 'rpool/ROOT/default', stamp: STAMP, taken: [`ksnap-${STAMP}`] },
      { recursive: false, cmd: 'ksnap create' },
    ),
  );
  golden(
    'snap-create-recursive-named',
    planSnapCreate(
      { dataset: 'rpool/home', stamp: STAMP, taken: ['install-20261122T031800Z'] },
      {
        recursive: true,
        name: 'before-migration',
        cmd: 'ksnap create /home --recursive --name before-migration',
      },
    ),
  );
});

test('ksnap create refuses a taken or malformed --name before anything runs', () => {
  const f = { dataset: 'rpool/home', stamp: STAMP, taken: ['a'] };
  refused(
    () => planSnapCreate(f, { recursive: true, name: 'a', cmd: 'x' }),
    /rpool\/home@a exists \(on it or a dataset below it\); choose another --name/,
  );
  refused(
    () => planSnapCreate(f, { recursive: false, name: 'a b', cmd: 'x' }),
    /--name "a b": letters, digits/,
  );
  refused(() => planSnapCreate(f, { recursive: false, name: 'x@y', cmd: 'x' }), /--name "x@y"/);
});

test('ksnap destroy: one snapshot; refused for a BE origin (naming the BE), a held one, a name without @', () => {
  golden('snap-destroy', planSnapDestroy({ snapshot: 'rpool/home@ksnap-1', clones: [], holds: 0 }));
  refused(
    () =>
      planSnapDestroy({
        snapshot: 'rpool/ROOT/default@kbe-test-20261122-031800',
        clones: ['rpool/ROOT/test'],
        holds: 0,
      }),
    /is the origin of rpool\/ROOT\/test \(boot environment test: kbe destroy test\); destroy that clone first/,
  );
  refused(
    () => planSnapDestroy({ snapshot: 'tank/vm@gold', clones: ['tank/vm1', 'tank/vm2'], holds: 0 }),
    /origin of tank\/vm1 \(zfs destroy tank\/vm1\), tank\/vm2 \(zfs destroy tank\/vm2\); destroy those clones/,
  );
  refused(
    () => planSnapDestroy({ snapshot: 'rpool@install-1', clones: [], holds: 2 }),
    /has 2 hold\(s\) \(see zfs holds rpool@install-1\); release them first/,
  );
  refused(
    () => planSnapDestroy({ snapshot: 'rpool/ROOT/test', clones: [], holds: 0 }),
    /rpool\/ROOT\/test: not a snapshot .* a boot environment goes with kbe destroy/,
  );
});

// `zfs list -Hp -o name,creation,used,org.kldload:cmd -t snapshot -s createtxg` as zfs prints it.
const LIST = [
  'rpool@install-20261122T031800Z\t1763781480\t0\t-',
  'rpool/home@install-20261122T031800Z\t1763781480\t1536\t-',
  'rpool/ROOT/default@install-20261122T031800Z\t1763781480\t41943040\t-',
  'rpool/ROOT/default@kpkg-20261130T102551Z\t1764498351\t1232896\tkpkg install tree',
  'rpool/home@autosnap_2026-12-01_00:00:01_daily\t1764547201\t0\t-',
  '',
].join('\n');

test('ksnap list: by dataset in name order, oldest first, creation in UTC, cmd or null', () => {
  const groups = groupSnapshots(parseList(LIST, LIST_COLS));
  assert.deepEqual(
    groups.map((g) => [g.dataset, g.snapshots.map((s) => s.name)]),
    [
      ['rpool', ['install-20261122T031800Z']],
      ['rpool/ROOT/default', ['install-20261122T031800Z', 'kpkg-20261130T102551Z']],
      ['rpool/home', ['install-20261122T031800Z', 'autosnap_2026-12-01_00:00:01_daily']],
    ],
  );
  assert.deepEqual(groups[1]?.snapshots[1], {
    snapshot: 'rpool/ROOT/default@kpkg-20261130T102551Z',
    name: 'kpkg-20261130T102551Z',
    created: '2025-11-30T10:25:51Z',
    used: 1232896,
    cmd: 'kpkg install tree',
  });
  assert.equal(groups[0]?.snapshots[0]?.cmd, null);
  const text = renderSnapshots(groups);
  assert.match(text, /^rpool\/ROOT\/default\n {2}NAME +CREATED \(UTC\) +USED +COMMAND$/m);
  assert.match(text, /^ {2}kpkg-20261130T102551Z +2025-11-30 10:25:51 +1\.18M {2}kpkg install tree$/m);
  assert.equal(renderSnapshots([], 'rpool/srv'), 'no snapshots of rpool/srv or below it');
  assert.deepEqual([0, 512, 1536, 12.3 * 1024 ** 2, 300 * 1024 ** 3].map(humanBytes), [
    '0B',
    '512B',
    '1.50K',
    '12.3M',
    '300G',
  ]);
});

test('ksnap diff: only a later snapshot of the same dataset or the dataset itself; typed rows', () => {
  assert.deepEqual(diffArgv('rpool/home@a'), ['zfs', 'diff', '-H', '-F', 'rpool/home@a']);
  assert.deepEqual(diffArgv('rpool/home@a', 'rpool/home'), [
    'zfs',
    'diff',
    '-H',
    '-F',
    'rpool/home@a',
    'rpool/home',
  ]);
  refused(() => diffArgv('rpool/home@a', 'rpool/srv@b'), /rpool\/srv@b is not of rpool\/home/);
  refused(() => diffArgv('rpool/home@a', 'rpool/srv'), /rpool\/srv is not of rpool\/home/);
  refused(() => diffArgv('rpool/home'), /not a snapshot/);
  const rows = parseDiff(
    '+\tF\t/home/ann/new\nM\t/\t/home/ann\nR\tF\t/home/ann/a\t/home/ann/b\nM\tF\t/home/ann/l\t(+1)\n',
  );
  assert.equal(
    renderDiff(rows),
    [
      '+ F /home/ann/new',
      'M / /home/ann',
      'R F /home/ann/a -> /home/ann/b',
      'M F /home/ann/l (links +1)',
      '4 change(s): 1 created, 0 removed, 2 modified, 1 renamed',
    ].join('\n'),
  );
});

/* ── the commands, against a fixture machine ── */

function machine(): string {
  const r = mkdtempSync(join(tmpdir(), 'kl-snap-'));
  mkdirSync(join(r, 'proc'));
  writeFileSync(join(r, 'proc/cmdline'), 'initrd=/x root=ZFS=rpool/ROOT/default boot=zfs rw\n');
  return r;
}

/** zfs and findmnt as they answer on an installed machine. */
function system(extra: (argv: string[]) => Partial<RunResult> | undefined = () => undefined) {
  return new RecordingExecutor((argv) => {
    const got = extra(argv);
    if (got) return got;
    const cmd = argv.join(' ');
    if (cmd === 'findmnt -n -r -o FSTYPE,SOURCE,TARGET -T /home/ann')
      return { stdout: 'zfs rpool/home /home\n' };
    if (cmd === 'findmnt -n -r -o FSTYPE,SOURCE,TARGET -T /boot/efi')
      return { stdout: 'vfat /dev/vda1 /boot/efi\n' };
    if (argv[0] === 'findmnt') return { exitCode: 1, all: '' };
    if (cmd === 'zfs list -Hp -o name rpool/nope')
      return { exitCode: 1, all: "cannot open 'rpool/nope': dataset does not exist" };
    if (cmd.startsWith('zfs list -Hp -o name -t snapshot -d 1 rpool/ROOT/default'))
      return { stdout: `rpool/ROOT/default@ksnap-${STAMP}\n` };
    if (cmd.startsWith('zfs list -Hp -o name,creation')) return { stdout: LIST };
    return undefined;
  });
}

test('ksnap create: no target is the booted BE; a path is the dataset mounted there; --dry-run changes nothing', async () => {
  const root = machine();
  const exec = system();
  const r = await snapCreate({ exec, root, stamp: STAMP }, undefined, { dryRun: true });
  assert.equal(r.exitCode, EXIT.ok);
  // The stamp is taken already (two snapshots in one second): the next free name.
  assert.match(
    r.text,
    new RegExp(`zfs snapshot -o 'org.kldload:cmd=ksnap create' rpool/ROOT/default@ksnap-${STAMP}-2$`, 'm'),
  );
  assert.ok(!exec.calls.some((c) => c.argv[1] === 'snapshot'), 'a dry run took a snapshot');

  const p = await snapCreate({ exec: system(), root, stamp: STAMP }, '/home/ann', {
    dryRun: true,
    recursive: true,
  });
  assert.match(
    p.text,
    new RegExp(
      `zfs snapshot -r -o 'org.kldload:cmd=ksnap create /home/ann --recursive' rpool/home@ksnap-${STAMP}$`,
      'm',
    ),
  );
});

test('ksnap create/list refuse what is not a dataset: a non-ZFS path, a missing path or dataset, a snapshot', async () => {
  const env = { exec: system(), root: machine() };
  const rejects = (p: Promise<unknown>, re: RegExp) =>
    assert.rejects(
      p,
      (e: unknown) => e instanceof KldloadError && e.exitCode === EXIT.badInput && re.test(e.message),
    );
  await rejects(
    resolveDataset(env, '/boot/efi'),
    /\/boot\/efi is on vfat \(\/dev\/vda1\), not on a ZFS dataset/,
  );
  await rejects(resolveDataset(env, '/nowhere'), /\/nowhere: no such path/);
  await rejects(resolveDataset(env, 'rpool/nope'), /no dataset rpool\/nope; see zfs list/);
  await rejects(resolveDataset(env, 'rpool/home@x'), /a snapshot; name a dataset or a path/);
  await rejects(snapList(env, 'no such thing', {}), /neither a path .* nor a dataset/);
});

test('ksnap list: the JSON shape --help documents, and a path narrows it to its dataset and those below', async () => {
  const exec = system();
  const r = await snapList({ exec, root: machine() }, '/home/ann', { json: true });
  assert.deepEqual(exec.calls.at(-1)?.argv, [
    'zfs',
    'list',
    '-Hp',
    '-o',
    'name,creation,used,org.kldload:cmd',
    '-t',
    'snapshot',
    '-r',
    '-s',
    'createtxg',
    'rpool/home',
  ]);
  const j = r.json as { datasets: { dataset: string; snapshots: Record<string, unknown>[] }[] };
  assert.deepEqual(Object.keys(j.datasets[1]?.snapshots[1] ?? {}), [
    'snapshot',
    'name',
    'created',
    'used',
    'cmd',
  ]);
});

test('ksnap destroy: reads clones and holds from zfs; a BE made from the snapshot is named and nothing runs', async () => {
  const get = (clones: string) =>
    system((argv) =>
      argv[1] === 'get'
        ? {
            stdout: `rpool/ROOT/default@kbe-test-1\tclones\t${clones}\t-\nrpool/ROOT/default@kbe-test-1\tuserrefs\t0\t-\n`,
          }
        : undefined,
    );
  const exec = get('rpool/ROOT/test');
  await assert.rejects(
    snapDestroy({ exec }, 'rpool/ROOT/default@kbe-test-1', { dryRun: true }),
    /origin of rpool\/ROOT\/test \(boot environment test: kbe destroy test\)/,
  );
  assert.deepEqual(exec.calls[0]?.argv, [
    'zfs',
    'get',
    '-Hp',
    '-o',
    'name,property,value,source',
    'clones,userrefs',
    'rpool/ROOT/default@kbe-test-1',
  ]);
  const ok = await snapDestroy({ exec: get('') }, 'rpool/ROOT/default@kbe-test-1', { dryRun: true });
  assert.match(ok.text, /\$ zfs destroy rpool\/ROOT\/default@kbe-test-1$/m);
  await assert.rejects(
    snapDestroy(
      { exec: system((a) => (a[1] === 'get' ? { exitCode: 1, all: 'dataset does not exist' } : undefined)) },
      'rpool/home@gone',
      {},
    ),
    /no snapshot rpool\/home@gone \(dataset does not exist\); see ksnap list/,
  );
});

test('ksnap diff: rows and counts in JSON; an unmounted BE is named with the fix', async () => {
  const out = '+\tF\t/etc/new\nM\tF\t/etc/passwd\n';
  const r = await snapDiff(
    { exec: system((a) => (a[1] === 'diff' ? { stdout: out } : undefined)) },
    'rpool/ROOT/default@a',
    undefined,
  );
  assert.deepEqual(r.json, {
    from: 'rpool/ROOT/default@a',
    to: 'rpool/ROOT/default',
    counts: { created: 1, removed: 0, modified: 1, renamed: 0 },
    changes: [
      { change: '+', type: 'F', path: '/etc/new' },
      { change: 'M', type: 'F', path: '/etc/passwd' },
    ],
  });
  const unmounted = system((a) =>
    a[1] === 'diff'
      ? { exitCode: 1, all: 'Unable to obtain diffs: Cannot diff an unmounted snapshot' }
      : undefined,
  );
  await assert.rejects(
    snapDiff({ exec: unmounted }, 'rpool/ROOT/old@a', undefined),
    /mount it first \(kbe mount old\)/,
  );
});
