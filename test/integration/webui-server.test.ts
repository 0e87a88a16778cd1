/**
 * The web installer's server over real HTTP and WebSocket on 127.0.0.1: the token on every request,
 * the answers validated again server-side, one install at a time, progress that a page can attach
 * to at any point, failures with their step. The install is a real child process writing the
 * installer's log lines; the real one (the kldload-web-install unit) is proven by e2e:webui.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { InstallJob, type JobSnapshot } from '../../src/webui/job.ts';
import { pageAssets } from '../../src/webui/page-assets.ts';
import { checked, type RunningServer, startWebui, TOKEN_HEADER } from '../../src/webui/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'kl-webui-'));
const logFile = join(dir, 'installer.log');
const serverLog = join(dir, 'server.log');
const PASSWORD = 'web-secret-password-81';
const GOOD = `KLDLOAD_HOSTNAME=web1\nKLDLOAD_DISK=/dev/disk/by-id/virtio-a\nKLDLOAD_PASSWORD=${PASSWORD}\n`;
const exec = new SystemExecutor();
/** What the fake install writes, line by line: the installer's own log format. */
let script = '';
let launches = 0;

const stamp = () => new Date().toISOString();
function installLines(fail: boolean): string {
  const l = (s: string) => `echo "${stamp()} ${s}" >> ${logFile}; sleep 0.3`;
  return [
    l('==> [1/3] preflight: check the disks'),
    l('    preflight done in 0.4s'),
    l('==> [2/3] datasets: create the pool'),
    ...(fail
      ? [
          l('FAILED step datasets: zpool create'),
          l('cannot create rpool: no such device'),
          l('KLDLOAD-INSTALL-FAIL step=datasets'),
        ]
      : [
          l('    datasets done in 1.2s'),
          l('==> [3/3] bootloader: install systemd-boot'),
          l('    bootloader done in 0.5s'),
          l('KLDLOAD-INSTALL-OK host=web1 seconds=3 hostid=1'),
        ]),
  ].join('\n');
}

let srv: RunningServer;
const token = 'test-token-0123456789';
const job = new InstallJob(
  logFile,
  async () => {
    launches += 1;
    const r = await exec.run(['bash', '-c', script], { check: false });
    return { exitCode: r.exitCode, output: r.all };
  },
  { pollMs: 50, recordFile: join(dir, 'job.json') },
);
let saved = '';

test.before(async () => {
  appendFileSync(logFile, `${stamp()} a line from before this install\n`);
  srv = await startWebui(
    {
      token,
      assets: await pageAssets(),
      facts: async () => ({ image: { extraPackages: [] }, disks: [], roles: [], interfaces: [] }),
      validate: (text) => checked(validateAnswersText(text)),
      plan: async () => ({ ok: true, text: 'step 1: preflight' }),
      saveAnswers: (text) => {
        saved = join(dir, 'answers.env');
        writeFileSync(saved, text, { mode: 0o600 });
        return saved;
      },
      job,
      log: new Logger({ file: serverLog, quiet: true }),
    },
    { host: '127.0.0.1', port: 0 },
  );
});
after(() => srv.close());

const base = () => `http://127.0.0.1:${srv.port}`;
const post = (path: string, answers: string, headers: Record<string, string> = {}) =>
  fetch(`${base()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token, ...headers },
    body: JSON.stringify({ answers }),
  });

/** Attaches like the page does and collects events until `until` says stop. */
function attach(
  until: (s: JobSnapshot) => boolean,
): Promise<{ first: JobSnapshot; last: JobSnapshot; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api/progress?token=${token}`);
    let first: JobSnapshot | undefined;
    let last: JobSnapshot | undefined;
    const lines: string[] = [];
    ws.on('error', reject);
    ws.on('message', (m) => {
      const e = JSON.parse(String(m));
      if (e.type === 'snapshot') {
        first = e.snapshot;
        last = e.snapshot;
        lines.push(...e.snapshot.lines);
      } else if (e.type === 'line') lines.push(e.line);
      else last = { ...e.snapshot, lines: [] };
      if (first && last && until(last)) {
        ws.close();
        resolve({ first, last, lines });
      }
    });
  });
}

test('every request without the token is refused with 401; the API takes it only as a header', async () => {
  for (const path of [
    '/',
    '/app.js',
    '/?token=wrong',
    '/api/facts',
    `/api/facts?token=${token}`,
    '/api/status',
  ])
    assert.equal((await fetch(`${base()}${path}`)).status, 401, path);
  assert.equal((await fetch(`${base()}/api/facts`, { headers: { [TOKEN_HEADER]: 'nope' } })).status, 401);
  assert.equal((await post('/api/install', GOOD, { [TOKEN_HEADER]: 'nope' })).status, 401);
  await assert.rejects(
    new Promise((res, rej) => {
      const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api/progress`);
      ws.on('open', res);
      ws.on('error', rej);
    }),
    /401/,
  );
  assert.equal(launches, 0);
});

test('with the token: the page, its script with the answers validation, and a strict CSP', async () => {
  const page = await fetch(`${base()}/?token=${token}`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(await page.text(), new RegExp(`<script src="/app.js\\?token=${token}">`));
  const js = await (await fetch(`${base()}/app.js?token=${token}`)).text();
  // The schema's own messages are in the page: the browser runs the same validation.
  assert.match(js, /labels of 1-63 characters/);
  const facts = await fetch(`${base()}/api/facts`, { headers: { [TOKEN_HEADER]: token } });
  assert.deepEqual(await facts.json(), {
    image: { extraPackages: [] },
    disks: [],
    roles: [],
    interfaces: [],
  });
});

test('the server validates again: a hostname with ; and a mirror of one disk are refused, nothing starts', async () => {
  const bad = await post('/api/install', GOOD.replace('web1', 'web;1'));
  assert.equal(bad.status, 400);
  const b = (await bad.json()) as { errors: { key: string; line: number; message: string }[] };
  assert.deepEqual(
    b.errors.map((e) => [e.key, e.line]),
    [['KLDLOAD_HOSTNAME', 1]],
  );
  const mirror = await post(
    '/api/validate',
    `${GOOD}KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/disk/by-id/virtio-a\n`,
  );
  const m = (await mirror.json()) as { ok: boolean; errors: { key: string; message: string }[] };
  assert.equal(m.ok, false);
  assert.deepEqual(
    m.errors.map((e) => e.key),
    ['KLDLOAD_ZFS_TOPOLOGY'],
  );
  assert.match(m.errors[0]?.message ?? '', /^mirror needs at least 2 disks/);
  assert.equal((await post('/api/plan', GOOD.replace('web1', 'web;1'))).status, 400);
  // Not JSON: refused before anything reads it (a cross-site form cannot send JSON with the header anyway).
  const form = await fetch(`${base()}/api/install`, {
    method: 'POST',
    headers: { [TOKEN_HEADER]: token, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'answers=x',
  });
  assert.equal(form.status, 415);
  assert.equal(launches, 0);
});

test('one install at a time; progress re-attaches mid-way and at the end with every step', async () => {
  script = installLines(false);
  const r = await post('/api/install', GOOD);
  assert.equal(r.status, 202);
  assert.equal(readFileSync(saved, 'utf8'), GOOD);
  assert.equal((await post('/api/install', GOOD)).status, 409, 'a second install while one runs');
  // A page attaching while it runs gets what happened so far, then the rest.
  const mid = await attach((s) => s.state !== 'running');
  assert.equal(mid.first.state, 'running');
  assert.equal(mid.last.state, 'ok');
  assert.deepEqual(
    mid.last.steps.map((s) => [s.name, s.seconds]),
    [
      ['preflight', 0.4],
      ['datasets', 1.2],
      ['bootloader', 0.5],
    ],
  );
  assert.ok(!mid.lines.some((l) => l.includes('from before this install')), 'only this install’s lines');
  // Reloaded after the end: the whole story in the first message.
  const late = await attach(() => true);
  assert.equal(late.first.state, 'ok');
  assert.equal(late.first.steps.length, 3);
  assert.ok(late.lines.some((l) => l.startsWith('KLDLOAD-INSTALL-OK')));
  assert.equal(launches, 1);
});

/** The launcher outlives the verdict line (the real unit powers the machine off after it). */
async function launcherGone(): Promise<void> {
  for (let i = 0; i < 100 && job.running; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(job.running, false);
}

test('a failed install names its step and keeps the error; the next one may start', async () => {
  assert.equal((await post('/api/install', GOOD)).status, 409, 'refused while the last launcher runs');
  await launcherGone();
  script = installLines(true);
  assert.equal((await post('/api/install', GOOD)).status, 202);
  const r = await attach((s) => s.state !== 'running');
  assert.equal(r.last.state, 'failed');
  assert.equal(r.last.failedStep, 'datasets');
  assert.ok(r.lines.includes('cannot create rpool: no such device'));
  // The launcher ends without a verdict (a crash): failed, with why.
  await launcherGone();
  script = 'echo "Job for kldload-web-install.service failed" >&2; exit 3';
  assert.equal((await post('/api/install', GOOD)).status, 202);
  const crash = await attach((s) => s.state !== 'running');
  assert.equal(crash.last.state, 'failed');
  // What the launcher said comes first: the install may have died before its log began.
  assert.deepEqual(crash.lines, [
    'Job for kldload-web-install.service failed',
    'the install ended without a result (exit 3)',
  ]);
});

/** Sends raw bytes (what no browser sends) and returns the status line of the answer. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(srv.port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => {
      got += String(d);
    });
    c.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
    c.on('error', reject);
    c.write(request);
  });
}

test('a request no browser sends (//, a full URL) is refused with 400 and the server stays up', async () => {
  assert.match(await raw('GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(
    await raw('GET http://evil/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    /^HTTP\/1\.1 400/,
  );
  assert.match(
    await raw(
      'GET // HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ),
    /^HTTP\/1\.1 401/,
  );
  assert.equal((await fetch(`${base()}/api/status`, { headers: { [TOKEN_HEADER]: token } })).status, 200);
});

test('a restarted server attaches to the install its record names, read from where it began', async () => {
  await launcherGone();
  script = installLines(false);
  assert.equal((await post('/api/install', GOOD)).status, 202);
  await attach((s) => s.state !== 'running');
  await launcherGone();
  // A new server process: a new job over the same log and record.
  const again = new InstallJob(logFile, async () => ({ exitCode: 0 }), {
    pollMs: 50,
    recordFile: join(dir, 'job.json'),
  });
  assert.equal(again.resume(Promise.resolve({ exitCode: 0 })), true);
  for (let i = 0; i < 100 && again.snapshot().state === 'running'; i++)
    await new Promise((r) => setTimeout(r, 20));
  const snap = again.snapshot();
  assert.equal(snap.state, 'ok');
  assert.deepEqual(snap.who, { user: 'admin', host: 'web1' });
  assert.deepEqual(
    snap.steps.map((x) => x.name),
    ['preflight', 'datasets', 'bootloader'],
  );
  assert.equal(
    new InstallJob(logFile, async () => ({ exitCode: 0 }), { recordFile: join(dir, 'none.json') }).resume(
      Promise.resolve({ exitCode: 0 }),
    ),
    false,
  );
});

test('a character the installer wrote in two pieces is read whole', async () => {
  const log = join(dir, 'split.log');
  writeFileSync(log, '');
  let finish: (r: { exitCode: number }) => void = () => {};
  const j = new InstallJob(
    log,
    () =>
      new Promise((r) => {
        finish = r;
      }),
    { pollMs: 20 },
  );
  j.start('/dev/null');
  const dash = Buffer.from('—');
  appendFileSync(log, Buffer.concat([Buffer.from(`${stamp()} ==> [1/1] a: one `), dash.subarray(0, 1)]));
  await new Promise((r) => setTimeout(r, 100));
  appendFileSync(log, Buffer.concat([dash.subarray(1), Buffer.from(' two\n')]));
  await new Promise((r) => setTimeout(r, 100));
  finish({ exitCode: 0 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(j.snapshot().steps[0]?.title, 'one — two');
  j.stop();
});

test('the server log has no password and no token', () => {
  const text = readFileSync(serverLog, 'utf8');
  assert.ok(text.length > 0);
  assert.ok(!text.includes(PASSWORD));
  assert.ok(!text.includes(token));
});
