/**
 * The layout checks of kldload test (src/vm/layout-checks.ts) on report sections shaped like the
 * guest prints them, each failing on the fault it names; and the serial-console typing of runVm
 * (a wrong passphrase, then the right one) with a scripted QEMU.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Executor, RunOptions, RunResult } from '../../src/core/exec.ts';
import { PASSPHRASE_PROMPT } from '../../src/vm/drives.ts';
import { evaluateLayout } from '../../src/vm/layout-checks.ts';
import { runVm } from '../../src/vm/qemu.ts';

const STATUS = `  pool: rpool
 state: ONLINE
config:

\tNAME                                    STATE     READ WRITE CKSUM
\trpool                                   ONLINE       0     0     0
\t  mirror-0                              ONLINE       0     0     0
\t    /dev/disk/by-id/virtio-kltarget-part2   ONLINE       0     0     0
\t    /dev/disk/by-id/virtio-kltarget2-part2  ONLINE       0     0     0

errors: No known data errors`;
const GOOD: Record<string, string> = {
  'zpool-status': STATUS,
  encryption: 'aes-256-gcm rpool available ',
  esps: '6a2c7f3e-0b1d-4c55-9e0f-5d7c2b8a9e11 0123456789abcdef 9\n2503b892-dc42-467a-a95c-09b3feec85a5 0123456789abcdef 9',
};
const MIRROR = { topology: 'mirror', disks: 2, encrypted: true, byId: true } as const;

function failing(change: Record<string, string>, l: Parameters<typeof evaluateLayout>[2] = MIRROR) {
  const r = { ...GOOD, ...change };
  return evaluateLayout((k) => r[k] ?? '', 'rpool', l)
    .filter((c) => !c.ok)
    .map((c) => c.name.split(':')[0]);
}

test('an encrypted mirror with two identical ESPs passes every layout check', () => {
  assert.deepEqual(failing({}), []);
});

test('each layout check fails on the fault it names', () => {
  assert.deepEqual(
    failing({ 'zpool-status': STATUS.replace(/kltarget2-part2 {2}ONLINE/, 'kltarget2-part2  FAULTED') }),
    ['pool'],
  );
  assert.deepEqual(failing({ 'zpool-status': STATUS.replace('mirror-0', 'raidz1-0') }), ['pool']);
  assert.deepEqual(
    failing({ 'zpool-status': STATUS.replaceAll('/dev/disk/by-id/virtio-kltarget', '/dev/vd') }),
    ['pool'],
  );
  assert.deepEqual(failing({}, { ...MIRROR, disks: 3 }), ['pool', 'ESPs']);
  assert.deepEqual(failing({ encryption: 'aes-256-gcm rpool unavailable' }), ['encryption']);
  assert.deepEqual(failing({ encryption: 'off - -' }), ['encryption']);
  assert.deepEqual(failing({}, { ...MIRROR, encrypted: false }), ['encryption']);
  // The second ESP never got the first one's files, or its disk is gone.
  assert.deepEqual(failing({ esps: GOOD.esps?.replace(/abcdef 9$/, 'abcdee 2') ?? '' }), ['ESPs']);
  assert.deepEqual(failing({ esps: GOOD.esps?.replace(/0123456789abcdef 9$/, 'missing') ?? '' }), ['ESPs']);
  assert.deepEqual(failing({ esps: '' }), ['ESPs']);
});

const base = mkdtempSync(join(tmpdir(), 'kl-serial-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A QEMU whose initramfs asks for the passphrase until it gets `right` (three tries, like zfs load-key). */
class PromptingVm implements Executor {
  readonly typed: string[] = [];
  constructor(private readonly right: string) {}
  async run(_argv: string[], o: RunOptions = {}): Promise<RunResult> {
    const lines: string[] = [];
    let more: () => void = () => undefined;
    o.stdin?.setEncoding('utf8');
    o.stdin?.on('data', (d: string) => {
      lines.push(...d.split('\n').filter(Boolean));
      more();
    });
    const next = () =>
      new Promise<string>((r) => {
        const take = () => {
          const line = lines.shift();
          if (line !== undefined) r(line);
          else more = take;
        };
        take();
      });
    for (let i = 0; i < 3; i++) {
      o.onChunk?.("Enter passphrase for 'rpool': ");
      const got = await next();
      this.typed.push(got);
      if (got === this.right) {
        o.onLine?.('Debian GNU/Linux 13 kltest ttyS0');
        return { exitCode: 0, stdout: '', all: '' };
      }
      o.onChunk?.("\nKey load error: Incorrect key provided for 'rpool'.\n");
    }
    return { exitCode: 1, stdout: '', all: '' };
  }
}

test('the serial console gets a wrong passphrase, then the right one; neither reaches the serial log', async () => {
  const vm = new PromptingVm('kl-Crypt-Phrase-42');
  const first = ['not-the-passphrase'];
  const serialLog = join(base, 'serial.log');
  const r = await runVm(vm, {
    args: [],
    serialLog,
    timeoutSec: 30,
    prompts: [{ pattern: PASSPHRASE_PROMPT, reply: () => first.shift() ?? 'kl-Crypt-Phrase-42' }],
  });
  assert.equal(r.end, 'exit');
  assert.deepEqual(vm.typed, ['not-the-passphrase', 'kl-Crypt-Phrase-42']);
  const log = readFileSync(serialLog, 'utf8');
  assert.equal(log.match(/\[harness: a line typed at "Enter passphrase for 'rpool':"\]/g)?.length, 2);
  assert.doesNotMatch(log, /kl-Crypt-Phrase-42|not-the-passphrase/);
});
