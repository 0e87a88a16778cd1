import { join } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { guestRoot, sshOpts, TARGET_SERIAL, waitForSsh } from './harness.ts';
import { freePort, ovmfArgs, QEMU_BASE, runVm, type VmOutcome } from './qemu.ts';

export interface BootedDisk {
  ssh: string[];
  /** Root shell in the guest: stdout, stderr and exit code of a bash script. */
  root(script: string): Promise<{ exitCode: number; stdout: string; all: string }>;
  up(timeoutSec: number): Promise<boolean>;
  /** Pulls the plug (QEMU is killed: unflushed guest writes are lost, as in a power cut). */
  stop(): Promise<VmOutcome>;
}

/**
 * Boots an installed disk under OVMF with SSH forwarded. cache=writeback, not unsafe: a kill must
 * look like a power cut to the guest, not corrupt the image file.
 */
export async function bootDisk(
  exec: Executor,
  o: {
    disk: string;
    workDir: string;
    name: string;
    key: string;
    user: string;
    password: string;
    timeoutSec: number;
  },
): Promise<BootedDisk> {
  const port = await freePort();
  const ssh = sshOpts(o.key, port);
  let stopVm: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    stopVm = r;
  });
  let running = true;
  const vm = runVm(exec, {
    args: [
      ...QEMU_BASE,
      '-m',
      '2048',
      ...ovmfArgs(join(o.workDir, `${o.name}-vars.fd`)),
      '-drive',
      `file=${o.disk},if=none,id=t,format=qcow2,cache=writeback`,
      '-device',
      `virtio-blk-pci,drive=t,serial=${TARGET_SERIAL}`,
      '-nic',
      `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${port}-:22`,
    ],
    serialLog: join(o.workDir, `${o.name}-serial.log`),
    timeoutSec: o.timeoutSec,
    stopWhen: stopped,
  }).finally(() => {
    running = false;
  });
  return {
    ssh,
    root: (script) => guestRoot(exec, ssh, o.user, o.password, script),
    up: (t) => waitForSsh(exec, ssh, o.user, Date.now() + t * 1000, () => running),
    stop: async () => {
      stopVm();
      return vm;
    },
  };
}
