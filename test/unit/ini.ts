import assert from 'node:assert/strict';

/** An ini text → section → key → value (what Config::IniFiles reads; comments and blanks skipped). */
export function ini(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      assert.ok(!out.has(sec[1] ?? ''), `section [${sec[1]}] twice`);
      cur = new Map();
      out.set(sec[1] ?? '', cur);
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line);
    assert.ok(kv && cur, `not a setting inside a section: ${raw}`);
    assert.ok(!cur.has(kv[1] ?? ''), `${kv[1]} twice`);
    cur.set(kv[1] ?? '', kv[2] ?? '');
  }
  return out;
}
