/** The reader of `zfs diff -H -F` output (the command itself: zfs.diff in zfs.ts). */
import { KldloadError } from '../core/errors.ts';

export interface DiffRow {
  /** `-` removed, `+` created, `M` modified, `R` renamed. */
  change: '-' | '+' | 'M' | 'R';
  /** `zfs diff -F` file type: F file, / directory, @ symlink, … */
  type: string;
  path: string;
  /** New name of a renamed file. */
  to?: string;
  /** Link count change of a modified file (`M … (+1)`: a hard link made or removed). */
  links?: number;
}

/** zfs diff prints unprintable bytes (and space, backslash) as \NNN octal: decode them whole. */
function unescapeDiff(s: string): string {
  const parts = s
    .split(/(\\[0-7]{3})/)
    .map((p) =>
      /^\\[0-7]{3}$/.test(p) ? Buffer.from([Number.parseInt(p.slice(1), 8)]) : Buffer.from(p, 'utf8'),
    );
  return Buffer.concat(parts).toString('utf8');
}

/**
 * `zfs diff -H -F` rows. A fourth column is the new name of an `R` row, or the link count change
 * `(+N)` of an `M` row (libzfs_diff.c print_link_change), never a path there.
 */
export function parseDiff(stdout: string): DiffRow[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [change = '', type = '', path = '', fourth] = l.split('\t');
      if (!['-', '+', 'M', 'R'].includes(change))
        throw new KldloadError(`zfs diff: unexpected line ${JSON.stringify(l)}`);
      const links = change === 'M' && fourth !== undefined ? /^\(([+-]\d+)\)$/.exec(fourth)?.[1] : undefined;
      if (fourth !== undefined && change !== 'R' && links === undefined)
        throw new KldloadError(`zfs diff: unexpected line ${JSON.stringify(l)}`);
      return {
        change: change as DiffRow['change'],
        type,
        path: unescapeDiff(path),
        ...(change === 'R' && fourth !== undefined ? { to: unescapeDiff(fourth) } : {}),
        ...(links !== undefined ? { links: Number(links) } : {}),
      };
    });
}
