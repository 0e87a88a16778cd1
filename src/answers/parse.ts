/**
 * The one env-file codec: answers.env (written by people, also the original kldload's files), the
 * install manifest (written by formatEnvLine, read at first boot and by lib.sh's kl_load_manifest,
 * which follows the same rules). A file is data, never sourced.
 *
 * Reading, one `KEY=value` per line:
 * - blank lines and lines whose first non-blank character is `#` are comments; `export ` is allowed;
 * - the value is the rest of the line, surrounding blanks removed. Quotes are optional:
 *   `'…'` is literal; `"…"` knows the escapes \" \\ \$ \` and nothing else; after a closing quote
 *   only a ` # comment` may follow;
 * - unquoted, spaces are part of the value (`KLDLOAD_ZFS_DATA_DISKS=/dev/sdb /dev/sdc`), and so is a
 *   `#` with no blank before it (`pa#ss`). A blank followed by `#` in an unquoted value is REFUSED:
 *   shell would cut the value there, the original kldload kept it whole, and a password may
 *   contain ` #`; a value is kept whole or refused, never cut. Quote it, or put the comment on its
 *   own line;
 * - `$NAME`, `${…}`, `$(…)` and backticks are refused outside single quotes: nothing is expanded.
 *
 * Writing (formatEnvValue) picks the first form that holds the value: bare, '…', "…" with escapes.
 * Every written line reads back to the same value here, in lib.sh and in bash's `source`.
 */
export interface RawEntry {
  value: string;
  line: number;
}

export interface LineError {
  line: number;
  key?: string;
  message: string;
}

export function parseEnvText(text: string): {
  entries: Map<string, RawEntry>;
  errors: LineError[];
  /** Keys present in the file whose value could not be read (already reported). */
  unreadable: Set<string>;
} {
  const entries = new Map<string, RawEntry>();
  const errors: LineError[] = [];
  const unreadable = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const src = raw.replace(/\r$/, '');
    const trimmed = src.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!m?.[1]) {
      // The line is not echoed: it may hold a password typed with ':' instead of '='.
      errors.push({ line, message: "expected KEY=value; this line has no '=' after a variable name" });
      return;
    }
    const key = m[1];
    const value = readValue(m[2] ?? '');
    if (typeof value !== 'string') {
      errors.push({ line, key, message: value.error });
      unreadable.add(key);
      return;
    }
    const prev = entries.get(key);
    if (prev) {
      errors.push({ line, key, message: `set twice (first on line ${prev.line}); keep one` });
      return;
    }
    entries.set(key, { value, line });
  });
  return { entries, errors, unreadable };
}

const SUBST_ERROR =
  "contains command substitution ($(…) or `…`), which is never run: answers are data; paste the command's output";
const EXPAND_ERROR =
  "contains $ expansion, which is never done: answers are data; for a literal $ (password hashes) use single quotes: KEY='$6$…'";

/** `$` starts an expansion in shell when one of these follows it. */
const EXPANDS = /[A-Za-z0-9_{@*#?$!-]/;

function readValue(v: string): string | { error: string } {
  const s = v.trim();
  if (s.startsWith("'")) {
    const m = /^'([^']*)'(\s+#.*)?$/.exec(s);
    if (!m) return { error: "unterminated single quote (or text after it); close it with '" };
    return m[1] ?? '';
  }
  if (s.startsWith('"')) return readDoubleQuoted(s);
  // The blank may be the one right after '=' (`KEY= #x` is an empty value and a comment in shell).
  if (/\s#/.test(v))
    return {
      error:
        "has ' #' in an unquoted value: it is refused, not cut (a password may hold it). If '#…' is part of the value, quote it: KEY='value #…'; if it is a comment, put it on its own line",
    };
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '`' || (s[i] === '$' && s[i + 1] === '(')) return { error: SUBST_ERROR };
    if (s[i] === '$' && EXPANDS.test(s[i + 1] ?? '')) return { error: EXPAND_ERROR };
  }
  return s;
}

/** bash's double-quote rules, with every expansion refused instead of done. */
function readDoubleQuoted(s: string): string | { error: string } {
  let out = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\') {
      const n = s[i + 1];
      if (n !== undefined && '"\\$`'.includes(n)) {
        out += n;
        i++;
      } else out += c;
    } else if (c === '`' || (c === '$' && s[i + 1] === '(')) return { error: SUBST_ERROR };
    else if (c === '$' && EXPANDS.test(s[i + 1] ?? '')) return { error: EXPAND_ERROR };
    else if (c === '"') {
      if (/^(\s+#.*)?$/.test(s.slice(i + 1))) return out;
      break;
    } else out += c;
  }
  return { error: 'unterminated double quote (or text after it); close it with "' };
}

/** Characters that need no quoting anywhere: in this reader, in lib.sh, in bash. */
const BARE = /^[A-Za-z0-9_@%+=:,./-]*$/;

/** The value as it is written after `KEY=`; reads back unchanged (see the header). */
export function formatEnvValue(v: string): string {
  if (/[\n\r\0]/.test(v))
    throw new Error('an env-file value cannot hold a newline, carriage return or NUL byte');
  if (BARE.test(v)) return v;
  if (!v.includes("'")) return `'${v}'`;
  return `"${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

export function formatEnvLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`'${key}' is not a variable name`);
  return `${key}=${formatEnvValue(value)}`;
}
