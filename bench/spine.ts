/**
 * Spine benchmark, one run: cold build (empty cache), rebuild after a payload-only change, then
 * `kldload test` (offline install + first boot + checks). Writes bench/results/spine-<stamp>.json
 * and prints a summary. Not part of the test suite: a cold run takes ~20 minutes on 2 cores.
 *
 *   node --import tsx bench/spine.ts [--warm]     (--warm: reuse ~/.cache/kldload instead of a fresh cache)
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { utcStamp } from '../src/live/facts.ts';

const warm = process.argv.includes('--warm');
const stamp = utcStamp();
const work = mkdtempSync(join('/var/tmp', 'kl-bench-'));
const env = { ...process.env, ...(warm ? {} : { KLDLOAD_CACHE: join(work, 'cache') }) };

function timed(args: string[]): { seconds: number; json: Record<string, unknown> } {
  const t0 = Date.now();
  const r = spawnSync('node', ['dist/kldload.mjs', ...args, '--json'], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (Date.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`kldload ${args.join(' ')} failed:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return { seconds, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

const payload = join(work, 'payload');
cpSync('test/vm/payload', payload, { recursive: true });
const iso = join(work, 'kldload.iso');
const flags = ['--packages', 'tree', '--role', 'web', '--role', 'postgres'];
const cold = timed(['build', ...flags, '--payload', payload, '-o', iso]);
writeFileSync(join(payload, 'site.conf'), `changed ${Date.now()}\n`);
const rebuild = timed(['build', ...flags, '--payload', payload, '-o', iso]);
const test = timed(['test', iso, '--workdir', join(work, 'vm')]);
const phases = (x: { json: Record<string, unknown> }) => x.json.phases as { name: string; seconds: number }[];
const phase = (name: string) => phases(test).find((p) => p.name === name)?.seconds;

const result = {
  stamp,
  cache: warm ? 'warm' : 'cold (fresh KLDLOAD_CACHE)',
  machine: { cpus: (await import('node:os')).cpus().length, accel: 'tcg' },
  build_cold_s: cold.seconds,
  build_cold_phases: phases(cold),
  rebuild_payload_only_s: rebuild.seconds,
  rebuild_payload_only_phases: phases(rebuild),
  ratio_rebuild_to_cold: rebuild.seconds / cold.seconds,
  install_s: phase('install'),
  first_boot_to_ssh_s: phase('first-boot'),
  checks_s: phase('checks'),
  reboot_s: phase('reboot'),
  test_total_s: test.seconds,
  test_ok: test.json.ok,
  goal_rebuild_payload_only_s: 30,
};
mkdirSync('bench/results', { recursive: true });
const out = join('bench/results', `spine-${stamp}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten ${out}\n`);
