/**
 * The live system's boot (issue 16): the ISO boots under QEMU/TCG with the test answers on a seed
 * volume and a blank disk, and is stopped at the installer's first step (preflight, which writes
 * nothing). From the serial log (host seconds, src/vm/serial-times.ts): kernel start → the live
 * root's init → systemd's first line → kldload-installer.service → first step. Each ROUNDS times
 * with the ISO as an AHCI CD (as the VM tests and most hypervisors attach it) and as a virtio-scsi
 * CD (what the medium's own read path costs under emulation).
 *
 *   node --import tsx bench/live.ts ISO [ROUNDS]
 *
 * Writes bench/results/live-<stamp>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemExecutor } from '../src/core/exec.ts';
import { Logger } from '../src/core/log.ts';
import { newRunDir } from '../src/core/paths.ts';
import { utcStamp } from '../src/live/facts.ts';
import { installPhase } from '../src/vm/install-phase.ts';
import { installTimes, type LiveBoot, renderLiveBoot } from '../src/vm/serial-times.ts';
import { DEFAULT_TEST_ANSWERS } from '../src/vm/test-answers.ts';
import { median } from './guest.ts';

const iso = process.argv[2];
if (!iso) throw new Error('usage: node --import tsx bench/live.ts ISO [ROUNDS]');
const ROUNDS = Number(process.argv[3] ?? 1);
const stamp = utcStamp();
const work = newRunDir('live-bench-', 2, stamp);
const log = new Logger({ file: join(work, 'bench.log') });
const exec = new SystemExecutor(log);
const answers = join(work, 'answers.env');
writeFileSync(answers, DEFAULT_TEST_ANSWERS, { mode: 0o600 });

const runs: Record<string, LiveBoot[]> = { ide: [], scsi: [] };
for (let r = 0; r < ROUNDS; r++)
  for (const cdrom of ['ide', 'scsi'] as const) {
    const disk = join(work, `disk-${cdrom}-${r}.qcow2`);
    await exec.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '16G']);
    const out = await installPhase(exec, log, {
      iso,
      workDir: work,
      answersFile: answers,
      disk,
      timeoutSec: 900,
      name: `live-${cdrom}-${r}`,
      cdrom,
      until: /==> \[1\/\d+\]/,
    });
    const b = installTimes(readFileSync(out.serialLog, 'utf8')).liveBoot;
    if (!b) throw new Error(`${cdrom}: no live boot marks in ${out.serialLog} (${out.detail})`);
    console.log(`${cdrom}: ${renderLiveBoot(b)}`);
    runs[cdrom]?.push(b);
  }
const med = (k: 'ide' | 'scsi') => {
  const xs = runs[k] ?? [];
  const keys = Object.keys(xs[0] ?? {}) as (keyof LiveBoot)[];
  return Object.fromEntries(keys.map((key) => [key, median(xs.map((x) => x[key]))]));
};
const result = {
  bench: 'live',
  stamp,
  iso,
  rounds: ROUNDS,
  median: { ide: med('ide'), scsi: med('scsi') },
  runs,
};
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', `live-${stamp}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
console.log(`results: ${file}`);
