/**
 * `npm run e2e:webui`: the web installer, end to end. A plain server ISO (no answers on it) boots in
 * QEMU with a NIC whose port 80 is forwarded to 127.0.0.1; Chromium (Debian's package, driven by
 * playwright-core) opens the address the console shows, goes through every wizard step (a
 * screenshot of each), is refused a hostname with ';' and a mirror of one disk (in the page, and by
 * the server when sent directly), downloads the answers, uploads them again (the same plan), installs,
 * reloads during the install (the progress re-attaches), and the installed disk then passes every
 * `kldload test` check. PASS/FAIL per check; bench/results/webui-<stamp>.json; screenshots in the work
 * folder's screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { newRunDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import { TARGET_DISK } from '../../src/vm/drives.ts';
import { runTest } from '../../src/vm/harness.ts';
import { installPhase } from '../../src/vm/install-phase.ts';
import { freePort } from '../../src/vm/qemu.ts';
import { TOKEN_HEADER } from '../../src/webui/server.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { buildPlainIso } from '../vm/kldload-test.ts';
import { recorder } from './results.ts';
import { answersOf, launchBrowser, Wizard } from './webui-driver.ts';

const STAMP = utcStamp();
const WORK = newRunDir('webui-', 2, STAMP);
const ISO = join(WORK, 'kldload.iso');
const SHOTS = join(WORK, 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const { check, checkAll, scenario } = recorder('webui', STAMP);
const log = new Logger({ echo: (l) => console.log(l) });
const exec = new SystemExecutor(log);

/** What the person types: kldload test adds the SSH key and names the disk it attached. */
const USER_ANSWERS = `KLDLOAD_HOSTNAME=webui.example.net
KLDLOAD_DISK=${TARGET_DISK}
KLDLOAD_USERNAME=webadmin
KLDLOAD_PASSWORD=kl-web-Secret-5
KLDLOAD_TIMEZONE=Europe/Berlin
KLDLOAD_LOCALE=en_US.UTF-8
KLDLOAD_PROFILE=server
`;

let browser: Browser | undefined;
after(() => browser?.close());

test(
  'build a plain server ISO (no answers: it serves the wizard)',
  { timeout: 3600_000 },
  scenario('build', async () => {
    const t0 = Date.now();
    buildPlainIso(ISO);
    check('build', 'kldload build --profile server', () => {}, (Date.now() - t0) / 1000);
  }),
);

/**
 * Every plan makes this machine's identities anew: the ESP's PARTUUID, the hostid and the factory
 * snapshot's time. Two plans of the same answers are the same once those are named alike (anything
 * else that differs, differs).
 */
function sameIdentities(plan: string): string {
  return plan
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/(zgenhostid -f -o \S+ 0x|KLDLOAD_HOSTID=)[0-9a-f]{8}/g, '$1<hostid>')
    .replace(/@install-\d{8}T\d{6}Z/g, '@install-<time>');
}

/** A direct request to the live system's server, as a script (not the page) would send it. */
async function direct(port: number, path: string, o: { token?: string; answers?: string } = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: o.answers === undefined ? 'GET' : 'POST',
    headers: {
      ...(o.token ? { [TOKEN_HEADER]: o.token } : {}),
      ...(o.answers === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(o.answers === undefined ? {} : { body: JSON.stringify({ answers: o.answers }) }),
  });
  return { status: r.status, body: (await r.json().catch(() => ({}))) as { errors?: { key?: string }[] } };
}

/** Everything the browser does while the live ISO runs; the VM ends by powering off after the install. */
async function throughTheWeb(port: number, token: string, answers: string): Promise<void> {
  const a = answersOf(answers);
  const S = 'webui';
  browser = await launchBrowser();
  const page = await browser.newPage({ acceptDownloads: true });
  page.setDefaultTimeout(120_000);
  const w = new Wizard(page, SHOTS);
  const url = `http://127.0.0.1:${port}/?token=${token}`;

  const noToken = await direct(port, '/');
  const apiNoToken = await direct(port, '/api/facts');
  const wrong = await direct(port, '/api/install', { token: 'not-the-token', answers });
  check(S, 'a request without the token (page, API) or with a wrong one gets 401', () => {
    assert.deepEqual([noToken.status, apiNoToken.status, wrong.status], [401, 401, 401]);
  });

  await page.goto(url);
  await w.step('start');
  await w.shot('start');
  await w.next('disks');
  // A mirror of one disk: the page refuses it at this step with the schema's own words.
  await page.selectOption('#f-KLDLOAD_ZFS_TOPOLOGY', 'mirror');
  await page.check(`input[name=disk][value="${TARGET_DISK}"]`);
  await page.click('#next');
  const mirrorErr = await w.error('KLDLOAD_ZFS_TOPOLOGY');
  const stayed = await page.$('section[data-step="disks"]');
  await w.shot('disks-mirror-of-one-refused');
  check(S, 'the page refuses a mirror of one disk', () => {
    assert.ok(stayed, 'moved on past the disks step');
    assert.match(mirrorErr, /mirror needs at least 2 disks/);
  });
  const disks = await page.$$eval('input[name=disk]', (els) => els.map((e) => (e as HTMLInputElement).value));
  check(S, 'the disks offered are the target only (the ISO is never offered)', () => {
    assert.deepEqual(disks, [TARGET_DISK]);
  });
  await page.selectOption('#f-KLDLOAD_ZFS_TOPOLOGY', 'single');
  await page.check(`input[name=disk][value="${TARGET_DISK}"]`);
  await w.shot('disks');
  await w.next('system');
  await w.fill('KLDLOAD_HOSTNAME', 'web;host');
  await page.click('#next');
  const hostErr = await w.error('KLDLOAD_HOSTNAME');
  await w.shot('system-hostname-refused');
  check(S, "the page refuses a hostname with ';'", () =>
    assert.match(hostErr, /KLDLOAD_HOSTNAME: 'web;host' must be/),
  );
  for (const k of ['KLDLOAD_HOSTNAME', 'KLDLOAD_TIMEZONE', 'KLDLOAD_LOCALE']) await w.fill(k, a.get(k));
  await w.shot('system');
  await w.next('admin');
  await w.fill('KLDLOAD_USERNAME', a.get('KLDLOAD_USERNAME'));
  await w.fill('KLDLOAD_PASSWORD', a.get('KLDLOAD_PASSWORD'));
  await page.fill('#f-password-confirm', a.get('KLDLOAD_PASSWORD') ?? '');
  await w.fill('KLDLOAD_SSH_PUBKEY', a.get('KLDLOAD_SSH_PUBKEY'));
  await w.shot('admin');
  for (const s of ['network', 'encryption', 'extras']) {
    await w.next(s);
    await w.shot(s);
  }
  await w.next('review');
  await page.waitForSelector('#plan[data-ready=yes]');
  const plan1 = (await page.textContent('#plan')) ?? '';
  await w.shot('review');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const downloaded = join(WORK, 'downloaded-answers.env');
  await dl.saveAs(downloaded);

  // Sent directly, the server refuses what the page refused.
  const text = readFileSync(downloaded, 'utf8');
  const badHost = await direct(port, '/api/install', {
    token,
    answers: text.replace(/^KLDLOAD_HOSTNAME=.*$/m, 'KLDLOAD_HOSTNAME=web;host'),
  });
  const oneMirror = await direct(port, '/api/install', {
    token,
    answers: `${text}KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=${TARGET_DISK}\n`.replace(
      /^KLDLOAD_ZFS_TOPOLOGY=single\n/m,
      '',
    ),
  });
  check(S, "the server refuses (400) a hostname with ';' and a mirror of one disk, sent directly", () => {
    assert.equal(badHost.status, 400);
    assert.deepEqual(
      badHost.body.errors?.map((e) => e.key),
      ['KLDLOAD_HOSTNAME'],
    );
    assert.equal(oneMirror.status, 400);
    assert.deepEqual(
      oneMirror.body.errors?.map((e) => e.key),
      ['KLDLOAD_ZFS_TOPOLOGY'],
    );
  });
  const cliCheck = vmCli(['answers', 'validate', downloaded]);
  check(S, 'the downloaded answers.env validates (kldload answers validate)', () => {
    assert.equal(cliCheck.code, 0, cliCheck.stdout + cliCheck.stderr);
    assert.ok(validateAnswersText(text).ok);
    assert.equal(answersOf(text).get('KLDLOAD_HOSTNAME'), a.get('KLDLOAD_HOSTNAME'));
  });

  // A fresh page, filled only from the downloaded file: the same plan.
  await page.reload();
  await w.step('start');
  await page.setInputFiles('#upload', downloaded);
  await page.waitForSelector('#upload-errors[data-loaded=yes]');
  await w.shot('start-uploaded');
  for (const s of ['disks', 'system', 'admin', 'network', 'encryption', 'extras', 'review']) await w.next(s);
  await page.waitForSelector('#plan[data-ready=yes]');
  const plan2 = (await page.textContent('#plan')) ?? '';
  writeFileSync(join(WORK, 'plan-wizard.txt'), plan1);
  writeFileSync(join(WORK, 'plan-uploaded.txt'), plan2);
  check(
    S,
    'the uploaded answers.env makes the same plan as the wizard (but the identities each plan makes anew)',
    () => {
      assert.ok(plan1.length > 500, plan1);
      assert.equal(sameIdentities(plan2), sameIdentities(plan1));
    },
  );

  const t0 = Date.now();
  await page.click('#install');
  await page.waitForSelector('section[data-step="progress"]');
  await page.waitForFunction(() => document.querySelectorAll('#progress-steps li').length >= 4, undefined, {
    timeout: 900_000,
  });
  await w.shot('progress');
  const before = await page.$$eval('#progress-steps li', (l) => l.length);
  await page.reload();
  await page.waitForSelector('section[data-step="progress"]');
  await page.waitForFunction((n) => document.querySelectorAll('#progress-steps li').length >= n, before);
  const logLines = (await page.textContent('#log')) ?? '';
  await w.shot('progress-after-reload');
  check(S, 'a reload during the install re-attaches to its progress', () => {
    assert.match(logLines, /==> \[1\/\d+\] /);
  });
  await page.waitForSelector('#status[data-state="ok"], #status[data-state="failed"]', {
    timeout: 3_600_000,
  });
  const state = await page.getAttribute('#status', 'data-state');
  const outcome = (await page.textContent('#outcome')) ?? '';
  await w.shot('done');
  check(
    S,
    'the page reports the install done, how to log in and that the machine powers off',
    () => {
      assert.equal(state, 'ok', outcome);
      assert.match(outcome, /powers off/);
      // After the reload the page knows the user only from the server.
      assert.match(outcome, /Log in as webadmin on the console, or ssh webadmin@webui\.example\.net/);
    },
    (Date.now() - t0) / 1000,
  );
}

test(
  'install through the web page, then every kldload test check on the installed disk',
  { timeout: 7200_000 },
  scenario('webui', async () => {
    const user = join(WORK, 'user-answers.env');
    writeFileSync(user, USER_ANSWERS);
    const r = await runTest(exec, log, {
      iso: ISO,
      workDir: WORK,
      answers: user,
      installTimeoutSec: 3600,
      bootTimeoutSec: 900,
      reboot: false,
      install: async ({ answers, answersFile, disks, workDir }) => {
        const port = await freePort();
        let seen: (token: string) => void = () => {};
        const token = new Promise<string>((res) => {
          seen = res;
        });
        let abandon: () => void = () => {};
        const stop = new Promise<void>((res) => {
          abandon = res;
        });
        const vm = installPhase(exec, log, {
          iso: ISO,
          workDir,
          answersFile,
          disk: disks[0] as string,
          extraDisks: disks.slice(1),
          timeoutSec: 3600,
          webPort: port,
          name: 'web-install',
          stop,
          onLine: (l) => {
            const m = /KLDLOAD-WEBUI url=\S*[?&]token=([A-Za-z0-9_-]+)/.exec(l);
            if (m?.[1]) seen(m[1]);
          },
        });
        const t = await Promise.race([token, vm.then((o) => `ended: ${o.detail}`)]);
        check('webui', 'the live ISO without answers shows the web installer address on the console', () => {
          assert.doesNotMatch(t, /^ended: /);
        });
        try {
          await throughTheWeb(port, t, answers);
        } catch (e) {
          // What the page showed when it went wrong, for the record.
          const page = browser?.contexts()[0]?.pages()[0];
          if (page) {
            await new Wizard(page, SHOTS).shot('failure').catch(() => '');
            writeFileSync(
              join(WORK, 'failure-page.txt'),
              (await page.textContent('body').catch(() => '')) ?? '',
            );
          }
          abandon();
          await vm;
          throw e;
        }
        return await vm;
      },
    });
    writeFileSync(join(WORK, 'result.json'), JSON.stringify(r, null, 1));
    checkAll('webui: installed disk', [
      ...r.phases.map((p) => ({ ...p, name: `phase ${p.name}` })),
      ...r.checks,
    ]);
  }),
);
