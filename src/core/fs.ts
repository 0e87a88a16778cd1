import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { KldloadError } from './errors.ts';

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const base = resolve(dir);
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * rm -rf that refuses to descend into mounts: a chroot left with /dev or /proc bound inside must
 * never take the host's device nodes with it.
 */
export function safeRemove(dir: string): void {
  const left = mountsUnder(dir);
  if (left.length) throw new KldloadError(`refusing to delete ${dir}: still mounted: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}
