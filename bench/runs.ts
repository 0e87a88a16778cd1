import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../src/core/paths.ts';

/**
 * The newest run folder under the cache's vm/ (by its `disk`) that holds `disk` and every file in
 * `needs`: folders named `prefix…` at the top, or any folder up to `depth` levels down. The benches
 * that boot an installed disk start from it when not given a folder; `hint` says how to make one.
 */
export function newestRunDir(
  disk: string,
  needs: string[],
  o: { prefix?: string; depth?: number; hint: string },
): string {
  const root = cacheDir('vm');
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 0 && [disk, ...needs].every((f) => existsSync(join(d, f)))) found.push(d);
    if (depth < (o.depth ?? 1) && existsSync(d))
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory() && (depth > 0 || !o.prefix || e.name.startsWith(o.prefix)))
          walk(join(d, e.name), depth + 1);
  };
  walk(root, 0);
  const best = found.sort((a, b) => statSync(join(b, disk)).mtimeMs - statSync(join(a, disk)).mtimeMs)[0];
  if (!best) throw new Error(`no folder with ${[disk, ...needs].join(', ')} under ${root}: ${o.hint}`);
  return best;
}

/** The newest `npm run e2e:day2` folder holding base.qcow2 and every file in `needs`. */
export function newestDay2Dir(needs: string[]): string {
  return newestRunDir('base.qcow2', needs, { prefix: 'day2-', hint: 'run npm run e2e:day2 first' });
}
