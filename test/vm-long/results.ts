/**
 * PASS/FAIL per check for the named e2e commands, printed as it happens and written to
 * bench/results/<name>-<stamp>.json when the test file ends (failed checks included).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';

export interface CheckRow {
  scenario: string;
  check: string;
  ok: boolean;
  seconds?: number;
  detail?: string;
}

export function recorder(bench: string, stamp: string) {
  const results: CheckRow[] = [];
  /** Boot lines (renderBoots) per machine, for the record. */
  const boots: Record<string, string[]> = {};
  /** Failures check() recorded already: scenario() records only the others. */
  const recorded = new WeakSet<object>();
  /** Runs the assertions in `fn`; records and prints the outcome, rethrows a failure. */
  function check(scenario: string, name: string, fn: () => void, seconds?: number): void {
    try {
      fn();
      results.push({ scenario, check: name, ok: true, ...(seconds !== undefined ? { seconds } : {}) });
      console.log(`PASS ${scenario}: ${name}`);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      results.push({ scenario, check: name, ok: false, detail });
      console.log(`FAIL ${scenario}: ${name}: ${detail.split('\n')[0]}`);
      if (e instanceof Object) recorded.add(e);
      throw e;
    }
  }
  /**
   * Every row as a check of `scenario` (a `kldload test --json` run's phases or checks, its exit
   * code), each recorded also after a failed one; the first failure is rethrown once all are.
   */
  function checkAll(
    scenario: string,
    rows: { name: string; ok: boolean; detail?: string | undefined; seconds?: number | undefined }[],
  ): void {
    let first: unknown;
    for (const row of rows)
      try {
        check(scenario, row.name, () => assert.ok(row.ok, row.detail), row.seconds);
      } catch (e) {
        first ??= e;
      }
    if (first) throw first;
  }
  /**
   * A test body that records a failure outside any check (a guest script, a boot that did not come
   * back) as a FAIL row of its scenario: a run that stopped half-way never reads as all PASS.
   */
  function scenario(name: string, fn: () => Promise<void>): () => Promise<void> {
    return async () => {
      try {
        await fn();
      } catch (e) {
        if (!(e instanceof Object && recorded.has(e))) {
          const detail = e instanceof Error ? e.message : String(e);
          results.push({ scenario: name, check: 'the scenario ran to its end', ok: false, detail });
          console.log(`FAIL ${name}: stopped outside a check: ${detail.split('\n')[0]}`);
        }
        throw e;
      }
    };
  }
  after(() => {
    mkdirSync('bench/results', { recursive: true });
    const out = join('bench/results', `${bench}-${stamp}.json`);
    const ok = results.length > 0 && results.every((r) => r.ok);
    writeFileSync(out, `${JSON.stringify({ bench: `e2e:${bench}`, stamp, ok, results, boots }, null, 1)}\n`);
    console.log(
      `${ok ? 'PASS' : 'FAIL'} e2e:${bench}: ${results.filter((r) => r.ok).length}/${results.length} → ${out}`,
    );
  });
  return { results, boots, check, checkAll, scenario };
}
