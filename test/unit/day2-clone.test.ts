/**
 * kclone: the planners (golden plans in test/fixtures/day2-plans/clone-*.plan.txt), their refusals,
 * and the commands against a fixture machine (folders under a scratch root; findmnt, zfs and du
 * answered by a recorder as the real tools print).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cloneCreate, cloneDestroy, cloneList } from '../../src/cli/commands/clone.ts';
import { dstState } from '../../src/cli/commands/clone-facts.ts';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { RecordingExecutor, type RunResult } from '../../src/core/exec.ts';
import { parseFindmntTarget } from '../../src/core/fs.ts';
import {
  type CloneFacts,
  type CloneSource,
  type CloneTarget,
  cloneName,
  cmdProperty,
  keptProps,
  planClone,
} from '../../src/day2/clone.ts';
import { type ConvertFacts, planConvertAndClone } from '../../src/day2/clone-convert.ts';
import {
  type CloneDestroyFacts,
  type CloneDestroyTarget,
  cloneRows,
  LIST_COLS,
  planCloneDestroy,
  renderClones,
} from '../../src/day2/clone-destroy.ts';
import { parseGet, parseList } from '../../src/zfs/zfs.ts';
import { cli } from './cli-helper.ts';
import { golden, refused } from './day2-golden.ts';

const STAMP = '20261130T102551Z';
const GiB = 1024 ** 3;

// `zfs get -Hp -o name,property,value,source all rpool/srv/www` as zfs prints it (the lines kclone weighs).
const WWW_PROPS = [
  'rpool/srv/www\ttype\tfilesystem\t-',
  'rpool/srv/www\tused\t1073897472\t-',
  'rpool/srv/www\tmountpoint\t/srv/www\tinherited from rpool/srv',
  'rpool/srv/www\tcompression\tzstd\tlocal',
  'rpool/srv/www\trecordsize\t16384\tlocal',
  'rpool/srv/www\trefquota\t10737418240\tlocal',
  'rpool/srv/www\tatime\toff\tinherited from rpool',
  'rpool/srv/www\txattr\tsa\tinherited from rpool',
  'rpool/srv/www\tcanmount\ton\tdefault',
  'rpool/srv/www\tnormalization\tformD\t-',
  'rpool/srv/www\tcom.example:backup\tdaily\tlocal',
  'rpool/srv/www\torg.kldload:cmd\tkclone /srv/old /srv/www\tlocal',
  '',
].join('\n');

const www: CloneSource = {
  dataset: 'rpool/srv/www',
  type: 'filesystem',
  props: parseGet(WWW_PROPS),
  children: [],
  snapshots: [`kclone-${STAMP}`, 'autosnap_2026-11-30_00:00:01_daily'],
};
const at = (dst: string, dstState: CloneTarget['dstState'] = 'absent'): CloneTarget => ({ dst, dstState });
const facts = (over: Partial<CloneFacts> = {}): CloneFacts => ({
  src: www,
  targets: [at('/srv/www-test')],
  siblings: ['rpool/srv/www', 'rpool/srv/data'],
  stamp: STAMP,
  ...over,
});

test('kclone keeps what SRC sets itself (local, received), never defaults, inherited, creation-only or kldload bookkeeping', () => {
  assert.deepEqual(keptProps(www.props), {
    compression: 'zstd',
    recordsize: '16384',
    refquota: '10737418240',
    'com.example:backup': 'daily',
  });
  assert.deepEqual(keptProps(parseGet('a/b\tmountpoint\t/x\tlocal\na/b\tquota\t5\treceived\n')), {
    quota: '5',
  });
});

test('kclone SRC DST: snapshot @kclone-<stamp> (unique), clone next to SRC with its own properties, mounted at DST', () => {
  // The stamp is taken already (two kclones in one second): the next free name.
  golden('clone-create', planClone(facts(), { cmd: 'kclone /srv/www /srv/www-test' }));
  golden(
    'clone-from',
    planClone(facts({ targets: [at('/srv/www-monday', 'empty')] }), {
      cmd: 'kclone /srv/www /srv/www-monday --from rpool/srv/www@autosnap_2026-11-30_00:00:01_daily',
      from: 'rpool/srv/www@autosnap_2026-11-30_00:00:01_daily',
    }),
  );
  const p = planClone(facts(), { cmd: 'x', name: 'www-2' });
  assert.equal(p.facts.clone, 'rpool/srv/www-2');
  assert.deepEqual(cloneName('rpool/home', '/home-copy'), 'rpool/home-copy');
});

test('kclone refuses before anything runs: BE, pool root, children, busy DST, taken name, foreign --from, nesting', () => {
  const cmd = { cmd: 'kclone' };
  refused(
    () => planClone(facts({ src: { ...www, dataset: 'rpool/ROOT/default' } }), cmd),
    /SRC rpool\/ROOT\/default is boot environment default: kbe create NAME clones a boot environment/,
  );
  refused(() => planClone(facts({ src: { ...www, dataset: 'rpool' } }), cmd), /pool's root dataset/);
  refused(
    () => planClone(facts({ src: { ...www, children: ['rpool/srv/www/logs'] } }), cmd),
    /has dataset\(s\) below it \(rpool\/srv\/www\/logs\): zfs clones one dataset/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/www-test', 'not-empty')] }), cmd),
    /\/srv\/www-test exists and is not empty/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/www-test', 'mountpoint')] }), cmd),
    /is a mount point already/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/data')] }), cmd),
    /rpool\/srv\/data exists; choose another DST or name the clone with --name/,
  );
  refused(() => planClone(facts({ targets: [at('/srv/www/copy')] }), cmd), /contain one another/);
  refused(() => planClone(facts({ targets: [at('/srv')] }), cmd), /contain one another/);
  refused(
    () => planClone(facts({ targets: [at('/srv/my copy')] }), cmd),
    /cannot name a dataset \(rpool\/srv\/my copy\).*give one with --name/,
  );
  refused(() => planClone(facts({ targets: [at('relative')] }), cmd), /DST must be an absolute folder/);
  refused(
    () => planClone(facts(), { cmd: 'x', from: 'rpool/srv/data@x' }),
    /--from rpool\/srv\/data@x: not a snapshot of rpool\/srv\/www/,
  );
  refused(
    () => planClone(facts(), { cmd: 'x', from: 'rpool/srv/www@nope' }),
    /--from rpool\/srv\/www@nope: no such snapshot/,
  );
  refused(() => planClone(facts({ src: { ...www, type: 'volume' } }), cmd), /is a volume, not a filesystem/);
});

const convert = (over: Partial<ConvertFacts> = {}): ConvertFacts => ({
  dir: '/srv/app',
  parent: { dataset: 'rpool/srv', mountpoint: '/srv', available: 10 * GiB },
  bytes: GiB,
  mountsBelow: [],
  siblings: ['rpool/srv/www'],
  stamp: STAMP,
  cmd: 'kclone /srv/app /srv/app-copy --convert',
  ...over,
});

test('kclone --convert: parent snapshot, dataset mounted aside, copy + compare, original kept aside, then the clone', () => {
  const plan = planConvertAndClone(convert(), [at('/srv/app-copy')], {
    cmd: 'kclone /srv/app /srv/app-copy --convert',
  });
  golden('clone-convert', plan);
  assert.deepEqual(plan.facts.converted, {
    folder: '/srv/app',
    dataset: 'rpool/srv/app',
    keptAt: `/srv/app.kclone-orig-${STAMP}`,
    snapshot: `rpool/srv@kclone-convert-${STAMP}`,
  });
  assert.equal(plan.facts.clone, 'rpool/srv/app-copy');
});

test('kclone --convert refuses what it cannot do safely, with the fix', () => {
  const go = (f: ConvertFacts) => planConvertAndClone(f, [at('/srv/app-copy')], { cmd: 'x' });
  refused(
    () =>
      go(
        convert({
          dir: '/opt/app',
          parent: { dataset: 'rpool/ROOT/default', mountpoint: '/', available: 10 * GiB },
        }),
      ),
    /\/opt\/app is a folder of the boot environment rpool\/ROOT\/default; kclone does not convert it: .* zfs create -o mountpoint=\/opt\/app rpool\/NAME/,
  );
  refused(
    () => go(convert({ dir: '/srv/a/b' })),
    /directly in a dataset's mountpoint \(\/srv\/NAME\); \/srv\/a\/b is deeper: convert \/srv\/a first/,
  );
  refused(() => go(convert({ mountsBelow: ['/srv/app/cache'] })), /mounted inside it \(\/srv\/app\/cache\)/);
  refused(() => go(convert({ bytes: 10 * GiB })), /copies 10\.0G .* rpool\/srv has 10\.0G available/);
  refused(() => go(convert({ siblings: ['rpool/srv/app'] })), /rpool\/srv\/app exists already/);
  refused(() => go(convert({ dir: '/srv/my app' })), /cannot name a dataset \(rpool\/srv\/my app\)/);
});

const ORIGIN = `rpool/srv/www@kclone-${STAMP}`;
const target = (over: Partial<CloneDestroyTarget> = {}): CloneDestroyTarget => ({
  dataset: 'rpool/srv/www-test',
  mountpoint: '/srv/www-test',
  origin: ORIGIN,
  children: [],
  dependents: [],
  held: [],
  ...over,
});
const destroyFacts = (
  over: Partial<CloneDestroyTarget> = {},
  origin: { clones: string[]; holds: number } = { clones: ['rpool/srv/www-test'], holds: 0 },
): CloneDestroyFacts => ({ targets: [target(over)], origins: { [ORIGIN]: origin } });

test('kclone destroy: the clone and its snapshots, its folder while empty, the origin kclone took when unused', () => {
  golden('clone-destroy', planCloneDestroy(destroyFacts()));
  // The origin stays: another clone uses it, or it is not kclone's, or it is held.
  for (const f of [
    destroyFacts({}, { clones: ['rpool/srv/www-test', 'rpool/srv/www-2'], holds: 0 }),
    {
      targets: [target({ origin: 'rpool/srv/www@autosnap_2026-11-30_00:00:01_daily' })],
      origins: {
        'rpool/srv/www@autosnap_2026-11-30_00:00:01_daily': { clones: ['rpool/srv/www-test'], holds: 0 },
      },
    },
    destroyFacts({}, { clones: ['rpool/srv/www-test'], holds: 1 }),
  ]) {
    const p = planCloneDestroy(f);
    assert.equal(p.facts.originDestroyed, false, JSON.stringify(f));
    assert.deepEqual(
      p.steps.map((s) => s.name),
      ['destroy'],
    );
  }
});

test('kclone destroy DST…: every clone, then the shared origin once; a clone of a target goes before it', () => {
  const many = ['t-1', 't-2', 't-3'].map((n) =>
    target({ dataset: `rpool/srv/${n}`, mountpoint: `/srv/${n}` }),
  );
  const clones = many.map((t) => t.dataset);
  const all = planCloneDestroy({ targets: many, origins: { [ORIGIN]: { clones, holds: 0 } } });
  golden('clone-destroy-many', all);
  assert.deepEqual(all.facts.originsDestroyed, [ORIGIN]);
  // Two of the three: the origin stays for the third.
  const some = planCloneDestroy({ targets: many.slice(0, 2), origins: { [ORIGIN]: { clones, holds: 0 } } });
  assert.deepEqual(some.facts.originsDestroyed, []);
  assert.deepEqual(
    some.steps.map((s) => s.name),
    ['destroy-1', 'destroy-2'],
  );
  // t-1 was cloned from t-2's own snapshot: t-1 goes first, t-2's snapshot goes with t-2.
  const chain = planCloneDestroy({
    targets: [
      target({
        dataset: 'rpool/srv/t-2',
        mountpoint: '/srv/t-2',
        dependents: [{ snapshot: 'rpool/srv/t-2@kclone-x', clones: ['rpool/srv/t-1'] }],
      }),
      target({ dataset: 'rpool/srv/t-1', mountpoint: '/srv/t-1', origin: 'rpool/srv/t-2@kclone-x' }),
    ],
    origins: {
      [ORIGIN]: { clones: ['rpool/srv/t-2'], holds: 0 },
      'rpool/srv/t-2@kclone-x': { clones: ['rpool/srv/t-1'], holds: 0 },
    },
  });
  assert.deepEqual(chain.facts.datasets, ['rpool/srv/t-1', 'rpool/srv/t-2']);
  assert.deepEqual(chain.facts.originsDestroyed, [ORIGIN]);
  // One refused DST refuses them all, before anything is destroyed.
  refused(
    () =>
      planCloneDestroy({
        targets: [many[0] as CloneDestroyTarget, target({ dataset: 'rpool/srv/plain', origin: null })],
        origins: { [ORIGIN]: { clones, holds: 0 } },
      }),
    /rpool\/srv\/plain is not a clone/,
  );
  refused(
    () =>
      planCloneDestroy({
        targets: [many[0] as CloneDestroyTarget, many[0] as CloneDestroyTarget],
        origins: {},
      }),
    /the same clone was named twice/,
  );
});

test('kclone destroy refuses an origin with clones and offers zfs promote; a non-clone; a BE; children; a held snapshot', () => {
  refused(
    () =>
      planCloneDestroy(
        destroyFacts({
          dataset: 'rpool/srv/www',
          mountpoint: '/srv/www',
          origin: null,
          dependents: [{ snapshot: `rpool/srv/www@kclone-${STAMP}`, clones: ['rpool/srv/www-test'] }],
        }),
      ),
    /rpool\/srv\/www is the origin of rpool\/srv\/www-test \(from rpool\/srv\/www@kclone-20261130T102551Z\): destroying it would destroy that clone too.*zfs promote rpool\/srv\/www-test .*then kclone destroy \/srv\/www$/,
  );
  refused(() => planCloneDestroy(destroyFacts({ origin: null })), /is not a clone \(it has no origin\)/);
  refused(
    () => planCloneDestroy(destroyFacts({ dataset: 'rpool/ROOT/test' })),
    /DST rpool\/ROOT\/test is boot environment test: kbe destroy test/,
  );
  refused(
    () => planCloneDestroy(destroyFacts({ children: ['rpool/srv/www-test/x'] })),
    /dataset\(s\) below it/,
  );
  refused(
    () => planCloneDestroy(destroyFacts({ held: ['rpool/srv/www-test@keep'] })),
    /held snapshot\(s\) \(rpool\/srv\/www-test@keep\).*zfs release TAG SNAPSHOT/,
  );
});

test('kclone SRC DST…: one snapshot, one clone per DST; every DST checked before anything runs', () => {
  const many = planClone(facts({ targets: [at('/srv/t-1'), at('/srv/t-2', 'empty'), at('/srv/t-3')] }), {
    cmd: 'kclone /srv/www /srv/t-1 /srv/t-2 /srv/t-3',
    cloneCmds: ['kclone /srv/www /srv/t-1', 'kclone /srv/www /srv/t-2', 'kclone /srv/www /srv/t-3'],
  });
  golden('clone-many', many);
  assert.deepEqual(
    many.steps.map((s) => s.name),
    ['snapshot', 'clone-1', 'clone-2', 'clone-3'],
  );
  assert.deepEqual(
    (many.facts.clones as { clone: string }[]).map((c) => c.clone),
    ['rpool/srv/t-1', 'rpool/srv/t-2', 'rpool/srv/t-3'],
  );
  assert.equal(many.facts.clone, undefined);
  const cmd = { cmd: 'x' };
  refused(
    () => planClone(facts({ targets: [at('/srv/t-1'), at('/srv/t-2', 'not-empty')] }), cmd),
    /\/srv\/t-2 exists and is not empty/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/t-1'), at('/srv/t-2')] }), { cmd: 'x', name: 'n' }),
    /--name names one clone; 2 DSTs were given/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/a/t'), at('/srv/b/t')] }), cmd),
    /\/srv\/b\/t and \/srv\/a\/t would both make rpool\/srv\/t/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/t'), at('/srv/t/u')] }), cmd),
    /\/srv\/t\/u and \/srv\/t are both DSTs and contain one another/,
  );
  refused(
    () => planClone(facts({ targets: [at('/srv/t'), at('/srv/t')] }), cmd),
    /are both DSTs and the same folder/,
  );
  // A command too long for a user property is named by its DST count, never cut.
  const dsts = Array.from({ length: 400 }, (_, i) => `/srv/clone-${i + 1}`);
  const long = `kclone /srv/www ${dsts.join(' ')}`;
  assert.equal(cmdProperty(long, dsts), 'kclone /srv/www (400 DSTs, /srv/clone-1 … /srv/clone-400)');
  assert.equal(cmdProperty('kclone /a /b', ['/b']), 'kclone /a /b');
});

test('kclone --list: every dataset with an origin, kind from where it lives and who made it', () => {
  const rows = cloneRows(
    parseList(
      [
        'rpool\t-\tnone\t2210983936\t1763781480\t-',
        'rpool/ROOT/default\t-\t/\t1598029824\t1763781480\t-',
        'rpool/ROOT/test\trpool/ROOT/default@kbe-test-20261122-031800\t/\t104857600\t1764406800\t-',
        'rpool/srv/www\t-\t/srv/www\t1073897472\t1763781480\t-',
        `rpool/srv/www-test\trpool/srv/www@kclone-${STAMP}\t/srv/www-test\t1536\t1764498351\tkclone /srv/www /srv/www-test`,
        'tank/vm1\ttank/gold@v1\tlegacy\t8192\t1764498351\t-',
        '',
      ].join('\n'),
      LIST_COLS,
    ),
  );
  assert.deepEqual(
    rows.map((r) => [r.dataset, r.kind, r.mountpoint]),
    [
      ['rpool/ROOT/test', 'be', '/'],
      ['rpool/srv/www-test', 'kclone', '/srv/www-test'],
      ['tank/vm1', 'clone', null],
    ],
  );
  assert.equal(rows[1]?.created, '2025-11-30T10:25:51Z');
  assert.match(
    renderClones(rows),
    /^rpool\/srv\/www-test +\/srv\/www-test +rpool\/srv\/www@kclone-20261130T102551Z +1\.50K +kclone$/m,
  );
  assert.equal(renderClones([]), 'no clones (no dataset has an origin)');
});

/* ── the commands, against a fixture machine ── */

function machine(extra: (cmd: string) => Partial<RunResult> | undefined = () => undefined) {
  const root = mkdtempSync(join(tmpdir(), 'kl-clone-'));
  for (const d of ['srv/www/html', 'srv/app/bin', 'srv/www-test', 'opt/x', 'proc'])
    mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'srv/www/html/index.html'), 'hi');
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  writeFileSync(
    join(root, 'proc/self/mountinfo'),
    [
      '22 1 0:22 / / rw shared:1 - zfs rpool/ROOT/default rw',
      '30 22 0:30 / /srv rw shared:5 - zfs rpool/srv rw',
      '31 30 0:31 / /srv/www rw shared:6 - zfs rpool/srv/www rw',
      '32 30 0:32 / /srv/www-test rw shared:7 - zfs rpool/srv/www-test rw',
      '',
    ].join('\n'),
  );
  const exec = new RecordingExecutor((argv) => {
    const cmd = argv.join(' ');
    const got = extra(cmd);
    if (got) return got;
    const fm = /^findmnt -n -r -o FSTYPE,SOURCE,TARGET -T (.*)$/.exec(cmd)?.[1];
    if (fm === '/srv/www' || fm === '/srv/www/html') return { stdout: 'zfs rpool/srv/www /srv/www\n' };
    if (fm === '/srv/www-test') return { stdout: 'zfs rpool/srv/www-test /srv/www-test\n' };
    if (fm === '/srv/app') return { stdout: 'zfs rpool/srv /srv\n' };
    if (fm === '/opt/x') return { stdout: 'zfs rpool/ROOT/default /\n' };
    if (cmd === 'zfs get -Hp -o name,property,value,source all rpool/srv/www') return { stdout: WWW_PROPS };
    if (cmd === 'zfs list -Hp -o name -t filesystem,volume,snapshot -d 1 rpool/srv rpool/srv/www')
      return {
        stdout: `rpool/srv\nrpool/srv@autosnap_x\nrpool/srv/www\nrpool/srv/www@kclone-${STAMP}\nrpool/srv/www-test\n`,
      };
    if (cmd === 'zfs list -Hp -o name -t filesystem,volume -d 1 rpool/srv')
      return { stdout: 'rpool/srv\nrpool/srv/www\nrpool/srv/www-test\n' };
    if (cmd === 'zfs get -Hp -o name,property,value,source available rpool/srv')
      return { stdout: `rpool/srv\tavailable\t${10 * GiB}\t-\n` };
    if (cmd === 'du -s -x -B1 /srv/app') return { stdout: '1073741824\t/srv/app\n' };
    if (
      cmd ===
      'zfs list -Hp -o name,origin,mountpoint,clones,userrefs -t filesystem,volume,snapshot -d 1 rpool/srv/www-test'
    )
      return { stdout: `rpool/srv/www-test\trpool/srv/www@kclone-${STAMP}\t/srv/www-test\t-\t-\n` };
    if (cmd === `zfs list -Hp -o name,clones,userrefs -t snapshot rpool/srv/www@kclone-${STAMP}`)
      return { stdout: `rpool/srv/www@kclone-${STAMP}\trpool/srv/www-test\t0\n` };
    return { exitCode: 127, all: `${argv[0]}: not expected in this test (${cmd})` };
  });
  return { root, exec, env: { exec, root, stamp: STAMP } };
}

test('kclone command: a dataset mountpoint is cloned (dry run: the plan, nothing run but reads)', async () => {
  const { env, exec } = machine();
  const r = await cloneCreate(env, '/srv/www', ['/srv/www-new'], { dryRun: true });
  assert.equal(r.exitCode, EXIT.ok, r.text);
  assert.match(
    r.text,
    new RegExp(
      `zfs snapshot -o 'org.kldload:cmd=kclone /srv/www /srv/www-new' rpool/srv/www@kclone-${STAMP}-2$`,
      'm',
    ),
  );
  assert.match(
    r.text,
    new RegExp(
      `zfs clone -p -o compression=zstd -o recordsize=16384 -o refquota=10737418240 -o com.example:backup=daily -o canmount=on -o mountpoint=/srv/www-new -o 'org.kldload:cmd=kclone /srv/www /srv/www-new' rpool/srv/www@kclone-${STAMP}-2 rpool/srv/www-new$`,
      'm',
    ),
  );
  // Only reads ran: no snapshot, no clone.
  assert.ok(exec.calls.every((c) => !['snapshot', 'clone', 'destroy'].includes(c.argv[1] ?? '')));
  // A folder inside the dataset is not its mountpoint: refused, saying what --convert would do.
  await assert.rejects(
    cloneCreate(env, '/srv/www/html', ['/srv/html-copy'], { dryRun: true }),
    (e: unknown) =>
      e instanceof KldloadError &&
      e.exitCode === EXIT.badInput &&
      /SRC \/srv\/www\/html is a plain folder in rpool\/srv\/www \(mounted at \/srv\/www\).*--convert.*moved aside to SRC\.kclone-orig-<stamp>/s.test(
        e.message,
      ),
  );
  await assert.rejects(
    cloneCreate(env, '/srv/www', ['/srv/www-test'], { dryRun: true }),
    /\/srv\/www-test is a mount point already/,
  );
});

test('kclone --convert command: du and the pool space are read, the folder converted then cloned', async () => {
  const { env } = machine();
  const r = await cloneCreate(env, '/srv/app', ['/srv/app-copy'], { convert: true, dryRun: true });
  assert.equal(r.exitCode, EXIT.ok, r.text);
  assert.match(r.text, /^\[1\/6\] convert-snapshot: rpool\/srv@kclone-convert-20261130T102551Z/m);
  assert.match(r.text, /^ {4}\$ cp -a \/srv\/app\/\. \/run\/kldload\/kclone-20261130T102551Z\/$/m);
  assert.match(r.text, /^ {4}\$ mv -T \/srv\/app \/srv\/app\.kclone-orig-20261130T102551Z$/m);
  assert.match(r.text, /^\[6\/6\] clone: rpool\/srv\/app-copy from rpool\/srv\/app@kclone-20261130T102551Z/m);
  await assert.rejects(
    cloneCreate(env, '/opt/x', ['/opt/y'], { convert: true, dryRun: true }),
    /folder of the boot environment rpool\/ROOT\/default/,
  );
});

test('kclone destroy command and --list, from what zfs says', async () => {
  const { env, root } = machine((cmd) =>
    cmd.startsWith('zfs list -Hp -o name,origin')
      ? {
          stdout: `rpool/srv/www\t-\t/srv/www\t1073897472\t1763781480\t-\nrpool/srv/www-test\trpool/srv/www@kclone-${STAMP}\t/srv/www-test\t1536\t1764498351\tkclone /srv/www /srv/www-test\n`,
        }
      : undefined,
  );
  const r = await cloneDestroy(env, ['/srv/www-test'], { dryRun: true });
  assert.equal(r.exitCode, EXIT.ok, r.text);
  assert.match(r.text, /^\[2\/2\] origin: destroy rpool\/srv\/www@kclone-20261130T102551Z: kclone took it/m);
  await assert.rejects(
    cloneDestroy(env, ['/srv/www/html'], { dryRun: true }),
    /\/srv\/www\/html is a folder in rpool\/srv\/www \(mounted at \/srv\/www\), not a clone's mountpoint; see kclone --list/,
  );
  const l = await cloneList(env);
  assert.deepEqual(
    (l.json as { clones: { dataset: string }[] }).clones.map((c) => c.dataset),
    ['rpool/srv/www-test'],
  );
  assert.equal(dstState(root, '/srv/www-test'), 'mountpoint');
  assert.equal(dstState(root, '/srv/new'), 'absent');
  assert.equal(dstState(root, '/srv/www'), 'mountpoint');
  assert.equal(dstState(root, '/srv/app'), 'not-empty');
  mkdirSync(join(root, 'srv/empty'));
  assert.equal(dstState(root, '/srv/empty'), 'empty');
  assert.deepEqual(parseFindmntTarget('zfs rpool/home[/ann] /mnt/ann\\x20x\n'), {
    fstype: 'zfs',
    source: 'rpool/home',
    target: '/mnt/ann x',
    bind: true,
  });
});

test('kldload clone: --help documents convert and the exit codes; usage errors exit 2 before anything runs', () => {
  const clone = (...a: string[]) => cli(['clone', ...a], { via: 'tsx' });
  const h = clone('--help');
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /--convert \(consent\): SRC, a plain folder directly in a data dataset/);
  assert.match(h.stdout, /"kind": "kclone"/);
  assert.match(h.stdout, /^ {2}2 {2}bad input or refused/m);
  for (const [args, re] of [
    [['destroy'], /missing required argument 'dst'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['only-one'], /kclone SRC DST: both are needed/],
  ] as const) {
    const r = clone(...args);
    assert.equal(r.code, EXIT.badInput, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
