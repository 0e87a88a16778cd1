/**
 * kldload spray: the planners (golden plans test/fixtures/day2-plans/spray-*.plan.txt), their
 * refusals, the list parser, and the commands' facts against a fixture root with a recording
 * executor (zfs answered as it prints).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sprayCreate, sprayDestroy, sprayList } from '../../src/cli/commands/spray.ts';
import { sprayFacts } from '../../src/cli/commands/spray-facts.ts';
import { KldloadError } from '../../src/core/errors.ts';
import type { Executor, RunOptions, RunResult } from '../../src/core/exec.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import type { Plan } from '../../src/core/plan.ts';
import { planSpray, planSprayDestroy, type SprayFacts, type SprayMember } from '../../src/fleet/spray.ts';
import { sprays } from '../../src/fleet/spray-list.ts';
import { REIDENTIFY_MARKER, TARGET } from '../../src/layout.ts';
import { golden, refused } from './day2-golden.ts';

const sealed: SprayFacts = {
  origin: { snapshot: 'rpool/golden/web@sealed', type: 'filesystem' },
  identity: { root: true, sealed: true },
  parentExists: false,
  taken: false,
  helper: true,
};
const web = { name: 'web', count: 3, from: 'rpool/golden/web@sealed' };

/** The helper's stdin in a plan's step. */
const job = (p: Plan, step: string) => {
  const a = p.steps.find((s) => s.name === step)?.actions[0];
  assert.ok(a?.kind === 'run' && a.argv.join(' ') === `python3 -I -S ${TARGET.sprayHelper}` && a.input);
  return JSON.parse(a.input) as Record<string, unknown>;
};

test('spray create: parent, container, then every clone from one helper process', () => {
  const p = planSpray(sealed, web);
  golden('spray-create', p);
  assert.deepEqual(
    p.steps.map((s) => s.name),
    ['parent', 'clones'],
  );
  // The parent once per host with zfs create -p (its own parents may be missing).
  assert.deepEqual(p.steps[0]?.actions[0], {
    kind: 'run',
    argv: ['zfs', 'create', '-p', '-o', 'canmount=off', 'rpool/spray'],
  });
  assert.deepEqual(job(p, 'clones'), {
    op: 'clone',
    origin: 'rpool/golden/web@sealed',
    // The container first: canmount as its index number (off = 0), mountpoint=none, which the
    // clones inherit (no property per clone: one more sync task each).
    create: [
      {
        name: 'rpool/spray/web',
        props: { canmount: 0, mountpoint: 'none', 'org.kldload:spray': 'rpool/golden/web@sealed' },
      },
    ],
    names: ['rpool/spray/web/web-1', 'rpool/spray/web/web-2', 'rpool/spray/web/web-3'],
    threads: 100,
  });
  // No `zfs destroy -r` of the container on failure: made between the facts and the job (another
  // run, by hand), it would not be this run's. The helper undoes only what it made itself.
  assert.deepEqual(p.cleanup, []);
});

test('spray create: a volume gives zvols, into an existing parent', () => {
  const p = planSpray(
    {
      ...sealed,
      origin: { snapshot: 'tank/vm/base@v1', type: 'volume' },
      identity: null,
      parentExists: true,
    },
    { name: 'vm', count: 2, from: 'tank/vm/base@v1', into: 'tank/vms', threads: 4 },
  );
  golden('spray-create-zvol', p);
  assert.deepEqual(
    p.steps.map((s) => s.name),
    ['clones'],
  );
  assert.deepEqual(job(p, 'clones').create, [
    {
      name: 'tank/vms/vm',
      props: { canmount: 0, mountpoint: 'none', 'org.kldload:spray': 'tank/vm/base@v1' },
    },
  ]);
  assert.equal(job(p, 'clones').props, undefined);
  assert.equal(job(p, 'clones').threads, 4);
});

test('spray create: refusals name the field and the fix', () => {
  refused(() => planSpray(sealed, { ...web, name: 'web_1' }), /NAME "web_1": letters, digits and -/);
  refused(() => planSpray(sealed, { ...web, name: '-web' }), /NAME/);
  refused(() => planSpray(sealed, { ...web, count: 0 }), /N 0: a whole number from 1 to 1000/);
  refused(() => planSpray(sealed, { ...web, count: 1001 }), /N 1001/);
  refused(() => planSpray(sealed, { ...web, threads: 0 }), /--threads 0/);
  refused(() => planSpray(sealed, { ...web, threads: 257 }), /--threads 257: a whole number from 1 to 256/);
  refused(() => planSpray({ ...sealed, origin: null }, web), /no such snapshot/);
  refused(
    () => planSpray(sealed, { ...web, from: 'rpool/golden/web' }),
    /--from rpool\/golden\/web: a snapshot/,
  );
  refused(() => planSpray(sealed, { ...web, into: 'tank/spray' }), /origin's pool \(rpool\)/);
  refused(() => planSpray(sealed, { ...web, into: 'rpool/ROOT' }), /boot environment to kbe/);
  refused(
    () => planSpray({ ...sealed, taken: true }, web),
    /rpool\/spray\/web exists: kldload spray destroy web/,
  );
  refused(() => planSpray({ ...sealed, helper: false }, web), /spray-clone\.py is missing/);
  const unsealed = { ...sealed, identity: { root: true, sealed: false } };
  refused(() => planSpray(unsealed, web), /not sealed .*--keep-identity/);
  assert.match(String(planSpray(unsealed, { ...web, keepIdentity: true }).facts.identity), /^kept/);
  const data = { ...sealed, identity: { root: false, sealed: false } };
  assert.match(String(planSpray(data, web).facts.identity), /not a root/);
});

const member = (name: string, o: Partial<SprayMember> = {}): SprayMember => ({
  name,
  type: name.includes('@') ? 'snapshot' : 'filesystem',
  mountpoint: null,
  mounted: false,
  clones: [],
  userrefs: 0,
  ...o,
});

test('spray destroy: mounted ones unmounted, snapshots, then datasets deepest first, then the container', () => {
  const f = {
    container: 'rpool/spray/web',
    members: [
      member('rpool/spray/web/web-1', { mounted: true, mountpoint: '/spray/web/web-1' }),
      member('rpool/spray/web/web-1@before'),
      member('rpool/spray/web/web-1/data'),
      member('rpool/spray/web/web-2'),
    ],
    helper: true,
  };
  const p = planSprayDestroy(f);
  golden('spray-destroy', p);
  assert.deepEqual(job(p, 'destroy'), {
    op: 'destroy',
    snapshots: ['rpool/spray/web/web-1@before'],
    levels: [
      ['rpool/spray/web/web-1/data'],
      ['rpool/spray/web/web-1', 'rpool/spray/web/web-2'],
      ['rpool/spray/web'],
    ],
    threads: 100,
  });
  const out = { ...f, members: [member('rpool/spray/web/web-1@s', { clones: ['rpool/srv/keep'] })] };
  refused(() => planSprayDestroy(out), /origin of rpool\/srv\/keep .*zfs promote rpool\/srv\/keep/);
  const inner = { ...f, members: [member('rpool/spray/web/web-1@s', { clones: ['rpool/spray/web/web-9'] })] };
  assert.ok(planSprayDestroy(inner));
  refused(
    () => planSprayDestroy({ ...f, members: [member('rpool/spray/web/web-1@s', { userrefs: 1 })] }),
    /held/,
  );
  refused(() => planSprayDestroy({ ...f, helper: false }), /spray-clone\.py is missing/);
});

const LIST = [
  'rpool\tfilesystem\t-\t9000\tyes\t-',
  'rpool/spray\tfilesystem\t-\t5000\tno\t-',
  'rpool/spray/web\tfilesystem\t-\t4096\tno\trpool/golden/web@sealed',
  'rpool/spray/web/web-1\tfilesystem\trpool/golden/web@sealed\t1024\tyes\trpool/golden/web@sealed',
  'rpool/spray/web/web-2\tfilesystem\trpool/golden/web@sealed\t1024\tno\trpool/golden/web@sealed',
  'rpool/spray/web/web-1/data\tfilesystem\t-\t10\tno\trpool/golden/web@sealed',
  'rpool/vms/vm\tfilesystem\t-\t0\tno\ttank/x@1',
].join('\n');

test('spray list: containers set the property, their clones inherit it', async () => {
  const r = await sprayList({ exec: new RecordingExecutor(() => ({ stdout: LIST })) });
  assert.deepEqual(r.json, {
    sprays: [
      {
        name: 'web',
        container: 'rpool/spray/web',
        origin: 'rpool/golden/web@sealed',
        type: 'filesystem',
        clones: ['rpool/spray/web/web-1', 'rpool/spray/web/web-2'],
        mounted: 1,
        used: 4096,
      },
      {
        name: 'vm',
        container: 'rpool/vms/vm',
        origin: 'tank/x@1',
        type: 'none',
        clones: [],
        mounted: 0,
        used: 0,
      },
    ],
  });
  assert.match(r.text, /^NAME +CLONES +TYPE/);
  assert.match(r.text, /web +2 \(1 mounted\) +filesystem/);
  assert.deepEqual(sprays([]), []);
});

function fixtureRoot(o: { sealed: boolean }) {
  const R = mkdtempSync(join(tmpdir(), 'spray-'));
  mkdirSync(join(R, TARGET.sprayHelper, '..'), { recursive: true });
  writeFileSync(join(R, TARGET.sprayHelper), '');
  // What the read-only mount of the snapshot shows (the recording executor mounts nothing).
  const mnt = join(R, `/run/kldload/spray-read-${process.pid}`);
  mkdirSync(join(mnt, 'etc/kldload'), { recursive: true });
  writeFileSync(join(mnt, 'etc/os-release'), 'ID=debian\n');
  if (o.sealed) writeFileSync(join(mnt, REIDENTIFY_MARKER), '');
  return R;
}

test('spray create --dry-run: one zfs list and one mount of the snapshot are the facts', async () => {
  const exec = new RecordingExecutor((argv) =>
    argv[1] === 'list'
      ? { exitCode: 1, stdout: 'rpool/golden/web\tfilesystem\nrpool/golden/web@sealed\tsnapshot\n' }
      : undefined,
  );
  const env = { exec, root: fixtureRoot({ sealed: true }) };
  const r = await sprayCreate(env, 'web', '3', { from: 'rpool/golden/web@sealed', dryRun: true, json: true });
  assert.equal(r.exitCode, 0);
  const plan = (r.json as { plan: Plan }).plan;
  assert.deepEqual(
    plan.steps.map((s) => s.name),
    ['parent', 'clones'],
  );
  assert.match(String(plan.facts.identity), /^sealed/);
  assert.deepEqual(
    exec.calls.map((c) => c.argv.slice(0, 3).join(' ')),
    ['zfs list -Hp', 'mount -t zfs', `umount /run/kldload/spray-read-${process.pid}`],
  );
  const unsealed = { exec, root: fixtureRoot({ sealed: false }) };
  await assert.rejects(
    sprayCreate(unsealed, 'web', '3', { from: 'rpool/golden/web@sealed', dryRun: true }),
    /not sealed/,
  );
  await assert.rejects(
    sprayCreate(env, 'web', '3x', { from: 'rpool/golden/web@sealed' }),
    /N "3x": a whole number/,
  );
});

test('spray destroy --dry-run: found by name, its tree read in one more zfs list', async () => {
  const tree = [
    'rpool/spray/web\tfilesystem\tnone\tno\t-\t-',
    'rpool/spray/web/web-1\tfilesystem\t/spray/web/web-1\tyes\t-\t-',
    'rpool/spray/web/web-2\tfilesystem\t/spray/web/web-2\tno\t-\t-',
  ].join('\n');
  const exec = new RecordingExecutor((argv) => ({ stdout: argv.includes('-r') ? tree : LIST }));
  const r = await sprayDestroy({ exec, root: fixtureRoot({ sealed: true }) }, 'web', {
    dryRun: true,
    json: true,
  });
  const plan = (r.json as { plan: Plan }).plan;
  assert.deepEqual(plan.facts.datasets, ['rpool/spray/web/web-1', 'rpool/spray/web/web-2']);
  assert.deepEqual(
    plan.steps.map((s) => s.name),
    ['unmount', 'destroy'],
  );
  await assert.rejects(
    sprayDestroy({ exec }, 'nope', { dryRun: true }),
    /nope: no such spray; see kldload spray list/,
  );
});

/** zfs list's answer and the read-only mount's fate, as the facts see them (env.root: a temp tree). */
function factsEnv(list: string, mount: 'sealed-root' | 'data' | 'fails') {
  const root = mkdtempSync(join(tmpdir(), 'kl-spray-facts-'));
  const calls: string[][] = [];
  const exec: Executor = {
    async run(argv: string[], o: RunOptions = {}): Promise<RunResult> {
      calls.push(argv);
      const ok = (stdout = '') => ({ exitCode: 0, stdout, all: stdout });
      if (argv[0] === 'zfs') return ok(list);
      if (argv[0] === 'mount') {
        if (mount === 'fails') {
          if (o.check === false) return { exitCode: 32, stdout: '', all: 'mount failed' };
          throw new KldloadError(`mount failed: ${argv.join(' ')}`);
        }
        const at = `${root}${argv.at(-1)}`;
        if (mount === 'sealed-root') {
          mkdirSync(`${at}/etc/kldload`, { recursive: true });
          writeFileSync(`${at}/etc/os-release`, 'ID=debian\n');
          writeFileSync(`${at}${REIDENTIFY_MARKER}`, '');
        }
        return ok();
      }
      if (argv[0] === 'umount') {
        rmSync(`${root}${argv.at(-1)}`, { recursive: true, force: true });
        mkdirSync(`${root}${argv.at(-1)}`);
        return ok();
      }
      return ok();
    },
  };
  return { env: { exec, root }, calls };
}

test('spray facts: the identity mount runs beside the listing; its failure counts only for a filesystem', async () => {
  const fs = 'rpool/golden/web\tfilesystem\nrpool/golden/web@sealed\tsnapshot\n';
  const sealedRoot = await sprayFacts(factsEnv(fs, 'sealed-root').env, {
    name: 'web',
    from: 'rpool/golden/web@sealed',
  });
  assert.deepEqual(sealedRoot.identity, { root: true, sealed: true });
  assert.deepEqual(sealedRoot.origin, { snapshot: 'rpool/golden/web@sealed', type: 'filesystem' });
  const data = await sprayFacts(factsEnv(fs, 'data').env, { name: 'web', from: 'rpool/golden/web@sealed' });
  assert.deepEqual(data.identity, { root: false, sealed: false });
  // A filesystem whose snapshot cannot be read is refused, never taken as "not a root".
  await assert.rejects(
    sprayFacts(factsEnv(fs, 'fails').env, { name: 'web', from: 'rpool/golden/web@sealed' }),
    /mount failed/,
  );
  // A volume's snapshot does not mount: not looked into, no error.
  const vol = 'tank/vm/base\tvolume\ntank/vm/base@v1\tsnapshot\n';
  const v = await sprayFacts(factsEnv(vol, 'fails').env, { name: 'vm', from: 'tank/vm/base@v1' });
  assert.equal(v.identity, null);
  assert.equal(v.origin?.type, 'volume');
  // No such snapshot: no origin, and the failed mount is not the error reported.
  const none = await sprayFacts(factsEnv('', 'fails').env, { name: 'x', from: 'rpool/nope@s' });
  assert.equal(none.origin, null);
});
