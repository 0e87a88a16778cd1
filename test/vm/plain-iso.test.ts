/**
 * `kldload test` proves any ISO: one built with no options beyond the profile (no --packages, no
 * roles, no payload) installs, boots and passes every check, the reboot check included. The ISO is
 * built from the layers the spine test left in the cache; only the darksite and the ISO are new.
 *
 * Then day 2 on that installed disk (a qcow2 overlay, no second install): a kernel with a new ABI
 * and no ZFS module, installed by plain apt-get, is held back by the guard; the root is broken on
 * purpose and `ksnap rollback` brings it back: the reboot runs the rollback BE, healthy by the guest
 * report, on the old kernel (the held one is in that BE too and must not be picked), and the broken
 * state is kept as a BE. The full kernel path (module installed → boots the new kernel), kupgrade
 * and the other tools are `npm run e2e:day2`.
 *
 * KLDLOAD_PLAIN_WORK=<an earlier run's folder> reuses its ISO and installed disk (for iterating).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { newRunDir } from '../../src/core/paths.ts';
import { Machine, renderBoots } from '../../src/vm/machine.ts';
import { overlayArgs } from '../../src/vm/qemu.ts';
import {
  addRepo,
  failedGuestChecks,
  inBe,
  kernelOf,
  kldload,
  literally,
  rootOf,
  sh,
  snapshotsOf,
} from './day2-guest.ts';
import { buildHeldKernelRepo, SUITE } from './day2-repo.ts';
import { buildPlainIso, kldloadTestPasses } from './kldload-test.ts';

const REUSE = process.env.KLDLOAD_PLAIN_WORK;
const WORK = REUSE ?? newRunDir('plain-', 2);
const ISO = join(WORK, 'plain.iso');
const TEST = join(WORK, 'test');
/** zed restarts after its boot start, each checked for the drop-in's priority. */
const ZED_RESTARTS = 10;
mkdirSync(WORK, { recursive: true });

test('kldload test of a plain `kldload build --profile server` ISO passes', { timeout: 3600_000 }, (t) => {
  if (REUSE && existsSync(join(TEST, 'boot.qcow2'))) {
    t.diagnostic(`KLDLOAD_PLAIN_WORK: reusing ${TEST}`);
    return;
  }
  buildPlainIso(ISO);
  kldloadTestPasses(ISO, TEST);
});

test(
  'day 2: a new-ABI kernel without its ZFS module is held back; ksnap rollback of a broken root boots healthy on the old kernel',
  { timeout: 3600_000 },
  async () => {
    // kldload test left its disk after first boot and the reboot check: boot.qcow2 (an overlay itself).
    const installed = join(TEST, 'boot.qcow2');
    assert.ok(existsSync(installed), 'needs the disk the kldload test above installed and booted');
    const answersPath = join(TEST, 'answers.env');
    const v = validateAnswersText(readFileSync(answersPath, 'utf8'), answersPath);
    assert.ok(v.ok && v.answers.KLDLOAD_PASSWORD, `${answersPath}: no password for sudo`);
    const a = v.answers;
    const PASSWORD = a.KLDLOAD_PASSWORD as string;
    const POOL = a.KLDLOAD_POOL_NAME;
    const log = new Logger({ file: join(WORK, 'day2.log') });
    const exec = new SystemExecutor(log);
    const repo = await buildHeldKernelRepo(exec, log, WORK);
    const tar = join(WORK, `${SUITE}.tar`);
    execFileSync('tar', ['-C', repo.dir, '-cf', tar, '.']);

    const disk = join(WORK, 'day2.qcow2');
    execFileSync('qemu-img', overlayArgs(installed, disk));
    rmSync(join(WORK, 'day2-vars.fd'), { force: true });
    const m = await Machine.start(
      exec,
      {
        disk,
        workDir: WORK,
        name: 'day2',
        key: join(TEST, 'id_ed25519'),
        user: a.KLDLOAD_USERNAME,
        password: PASSWORD,
        log,
      },
      'day 2',
    );
    const DEFAULT = `${POOL}/ROOT/default`;
    try {
      await m.mustBeUp(900);
      assert.equal(await m.settled(900), 'running');
      if (REUSE) {
        // The reused disk was installed by an earlier bundle: the tools under test are this tree's.
        await m.installBundle();
      }
      // The install's zed drop-in (src/day2/zed.ts) holds: zed and its session's group at nice 19,
      // at boot and after each of several restarts (the group's nice once raced zed's setsid()).
      // reset-failed: systemd refuses a sixth start within 10 s (StartLimitBurst).
      const zedNice =
        'p=$(systemctl show -p MainPID --value zfs-zed); echo "$(ps -o ni= -p "$p") $(cat "/proc/$p/autogroup")"';
      const zed = await sh(
        m,
        `${zedNice}; for i in $(seq ${ZED_RESTARTS}); do systemctl reset-failed zfs-zed; systemctl restart zfs-zed; ${zedNice}; done`,
      );
      const starts = zed.trim().split('\n');
      assert.equal(starts.length, ZED_RESTARTS + 1, `zed: ${zed}`);
      for (const [i, line] of starts.entries()) {
        assert.match(line, /^\s*19 \/autogroup-\d+ nice 19$/, `zed start ${i}: ${zed}`);
      }
      const k0 = await kernelOf(m);
      assert.ok(k0 !== repo.abi, `the test kernel ${repo.abi} is the running one`);
      await addRepo(m, tar, SUITE);

      // Plain apt-get, as a user would: it succeeds, apt's snapshot is taken, and the guard keeps the
      // kernel out of the boot menu (marker, motd, a line on apt's output, no entry).
      const s0 = await snapshotsOf(m, DEFAULT, 'kpkg-');
      const apt = await m.root(
        `DEBIAN_FRONTEND=noninteractive apt-get install -y ${repo.meta} 2>&1`,
        {},
        1_800_000,
      );
      assert.equal(apt.exitCode, 0, apt.all.slice(-3000));
      const byApt = (await snapshotsOf(m, DEFAULT, 'kpkg-')).filter((s) => !s0.includes(s));
      assert.equal(byApt.length, 1, `snapshots apt-get made: ${byApt.join(' ')}`);
      assert.match(apt.all, /kldload: REFUSED boot entry for kernel/);
      const held = await sh(
        m,
        `ls /var/lib/kldload/kernel-guard/; ls /boot/efi/loader/entries/; cat /etc/motd.d/kldload-kernel-guard`,
      );
      assert.match(held, literally(`${repo.abi}.held`));
      assert.match(held, /NOT bootable/);
      assert.equal(
        held.split('\n').filter((l) => l.endsWith('.conf') && l.includes(repo.abi)).length,
        0,
        `an entry was written for the held kernel:\n${held}`,
      );

      // A snapshot with the held kernel in it, then the root broken beyond booting normally.
      const snap = await kldload(m, 'snap create --name with-held-kernel');
      const target = `${DEFAULT}@with-held-kernel`;
      assert.ok(JSON.stringify(snap).includes(target), JSON.stringify(snap));
      await sh(m, 'rm -rf /usr/lib/systemd/system && test ! -e /usr/lib/systemd/system/ssh.service');
      const rb = await kldload(m, `snap rollback ${target} --name healthy`);
      assert.equal(rb.ok, true, JSON.stringify(rb));
      // Unit files are gone: a normal reboot cannot load reboot.target, so --force (systemd-shutdown).
      await m.reboot('after ksnap rollback', { upSec: 900, command: 'systemctl reboot --force' });
      const state = await m.settled(900);
      assert.equal(await rootOf(m), `${POOL}/ROOT/healthy`);
      assert.equal(state, 'running');
      assert.equal(await kernelOf(m), k0, 'the held kernel was booted');
      // The guest report kldload test reads, against the rollback BE: healthy, first boot not re-run.
      assert.deepEqual(
        await failedGuestChecks(m, {
          pool: POOL,
          be: 'healthy',
          password: PASSWORD,
          file: join(WORK, 'report-rollback.txt'),
        }),
        [],
      );
      const inHealthy = await sh(m, `ls /boot; ls /var/lib/kldload/kernel-guard/`);
      assert.match(inHealthy, literally(`vmlinuz-${repo.abi}`), 'the rollback BE lost the held kernel');
      const broken = await inBe(m, DEFAULT, 'test -e usr/lib/systemd/system && echo units || echo no-units');
      assert.match(broken, /^no-units$/m, 'the broken state was not kept as a BE');
    } finally {
      await m.stop().catch(() => undefined);
      for (const line of renderBoots(m.boots)) console.log(`# ${line}`);
    }
  },
);
