/** After the reboot: kldload upgrade confirm (kldload-upgrade-confirm.service) decides and records. */
import { type Plan, run, type Step, write } from '../core/plan.ts';
import { zpool } from '../zfs/zpool.ts';
import { failedRecord, recordText, shortName, UPGRADE_STATE, type UpgradeRecord } from './upgrade-record.ts';

export interface ConfirmFacts {
  record?: UpgradeRecord;
  pool: string;
  /** Dataset of the running root. */
  booted: string;
  bootId: string;
  /** Every BE dataset. */
  bes: string[];
  /** The pool's bootfs. */
  bootfs?: string;
  /** LoaderEntryOneShot, when still set (systemd-boot removes it when it reads it). */
  oneshot?: string;
  /** The record's entry file on the ESP as it is now: its counter tells failed tries. */
  entryFile?: string;
  espPath: string;
  now: string;
}

export type Verdict = 'none' | 'wait' | 'promote' | 'done' | 'failed';

/** Boot counting in an entry file name: +LEFT[-DONE].conf. */
export function triesOf(file: string): { left: number; done: number } | undefined {
  const m = /\+(\d+)(?:-(\d+))?\.conf$/.exec(file);
  return m ? { left: Number(m[1]), done: Number(m[2] ?? 0) } : undefined;
}

/** What the ESP says about the one-shot boot of the new BE. */
function entryEvidence(f: ConfirmFacts, name: string): string {
  if (!f.entryFile) return `its boot entry is no longer on the ESP`;
  const t = triesOf(f.entryFile);
  if (!t)
    return `its entry ${f.entryFile} was marked good (that boot reached multi-user) but was not made the default; make it the default with kbe activate ${name}`;
  if (t.done > 0)
    return `its entry ${f.entryFile} shows ${t.done} boot attempt(s) that never reached multi-user (its console output is not kept; one that got past the initramfs may be in journalctl --list-boots, /var/log being shared by all BEs)`;
  return `its entry ${f.entryFile} was never started (no boot attempt counted)`;
}

/** facts → what the confirm unit does. Pure: every branch is unit-tested. */
export function confirmVerdict(f: ConfirmFacts): { verdict: Verdict; why: string; record?: UpgradeRecord } {
  const r = f.record;
  if (!r) return { verdict: 'none', why: 'no upgrade recorded' };
  if (r.status !== 'pending') return { verdict: 'none', why: `upgrade ${r.name} is ${r.status} already` };
  if (r.bootId === f.bootId)
    return { verdict: 'none', why: `the machine has not rebooted since kupgrade made ${r.name}` };
  const running = shortName(f, f.booted);
  if (f.booted === r.be)
    return {
      verdict: 'promote',
      why: `${r.name} booted and reached multi-user: it becomes the default (${r.entry}, bootfs)`,
      record: {
        ...r,
        status: 'done',
        finished: f.now,
        reason: `booted once and reached multi-user; made the default. BE ${shortName(f, r.from)} stays as it was`,
      },
    };
  if (!f.bes.includes(r.be)) {
    const why = `booted ${running}; ${r.name} no longer exists (${r.be})`;
    return { verdict: 'failed', why, record: failedRecord(r, f.now, why) };
  }
  if (f.bootfs === r.be) {
    const why = `${r.name} was made the default on an earlier boot (the pool's bootfs); this boot runs ${running} by choice`;
    return { verdict: 'done', why, record: { ...r, status: 'done', finished: f.now, reason: why } };
  }
  if (f.oneshot === r.entry)
    return {
      verdict: 'wait',
      why: `the one-shot boot of ${r.entry} has not happened yet (LoaderEntryOneShot is still set)`,
    };
  const why = `booted ${running} instead of ${r.name}: ${entryEvidence(f, r.name)}. The default boot entry is unchanged; nothing was destroyed (kbe destroy ${r.name} removes it)`;
  return { verdict: 'failed', why, record: failedRecord(r, f.now, why) };
}

/** The confirm verdict as a plan: promote = default entry + bootfs, then the record; else the record. */
export function planConfirm(f: ConfirmFacts): Plan {
  const v = confirmVerdict(f);
  const facts = { verdict: v.verdict, why: v.why, ...(f.record ? { be: f.record.be } : {}) };
  if (!v.record) return { facts, steps: [], cleanup: [] };
  const steps: Step[] = [];
  if (v.verdict === 'promote' && f.record)
    steps.push({
      name: 'default',
      title: `default from now on: ${f.record.entry} (LoaderEntryDefault), bootfs=${f.record.be}`,
      actions: [
        run(['bootctl', `--esp-path=${f.espPath}`, 'set-default', f.record.entry]),
        run(zpool.set(f.pool, 'bootfs', f.record.be)),
      ],
    });
  steps.push({
    name: 'record',
    title: `${v.record.name}: ${v.record.status} (${UPGRADE_STATE})`,
    actions: [write(UPGRADE_STATE, recordText(v.record))],
  });
  return { facts, steps, cleanup: [] };
}
