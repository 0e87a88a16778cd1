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

export function parseEnvText(text: string): { entries: Map<string, RawEntry>; errors: LineError[] } {
  const entries = new Map<string, RawEntry>();
  const errors: LineError[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const src = raw.replace(/\r$/, '');
    const trimmed = src.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!m?.[1]) {
      errors.push({ line, message: `expected KEY=value, got '${trimmed.slice(0, 40)}'` });
      return;
    }
    const key = m[1];
    const value = unquote(m[2] ?? '');
    if (typeof value !== 'string') {
      errors.push({ line, key, message: value.error });
      return;
    }
    const prev = entries.get(key);
    if (prev) {
      errors.push({ line, key, message: `set twice (first on line ${prev.line}); keep one` });
      return;
    }
    entries.set(key, { value, line });
  });
  return { entries, errors };
}

function unquote(v: string): string | { error: string } {
  const s = v.trim();
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) return { error: "unterminated single quote; close it with '" };
    return s.slice(1, -1);
  }
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) return { error: 'unterminated double quote; close it with "' };
    const inner = s.slice(1, -1);
    if (/\$[({A-Za-z_]|`/.test(inner))
      return {
        error:
          'contains shell expansion ($…, `…`); answers are read as data and never run — write the literal value',
      };
    return inner.replace(/\\(["\\])/g, '$1');
  }
  // Unquoted: a `#` after whitespace starts a comment, as in shell.
  const unq = s.replace(/\s+#.*$/, '');
  if (/\$[({A-Za-z_]|`/.test(unq))
    return {
      error:
        'contains shell expansion ($…, `…`); answers are read as data and never run — write the literal value',
    };
  if (/\s/.test(unq)) return { error: 'contains spaces; quote the value: KEY="a b"' };
  return unq;
}
