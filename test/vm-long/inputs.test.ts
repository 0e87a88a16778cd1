/**
 * Input trust, proven in VMs (`npm run e2e:inputs`, about 12 minutes on 2 cores with a warm cache):
 * an answers file of the original kldload installs unchanged with `KLDLOAD_DISK=` empty (the
 * installer picks the one eligible disk) and passes `kldload test`; the ISO booted under legacy
 * BIOS (SeaBIOS) refuses at preflight and leaves the disk untouched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { newRunDir } from '../../src/core/paths.ts';
import { utcStamp } from '../../src/live/facts.ts';
import { TARGET_DISK } from '../../src/vm/drives.ts';
import { installPhase } from '../../src/vm/install-phase.ts';
import { buildPlainIso, kldloadTestPasses } from '../vm/kldload-test.ts';
import { recorder } from './results.ts';

const STAMP = utcStamp();
const WORK = newRunDir('inputs-', 2, STAMP);
const { check } = recorder('inputs', STAMP);
const ISO = join(WORK, 'plain.iso');
const ORIGINAL = 'test/fixtures/answers/original/server-debian.env';

test('build a plain server ISO', { timeout: 3600_000 }, () => {
  buildPlainIso(ISO);
});

test(
  "the original kldload's Debian server answers install unchanged: KLDLOAD_DISK= empty picks the one disk",
  { timeout: 3600_000 },
  () => {
    const S = 'original answers';
    assert.match(readFileSync(ORIGINAL, 'utf8'), /^KLDLOAD_DISK=$/m);
    const w = join(WORK, 'original');
    check(S, 'kldload test --answers server-debian.env passes', () => {
      kldloadTestPasses(ISO, w, ['--answers', ORIGINAL]);
    });
    const serial = readFileSync(join(w, 'install-serial.log'), 'utf8');
    check(S, 'KLDLOAD_DISK= empty: the installer picked the only eligible disk', () =>
      assert.match(
        serial,
        /KLDLOAD_DISK is empty: installing to \/dev\/vda .*virtio-kltarget.*the only eligible disk/,
      ),
    );
    // The original's keys that have no effect here were named on the console, one warning each.
    check(S, 'keys without effect are named, one warning each', () => {
      assert.match(serial, /KLDLOAD_ENABLE_SECURE_BOOT: has no effect here/);
      assert.match(serial, /KLDLOAD_BUILD_IMAGES: has no effect here/);
    });
  },
);

test(
  'legacy BIOS (SeaBIOS): the ISO boots, the installer refuses at preflight, the disk is untouched',
  {
    timeout: 1800_000,
  },
  async () => {
    const disk = join(WORK, 'bios.qcow2');
    const pristine = join(WORK, 'bios-pristine.qcow2');
    for (const d of [disk, pristine]) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', d, '16G']);
    const answers = join(WORK, 'bios.env');
    writeFileSync(
      answers,
      `KLDLOAD_HOSTNAME=bios-test\nKLDLOAD_DISK=${TARGET_DISK}\nKLDLOAD_PASSWORD=bios-Secret-1\nKLDLOAD_FORCE_WIPE=1\n`,
    );
    const r = await installPhase(new SystemExecutor(), new Logger({ file: join(WORK, 'bios.log') }), {
      iso: ISO,
      workDir: WORK,
      answersFile: answers,
      disk,
      timeoutSec: 1200,
      name: 'bios',
      firmware: 'bios',
    });
    const S = 'SeaBIOS';
    check(S, 'the installer refused at preflight, naming legacy BIOS, no secret on the console', () => {
      assert.ok(r.refused, `installer did not refuse: ${r.detail}`);
      const serial = readFileSync(r.serialLog, 'utf8');
      assert.match(serial, /booted the installer in legacy BIOS mode .*nothing was written/);
      assert.match(serial, /KLDLOAD-INSTALL-FAIL step=preflight/);
      assert.doesNotMatch(serial, /bios-Secret-1/);
    });
    // FORCE_WIPE was set, and still nothing was written: the refusal comes before the wipe.
    check(S, 'the disk is untouched (qemu-img compare with a pristine one)', () => {
      execFileSync('qemu-img', ['compare', '-q', disk, pristine]);
    });
  },
);
