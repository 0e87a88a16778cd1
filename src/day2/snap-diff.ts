/** ksnap diff: what it compares (refusals by name), its --json help, and the text of its rows. */
import { EXIT, KldloadError } from '../core/errors.ts';
import { isDataset, isSnapshot, zfs } from '../zfs/zfs.ts';
import type { DiffRow } from '../zfs/zfs-diff.ts';
import { checkSnapshotArg } from './snap.ts';

/**
 * ksnap diff SNAPSHOT [SNAPSHOT2|DATASET]: zfs compares a snapshot with a later snapshot of the same
 * dataset, or with that dataset as it is now (the default). Anything else is refused here, by name.
 */
export function diffArgv(from: string, to?: string): string[] {
  checkSnapshotArg(from, 'ksnap diff');
  const ds = from.slice(0, from.indexOf('@'));
  if (to !== undefined) {
    const toDs = isSnapshot(to) ? to.slice(0, to.indexOf('@')) : to;
    if (!isSnapshot(to) && !isDataset(to))
      throw new KldloadError(
        `${to}: not a snapshot or dataset; compare with ${ds}@NAME or ${ds}`,
        EXIT.badInput,
      );
    if (toDs !== ds)
      throw new KldloadError(
        `${to} is not of ${ds}: zfs diff compares a snapshot with a later snapshot of the same dataset, or with the dataset itself (${ds})`,
        EXIT.badInput,
      );
  }
  return zfs.diff(from, to);
}

/** The JSON of ksnap diff, for --help. */
export const DIFF_JSON_HELP = `JSON (--json):
  { "from": "rpool/home@a", "to": "rpool/home",
    "counts": { "created": 1, "removed": 0, "modified": 1, "renamed": 1 },
    "changes": [ { "change": "+", "type": "F", "path": "/home/ann/new" },
                 { "change": "M", "type": "/", "path": "/home/ann" },
                 { "change": "R", "type": "F", "path": "/home/ann/a", "to": "/home/ann/b" } ] }
  change: + created, - removed, M modified, R renamed (then "to" is the new path); type: F file,
  / directory, @ symlink, | fifo, = socket, B/C device; "links" (an M row) is a link count change.`;

const CHANGE_WORD = { '+': 'created', '-': 'removed', M: 'modified', R: 'renamed' } as const;

export function diffCounts(
  rows: readonly DiffRow[],
): Record<'created' | 'removed' | 'modified' | 'renamed', number> {
  const c = { created: 0, removed: 0, modified: 0, renamed: 0 };
  for (const r of rows) c[CHANGE_WORD[r.change]]++;
  return c;
}

/** One line per change: `+ F /path`, `R F /old -> /new`, `M F /path (links +1)`; a count line last. */
export function renderDiff(rows: readonly DiffRow[]): string {
  const c = diffCounts(rows);
  const lines = rows.map(
    (r) =>
      `${r.change} ${r.type} ${r.path}${r.to !== undefined ? ` -> ${r.to}` : ''}${r.links !== undefined ? ` (links ${r.links > 0 ? '+' : ''}${r.links})` : ''}`,
  );
  lines.push(
    `${rows.length} change(s): ${c.created} created, ${c.removed} removed, ${c.modified} modified, ${c.renamed} renamed`,
  );
  return lines.join('\n');
}
