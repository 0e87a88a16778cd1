// Turns a CI log (node:test spec reporter) into bench/results/ci-cold-<stamp>.json: the total, and
// each top-level test with its duration, slowest first.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [log, commit, rc, seconds, outDir] = process.argv.slice(2);
const text = readFileSync(log, 'utf8');
// A failing test is printed twice (in place and in the recap at the end): count it once.
const seen = new Set();
const tests = [...text.matchAll(/^([✔✖]) (.+) \((\d+(?:\.\d+)?)ms\)$/gm)]
  .map((m) => ({ ok: m[1] === '✔', name: m[2], seconds: Number(m[3]) / 1000 }))
  .filter((t) => {
    const k = `${t.name}\t${t.seconds}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  })
  .sort((a, b) => b.seconds - a.seconds);
// scripts/test.sh runs the groups (unit, integration, vm) one after the other: one summary each, summed.
const groups = [];
for (const m of text.matchAll(/^ℹ (tests|pass|fail|skipped|duration_ms) (\d+(?:\.\d+)?)$/gm)) {
  if (m[1] === 'tests') groups.push({});
  const g = groups[groups.length - 1];
  if (g) g[m[1]] = Number(m[2]);
}
const summary = Object.fromEntries(
  ['tests', 'pass', 'fail', 'skipped', 'duration_ms'].map((k) => [
    k,
    groups.reduce((a, g) => a + (g[k] ?? 0), 0),
  ]),
);
summary.groups = groups;
const stamp = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d+Z$/, 'Z');
const result = {
  bench: 'ci-cold',
  stamp,
  commit,
  exit_code: Number(rc),
  total_s: Number(seconds),
  budget_s: 3600,
  hard_limit_s: 5400,
  cache: 'empty KLDLOAD_CACHE, fresh clone',
  summary,
  slowest: tests.slice(0, 15),
};
mkdirSync(outDir, { recursive: true });
const out = join(outDir, `ci-cold-${stamp}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
console.log(
  `${Number(rc) === 0 ? 'PASS' : 'FAIL'} cold CI ${(Number(seconds) / 60).toFixed(1)} min (budget 60) → ${out}`,
);
