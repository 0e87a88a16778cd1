/**
 * The first-boot runner with real bash and the real lib.sh: strict mode, the failure record (line
 * and command), the done-marker only on success, and `run --again` after a fix.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import {
  describeState,
  type FirstbootPaths,
  readState,
  runFirstboot,
} from '../../src/firstboot/firstboot.ts';
import { sandboxPaths } from '../unit/firstboot-sandbox.ts';

function sandbox(script: string): FirstbootPaths {
  const d = mkdtempSync(join(tmpdir(), 'kl-fb-'));
  mkdirSync(join(d, 'darksite'));
  writeFileSync(join(d, 'darksite/postinstall.sh'), script);
  writeFileSync(join(d, 'manifest.env'), "KLDLOAD_HOSTNAME=web-01\nKLDLOAD_NET_IFACE='*'\n");
  return sandboxPaths(d);
}

const exec = new SystemExecutor();

test('a failing postinstall is recorded with its line and command; no done-marker; --again after a fix succeeds', async () => {
  const p = sandbox(
    '#!/bin/bash\necho "configuring $KLDLOAD_HOSTNAME"\nmkdir -p /tmp\nfalse --deliberate\necho never\n',
  );
  const s = await runFirstboot(exec, { again: false }, p);
  assert.equal(s.status, 'failed');
  assert.equal(s.failure?.line, '4');
  assert.equal(s.failure?.command, 'false --deliberate');
  assert.equal(existsSync(p.done), false);
  assert.match(describeState(readState(p)), /line 4: false --deliberate \(exit 1\).*run --again/);
  const log = readFileSync(p.postinstallLog, 'utf8');
  assert.match(log, /configuring web-01/);
  assert.doesNotMatch(log, /never/);

  // A second boot without --again runs it again (no marker); fixing the script makes it pass.
  writeFileSync(p.script, '#!/bin/bash\necho "configuring $KLDLOAD_HOSTNAME"\ntrue\n');
  const again = await runFirstboot(exec, { again: true }, p);
  assert.equal(again.status, 'ok');
  assert.ok(existsSync(p.done));
  assert.equal(existsSync(p.failure), false, 'stale failure record left behind');
  // Once done, a normal run does nothing.
  const noop = await runFirstboot(exec, { again: false }, p);
  assert.equal(noop.status, 'ok');
  assert.equal(readFileSync(p.postinstallLog, 'utf8').match(/=== .* start/g)?.length, 2);
});

test('strict mode: an unset variable and a failing pipe stage fail the run', async () => {
  const unset = await runFirstboot(
    exec,
    { again: false },
    sandbox('#!/bin/bash\necho "$NOT_SET_ANYWHERE"\n'),
  );
  assert.equal(unset.status, 'failed');
  const pipe = await runFirstboot(exec, { again: false }, sandbox('#!/bin/bash\nfalse | cat\necho after\n'));
  assert.equal(pipe.status, 'failed');
  assert.equal(pipe.failure?.line, '2');
});

test('the manifest reaches the script as environment, read as data', async () => {
  const p = sandbox('#!/bin/bash\necho "iface=[$KLDLOAD_NET_IFACE]"\n');
  assert.equal((await runFirstboot(exec, { again: false }, p)).status, 'ok');
  assert.match(readFileSync(p.postinstallLog, 'utf8'), /iface=\[\*\]/);
});

test('after a successful first boot the darksite copy goes, unless KLDLOAD_KEEP_DARKSITE=1', async () => {
  for (const keep of ['0', '1']) {
    const p = sandbox('#!/bin/bash\ntrue\n');
    writeFileSync(p.manifest, `KLDLOAD_KEEP_DARKSITE=${keep}\n`);
    mkdirSync(join(p.darksiteDir, 'pool'), { recursive: true });
    mkdirSync(join(p.darksiteList, '..'), { recursive: true });
    writeFileSync(p.darksiteList, 'deb file:/x trixie main\n');
    assert.equal((await runFirstboot(exec, { again: false }, p)).status, 'ok');
    assert.equal(existsSync(p.darksiteDir), keep === '1', `keep=${keep}`);
    assert.equal(existsSync(p.darksiteList), keep === '1', `keep=${keep}`);
  }
});

test('a first boot that runs none of the roles it carries says so in its status', async () => {
  const dispatcher = readFileSync('payload/target/postinstall/dispatch.sh', 'utf8');
  const p = sandbox(dispatcher);
  const roles = join(p.script, '..', 'roles');
  mkdirSync(roles);
  // A user's payload whose own map names no role of this host (web-01, from the manifest).
  writeFileSync(join(roles, 'map'), 'web-  frontend\n');
  for (const f of ['20-backend.sh', '30-worker.sh'])
    writeFileSync(join(roles, f), '#!/bin/bash\n# provides: thing\ntrue\n');
  const s = await runFirstboot(exec, { again: false }, p);
  assert.equal(s.status, 'ok');
  assert.deepEqual(s.roles, { carried: ['20-backend.sh', '30-worker.sh'], ran: [] });
  assert.equal(s.warnings?.length, 1);
  assert.match(s.warnings?.[0] ?? '', /none of the 2 roles it carries ran \(20-backend\.sh 30-worker\.sh\)/);
  // What `firstboot status` prints (text and --json) reads the same record.
  assert.deepEqual(readState(p), s);
  assert.match(describeState(readState(p)), /^ok, but none of the 2 roles it carries ran/);

  // Roles that ran: no warning.
  writeFileSync(join(roles, 'map'), 'web-  backend\n');
  const again = await runFirstboot(exec, { again: true }, p);
  assert.deepEqual(again.roles, { carried: ['20-backend.sh', '30-worker.sh'], ran: ['20-backend.sh'] });
  assert.equal(again.warnings, undefined);
  assert.equal(describeState(again), 'ok');
});

test('a second run while one is active is refused with a clear message and changes nothing', async () => {
  const p = sandbox(
    [
      '#!/bin/bash',
      'echo run >>"$KLDLOAD_STATE_DIR/../runs"',
      'touch "$KLDLOAD_STATE_DIR/../started"',
      // Bounded: 20 s at most, then it ends on its own.
      'for _ in $(seq 200); do [[ -e "$KLDLOAD_STATE_DIR/../release" ]] && break; sleep 0.1; done',
      '',
    ].join('\n'),
  );
  const top = join(p.state, '../..');
  const first = runFirstboot(exec, { again: false }, p);
  for (let i = 0; i < 200 && !existsSync(join(top, 'started')); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(join(top, 'started')), 'the first run did not start');
  await assert.rejects(runFirstboot(exec, { again: true }, p), (e: unknown) => {
    assert.ok(e instanceof KldloadError);
    assert.match(e.message, /first boot is already running \(pid \d+\); wait for it to finish/);
    return true;
  });
  assert.equal(readState(p).status, 'running', 'the refused run touched the state');
  writeFileSync(join(top, 'release'), '');
  assert.equal((await first).status, 'ok');
  assert.equal(readFileSync(join(top, 'runs'), 'utf8'), 'run\n');
  // The lock goes with the run: the next one goes ahead.
  assert.equal((await runFirstboot(exec, { again: true }, p)).status, 'ok');
  assert.equal(readFileSync(join(top, 'runs'), 'utf8'), 'run\nrun\n');
});
