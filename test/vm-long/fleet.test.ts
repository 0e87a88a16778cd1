/**
 * `npm run e2e:fleet`: fleets in QEMU. Golden images: a server with the web role is installed and
 * first-booted (`kldload test`), captured with `kldload image capture`, and a second machine is
 * installed from an ISO that carries the golden image (`build --golden`): it passes `kldload test`
 * (the web page served to the host included) without running first boot again, answers for its own
 * host name, and has its own machine-id, hostid and ssh host keys. The install of each is timed
 * (golden vs base image + the same role on first boot). PASS/FAIL per check;
 * bench/results/fleet-<stamp>.json.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { cacheDir } from '../../src/core/paths.ts';
import { GOLDEN_FILES, GoldenManifestSchema } from '../../src/layout-image.ts';
import { utcStamp } from '../../src/live/facts.ts';
import type { TestResult } from '../../src/vm/harness.ts';
import { Machine } from '../../src/vm/machine.ts';
import { overlayArgs } from '../../src/vm/qemu.ts';
import { DEFAULT_TEST_ANSWERS, overrideAnswers } from '../../src/vm/test-answers.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { sh } from '../vm/day2-guest.ts';
import { recorder } from './results.ts';

const STAMP = utcStamp();
const WORK = cacheDir('vm', `fleet-${STAMP}`);
mkdirSync(WORK, { recursive: true });
const { check, checkAll, scenario, boots } = recorder('fleet', STAMP);
const log = new Logger({ echo: (l) => console.log(l) });
const exec = new SystemExecutor(log);
const ISO_WEB = join(WORK, 'web.iso');
const ISO_GOLDEN = join(WORK, 'golden.iso');
const GOLDEN = join(WORK, 'web-golden');
const W1 = join(WORK, 'original');
const W2 = join(WORK, 'copy');
const COPY_HOST = 'web-copy';

/** `kldload test ISO --json`: its result, every phase and check recorded under `scenario`. */
function kldloadTest(scenarioName: string, iso: string, workDir: string, args: string[] = []): TestResult {
  const r = vmCli(['test', iso, '--workdir', workDir, '--json', ...args]);
  const res = JSON.parse(r.stdout) as TestResult;
  boots[scenarioName] = (res.boots ?? []).map(
    (b) => `boot ${b.n} (${b.phase}): ssh after ${b.upSec?.toFixed(0)}s`,
  );
  checkAll(scenarioName, [
    ...res.phases.map((p) => ({ name: `phase ${p.name}`, ok: p.ok, detail: p.detail, seconds: p.seconds })),
    ...res.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })),
  ]);
  assert.equal(r.code, 0, `kldload test failed: ${r.stderr.slice(-2000)}`);
  return res;
}

/** Boots an overlay of a `kldload test` work folder's first-booted disk (boot.qcow2), as root over ssh. */
async function bootAgain(workDir: string, name: string): Promise<Machine> {
  const disk = join(workDir, `${name}.qcow2`);
  await exec.run(['qemu-img', ...overlayArgs(join(workDir, 'boot.qcow2'), disk)]);
  const m = await Machine.start(exec, {
    disk,
    workDir,
    name,
    key: join(workDir, 'id_ed25519'),
    user: 'admin',
    password: 'kl-test-Secret-7',
    cache: 'unsafe',
    log,
  });
  await m.mustBeUp(900);
  await m.settled(900);
  return m;
}

const IDENTITY = `cat /etc/machine-id; hostid; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2; hostname; curl -fsS http://127.0.0.1/ | sha256sum | cut -d' ' -f1`;
const identity = async (m: Machine) => {
  const [machineId, hostid, sshKey, host, page] = (await sh(m, IDENTITY)).trim().split('\n');
  return { machineId, hostid, sshKey, host, page };
};

let original: Awaited<ReturnType<typeof identity>> | undefined;
const times: Record<string, number> = {};

test(
  'golden: a web server installed and first-booted, then captured',
  { timeout: 3 * 3600_000 },
  scenario('golden-capture', async () => {
    const b = vmCli(['build', '--profile', 'server', '--role', 'web', '-o', ISO_WEB]);
    check('golden-capture', 'kldload build --role web', () => assert.equal(b.code, 0, b.stderr.slice(-3000)));
    const res = kldloadTest('golden-original', ISO_WEB, W1);
    const install = res.phases.find((p) => p.name === 'install')?.seconds ?? 0;
    times.original = install + (res.roleSeconds?.web ?? 0);
    check(
      'golden-capture',
      `base image install ${install.toFixed(0)} s + web role on first boot ${res.roleSeconds?.web} s`,
      () => assert.ok(res.roleSeconds?.web !== undefined),
      times.original,
    );
    const m = await bootAgain(W1, 'capture');
    try {
      original = await identity(m);
      const t0 = Date.now();
      const out = await sh(
        m,
        'kldload image capture --with srv/www --name web-golden --out /var/tmp --json',
        3600_000,
      );
      const seconds = (Date.now() - t0) / 1000;
      const r = JSON.parse(out) as { ok: boolean; golden: string };
      check('golden-capture', 'kldload image capture --with srv/www', () => assert.ok(r.ok), seconds);
      // Nothing of the machine's identity or logs in the streams' root.
      const leaks = await sh(
        m,
        `zfs list -H -o name | grep -c kexport- || true; ls /var/tmp/web-golden; du -sm /var/tmp/web-golden | cut -f1`,
      );
      check('golden-capture', 'the sealed clones and snapshots are gone after the capture', () =>
        assert.match(leaks, /^0\n/),
      );
      mkdirSync(GOLDEN, { recursive: true });
      await sh(m, 'chmod -R a+rX /var/tmp/web-golden');
      const manifest = GoldenManifestSchema.parse(
        JSON.parse(await sh(m, `cat /var/tmp/web-golden/${GOLDEN_FILES.manifest}`)),
      );
      for (const f of [GOLDEN_FILES.manifest, GOLDEN_FILES.sums, ...manifest.streams.map((s) => s.file)])
        await m.pull(`/var/tmp/web-golden/${f}`, join(GOLDEN, f));
      check(
        'golden-capture',
        `the manifest names the web role and ${manifest.streams.length} streams`,
        () => {
          assert.ok(manifest.roles.includes('web'), manifest.roles.join(' '));
          assert.deepEqual(
            manifest.streams.map((s) => s.rel),
            ['ROOT/default', 'srv/www', 'var/log', 'var/log/nginx'],
          );
        },
      );
    } finally {
      await m.stop();
    }
  }),
);

test(
  'golden: a second machine installed from the golden image serves the same page with its own identity',
  { timeout: 3 * 3600_000 },
  scenario('golden-copy', async () => {
    assert.ok(original, 'the capture scenario did not finish');
    const b = vmCli(['build', '--profile', 'server', '--golden', GOLDEN, '-o', ISO_GOLDEN]);
    check('golden-copy', 'kldload build --golden (the streams checked against SHA256SUMS)', () =>
      assert.equal(b.code, 0, b.stderr.slice(-3000)),
    );
    const answers = join(WORK, 'copy-answers.env');
    writeFileSync(
      answers,
      overrideAnswers(DEFAULT_TEST_ANSWERS, { KLDLOAD_HOSTNAME: `${COPY_HOST}.example.net` }),
    );
    const res = kldloadTest('golden-copy-test', ISO_GOLDEN, W2, ['--answers', answers]);
    times.golden = res.phases.find((p) => p.name === 'install')?.seconds ?? 0;
    const serial = readFileSync(join(W2, 'install-serial.log'), 'utf8');
    check('golden-copy', 'the installer received the golden image (no unsquashfs)', () =>
      assert.match(serial, /the golden image web-golden/),
    );
    const m = await bootAgain(W2, 'identity');
    try {
      const copy = await identity(m);
      const o = original as NonNullable<typeof original>;
      check('golden-copy', `the same page as the original (sha256 ${o.page?.slice(0, 12)})`, () =>
        assert.equal(copy.page, o.page),
      );
      check('golden-copy', `its own host name (${copy.host})`, () => assert.equal(copy.host, COPY_HOST));
      check('golden-copy', 'its own machine-id', () => assert.notEqual(copy.machineId, o.machineId));
      check('golden-copy', 'its own hostid', () => assert.notEqual(copy.hostid, o.hostid));
      check('golden-copy', 'its own ssh host key', () => assert.notEqual(copy.sshKey, o.sshKey));
      const firstboot = await sh(
        m,
        'test -e /etc/kldload/reidentify && echo marker || echo none; systemctl is-active kldload-identity.service || true',
      );
      check('golden-copy', 'no identity renewal left for its boots (the installer made it)', () =>
        assert.match(firstboot, /^none\n(inactive|unknown)/),
      );
    } finally {
      await m.stop();
    }
    check(
      'golden-copy',
      `install from the golden image ${times.golden?.toFixed(0)} s vs base image + web role on first boot ${times.original?.toFixed(0)} s`,
      () => assert.ok((times.golden ?? 0) > 0),
      times.golden,
    );
  }),
);
