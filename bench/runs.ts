import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../src/core/paths.ts';

/**
 * The newest `npm run e2e:day2` folder under the cache (by its base.qcow2) that holds every file in
 * `needs`; the benches that boot its base disk start from it when not given a folder.
 */
export function newestDay2Dir(needs: string[]): string {
  const root = cacheDir('vm');
  const found = existsSync(root)
    ? readdirSync(root)
        .filter((d) => d.startsWith('day2-'))
        .map((d) => join(root, d))
        .filter((d) => ['base.qcow2', ...needs].every((f) => existsSync(join(d, f))))
    : [];
  const best = found.sort(
    (a, b) => statSync(join(b, 'base.qcow2')).mtimeMs - statSync(join(a, 'base.qcow2')).mtimeMs,
  )[0];
  if (!best)
    throw new Error(
      `no e2e:day2 folder with base.qcow2 and ${needs.join(', ')} under ${root}: run npm run e2e:day2 first`,
    );
  return best;
}
