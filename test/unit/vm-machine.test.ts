/**
 * The reboot helper's bounds, with a scripted QEMU and ssh (the real ones reboot in test/vm and in
 * bench/reboots.ts): a guest that hangs on its way down, or never comes back, is killed and the
 * failure names the phase and the serial log with its last lines; a good reboot starts QEMU again on
 * the same disk and the same EFI variables.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Executor, RunOptions, RunResult } from '../../src/core/exec.ts';
import { BootError, linkArgs, Machine, renderBoots } from '../../src/vm/machine.ts';

type Guest = {
  down: 'exit' | 'hang';
  sshAfterBoot: (n: number) => boolean;
  /** Boots that fail and reset by themselves (a panic= in the initramfs): QEMU ends on its own. */
  resetsAt?: number[];
  /** Boots whose kernel dies (a kernel-text int3 from the emulator, or a panic of its own). */
  oopsAt?: Record<number, 'int3' | 'zfs'>;
};

/** Serial lines of a guest kernel dying, as seen under TCG (int3) or from a module's own bug. */
const OOPS = {
  int3: [
    '[   25.103489] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI',
    '[   25.104010] CPU: 1 UID: 0 PID: 1 Comm: systemd Tainted: P           OE      6.12.57+deb13-amd64 #1',
    '[   25.104401] RIP: 0010:kmem_cache_free+0x103/0x440',
    '[   25.109108] Kernel panic - not syncing: Fatal exception in interrupt',
  ],
  zfs: [
    '[   25.103489] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI',
    '[   25.104401] RIP: 0010:zfs_znode_alloc+0x1a/0x440 [zfs]',
    '[   25.109108] Kernel panic - not syncing: Fatal exception',
  ],
};

/** QEMU prints a boot, then waits: for `systemctl reboot` (exit or hang) or for its kill signal. */
class FakeVmExecutor implements Executor {
  readonly qemu: string[][] = [];
  killed = 0;
  private rebootAsked: () => void = () => undefined;
  constructor(private readonly g: Guest) {}

  async run(argv: string[], o: RunOptions = {}): Promise<RunResult> {
    if (argv[0] === 'qemu-system-x86_64') {
      this.qemu.push(argv);
      const n = this.qemu.length;
      o.onLine?.(`BdsDxe: starting Boot0001 (boot ${n})`);
      if (this.g.resetsAt?.includes(n)) {
        o.onLine?.('Rebooting automatically due to panic= boot argument');
        return { exitCode: 0, stdout: '', all: '' };
      }
      const oops = this.g.oopsAt?.[n];
      if (oops) {
        const stopped = new Promise<void>((r) => o.signal?.addEventListener('abort', () => r()));
        for (const l of OOPS[oops]) {
          o.onLine?.(l);
          o.onChunk?.(`${l}\n`);
        }
        await stopped;
        return { exitCode: 143, stdout: '', all: '' };
      }
      const asked = new Promise<void>((r) => {
        this.rebootAsked = r;
      });
      const aborted = new Promise<void>((r) => o.signal?.addEventListener('abort', () => r()));
      await Promise.race([
        asked.then(async () => {
          o.onLine?.('reboot: Restarting system');
          // -no-reboot: the reset ends QEMU; a hang keeps it spinning until killed.
          if (this.g.down === 'hang') await aborted;
        }),
        aborted,
      ]);
      if (o.signal?.aborted) this.killed++;
      return { exitCode: o.signal?.aborted ? 143 : 0, stdout: '', all: '' };
    }
    if (argv[0] === 'ssh') {
      const cmd = argv[argv.length - 1] ?? '';
      if (cmd.includes(Buffer.from('systemctl reboot').toString('base64'))) {
        this.rebootAsked();
        return { exitCode: 255, stdout: '', all: 'Connection closed' };
      }
      const n = this.qemu.length;
      const ok = this.g.sshAfterBoot(n) && !this.g.resetsAt?.includes(n) && !this.g.oopsAt?.[n];
      return { exitCode: ok ? 0 : 255, stdout: '', all: '' };
    }
    throw new Error(`unexpected command ${argv.join(' ')}`);
  }
}

function machine(exec: Executor) {
  const workDir = mkdtempSync(join(tmpdir(), 'kl-machine-'));
  return Machine.start(
    exec,
    { disk: join(workDir, 'disk.qcow2'), workDir, name: 'm', key: '/nonexistent', user: 'u', password: 'p' },
    'first boot',
  );
}

test('a reboot starts QEMU again on the same disk and EFI variables, with -no-reboot', async () => {
  const fake = new FakeVmExecutor({ down: 'exit', sshAfterBoot: () => true });
  const m = await machine(fake);
  await m.mustBeUp(10);
  const b = await m.reboot('reboot 1', { downSec: 5, upSec: 10 });
  await m.stop();
  assert.equal(b.n, 2);
  assert.equal(fake.qemu.length, 2);
  const [one, two] = fake.qemu.map((a) => a.join(' '));
  assert.equal(one, two, 'the second start differs from the first');
  assert.match(one ?? '', /-no-reboot/);
  assert.match(one ?? '', /file=[^ ]*m-vars\.fd/);
  assert.equal(m.boots[0]?.phase, 'first boot');
  assert.ok((m.boots[0]?.downSec ?? -1) >= 0);
  assert.equal(m.boots[1]?.phase, 'reboot 1');
  assert.match(renderBoots(m.boots).join('\n'), /boot 1 \(first boot\): ssh after \d+s, then down in \d+s/);
  assert.equal(fake.killed, 1, 'only the final stop kills QEMU');
});

test('a guest that hangs on its way down is killed, and the error names the phase and the serial log', async () => {
  const fake = new FakeVmExecutor({ down: 'hang', sshAfterBoot: () => true });
  const m = await machine(fake);
  await m.mustBeUp(10);
  await assert.rejects(m.reboot('reboot 1', { downSec: 1, upSec: 10 }), (e: unknown) => {
    assert.ok(e instanceof BootError);
    assert.match(e.message, /^first boot: the guest did not go down within 1s of 'systemctl reboot'/);
    assert.match(e.message, /serial log \S+m-1-serial\.log, last lines:\n.*reboot: Restarting system/s);
    return true;
  });
  assert.equal(fake.killed, 1, 'the hung QEMU was not killed');
  assert.equal(m.alive, false);
});

test('a guest that does not come back is killed, and the error names the reboot', async () => {
  const fake = new FakeVmExecutor({ down: 'exit', sshAfterBoot: (n) => n === 1 });
  const m = await machine(fake);
  await m.mustBeUp(10);
  await assert.rejects(m.reboot('reboot check', { downSec: 5, upSec: 1 }), (e: unknown) => {
    assert.ok(e instanceof BootError);
    assert.match(e.message, /^reboot check: no ssh within 1s; serial log \S+m-2-serial\.log/);
    return true;
  });
  assert.equal(fake.killed, 1);
  assert.equal(m.alive, false);
});

test('a boot that resets by itself is started again when the caller allows it, and only then', async () => {
  const fake = new FakeVmExecutor({ down: 'exit', sshAfterBoot: () => true, resetsAt: [2, 4] });
  const m = await machine(fake);
  await m.mustBeUp(10);
  const b = await m.reboot('broken upgrade', { downSec: 5, upSec: 10, resets: 1 });
  assert.equal(b.n, 3);
  assert.equal(b.phase, 'broken upgrade, after the guest reset itself');
  assert.equal(m.boots[1]?.upSec, undefined, 'the reset boot never answered ssh');
  assert.match(renderBoots(m.boots).join('\n'), /boot 2 \(broken upgrade\): no ssh/);
  // Without the allowance the same reset is a failure naming the boot and its serial log.
  await assert.rejects(m.reboot('plain reboot', { downSec: 5, upSec: 10 }), (e: unknown) => {
    assert.ok(e instanceof BootError);
    assert.match(e.message, /^plain reboot: QEMU ended before ssh answered; serial log \S+m-4-serial\.log/);
    assert.match(e.message, /Rebooting automatically due to panic=/);
    return true;
  });
  assert.equal(fake.qemu.length, 4);
});

test('a boot killed by the emulator (kernel-text int3 under TCG) is started again once and said so; a kernel bug is not', async () => {
  const fake = new FakeVmExecutor({
    down: 'exit',
    sshAfterBoot: () => true,
    oopsAt: { 2: 'int3', 4: 'int3', 5: 'int3', 7: 'zfs' },
  });
  const m = await machine(fake);
  await m.mustBeUp(10);
  const b = await m.reboot('reboot check', { downSec: 5, upSec: 10 });
  assert.equal(b.n, 3);
  assert.equal(b.phase, 'reboot check, again after an emulator fault');
  assert.match(m.boots[1]?.emulatorFault ?? '', /kernel int3 at kmem_cache_free\+0x103\/0x440/);
  assert.match(
    renderBoots(m.boots).join('\n'),
    /boot 2 \(reboot check\): no ssh, kernel int3 at kmem_cache_free/,
  );
  // Twice in one boot's allowance: a failure, naming the pattern and the serial log.
  await assert.rejects(m.reboot('second', { downSec: 5, upSec: 10 }), (e: unknown) => {
    assert.ok(e instanceof BootError);
    assert.match(
      e.message,
      /^second, again after an emulator fault: QEMU ended before ssh answered \(Kernel panic\)/,
    );
    return true;
  });
  // A kernel bug of its own (invalid opcode in zfs) is never retried.
  const again = await machine(
    new FakeVmExecutor({ down: 'exit', sshAfterBoot: () => true, oopsAt: { 1: 'zfs' } }),
  );
  await assert.rejects(again.mustBeUp(10), /first boot: QEMU ended before ssh answered \(Kernel panic\)/);
});

test('private links are dgram sockets on 127.0.0.1, one NIC each, found in the guest by MAC', () => {
  const args = linkArgs([
    { mac: '52:54:00:77:00:01', localPort: 40001, remotePort: 40002 },
    { mac: '52:54:00:77:00:03', localPort: 40005, remotePort: 40006 },
  ]);
  assert.deepEqual(args, [
    '-netdev',
    'dgram,id=link0,local.type=inet,local.host=127.0.0.1,local.port=40001,remote.type=inet,remote.host=127.0.0.1,remote.port=40002',
    '-device',
    'virtio-net-pci,netdev=link0,mac=52:54:00:77:00:01',
    '-netdev',
    'dgram,id=link1,local.type=inet,local.host=127.0.0.1,local.port=40005,remote.type=inet,remote.host=127.0.0.1,remote.port=40006',
    '-device',
    'virtio-net-pci,netdev=link1,mac=52:54:00:77:00:03',
  ]);
  assert.ok(
    args.every((a) => !/host=(?!127\.0\.0\.1)/.test(a)),
    'nothing but loopback',
  );
});
