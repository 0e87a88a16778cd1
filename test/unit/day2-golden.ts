/**
 * Golden plan files of the day-2 planners (test/fixtures/day2-plans/*.plan.txt):
 * KLDLOAD_UPDATE_GOLDEN=1 rewrites them; check the diff.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { type Plan, renderPlan } from '../../src/core/plan.ts';
import type { KernelPair } from '../../src/day2/be-entry.ts';
import { matchesGolden } from './golden.ts';

const GOLDEN = 'test/fixtures/day2-plans';

/** Several plans (a pipeline whose second plan is made after the first ran) go in one file. */
export function golden(name: string, ...plans: Plan[]) {
  const text = `${plans.map((p) => renderPlan(p, '/')).join('\n\n--- then ---\n\n')}\n`;
  matchesGolden(join(GOLDEN, `${name}.plan.txt`), text);
}

/** A refusal: a KldloadError whose message matches, with exit code 2 (nothing changed) unless told. */
export const refused = (fn: () => unknown, re: RegExp, exitCode: number = EXIT.badInput) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof KldloadError && e.exitCode === exitCode && re.test(e.message),
  );

export const MiB = 1024 * 1024;
/** The running kernel of the day-2 plan fixtures, with fixed hashes (ESP content names). */
export const K = '6.12.57+deb13-amd64';
export const kernel: KernelPair = {
  version: K,
  vmlinuz: { path: `/boot/vmlinuz-${K}`, sha256: 'a'.repeat(64), size: 12 * MiB },
  initrd: { path: `/boot/initrd.img-${K}`, sha256: 'b'.repeat(64), size: 40 * MiB },
};
