import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { LIVE_WORK, MEDIUM, SEED_LABEL } from '../layout.ts';

/**
 * Where the live installer finds its answers, first match wins: the boot entry "Install through the
 * web" (kldload.web: the wizard, whatever else is there), a path on the kernel command line
 * (kldload.answers=/path), a FAT volume labelled KLDLOADSEED holding answers.env (the USB-stick
 * path), then the answers embedded in the ISO at build time. None of them: the web installer.
 */
export interface AnswerSources {
  cmdline: string;
  /** Where the ISO is mounted in the live system. */
  mediumRoot: string;
  seedDevice: string;
  workDir: string;
}

export const LIVE_SOURCES = (): AnswerSources => ({
  cmdline: existsSync('/proc/cmdline') ? readFileSync('/proc/cmdline', 'utf8') : '',
  mediumRoot: MEDIUM.root,
  seedDevice: `/dev/disk/by-label/${SEED_LABEL}`,
  workDir: LIVE_WORK,
});

/** An answers file, or why the web installer serves the wizard instead. */
export type Found = { path: string } | { web: string };

export async function findAnswers(
  exec: Executor,
  log: Logger,
  src: AnswerSources = LIVE_SOURCES(),
): Promise<Found> {
  const { workDir } = src;
  mkdirSync(workDir, { recursive: true });
  const onMedium = (rel: string) => join(src.mediumRoot, rel);
  if (/(?:^|\s)kldload\.web(?:\s|$)/.test(src.cmdline))
    return { web: 'boot entry "install through the web"' };
  const arg = /(?:^|\s)kldload\.answers=(\S+)/.exec(src.cmdline)?.[1];
  if (arg) {
    // An absolute path in the live system, else a path on the medium.
    const p = arg.startsWith('/') && existsSync(arg) ? arg : onMedium(arg.replace(/^\//, ''));
    if (!existsSync(p)) throw new KldloadError(`kldload.answers=${arg}: no such file`);
    log.info(`answers: ${p} (kernel command line)`);
    return { path: p };
  }
  await exec.run(['udevadm', 'settle', '--timeout=30'], { check: false });
  const seedDev = src.seedDevice;
  if (existsSync(seedDev)) {
    const mnt = join(workDir, 'seed');
    mkdirSync(mnt, { recursive: true });
    await exec.run(['mount', '-o', 'ro', seedDev, mnt]);
    try {
      const src = join(mnt, 'answers.env');
      if (existsSync(src)) {
        const dst = join(workDir, 'answers.env');
        copyFileSync(src, dst);
        log.info(`answers: answers.env on the ${SEED_LABEL} volume`);
        return { path: dst };
      }
      log.info(`${SEED_LABEL} volume has no answers.env; looking further`);
    } finally {
      await exec.run(['umount', mnt], { check: false });
    }
  }
  const embedded = onMedium(MEDIUM.answers);
  if (existsSync(embedded)) {
    log.info('answers: embedded in the ISO');
    return { path: embedded };
  }
  return {
    web: `no answers file (answers.env on a FAT volume labelled ${SEED_LABEL}, kldload.answers=/path, or an ISO built with --answers)`,
  };
}
