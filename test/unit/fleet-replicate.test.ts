/**
 * kldload replicate: the planners (golden plans in test/fixtures/day2-plans/replicate-*.plan.txt),
 * the config codec round trip, the syncoid argv and the refusals; the commands against a fixture
 * root with a recording executor (ssh and zfs answered as they print).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { replicateRestore, replicateStatus } from '../../src/cli/commands/replicate.ts';
import { formatState, readState } from '../../src/cli/commands/replicate-facts.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import {
  configPath,
  formatJob,
  knownHostsLine,
  lastSyncSnap,
  parseJob,
  parseTo,
  planAdd,
  planRun,
  type ReplJob,
  statePath,
  syncoidArgv,
} from '../../src/fleet/replicate.ts';
import {
  parseStat,
  pathInDataset,
  planRestoreDataset,
  planRestoreFile,
  readLine,
} from '../../src/fleet/replicate-restore.ts';
import { authorizedKeyLine, planAccept } from '../../src/fleet/replicate-serve.ts';
import { golden, refused } from './day2-golden.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbTBtRmPv3BYhYyZ8p6wq3cjPm0a2fZK1+9k4sQfX5E';
const job: ReplJob = {
  name: 'data',
  dataset: 'rpool/srv/data',
  target: 'kldload-repl@backup.example.net',
  port: 22,
  into: 'rpool/replica',
  every: '15min',
};
const SNAPS = [
  'rpool/replica/data@autosnap_2026-12-01_10:00:00_hourly',
  'rpool/replica/data@syncoid_data_a_2026-12-01:10:15:00-GMT00:00',
];

test('add: key kept when present, host key pinned, config, units; golden', () => {
  golden(
    'replicate-add',
    planAdd({ job, hostKey: `${KEY} root@b`, datasetExists: true, hostname: 'web-01' }),
  );
  golden(
    'replicate-add-port',
    planAdd({
      job: { ...job, port: 2222, every: '1h' },
      hostKey: KEY,
      datasetExists: true,
      hostname: 'web-01',
    }),
  );
});

test('add refuses each bad field by name, and a missing dataset', () => {
  const add =
    (j: Partial<ReplJob>, hostKey = KEY, datasetExists = true) =>
    () =>
      planAdd({ job: { ...job, ...j }, hostKey, datasetExists, hostname: 'a' });
  refused(add({ name: 'Bad Name' }), /job name .*lowercase/);
  refused(add({ dataset: 'rpool' }), /DATASET "rpool": a dataset below the pool/);
  refused(add({ target: 'backup' }), /--to "backup": USER@HOST/);
  refused(add({ target: 'x@host;reboot' }), /--to/);
  refused(add({ every: 'often' }), /--every "often"/);
  refused(add({ into: 'rpool/re plica' }), /--into/);
  refused(add({}, 'AAAA nonsense'), /--host-key: an OpenSSH public key line/);
  refused(add({}, `${KEY}\nssh-ed25519 BBBB`), /--host-key/);
  refused(add({}, KEY, false), /no such dataset on this machine/);
});

test('config: the env file reads back to the same job; errors name file, line and key', () => {
  assert.deepEqual(parseJob('data', formatJob(job)), job);
  const odd = { ...job, target: 'repl@10.0.0.2', port: 2222 };
  assert.deepEqual(parseJob('data', formatJob(odd)), odd);
  refused(
    () => parseJob('data', 'KLDLOAD_REPL_DATASET=rpool/srv/data\n'),
    /data\.env: KLDLOAD_REPL_TARGET: missing/,
  );
  refused(
    () => parseJob('data', `${formatJob(job)}KLDLOAD_REPL_EVERY=$(reboot)\n`),
    /data\.env:7: KLDLOAD_REPL_EVERY/,
  );
  assert.deepEqual(parseTo('kldload-repl@b:2222'), { target: 'kldload-repl@b', port: 2222 });
  assert.deepEqual(parseTo('kldload-repl@b'), { target: 'kldload-repl@b', port: 22 });
});

test('run: syncoid with its own key, the pinned host key, no sudo on B, received unmounted', () => {
  assert.deepEqual(syncoidArgv({ ...job, port: 2222 }), [
    'syncoid',
    '--identifier=data',
    '--no-privilege-elevation',
    '--recvoptions=u',
    '--compress=none',
    '--sshkey=/etc/kldload/replicate/id_data',
    '--sshoption=UserKnownHostsFile=/etc/kldload/replicate/data.known_hosts',
    '--sshoption=GlobalKnownHostsFile=/dev/null',
    '--sshoption=StrictHostKeyChecking=yes',
    '--sshoption=BatchMode=yes',
    '--sshoption=IdentitiesOnly=yes',
    '--sshport=2222',
    'rpool/srv/data',
    'kldload-repl@backup.example.net:rpool/replica/data',
  ]);
  assert.ok(!syncoidArgv(job).some((a) => /StrictHostKeyChecking=no/.test(a)));
  golden('replicate-run', planRun(job));
  assert.equal(knownHostsLine({ ...job, port: 2222 }, KEY), `[backup.example.net]:2222 ${KEY}\n`);
  assert.equal(
    lastSyncSnap('data', ['d@autosnap_1', 'd@syncoid_data_a_1', 'd@syncoid_other_a_2']),
    'd@syncoid_data_a_1',
  );
});

test('accept: user, delegation, unmounted read-only parent, helpers, the key restricted; golden', () => {
  golden(
    'replicate-accept',
    planAccept({
      into: 'rpool/replica',
      key: `${KEY} kldload-replicate-data@web-01`,
      authorizedKeys: `${authorizedKeyLine('rpool/replica-other', 'ssh-ed25519 BBBB x')}\n`,
      userExists: false,
      intoExists: false,
    }),
  );
  // The same key again replaces its line (a changed --into), never adds a second one.
  const again = planAccept({
    into: 'rpool/replica2',
    key: KEY,
    authorizedKeys: `${authorizedKeyLine('rpool/replica', KEY)}\n`,
    userExists: true,
    intoExists: true,
  });
  const ak = again.steps
    .flatMap((s) => s.actions)
    .find((a) => a.kind === 'write' && a.path.endsWith('authorized_keys'));
  assert.equal(
    ak?.kind === 'write' && ak.content,
    `restrict,command="/usr/lib/kldload/replicate-serve rpool/replica2" ${KEY}\n`,
  );
  refused(
    () => planAccept({ into: 'rpool', key: KEY, authorizedKeys: '', userExists: true, intoExists: true }),
    /--into "rpool"/,
  );
  refused(
    () =>
      planAccept({
        into: 'rpool/r',
        key: `command="sh" ${KEY}`,
        authorizedKeys: '',
        userExists: true,
        intoExists: true,
      }),
    /--from-key: an OpenSSH public key line/,
  );
});

test('restore a dataset: next to the original, newest or a named snapshot; never over a dataset', () => {
  golden('replicate-restore', planRestoreDataset({ job, snapshots: SNAPS, destExists: false }, {}));
  const named = planRestoreDataset(
    { job, snapshots: SNAPS, destExists: false },
    { snapshot: 'autosnap_2026-12-01_10:00:00_hourly', as: 'rpool/srv/data-monday' },
  );
  assert.deepEqual(named.facts.from, `${job.target}:${SNAPS[0]}`);
  refused(
    () => planRestoreDataset({ job, snapshots: SNAPS, destExists: true }, {}),
    /rpool\/srv\/data-restored exists/,
  );
  refused(
    () => planRestoreDataset({ job, snapshots: SNAPS, destExists: false }, { as: 'rpool/srv/data' }),
    /exists/,
  );
  refused(() => planRestoreDataset({ job, snapshots: [], destExists: false }, {}), /has no snapshot/);
  refused(
    () => planRestoreDataset({ job, snapshots: SNAPS, destExists: false }, { snapshot: 'nope' }),
    /--snapshot nope: not on/,
  );
});

test('restore a file: its path in the dataset, mode and owner kept; refusals', () => {
  const facts = { job, snapshots: SNAPS, mountpoint: '/srv/data', exists: false };
  golden(
    'replicate-restore-file',
    planRestoreFile(facts, { file: '/srv/data/docs/report one.txt' }, parseStat('640 1000 1000 11\n')),
  );
  assert.equal(pathInDataset('/srv/data/a/b', '/srv/data', job), '/a/b');
  refused(() => pathInDataset('/srv/data/../etc/shadow', '/srv/data', job), /without \. or \.\. parts/);
  refused(() => pathInDataset('/srv/database/x', '/srv/data', job), /not a file of rpool\/srv\/data/);
  refused(() => pathInDataset('/srv/data', '/srv/data', job), /not a file of/);
  refused(
    () => planRestoreFile({ ...facts, exists: true }, { file: '/srv/data/x' }, parseStat('600 0 0 1')),
    /exists: --force replaces it/,
  );
  assert.ok(
    planRestoreFile({ ...facts, exists: true }, { file: '/srv/data/x', force: true }, parseStat('600 0 0 1')),
  );
  assert.equal(readLine('cat', 'd@s', '/a b'), 'kldload-read cat d@s L2EgYg==');
});

function fixtureRoot() {
  const R = mkdtempSync(join(tmpdir(), 'kl-repl-root-'));
  mkdirSync(join(R, 'etc/kldload/replicate'), { recursive: true });
  writeFileSync(join(R, configPath('data')), formatJob(job));
  return R;
}

test('status: jobs with their last run from the state file; --json fields', async () => {
  const R = fixtureRoot();
  mkdirSync(join(R, 'var/lib/kldload/replicate'), { recursive: true });
  const state = {
    lastRun: '2026-12-01T10:15:02.000Z',
    lastResult: 'ok',
    lastSnapshot: 'rpool/srv/data@syncoid_data_a_1',
  };
  writeFileSync(join(R, statePath('data')), formatState(state));
  assert.deepEqual(readState(R, 'data'), state);
  const r = await replicateStatus({ exec: new RecordingExecutor(), root: R });
  assert.deepEqual(r.json, {
    jobs: [
      {
        name: 'data',
        dataset: 'rpool/srv/data',
        to: job.target,
        replica: 'rpool/replica/data',
        every: '15min',
        timer: 'kldload-replicate@data.timer',
        ...state,
      },
    ],
  });
  assert.match(
    r.text,
    /^data: rpool\/srv\/data → kldload-repl@backup.example.net:rpool\/replica\/data every 15min; last run 2026-12-01T10:15:02.000Z \(ok\)/,
  );
});

test('restore --file --dry-run: asks B for the list and the stat over the job key, then plans', async () => {
  const R = fixtureRoot();
  const exec = new RecordingExecutor((argv) => {
    const remote = argv.at(-1) ?? '';
    if (argv[0] === 'ssh' && remote.startsWith('zfs list'))
      return { stdout: SNAPS.map((s, i) => `${s}\t${1000 + i}`).join('\n') };
    if (argv[0] === 'ssh' && remote.startsWith('kldload-read stat')) return { stdout: '644 0 0 5\n' };
    if (argv[1] === 'get')
      return { stdout: 'rpool/srv/data\tmountpoint\t/srv/data\tinherited from rpool/srv\n' };
    return undefined;
  });
  const r = await replicateRestore({ exec, root: R }, 'data', { file: '/srv/data/notes.txt', dryRun: true });
  assert.equal(r.exitCode, 0, r.text);
  assert.match(
    r.text,
    /\/srv\/data\/notes\.txt ← \/notes\.txt of kldload-repl@backup.example.net:rpool\/replica\/data@syncoid_data_a/,
  );
  assert.deepEqual(
    exec.calls.filter((c) => c.argv[0] === 'ssh').map((c) => c.argv.at(-1)),
    [
      'zfs list -Hp -o name,creation -t snapshot -s creation -d 1 rpool/replica/data',
      `kldload-read stat ${SNAPS[1]} L25vdGVzLnR4dA==`,
    ],
  );
  await assert.rejects(
    replicateRestore({ exec, root: R }, 'nope', {}),
    /no replication job "nope" .*jobs: data/,
  );
});

test("accept refuses a tree another sender's key already writes into, or one nested with it", () => {
  const other = `${authorizedKeyLine('rpool/replica/web-01', 'ssh-ed25519 BBBB x')}\n`;
  const accept = (into: string) => () =>
    planAccept({ into, key: KEY, authorizedKeys: other, userExists: true, intoExists: true });
  for (const into of ['rpool/replica/web-01', 'rpool/replica', 'rpool/replica/web-01/sub'])
    refused(accept(into), /another sender's key already replicates into rpool\/replica\/web-01/);
  // A sibling tree is its own.
  assert.doesNotThrow(accept('rpool/replica/web-02'));
});
