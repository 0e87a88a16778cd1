import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SystemExecutor } from '../src/core/exec.ts';
import { Logger } from '../src/core/log.ts';
import { newRunDir } from '../src/core/paths.ts';
import { Machine } from '../src/vm/machine.ts';
import { overlayArgs } from '../src/vm/qemu.ts';

/** The e2e:day2 install's answers (test/vm-long/day2.test.ts). */
const USER = 'admin';
const PASSWORD = 'kl-test-Secret-7';

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
export const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The benches' guest: an overlay of an installed disk (`base` in folder `src`: an e2e:day2 folder's
 * base.qcow2, or a `kldload test` workdir's target.qcow2), started in `<cache>/vm/<prefix><stamp>` (the two newest kept); root
 * scripts that must succeed, and commands timed on the host.
 */
export async function day2Guest(src: string, prefix: string, stamp: string, base = 'base.qcow2') {
  const work = newRunDir(prefix, 2, stamp);
  const disk = join(work, 'disk.qcow2');
  execFileSync('qemu-img', overlayArgs(join(src, base), disk));
  const log = new Logger({ file: join(work, 'bench.log') });
  const m = await Machine.start(
    new SystemExecutor(log),
    { disk, workDir: work, name: 'bench', key: join(src, 'id_ed25519'), user: USER, password: PASSWORD, log },
    'boot',
  );
  /** Root script that must succeed; returns stdout. */
  const sh = async (script: string, timeoutMs = 1_800_000): Promise<string> => {
    const r = await m.root(`set -euo pipefail\n${script}`, {}, timeoutMs);
    if (r.exitCode !== 0)
      throw new Error(`guest script failed (${r.exitCode}):\n${script}\n${r.all.slice(-3000)}`);
    return r.stdout;
  };
  let sshFloor = 0;
  /**
   * Both clocks around one command: the guest's (date +%s%N inside the same script, so no ssh or
   * sudo in it) and the host's, around the ssh call minus the median of an empty one (calibrate()).
   * The guest's clocksource is tsc, which TCG derives from the host's clock; the two agreed within
   * the ssh call's spread (bench/README "spray").
   */
  const timedBoth = async (command: string): Promise<{ guest: number; host: number }> => {
    const t0 = performance.now();
    const out = await sh(
      `export DEBIAN_FRONTEND=noninteractive\ns=$(date +%s%N)\n${command} >/dev/null\ne=$(date +%s%N)\necho "kl-guest-ns $((e - s))"`,
    );
    const host = Math.max(0, (performance.now() - t0) / 1000 - sshFloor);
    const ns = /kl-guest-ns (\d+)/.exec(out)?.[1];
    if (!ns) throw new Error(`no guest time in: ${out.slice(-300)}`);
    return { guest: Number(ns) / 1e9, host };
  };
  /** Seconds the command took, by the host's clock (the benches written before timedBoth). */
  const timed = async (command: string): Promise<number> => (await timedBoth(command)).host;
  /** Measures the empty ssh call (median of 5) that timed() subtracts; returns it. */
  const calibrate = async (): Promise<number> => {
    sshFloor = 0;
    const empty: number[] = [];
    for (let i = 0; i < 5; i++) empty.push(await timed('true'));
    sshFloor = median(empty);
    return sshFloor;
  };
  return { m, work, sh, timed, timedBoth, calibrate };
}

/**
 * A bench script's body, then its one ending: the guest stopped, the result saved (a failure in it,
 * named), printed, PASS/FAIL and the exit code.
 */
export async function runBench(
  name: string,
  o: { m: { stop(): Promise<unknown> }; result: Record<string, unknown>; save: () => void; out: string },
  body: () => Promise<void>,
): Promise<never> {
  let failure: string | undefined;
  try {
    await body();
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
    o.result.failure = failure;
    console.error(`FAIL: ${failure}`);
  } finally {
    await o.m.stop().catch(() => undefined);
  }
  o.result.ok = !failure;
  o.save();
  console.log(JSON.stringify(o.result, null, 1));
  console.log(`${failure ? 'FAIL' : 'PASS'} bench ${name} → ${o.out}`);
  process.exit(failure ? 1 : 0);
}
