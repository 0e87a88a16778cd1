import { EXIT } from '../core/errors.ts';
import type { BeRow } from '../day2/be.ts';
import { humanBytes } from '../day2/snap.ts';
import type { UpgradeRecord } from '../day2/upgrade.ts';
import { describeState, type FirstbootState } from '../firstboot/firstboot.ts';

/**
 * kst: one screen of what an installed machine is like now. The facts are read into one typed object
 * (the impure part, src/cli/commands/status.ts); everything here is pure — parsing the tools' output,
 * the verdict (exit code, problems) and the rendering — so tests run it on captured output.
 */

/** One row of a pool's vdev tree (the root vdev left out). */
export interface VdevFact {
  name: string;
  /** disk, file, mirror, raidz, … (text fallback: '' — the table does not say). */
  type: string;
  state: string;
  read: number;
  write: number;
  checksum: number;
  /** 1 = directly below the pool; a mirror's disks are 2. */
  depth: number;
  /** The device path, or for a missing one the path it had (`was /dev/vdb2`). */
  path?: string;
  /** logs, cache, spares, special, dedup: the class heading it is listed under. */
  class?: string;
}

export interface ScanFact {
  /** scrub, resilver, errorscrub. */
  function: string;
  /** finished, scanning, canceled. */
  state: string;
  /** When it finished, ISO 8601 UTC. */
  end?: string;
  errors?: number;
}

/** What `zpool status` says about one pool. */
export interface PoolHealth {
  state: string;
  /** The status: and action: paragraphs, joined into one line each; absent when the pool is fine. */
  status?: string;
  action?: string;
  /** Permanent data errors (error_count / the errors: line). */
  dataErrors: number;
  scan?: ScanFact;
  vdevs: VdevFact[];
}

export interface PoolFact extends PoolHealth {
  name: string;
  size: number;
  allocated: number;
  free: number;
  /** Percent used. */
  capacity: number;
  /** Percent; null when zfs cannot tell ('-'). */
  fragmentation: number | null;
  /** Of the pool's root dataset, e.g. 1.93. */
  compressratio: number | null;
  /** The pool's bootfs property, null when unset. */
  bootfs: string | null;
}

export interface DatasetFact {
  name: string;
  type: 'filesystem' | 'volume';
  used: number;
  available: number;
  compressratio: number | null;
  snapshots: number;
}

export interface FailedUnit {
  unit: string;
  load: string;
  active: string;
  sub: string;
  description: string;
}

export interface SnapshotFact {
  snapshot: string;
  /** ISO 8601 UTC. */
  created: string;
  cmd: string | null;
}

export interface StatusFacts {
  host: string;
  kernel: string;
  /** When the facts were read, ISO 8601 UTC. */
  at: string;
  pools: PoolFact[];
  datasets: DatasetFact[];
  bootEnvironments: { rows: BeRow[]; note?: string };
  system: {
    memory: { total: number; available: number; swapTotal: number; swapFree: number };
    cpus: number;
    load: [number, number, number];
    /** Seconds since boot. */
    uptime: number;
    /** systemctl is-system-running: running, degraded, starting, … */
    state: string;
  };
  failedUnits: FailedUnit[];
  firstboot: FirstbootState | { status: 'unreadable'; error: string };
  /** The newest kpkg-/APT-hook snapshot of any boot environment. */
  lastKpkg: SnapshotFact | null;
  /** kupgrade's record in the running BE (/var/lib/kldload/upgrade/state.json). */
  upgrade: UpgradeRecord | null;
  /** Kernels the ZFS guard kept from getting a boot entry (/var/lib/kldload/kernel-guard/*.held). */
  heldKernels: string[];
  /** Facts that could not be read: named, never guessed. */
  unread: { what: string; error: string }[];
}

export type ProblemKind = 'pool' | 'unit' | 'firstboot' | 'unread';
export interface Problem {
  kind: ProblemKind;
  what: string;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z');

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

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

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

/* ───────────────────────── zpool list / zfs list / systemctl / proc ───────────────────────── */

/** The columns kst reads with `zpool list -Hp`. */
export const POOL_COLS = [
  'name',
  'size',
  'allocated',
  'free',
  'capacity',
  'fragmentation',
  'health',
  'bootfs',
] as const;
/** The columns kst reads with `zfs list -Hp -t filesystem,volume,snapshot` (one call for all three). */
export const DATASET_COLS = [
  'name',
  'type',
  'used',
  'available',
  'compressratio',
  'creation',
  'org.kldload:cmd',
] as const;

type Row<K extends string> = Record<K, string>;
const dash = (v: string | undefined) => (v === undefined || v === '-' || v === '' ? undefined : v);

/** The pools: zpool list for usage, zpool status for health, the root dataset's compressratio. */
export function poolFacts(
  list: readonly Row<(typeof POOL_COLS)[number]>[],
  health: ReadonlyMap<string, PoolHealth>,
  datasets: readonly DatasetFact[],
): PoolFact[] {
  return list.map((p) => {
    const h = health.get(p.name) ?? { state: p.health, dataErrors: 0, vdevs: [] };
    const frag = dash(p.fragmentation);
    return {
      name: p.name,
      size: num(p.size),
      allocated: num(p.allocated),
      free: num(p.free),
      capacity: num(p.capacity),
      fragmentation: frag === undefined ? null : num(frag),
      compressratio: datasets.find((d) => d.name === p.name)?.compressratio ?? null,
      bootfs: dash(p.bootfs) ?? null,
      ...h,
      // zpool list is the authority for health; status may be from a moment earlier.
      state: p.health || h.state,
    };
  });
}

/** Filesystems and volumes with the number of snapshots each has; the newest kpkg snapshot of a BE. */
export function datasetFacts(rows: readonly Row<(typeof DATASET_COLS)[number]>[]): {
  datasets: DatasetFact[];
  lastKpkg: SnapshotFact | null;
} {
  const counts = new Map<string, number>();
  let last: { row: Row<(typeof DATASET_COLS)[number]>; created: number } | undefined;
  for (const r of rows) {
    if (r.type !== 'snapshot') continue;
    const [ds = '', name = ''] = r.name.split('@');
    counts.set(ds, (counts.get(ds) ?? 0) + 1);
    const created = num(r.creation);
    // kpkg's own and the APT hook's snapshots: <pool>/ROOT/<be>@kpkg-<stamp>.
    if (/^[^/]+\/ROOT\/[^/]+$/.test(ds) && name.startsWith('kpkg-') && (!last || created >= last.created))
      last = { row: r, created };
  }
  const datasets = rows
    .filter((r): r is Row<(typeof DATASET_COLS)[number]> & { type: 'filesystem' | 'volume' } =>
      ['filesystem', 'volume'].includes(r.type),
    )
    .map((r) => {
      const ratio = dash(r.compressratio);
      return {
        name: r.name,
        type: r.type,
        used: num(r.used),
        available: num(r.available),
        compressratio: ratio === undefined ? null : Number.parseFloat(ratio),
        snapshots: counts.get(r.name) ?? 0,
      };
    })
    // zfs's own order (byte order: ROOT before home), whatever the locale.
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    datasets,
    lastKpkg: last
      ? {
          snapshot: last.row.name,
          created: iso(last.created),
          cmd: dash(last.row['org.kldload:cmd']) ?? null,
        }
      : null,
  };
}

/** `systemctl --failed --plain --no-legend --no-pager` lines: UNIT LOAD ACTIVE SUB DESCRIPTION. */
export function parseFailedUnits(stdout: string): FailedUnit[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [unit = '', load = '', active = '', sub = '', ...rest] = l.split(/\s+/);
      return { unit, load, active, sub, description: rest.join(' ') };
    });
}

/** /proc/meminfo → bytes. */
export function parseMeminfo(text: string): StatusFacts['system']['memory'] {
  const kb = (k: string) => num(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1]) * 1024;
  return {
    total: kb('MemTotal'),
    available: kb('MemAvailable'),
    swapTotal: kb('SwapTotal'),
    swapFree: kb('SwapFree'),
  };
}

export function parseLoadavg(text: string): [number, number, number] {
  const [a = '0', b = '0', c = '0'] = text.trim().split(/\s+/);
  return [num(a), num(b), num(c)];
}

/* ───────────────────────── the verdict ───────────────────────── */

const vdevTrouble = (v: VdevFact) =>
  (v.state !== 'ONLINE' && v.state !== 'AVAIL' && v.state !== 'INUSE') || v.read + v.write + v.checksum > 0;

function vdevWords(v: VdevFact): string {
  const errs = v.read + v.write + v.checksum;
  return `${v.name} ${v.state}${v.path && v.state !== 'ONLINE' ? ` (${v.path})` : ''}${errs ? ` with ${v.read} read, ${v.write} write, ${v.checksum} checksum error(s)` : ''}`;
}

/**
 * Problems make kst exit 1: a pool that is not ONLINE or shows device or data errors, a failed
 * unit, a failed first boot, a fact that could not be read. Everything else worth knowing is a note.
 */
export function verdict(f: StatusFacts): { exitCode: number; problems: Problem[]; notes: string[] } {
  const problems: Problem[] = [];
  const notes: string[] = [];
  for (const p of f.pools) {
    const bad = p.vdevs.filter(vdevTrouble);
    if (p.state !== 'ONLINE' || bad.length || p.dataErrors > 0)
      problems.push({
        kind: 'pool',
        what: [
          `pool ${p.name} is ${p.state}`,
          ...(bad.length ? [bad.map(vdevWords).join(', ')] : []),
          ...(p.dataErrors
            ? [`${p.dataErrors} data error(s) (zpool status -v ${p.name} lists the files)`]
            : []),
          ...(p.action ? [p.action] : []),
        ].join(': '),
      });
    else if (p.status) notes.push(`pool ${p.name}: ${p.status}`);
    if (p.capacity >= 80) notes.push(`pool ${p.name} is ${p.capacity}% full (ZFS slows down past ~80%)`);
  }
  for (const u of f.failedUnits)
    problems.push({
      kind: 'unit',
      what: `${u.unit} ${u.active}${u.description ? ` (${u.description})` : ''}: journalctl -u ${u.unit}`,
    });
  if (f.firstboot.status === 'failed')
    problems.push({ kind: 'firstboot', what: `first boot ${describeState(f.firstboot)}` });
  for (const u of f.unread)
    problems.push({ kind: 'unread', what: `${u.what}: could not be read (${u.error})` });
  if (f.firstboot.status === 'unreadable') notes.push(`first boot: ${f.firstboot.error}`);
  else if (f.firstboot.status === 'ok' && f.firstboot.warnings?.length)
    notes.push(`first boot ${describeState(f.firstboot)}`);
  if (f.upgrade?.status === 'pending')
    notes.push(`kupgrade ${f.upgrade.name} is pending: the next boot tries it once (kldload upgrade status)`);
  if (f.upgrade?.status === 'failed')
    notes.push(
      `kupgrade ${f.upgrade.name} failed${f.upgrade.reason ? `: ${f.upgrade.reason}` : ''} (kldload upgrade status)`,
    );
  if (f.heldKernels.length)
    notes.push(
      `kernel(s) ${f.heldKernels.join(', ')} held back: no ZFS module in the initramfs (/var/log/kldload/kernel-guard.log)`,
    );
  if (f.bootEnvironments.note) notes.push(`boot environments: ${f.bootEnvironments.note}`);
  return { exitCode: problems.length ? EXIT.failed : EXIT.ok, problems, notes };
}

/** The --json document: the facts, then the verdict. */
export function statusJson(f: StatusFacts) {
  return { ...f, ...verdict(f) };
}

/** The JSON of kst, for --help (kept beside the types it describes). */
export const STATUS_JSON_HELP = `JSON (--json): one object; sizes in bytes, times ISO 8601 UTC, ratios as numbers (1.93)
  { "host": "kl1", "kernel": "6.12.57+deb13-amd64", "at": "2026-11-30T10:30:00Z",
    "exitCode": 1,
    "problems": [ { "kind": "pool", "what": "pool rpool is DEGRADED: …" } ],   kind: pool|unit|firstboot|unread
    "notes": [ "kupgrade upgrade-… is pending: …" ],
    "pools": [ { "name": "rpool", "state": "ONLINE", "size": 20937965568, "allocated": 2147483648,
                 "free": 18790481920, "capacity": 10, "fragmentation": 1, "compressratio": 1.93,
                 "bootfs": "rpool/ROOT/default", "dataErrors": 0, "status"?: "…", "action"?: "…",
                 "scan"?: { "function": "scrub", "state": "finished", "end"?: "…", "errors"?: 0 },
                 "vdevs": [ { "name": "vda2", "type": "disk", "state": "ONLINE", "read": 0, "write": 0,
                              "checksum": 0, "depth": 1, "path"?: "/dev/vda2", "class"?: "logs" } ] } ],
    "datasets": [ { "name": "rpool/home", "type": "filesystem", "used": 1536, "available": 18000000000,
                    "compressratio": 1.0, "snapshots": 26 } ],
    "bootEnvironments": { "rows": [ { "name": "default", "dataset": "rpool/ROOT/default", "active": true,
                                      "default": true, "once": false, "entries": ["…"] } ], "note"?: "…" },
    "system": { "memory": { "total": …, "available": …, "swapTotal": 0, "swapFree": 0 }, "cpus": 2,
                "load": [0.12, 0.1, 0.05], "uptime": 86400, "state": "running" },
    "failedUnits": [ { "unit": "x.service", "load": "loaded", "active": "failed", "sub": "failed",
                       "description": "…" } ],
    "firstboot": { "status": "ok|failed|running|not-run|unreadable", … as kldload firstboot status --json },
    "lastKpkg": { "snapshot": "rpool/ROOT/default@kpkg-…", "created": "…", "cmd": "kpkg install tree" } | null,
    "upgrade": { … as kldload upgrade status --json's "record" } | null,
    "heldKernels": [ "6.13.2+bpo-amd64" ],
    "unread": [ { "what": "systemctl --failed", "error": "…" } ] }`;

/* ───────────────────────── the screen ───────────────────────── */

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m` : `${m}m`;
}

const when = (isoTime: string) => isoTime.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
const ratio = (r: number | null) => (r === null ? '-' : `${r.toFixed(2)}x`);

function table(head: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(w[i] ?? 0) : c.padEnd(w[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function scanWords(s: ScanFact | undefined): string {
  if (!s) return 'never scrubbed';
  if (s.state !== 'finished') return `${s.function} ${s.state}`;
  return `${s.function} ${s.end ? s.end.slice(0, 10) : 'finished'}, ${s.errors ?? 0} error(s)`;
}

/** The one screen. Problems first (what needs a human), then the state of each part. */
export function renderStatus(f: StatusFacts): string {
  const v = verdict(f);
  const out: string[] = [];
  out.push(`${f.host} · kernel ${f.kernel} · up ${duration(f.system.uptime)} · ${when(f.at)}`);
  if (v.problems.length) for (const p of v.problems) out.push(`PROBLEM  ${p.what}`);
  else out.push('OK       no problem found (pools, units, first boot)');
  for (const n of v.notes) out.push(`note     ${n}`);
  out.push('');
  out.push(
    ...table(
      ['POOL', 'STATE', 'SIZE', 'ALLOC', 'FREE', 'CAP', 'FRAG', 'RATIO', 'ERRORS', 'SCAN'],
      f.pools.map((p) => {
        const errs = p.vdevs.reduce((n, x) => n + x.read + x.write + x.checksum, 0);
        return [
          p.name,
          p.state,
          humanBytes(p.size),
          humanBytes(p.allocated),
          humanBytes(p.free),
          `${p.capacity}%`,
          p.fragmentation === null ? '-' : `${p.fragmentation}%`,
          ratio(p.compressratio),
          `${errs}${p.dataErrors ? ` +${p.dataErrors} data` : ''}`,
          scanWords(p.scan),
        ];
      }),
      new Set([2, 3, 4, 5, 6, 7]),
    ),
  );
  for (const p of f.pools)
    for (const x of p.vdevs.filter(vdevTrouble)) out.push(`  ${p.name}: ${vdevWords(x)}`);
  out.push('');
  out.push(
    ...table(
      ['DATASET', 'USED', 'RATIO', 'SNAPS'],
      f.datasets.map((d) => [d.name, humanBytes(d.used), ratio(d.compressratio), String(d.snapshots)]),
      new Set([1, 2, 3]),
    ),
  );
  out.push('');
  const bes = f.bootEnvironments.rows;
  out.push(
    `BOOT ENV ${
      bes.length
        ? bes
            .map((b) => {
              const tags = [b.active ? 'now' : '', b.default ? 'default' : '', b.once ? 'next boot' : '']
                .filter(Boolean)
                .join(',');
              return `${b.name}${tags ? ` [${tags}]` : ''}`;
            })
            .join('  ')
        : '(none read)'
    }`,
  );
  const m = f.system.memory;
  out.push(
    `SYSTEM   ${f.system.cpus} CPU(s), load ${f.system.load.map((l) => l.toFixed(2)).join(' ')} · memory ${humanBytes(m.available)} available of ${humanBytes(m.total)} · swap ${m.swapTotal ? `${humanBytes(m.swapTotal - m.swapFree)} used of ${humanBytes(m.swapTotal)}` : 'none'} · ${f.system.state}`,
  );
  out.push(
    `UNITS    ${f.failedUnits.length ? `${f.failedUnits.length} failed: ${f.failedUnits.map((u) => u.unit).join(' ')}` : 'none failed'}`,
  );
  out.push(
    `1ST BOOT ${f.firstboot.status === 'unreadable' ? `unreadable: ${f.firstboot.error}` : describeState(f.firstboot)}`,
  );
  const k = f.lastKpkg;
  out.push(
    `KPKG     ${k ? `${k.snapshot} at ${when(k.created)}${k.cmd ? ` (${k.cmd})` : ''}` : 'no kpkg snapshot'}`,
  );
  const u = f.upgrade;
  out.push(
    `KUPGRADE ${u ? `${u.name}: ${u.status}, started ${when(u.started)}${u.finished ? `, finished ${when(u.finished)}` : ''}${u.kernel ? `, kernel ${u.kernel}` : ''}` : 'none recorded'}`,
  );
  return out.join('\n');
}

/** Screen control for --watch: home, each line cleared to its end, the rest of the screen cleared. */
export const CLEAR_SCREEN = '\x1b[2J';
export function redraw(text: string): string {
  return `\x1b[H${text
    .split('\n')
    .map((l) => `${l}\x1b[K`)
    .join('\n')}\n\x1b[J`;
}
