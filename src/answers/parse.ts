/**
 * answers.env reader. The file is data, never sourced: KEY=value lines, `#` comments, optional
 * `export`, single or double quotes taken literally. Anything shell would expand is refused, so a
 * value never means something different here than it looks.
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
    const value = unquote(m[2] ?? '');
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

/** Answers are data: say which shell feature would not happen, and what to write instead. */
function expansionError(v: string): { error: string } | undefined {
  if (/(^|[^\\])(\$\(|`)/.test(v))
    return {
      error:
        "contains command substitution ($(…) or `…`), which is never run: answers are data; paste the command's output",
    };
  if (/(^|[^\\])\$[{A-Za-z_0-9]/.test(v))
    return {
      error:
        "contains $ expansion, which is never done: answers are data; for a literal $ (password hashes) use single quotes: KEY='$6$…'",
    };
  return undefined;
}

function unquote(v: string): string | { error: string } {
  const s = v.trim();
  if (s.startsWith("'")) {
    // Single quotes: literal up to the closing quote; a comment may follow, as in shell.
    const m = /^'([^']*)'(\s+#.*)?$/.exec(s);
    if (!m) return { error: "unterminated single quote (or text after it); close it with '" };
    return m[1] ?? '';
  }
  if (s.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"(\s+#.*)?$/.exec(s);
    if (!m) return { error: 'unterminated double quote (or text after it); close it with "' };
    const inner = m[1] ?? '';
    const bad = expansionError(inner);
    if (bad) return bad;
    return inner.replace(/\\(["\\$`])/g, '$1');
  }
  // Unquoted: a `#` after whitespace starts a comment, as in shell.
  const unq = s.replace(/\s+#.*$/, '');
  const bad = expansionError(unq);
  if (bad) return bad;
  if (/\s/.test(unq)) return { error: 'contains spaces; quote the value: KEY="a b"' };
  return unq;
}
