/**
 * The ISO's grub-mkrescue command line, run for real on a small folder: it must build (the options
 * grub-mkrescue hands to xorriso differ before and after `--`; a native command in the wrong place
 * aborts the build) and carry the volume label the live system looks for.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { grubMkrescueArgv } from '../../src/image/iso.ts';
import { MEDIUM } from '../../src/layout.ts';

test("grub-mkrescue with the build's options makes an ISO at iso-level 3 labelled KLDLOAD", () => {
  const d = mkdtempSync(join(tmpdir(), 'kl-iso-'));
  try {
    mkdirSync(join(d, 'stage/boot/grub'), { recursive: true });
    writeFileSync(join(d, 'stage/boot/grub/grub.cfg'), 'set timeout=1\n');
    writeFileSync(join(d, 'stage/a-long-file-name-level-1-would-shorten.txt'), 'x\n');
    const [cmd, ...args] = grubMkrescueArgv(join(d, 'out.iso'), join(d, 'stage'));
    const r = spawnSync(cmd as string, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(-1500));
    const pvd = spawnSync('xorriso', ['-indev', join(d, 'out.iso'), '-pvd_info'], { encoding: 'utf8' });
    assert.match(pvd.stdout, new RegExp(`Volume Id\\s*: ${MEDIUM.label}`));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
