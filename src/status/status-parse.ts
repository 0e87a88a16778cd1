/** kst: `zpool status` read into pool health, in its JSON form (OpenZFS 2.3+) and its text form. */
import type { PoolHealth, ScanFact, VdevFact } from './status.ts';

export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
export const iso = (epochSeconds: number) =>
  new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z');

/* ───────────────────────── zpool status -j --json-int ───────────────────────── */

interface JsonVdev {
  name?: string;
  vdev_type?: string;
  state?: string;
  path?: string;
  read_errors?: number | string;
  write_errors?: number | string;
  checksum_errors?: number | string;
  vdevs?: Record<string, JsonVdev>;
}

/**
 * `zpool status -j` names some vdev states by their internal names where the text form (and every
 * sysadmin) says UNAVAIL or OFFLINE (captured: a mirror's missing file vdev is CANT_OPEN in JSON,
 * UNAVAIL in text). kst shows what zpool status shows.
 */
const JSON_STATE: Record<string, string> = { CANT_OPEN: 'UNAVAIL', CLOSED: 'OFFLINE', HEALTHY: 'ONLINE' };

function jsonVdevs(tree: Record<string, JsonVdev> | undefined, depth: number, cls?: string): VdevFact[] {
  return Object.entries(tree ?? {}).flatMap(([key, v]) => [
    {
      name: v.name ?? key,
      type: v.vdev_type ?? '',
      state: JSON_STATE[v.state ?? ''] ?? v.state ?? '',
      read: num(v.read_errors),
      write: num(v.write_errors),
      checksum: num(v.checksum_errors),
      depth,
      ...(v.path ? { path: v.path } : {}),
      ...(cls ? { class: cls } : {}),
    },
    ...jsonVdevs(v.vdevs, depth + 1, cls),
  ]);
}

const CLASSES = ['dedup', 'special', 'logs', 'l2cache', 'spares'] as const;

/**
 * `zpool status -j --json-int` (OpenZFS 2.3+) → pool name → health. The shape: `pools.<name>` has
 * state, status/action when something is wrong, error_count, scan_stats, and `vdevs.<name>` = the root
 * vdev whose `vdevs` are the tree; classes (logs, l2cache, spares, special, dedup) sit beside it.
 */
export function parseStatusJson(text: string): Map<string, PoolHealth> {
  const doc = JSON.parse(text) as {
    pools?: Record<
      string,
      {
        name?: string;
        state?: string;
        status?: string;
        action?: string;
        error_count?: number | string;
        scan_stats?: {
          function?: string;
          state?: string;
          end_time?: number | string;
          errors?: number | string;
        };
        vdevs?: Record<string, JsonVdev>;
      } & Partial<Record<(typeof CLASSES)[number], Record<string, JsonVdev>>>
    >;
  };
  const out = new Map<string, PoolHealth>();
  for (const [key, p] of Object.entries(doc.pools ?? {})) {
    const name = p.name ?? key;
    const root = Object.values(p.vdevs ?? {})[0];
    const s = p.scan_stats;
    const fn = s?.function?.toLowerCase();
    const state = s?.state?.toLowerCase() ?? '';
    const end = num(s?.end_time);
    out.set(name, {
      state: p.state ?? 'UNKNOWN',
      ...(str(p.status) ? { status: oneLine(p.status ?? '') } : {}),
      ...(str(p.action) ? { action: oneLine(p.action ?? '') } : {}),
      dataErrors: num(p.error_count),
      ...(fn && fn !== 'none'
        ? {
            scan: {
              function: fn,
              state,
              ...(state === 'finished' && end > 0 ? { end: iso(end) } : {}),
              ...(s?.errors !== undefined ? { errors: num(s.errors) } : {}),
            },
          }
        : {}),
      vdevs: [
        ...jsonVdevs(root?.vdevs, 1),
        ...CLASSES.flatMap((c) => jsonVdevs(p[c], 1, c === 'l2cache' ? 'cache' : c)),
      ],
    });
  }
  return out;
}

export const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/* ───────────────────────── zpool status -p (text) ───────────────────────── */

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

/** ctime(3) as zpool prints it with TZ=UTC ("Sun Nov 30 00:24:03 2025") → ISO 8601. */
function ctimeUtc(s: string): string | undefined {
  const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(s.trim());
  if (!m) return undefined;
  const [, mon = '', d, hh, mm, ss, y] = m;
  const month = MONTHS.indexOf(mon);
  if (month < 0) return undefined;
  return iso(Date.UTC(Number(y), month, Number(d), Number(hh), Number(mm), Number(ss)) / 1000);
}

/** The first line of a scan: paragraph (print_scan_scrub_resilver_status). */
export function parseScanLine(line: string): ScanFact | undefined {
  const t = line.trim();
  let m = /^scrub repaired \S+ in .* with (\d+) errors on (.+)$/.exec(t);
  if (m) {
    const end = ctimeUtc(m[2] ?? '');
    return { function: 'scrub', state: 'finished', errors: Number(m[1]), ...(end ? { end } : {}) };
  }
  m = /^resilvered \S+ in .* with (\d+) errors on (.+)$/.exec(t);
  if (m) {
    const end = ctimeUtc(m[2] ?? '');
    return { function: 'resilver', state: 'finished', errors: Number(m[1]), ...(end ? { end } : {}) };
  }
  m = /^(scrub|resilver|error scrub) (?:in progress|paused) since/.exec(t);
  if (m) return { function: (m[1] ?? '').replace(' ', ''), state: 'scanning' };
  m = /^(scrub|resilver|error scrub) canceled/.exec(t);
  if (m) return { function: (m[1] ?? '').replace(' ', ''), state: 'canceled' };
  return undefined;
}

const CLASS_HEADINGS = new Set(['logs', 'cache', 'spares', 'special', 'dedup']);

/**
 * `zpool status -p` (any OpenZFS) → pool name → health. Sections are `key: value` with the key
 * right-aligned to column 8; continuation and config lines start with a tab. In the config table a
 * row's indent (two spaces a level, after the tab) is its depth; class headings have no counters.
 */
export function parseStatusText(text: string): Map<string, PoolHealth> {
  const out = new Map<string, PoolHealth>();
  let cur: (PoolHealth & { name: string }) | undefined;
  let section = '';
  let para: string[] = [];
  let poolRow = false;
  let cls: string | undefined;
  const flush = () => {
    if (!cur || !para.length) return;
    if (section === 'status') cur.status = oneLine(para.join(' '));
    if (section === 'action') cur.action = oneLine(para.join(' '));
    if (section === 'scan') {
      const scan = parseScanLine(para[0] ?? '');
      if (scan) cur.scan = scan;
    }
    para = [];
  };
  for (const line of text.split('\n')) {
    const key = /^ {0,6}([a-z]+): ?(.*)$/.exec(line);
    if (key) {
      flush();
      const [, k = '', value = ''] = key;
      section = k;
      if (k === 'pool') {
        cur = { name: value.trim(), state: 'UNKNOWN', dataErrors: 0, vdevs: [] };
        out.set(cur.name, cur);
        poolRow = false;
        cls = undefined;
      } else if (k === 'state' && cur) cur.state = value.trim();
      else if (k === 'errors' && cur) cur.dataErrors = Number(/^(\d+) data errors/.exec(value)?.[1] ?? 0);
      else if (value.trim()) para.push(value.trim());
      continue;
    }
    if (!cur) continue;
    if (section !== 'config') {
      if (line.trim() && /^\s/.test(line)) para.push(line.trim());
      continue;
    }
    const row = /^\t( *)(\S+)(?:\s+(\S+)(?:\s+(\S+)\s+(\S+)\s+(\S+))?)?\s*(.*)$/.exec(line);
    if (!row) continue;
    const [, indent = '', name = '', state, r, w, c, rest = ''] = row;
    if (name === 'NAME' && state === 'STATE') continue;
    if (!poolRow) {
      // The first row is the pool (the root vdev): its counters are not a device's.
      poolRow = name === cur.name;
      continue;
    }
    if (indent === '' && CLASS_HEADINGS.has(name) && r === undefined) {
      cls = name;
      continue;
    }
    const counted = [r, w, c].every((x) => x !== undefined && /^\d+$/.test(x));
    const was = /^was (\S+)/.exec(rest)?.[1];
    cur.vdevs.push({
      name,
      type: '',
      state: state ?? '',
      read: counted ? Number(r) : 0,
      write: counted ? Number(w) : 0,
      checksum: counted ? Number(c) : 0,
      depth: Math.max(1, indent.length / 2),
      ...(was ? { path: was } : {}),
      ...(cls ? { class: cls } : {}),
    });
  }
  flush();
  return out;
}
