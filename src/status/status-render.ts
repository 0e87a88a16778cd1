/** kst: the one screen, and the screen control of --watch. */

import { describeState } from '../firstboot/firstboot.ts';
import { humanBytes } from '../zfs/zfs.ts';
import { type ScanFact, type StatusFacts, vdevTrouble, vdevWords, verdict } from './status.ts';

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
