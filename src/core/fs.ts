import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KldloadError } from './errors.ts';

/** A field of /proc/self/mountinfo or /proc/self/mounts: blanks and the like are octal (\\040). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** A mounted filesystem, as /proc/self/mountinfo shows it. */
export interface Mount {
  /** Where it is mounted. */
  target: string;
  /** The mount source ('' when the kernel shows none): a device, a dataset, tmpfs … */
  source: string;
  fstype: string;
}

/**
 * /proc/self/mountinfo → every mount, decoded, in mount order (a later mount on the same target is
 * on top). The one mount-table parser: day-2 facts, the live installer's disk checks and safeRemove
 * all read through it.
 */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    const mp = f[4];
    if (mp)
      out.push({
        target: unescapeMountField(mp),
        source: unescapeMountField((dash > 0 && f[dash + 2]) || ''),
        fstype: (dash > 0 && f[dash + 1]) || '',
      });
  }
  return out;
}

/** findmnt -r escapes blanks and the like as \xHH. */
const unhex = (s: string) =>
  s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

/** findmnt's argv for the filesystem holding a path (append the path); parse with parseFindmntTarget. */
export const FINDMNT_TARGET = ['findmnt', '-n', '-r', '-o', 'FSTYPE,SOURCE,TARGET', '-T'];

/**
 * `findmnt -n -r -o FSTYPE,SOURCE,TARGET -T PATH` → the filesystem holding PATH and where it is
 * mounted. A bind mount's source carries the folder it shows in brackets (`rpool/home[/ann]`): the
 * source is what precedes them.
 */
export function parseFindmntTarget(
  stdout: string,
): { fstype: string; source: string; target: string; bind: boolean } | undefined {
  const [fstype, source, target] = (stdout.trim().split('\n')[0] ?? '').split(' ');
  if (!fstype || !source || !target) return undefined;
  return {
    fstype,
    source: unhex(source.replace(/\[.*\]$/, '')),
    target: unhex(target),
    bind: /\[.*\]$/.test(source),
  };
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string, mountinfo?: string): string[] {
  const base = resolve(dir);
  let text = mountinfo ?? '';
  if (mountinfo === undefined)
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return [];
    }
  return parseMountinfo(text)
    .map((m) => m.target)
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/** Hard links keep staging instant (same filesystem as the cache); copy when linking fails. */
export function linkOrCopy(src: string, dst: string): void {
  mkdirSync(dirname(dst), { recursive: true });
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

/**
 * rm -rf that refuses to descend into mounts: a chroot left with /dev or /proc bound inside must
 * never take the host's device nodes with it.
 */
export function safeRemove(dir: string): void {
  const left = mountsUnder(dir);
  if (left.length) throw new KldloadError(`refusing to delete ${dir}: still mounted: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * One build at a time per cache: a lock file holding our pid. A stale lock (dead pid) is taken over,
 * and the scratch folder it left — possibly with a chroot's /proc, /sys or /dev still mounted if
 * the build was killed — is unmounted and removed before anything else runs.
 */
export async function takeBuildLock(
  lockFile: string,
  scratch: string,
  unmount: (mp: string) => Promise<unknown>,
): Promise<() => void> {
  mkdirSync(dirname(lockFile), { recursive: true });
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (pid && pid !== process.pid && alive(pid))
      throw new KldloadError(`another kldload build (pid ${pid}) is using ${dirname(lockFile)}; wait for it`);
  }
  writeFileSync(lockFile, `${process.pid}\n`);
  if (existsSync(scratch)) {
    for (const mp of mountsUnder(scratch)) await unmount(mp);
    safeRemove(scratch);
  }
  return () => rmSync(lockFile, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
