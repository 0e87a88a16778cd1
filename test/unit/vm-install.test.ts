/**
 * The install boot and `kldload test`'s first boot under an emulator fault, with a scripted QEMU (the
 * real ones run in test/vm): a guest kernel killed by QEMU's TCG (int3 in kernel text) is booted
 * again once, on the disk as it was before that boot; a kernel bug of the guest's own is not.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Executor, RunOptions, RunResult } from '../../src/core/exec.ts';
import { runTest } from '../../src/vm/harness.ts';
import { installPhase } from '../../src/vm/install-phase.ts';

const OOPS = {
  int3: [
    '[    3.103489] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI',
    '[    3.104010] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.57+deb13-amd64 #1',
    '[    3.104401] RIP: 0010:sched_clock_cpu+0x10/0x1a0',
    '[    3.109108] Kernel panic - not syncing: Fatal exception in interrupt',
  ],
  zfs: [
    '[    3.103489] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI',
    '[    3.104401] RIP: 0010:zfs_znode_alloc+0x1a/0x440 [zfs]',
    '[    3.109108] Kernel panic - not syncing: Fatal exception',
  ],
};

const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPAcldu9SXFcQoWNWaIJVMOJeUOMkm6OHXiwSgr591Ir kldload-test';

/**
 * QEMU runs in order: a run listed in `oopsAt` dies of that oops (an install run after writing half a
 * system to its disk); an install run (a cdrom drive) otherwise writes the system and powers off;
 * a boot of the installed disk answers ssh until stopped.
 */
class FakeVm implements Executor {
  readonly qemu: string[][] = [];
  /** What the target disk held when each QEMU run started. */
  readonly diskAtStart: string[] = [];
  constructor(private readonly oopsAt: Record<number, 'int3' | 'zfs'>) {}

  async run(argv: string[], o: RunOptions = {}): Promise<RunResult> {
    const ok = { exitCode: 0, stdout: '', all: '' };
    if (argv[0] === 'qemu-system-x86_64') {
      this.qemu.push(argv);
      const n = this.qemu.length;
      const drive = argv.find((a) => a.includes(',id=t0,')) ?? '';
      const disk = /^file=([^,]+)/.exec(drive)?.[1] ?? '';
      this.diskAtStart.push(readFileSync(disk, 'utf8'));
      const install = argv.some((a) => a.includes('media=cdrom'));
      const stopped = new Promise<void>((r) => o.signal?.addEventListener('abort', () => r()));
      const oops = this.oopsAt[n];
      if (oops) {
        if (install) writeFileSync(disk, 'half-written');
        for (const l of OOPS[oops]) {
          o.onLine?.(l);
          o.onChunk?.(`${l}\n`);
        }
        await stopped;
        return { ...ok, exitCode: 143 };
      }
      if (install) {
        writeFileSync(disk, 'installed');
        o.onLine?.('KLDLOAD-INSTALL-OK host=kltest seconds=1 hostid=00000000');
        return ok;
      }
      o.onLine?.('Debian GNU/Linux 13 kltest ttyS0');
      await stopped;
      return { ...ok, exitCode: 143 };
    }
    if (argv[0] === 'ssh') {
      const cmd = argv[argv.length - 1] ?? '';
      const up = !this.oopsAt[this.qemu.length];
      if (cmd.includes(Buffer.from('systemctl is-system-running').toString('base64').slice(0, 20)))
        return { ...ok, stdout: 'running\n' };
      return up ? ok : { exitCode: 255, stdout: '', all: 'Connection refused' };
    }
    if (argv[0] === 'ssh-keygen') {
      const f = argv[argv.indexOf('-f') + 1] as string;
      writeFileSync(f, 'private');
      writeFileSync(`${f}.pub`, `${PUB}\n`);
      return ok;
    }
    if (argv[0] === 'qemu-img') {
      const f = argv.includes('-b') ? (argv[argv.length - 1] as string) : (argv[argv.length - 2] as string);
      writeFileSync(f, argv.includes('-b') ? 'overlay' : 'blank');
      return ok;
    }
    if (argv[0] === 'xorriso') return { ...ok, exitCode: 1 };
    if (['rm', 'mkfs.vfat', 'mcopy'].includes(argv[0] as string)) return ok;
    throw new Error(`unexpected command ${argv.join(' ')}`);
  }
}

const quiet = { info: () => undefined, addSecret: () => undefined } as unknown as Parameters<
  typeof installPhase
>[1];

function setup() {
  const workDir = mkdtempSync(join(tmpdir(), 'kl-install-'));
  const disk = join(workDir, 'target.qcow2');
  const answersFile = join(workDir, 'answers.env');
  writeFileSync(disk, 'blank');
  writeFileSync(answersFile, '');
  return {
    workDir,
    disk,
    answersFile,
    iso: join(workDir, 'k.iso'),
    timeoutSec: 10,
    firmware: 'bios' as const,
  };
}

test('an install boot killed by the emulator runs again once, on the disk as it was before', async () => {
  const fake = new FakeVm({ 1: 'int3' });
  const o = setup();
  const r = await installPhase(fake, quiet, o);
  assert.equal(r.ok, true, r.detail);
  assert.equal(fake.qemu.length, 2);
  assert.deepEqual(fake.diskAtStart, ['blank', 'blank']);
  assert.equal(readFileSync(o.disk, 'utf8'), 'installed');
  assert.match(r.emulatorFault ?? '', /kernel int3 at sched_clock_cpu/);
  assert.match(r.detail, /again after an emulator fault/);
  // Both runs keep their serial log.
  assert.ok(existsSync(join(o.workDir, 'install-serial.log')));
  assert.ok(existsSync(join(o.workDir, 'install-fault-serial.log')));
});

test('an install boot that faults twice, or dies of a kernel bug of its own, fails without more tries', async () => {
  const twice = new FakeVm({ 1: 'int3', 2: 'int3' });
  const r = await installPhase(twice, quiet, setup());
  assert.equal(r.ok, false);
  assert.equal(twice.qemu.length, 2);
  assert.match(r.detail, /^fail-pattern: Kernel panic/);

  const own = new FakeVm({ 1: 'zfs' });
  const r2 = await installPhase(own, quiet, setup());
  assert.equal(r2.ok, false);
  assert.equal(own.qemu.length, 1);
  assert.equal(r2.emulatorFault, undefined);
});

test("kldload test's first boot killed by the emulator is booted again and the phase passes", async () => {
  // Run 1 installs; run 2 (the installed disk's first boot) dies of int3; run 3 comes up.
  const fake = new FakeVm({ 2: 'int3' });
  const o = setup();
  writeFileSync(o.iso, 'iso');
  const r = await runTest(fake, quiet, {
    iso: o.iso,
    workDir: o.workDir,
    installTimeoutSec: 10,
    bootTimeoutSec: 10,
    reboot: false,
  });
  const first = r.phases.find((p) => p.name === 'first-boot');
  assert.equal(first?.ok, true, first?.detail);
  assert.equal(fake.qemu.length, 3);
  assert.match(r.boots?.[0]?.emulatorFault ?? '', /kernel int3 at sched_clock_cpu/);
});
