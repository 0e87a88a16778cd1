/**
 * applyPlan with a recording executor: which commands run, in what order, and what a failure
 * reports. No command reaches the machine (the plans hold only `run` actions), except the pipe
 * test's printf/sh/tr into a temporary folder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyPlan, failureMessage, progressPrinter } from '../../src/apply/apply.ts';
import { RecordingExecutor, type RunResult, SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { type Plan, pipe, run } from '../../src/core/plan.ts';

/** Answers from a table keyed by the joined argv; anything else succeeds with no output. */
function executor(answers: Record<string, Partial<RunResult>> = {}) {
  const exec = new RecordingExecutor((argv) => answers[argv.join(' ')]);
  return { exec, ran: () => exec.calls.map((c) => c.argv.join(' ')) };
}

const quiet = () => new Logger({ quiet: true });
const apply = (exec: RecordingExecutor, plan: Plan, cleanupFrom: string[] = [], log = quiet()) =>
  applyPlan(exec, log, plan, { root: '/mnt', cleanupFrom: new Set(cleanupFrom) });

test('an action whose unless probe succeeds is skipped; one whose probe fails runs', async () => {
  const { exec, ran } = executor({ 'probe done': { exitCode: 0 }, 'probe todo': { exitCode: 1 } });
  const plan: Plan = {
    facts: {},
    steps: [
      {
        name: 'one',
        title: 'idempotent',
        actions: [
          run(['make', 'a'], { unless: ['probe', 'done'] }),
          run(['make', 'b'], { unless: ['probe', 'todo'] }),
        ],
      },
    ],
    cleanup: [],
  };
  const r = await apply(exec, plan);
  assert.equal(r.ok, true);
  assert.deepEqual(ran(), ['probe done', 'probe todo', 'make b']);
  assert.deepEqual(
    r.steps.map((s) => [s.name, s.ok]),
    [['one', true]],
  );
});

test('a may-fail action that fails does not stop the plan; a plain one does, naming step and command', async () => {
  const { exec, ran } = executor({
    'umount x': { exitCode: 32, all: 'not mounted' },
    'zpool create': { exitCode: 1 },
  });
  const plan: Plan = {
    facts: {},
    steps: [
      {
        name: 'tidy',
        title: 'best effort',
        actions: [run(['umount', 'x'], { mayFail: true }), run(['true'])],
      },
      { name: 'pool', title: 'the pool', actions: [run(['zpool', 'create']), run(['never'])] },
      { name: 'after', title: 'not reached', actions: [run(['never', 'either'])] },
    ],
    cleanup: [],
  };
  const r = await apply(exec, plan);
  assert.equal(r.ok, false);
  assert.deepEqual(ran(), ['umount x', 'true', 'zpool create']);
  assert.deepEqual(
    r.steps.map((s) => [s.name, s.ok]),
    [
      ['tidy', true],
      ['pool', false],
    ],
  );
  assert.equal(r.failed?.step, 'pool');
  assert.equal(r.failed?.action, '$ zpool create');
});

test('cleanup runs only when the failing step is at or after the first writing step', async () => {
  const plan = (fail: string): Plan => ({
    facts: {},
    steps: [
      { name: 'preflight', title: 'look', actions: [run(['check', fail === 'preflight' ? 'bad' : 'ok'])] },
      { name: 'partition', title: 'first write', actions: [run(['sgdisk', 'x'])] },
      { name: 'pool', title: 'later', actions: [run(['zpool', fail === 'pool' ? 'bad' : 'ok'])] },
    ],
    cleanup: [run(['umount', '-R', '/mnt']), run(['zpool', 'export', 'rpool'])],
  });
  const answers = {
    'check bad': { exitCode: 1 },
    'zpool bad': { exitCode: 1 },
    'umount -R /mnt': { exitCode: 1 },
  };

  const early = executor(answers);
  assert.equal((await apply(early.exec, plan('preflight'), ['partition'])).failed?.step, 'preflight');
  assert.deepEqual(early.ran(), ['check bad'], 'cleaned up before anything was written');

  // Once a writing step was reached, every cleanup action runs, even after one of them fails.
  const late = executor(answers);
  assert.equal((await apply(late.exec, plan('pool'), ['partition'])).failed?.step, 'pool');
  assert.deepEqual(late.ran(), ['check ok', 'sgdisk x', 'zpool bad', 'umount -R /mnt', 'zpool export rpool']);

  // A plan that succeeds never runs its cleanup.
  const good = executor(answers);
  assert.equal((await apply(good.exec, plan('none'), ['partition'])).ok, true);
  assert.deepEqual(good.ran(), ['check ok', 'sgdisk x', 'zpool ok']);
});

test('a failure message and the log redact the secrets the logger knows', async () => {
  const secret = 'Tr0ub4dor #3';
  const lines: string[] = [];
  const log = new Logger({ echo: (l) => lines.push(l) });
  log.addSecret(secret);
  const { exec } = executor({
    [`unlock ${secret}`]: { exitCode: 2, all: `wrong passphrase: ${secret}` },
  });
  const plan: Plan = {
    facts: {},
    steps: [{ name: 'unlock', title: 'open the pool', actions: [run(['unlock', secret])] }],
    cleanup: [],
  };
  const r = await apply(exec, plan, [], log);
  assert.equal(r.ok, false);
  assert.equal(r.failed?.action, "$ unlock '<redacted>'");
  assert.match(r.failed?.error ?? '', /wrong passphrase: <redacted>/);
  assert.doesNotMatch(JSON.stringify(r), /Tr0ub4dor/);
  assert.ok(lines.some((l) => l.startsWith('FAILED step unlock')));
  assert.doesNotMatch(lines.join('\n'), /Tr0ub4dor/);
});

test('a pipe action streams one real command into another and fails when the first fails (pipefail)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-pipe-'));
  const out = join(dir, 'out');
  const plan = (from: string[]): Plan => ({
    facts: {},
    steps: [{ name: 'p', title: 'pipe', actions: [pipe(from, ['sh', '-c', 'tr a-z A-Z > "$1"', 'w', out])] }],
    cleanup: [],
  });
  const ok = await applyPlan(new SystemExecutor(), quiet(), plan(['printf', '%s\\n', 'a b', "it's"]), {
    root: '/',
    cleanupFrom: new Set(),
  });
  assert.equal(ok.ok, true);
  assert.equal(readFileSync(out, 'utf8'), "A B\nIT'S\n", 'arguments with blanks and quotes arrive whole');
  const bad = await applyPlan(new SystemExecutor(), quiet(), plan(['sh', '-c', 'echo partial; exit 3']), {
    root: '/',
    cleanupFrom: new Set(),
  });
  assert.equal(bad.ok, false, 'a failing producer must fail the step even though the consumer succeeded');
  assert.match(bad.failed?.action ?? '', /sh -c 'echo partial; exit 3' \| sh -c/);
});

test('progress lines of a long command reach the console at most once per interval, the newest piece', async () => {
  const said: string[] = [];
  const p = progressPrinter((l) => said.push(l), 60_000);
  p('    (0.00/100%)\r    (1.00/100%)\r');
  p('    (2.00/100%)\r');
  assert.deepEqual(said, ['    … (1.00/100%)']);
  const every = progressPrinter((l) => said.push(l), 0);
  every('12:00:01 1.2G rpool/x@s\n');
  assert.equal(said.at(-1), '    … 12:00:01 1.2G rpool/x@s');
});

test('a failure message names the command that failed, not "install"; no cleanup line when there is nothing to clean', async () => {
  const lines: string[] = [];
  const log = new Logger({ echo: (l) => lines.push(l) });
  const { exec } = executor({ 'zfs clone x': { exitCode: 1, all: 'dataset already exists' } });
  const plan: Plan = {
    facts: {},
    steps: [{ name: 'clones', title: 'clone', actions: [run(['zfs', 'clone', 'x'])] }],
    cleanup: [],
  };
  const r = await apply(exec, plan, ['clones'], log);
  assert.match(
    failureMessage(r, 'kldload spray create web', '/var/log/kldload/day2.log'),
    /^kldload spray create web failed in step 'clones'\n {2}command: \$ zfs clone x\n/,
  );
  assert.match(failureMessage(r, 'install'), /^install failed in step 'clones'/);
  assert.ok(!lines.some((l) => l.startsWith('cleaning up')), lines.join('\n'));
});

test('the log shows each command of a plan once (the plan line), with its stdin; a probe is logged too', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-apply-log-')), 'day2.log');
  const plan: Plan = {
    facts: {},
    steps: [
      {
        name: 'one',
        title: 'two commands',
        actions: [run(['cat'], { input: '{"job":1}' }), run(['true'], { unless: ['false'] })],
      },
    ],
    cleanup: [],
  };
  const log = new Logger({ file, quiet: true });
  assert.equal(
    (await applyPlan(new SystemExecutor(log), log, plan, { root: '/', cleanupFrom: new Set() })).ok,
    true,
  );
  const lines = readFileSync(file, 'utf8').split('\n');
  const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
  assert.equal(count(/\$ cat\b/), 1, lines.join('\n'));
  assert.equal(count(/\$ cat <<< '\{"job":1\}'/), 1, lines.join('\n'));
  assert.equal(count(/\$ true\b/), 1, lines.join('\n'));
  assert.equal(count(/\$ false$/), 1, lines.join('\n'));
});
