/**
 * Throw-away caches: no test reads or fills the user's ~/.cache/kldload. Each cache is a fresh
 * folder under one temp root, removed when the test process ends.
 *
 * Downloads (the verified Debian index, the content-addressed .debs) may be shared between the test
 * files of one run: scripts/test.sh points KLDLOAD_TEST_DOWNLOADS at a temp folder it removes
 * afterwards. A test file run on its own downloads into its own cache.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | undefined;

/** A fresh, empty cache folder. `downloads`: its index/ and debs/ are the run's shared ones. */
export function throwAwayCache(o: { downloads?: boolean } = {}): string {
  if (!root) {
    const r = mkdtempSync(join(tmpdir(), 'kl-test-cache-'));
    root = r;
    process.on('exit', () => rmSync(r, { recursive: true, force: true }));
  }
  const cache = mkdtempSync(join(root, 'cache-'));
  const shared = process.env.KLDLOAD_TEST_DOWNLOADS;
  if (o.downloads && shared)
    for (const sub of ['index', 'debs']) {
      mkdirSync(join(shared, sub), { recursive: true });
      symlinkSync(join(shared, sub), join(cache, sub));
    }
  return cache;
}

/** Points this test process's KLDLOAD_CACHE (what src/core/paths.ts cacheDir reads) at a throw-away cache. */
export function useThrowAwayCache(o: { downloads?: boolean } = {}): string {
  const cache = throwAwayCache(o);
  process.env.KLDLOAD_CACHE = cache;
  return cache;
}
