import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { findAnswers } from '../../src/live/answers-source.ts';

// The seed-volume path needs a real FAT device and mount: it is proven in the VM tests.
function medium(withEmbedded: boolean) {
  const root = mkdtempSync(join(tmpdir(), 'kl-medium-'));
  mkdirSync(join(root, 'kldload'), { recursive: true });
  if (withEmbedded) writeFileSync(join(root, 'kldload/answers.env'), 'KLDLOAD_HOSTNAME=embedded\n');
  writeFileSync(join(root, 'kldload/other.env'), 'KLDLOAD_HOSTNAME=other\n');
  return root;
}
const log = new Logger({ quiet: true });
const base = (mediumRoot: string, cmdline = '') => ({
  cmdline,
  mediumRoot,
  seedDevice: '/nonexistent/KLDLOADSEED',
  workDir: mkdtempSync(join(tmpdir(), 'kl-run-')),
});

test('kernel command line wins: a path on the medium', async () => {
  const m = medium(true);
  const p = await findAnswers(
    new RecordingExecutor(),
    log,
    base(m, 'boot=live kldload.answers=/kldload/other.env quiet'),
  );
  assert.deepEqual(p, { path: join(m, 'kldload/other.env') });
});

test('kernel command line: an absolute path in the live system', async () => {
  const m = medium(true);
  const abs = join(mkdtempSync(join(tmpdir(), 'kl-abs-')), 'a.env');
  writeFileSync(abs, 'x');
  assert.deepEqual(await findAnswers(new RecordingExecutor(), log, base(m, `kldload.answers=${abs}`)), {
    path: abs,
  });
});

test('no command line and no seed volume: the embedded answers', async () => {
  const m = medium(true);
  assert.deepEqual(await findAnswers(new RecordingExecutor(), log, base(m)), {
    path: join(m, 'kldload/answers.env'),
  });
});

test('nothing anywhere: the web installer, saying the three ways it looked', async () => {
  const r = await findAnswers(new RecordingExecutor(), log, base(medium(false)));
  assert.ok('web' in r, JSON.stringify(r));
  assert.match(r.web, /KLDLOADSEED.*kldload\.answers=.*--answers/);
});

test('the "install through the web" entry wins over embedded answers', async () => {
  const r = await findAnswers(
    new RecordingExecutor(),
    log,
    base(medium(true), 'boot=live kldload.web quiet'),
  );
  assert.ok('web' in r, JSON.stringify(r));
  // A word that merely starts with it is not the switch.
  const other = await findAnswers(new RecordingExecutor(), log, base(medium(true), 'kldload.webby=1'));
  assert.ok('path' in other, JSON.stringify(other));
});

test('a command-line path that does not exist is an error, not a silent fallback', async () => {
  await assert.rejects(
    findAnswers(new RecordingExecutor(), log, base(medium(true), 'kldload.answers=/nope.env')),
    /no such file/,
  );
});
