import { EXIT } from '../core/errors.ts';
import type { BeRow } from '../day2/be.ts';
import type { UpgradeRecord } from '../day2/upgrade-record.ts';
import { describeState, type FirstbootState } from '../firstboot/firstboot.ts';

/**
 * kst: one screen of what an installed machine is like now. The facts are read into one typed object
 * (the impure part, src/cli/commands/status.ts); everything here is pure — parsing the tools' output,
 * the verdict (exit code, problems) and the rendering — so tests run it on captured output.
 *
 * Here: the facts' types and the verdict. Reading the tools' output: status-parse.ts (zpool status)
 * and status-facts.ts (zpool list, zfs list, systemctl, /proc); the screen: status-render.ts.
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

/* ───────────────────────── the verdict ───────────────────────── */

export const vdevTrouble = (v: VdevFact) =>
  (v.state !== 'ONLINE' && v.state !== 'AVAIL' && v.state !== 'INUSE') || v.read + v.write + v.checksum > 0;

export function vdevWords(v: VdevFact): string {
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
