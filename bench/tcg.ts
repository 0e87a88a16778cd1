/**
 * What one-threaded TCG costs against multi-threaded TCG (QEMU_BASE in src/vm/qemu.ts), on one
 * installed disk in one run: boot until ssh answers, boot until systemd reports running, and a
 * CPU-bound guest job (update-initramfs for the running kernel, what every kernel install does).
 * Modes alternate round by round so a slow spell of the host hits both.
 *
 *   npm run bench:tcg [-- DAY2_WORKDIR] [ROUNDS]
 *
 * DAY2_WORKDIR: an `npm run e2e:day2` folder (base.qcow2, id_ed25519); default the newest. Writes
 * bench/results/tcg-<stamp>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemExecutor } from '../src/core/exec.ts';
import { Logger } from '../src/core/log.ts';
import { newRunDir } from '../src/core/paths.ts';
import { utcStamp } from '../src/live/facts.ts';
import { Machine, renderBoots } from '../src/vm/machine.ts';
import { overlayArgs, QEMU_BASE } from '../src/vm/qemu.ts';
import { newestDay2Dir } from './runs.ts';

const USER = 'admin';
const PASSWORD = 'kl-test-Secret-7';
const MODES = { multi: ['tcg,thread=multi', '2'], single: ['tcg,thread=single', '2'] } as const;

const src = process.argv[2] || newestDay2Dir(['id_ed25519']);
const ROUNDS = Number(process.argv[3] ?? 2);
const stamp = utcStamp();
const work = newRunDir('tcg-bench-', 2, stamp);
const log = new Logger({ file: join(work, 'bench.log') });
const exec = new SystemExecutor(log);
const rows: Record<string, { ssh: number[]; running: number[]; initramfs: number[] }> = {};
const boots: string[] = [];
const r1 = (x: number) => Math.round(x * 10) / 10;

for (let i = 0; i < ROUNDS; i++) {
  for (const [mode, [accel, smp]] of Object.entries(MODES)) {
    // QEMU_BASE is the one place the harness takes its accelerator from: set it for this boot.
    QEMU_BASE.splice(QEMU_BASE.indexOf('-accel') + 1, 1, accel);
    QEMU_BASE.splice(QEMU_BASE.indexOf('-smp') + 1, 1, smp);
    const disk = join(work, `${mode}-${i}.qcow2`);
    execFileSync('qemu-img', overlayArgs(join(src, 'base.qcow2'), disk));
    const t0 = Date.now();
    const m = await Machine.start(
      exec,
      {
        disk,
        workDir: work,
        name: `${mode}-${i}`,
        key: join(src, 'id_ed25519'),
        user: USER,
        password: PASSWORD,
        log,
      },
      mode,
    );
    try {
      await m.mustBeUp(900);
      const ssh = (Date.now() - t0) / 1000;
      const state = await m.settled(900);
      if (state !== 'running') throw new Error(`${mode}: system ${state}`);
      const running = (Date.now() - t0) / 1000;
      const t1 = Date.now();
      const r = await m.root('update-initramfs -u -k "$(uname -r)" >/dev/null 2>&1');
      if (r.exitCode !== 0) throw new Error(`${mode}: update-initramfs failed`);
      const initramfs = (Date.now() - t1) / 1000;
      const row = rows[mode] ?? { ssh: [], running: [], initramfs: [] };
      rows[mode] = row;
      row.ssh.push(r1(ssh));
      row.running.push(r1(running));
      row.initramfs.push(r1(initramfs));
      console.log(
        `${mode} round ${i + 1}: ssh ${r1(ssh)}s, running ${r1(running)}s, update-initramfs ${r1(initramfs)}s`,
      );
      await m.powerOff();
    } finally {
      await m.stop();
      boots.push(...renderBoots(m.boots));
    }
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ratio = (k: 'ssh' | 'running' | 'initramfs') =>
  Math.round((sum(rows.single?.[k] ?? []) / sum(rows.multi?.[k] ?? [1])) * 100) / 100;
const result = {
  bench: 'tcg',
  stamp,
  source: src,
  rounds: ROUNDS,
  modes: MODES,
  rows,
  single_over_multi: { ssh: ratio('ssh'), running: ratio('running'), initramfs: ratio('initramfs') },
  boots,
};
mkdirSync('bench/results', { recursive: true });
const out = join('bench/results', `tcg-${stamp}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
console.log(`single/multi: ${JSON.stringify(result.single_over_multi)} → ${out}`);
