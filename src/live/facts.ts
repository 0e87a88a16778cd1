import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Answers } from '../answers/schema.ts';
import type { ImageInfo } from '../build/build.ts';
import { MEDIUM } from '../build/iso.ts';
import { KldloadError } from '../core/errors.ts';
import { targetDisks } from '../plan/disks.ts';
import type { InstallFacts } from '../plan/install.ts';

export const medium = (rel: string) => join(MEDIUM.root, rel);

export function utcStamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function readImage(): ImageInfo | undefined {
  const p = medium(MEDIUM.image);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ImageInfo) : undefined;
}

function secureBoot(): boolean {
  const v = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';
  try {
    const b = readFileSync(v);
    return b[b.length - 1] === 1;
  } catch {
    return false;
  }
}

async function fetchPostinstall(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return await r.text();
    } catch (e) {
      last = e;
      await new Promise((res) => setTimeout(res, 2000 * (i + 1)));
    }
  }
  throw new KldloadError(`KLDLOAD_POSTINSTALL_URL ${url}: cannot fetch after 3 attempts (${String(last)})`);
}

/** The kernel node behind a disk path; PICKED_DISK (no disk picked yet) stays as it is. */
const diskReal = (d: string) => (existsSync(d) ? realpathSync(d) : d);

/**
 * Facts of the machine the installer runs on. `live` reads the medium and probes hardware;
 * otherwise (dry-run on any host) placeholders stand where the medium would answer.
 */
export async function gatherFacts(
  a: Answers,
  o: { root: string; live: boolean; logFile: string; bundle: string },
): Promise<InstallFacts> {
  const img = readImage();
  if (o.live && !img)
    throw new KldloadError(`${medium(MEDIUM.image)} missing: is this the kldload live medium?`);
  let postinstall: InstallFacts['postinstall'];
  if (a.KLDLOAD_POSTINSTALL_B64 !== undefined)
    postinstall = { source: 'KLDLOAD_POSTINSTALL_B64', content: a.KLDLOAD_POSTINSTALL_B64 };
  else if (a.KLDLOAD_POSTINSTALL_URL !== undefined)
    postinstall = {
      source: a.KLDLOAD_POSTINSTALL_URL,
      content: o.live ? await fetchPostinstall(a.KLDLOAD_POSTINSTALL_URL) : '# (fetched at install time)\n',
    };
  const cmdline = existsSync('/proc/cmdline') ? readFileSync('/proc/cmdline', 'utf8') : '';
  const payload = medium(MEDIUM.payload);
  const apt = medium(MEDIUM.apt);
  const zbm = medium(MEDIUM.zbm);
  const lib = medium(MEDIUM.postinstallLib);
  return {
    root: o.root,
    kabi: img?.kabi ?? '<kernel ABI of the medium>',
    suite: img?.suite ?? a.KLDLOAD_DEBIAN_SUITE,
    image: medium(MEDIUM.target),
    bundle: o.bundle,
    ...(existsSync(payload) ? { payloadDir: payload, payloadRoles: existsSync(join(payload, 'roles')) } : {}),
    ...(postinstall ? { postinstall } : {}),
    ...(existsSync(zbm) ? { zbm } : {}),
    ...(existsSync(lib) ? { postinstallLib: lib } : {}),
    ...(existsSync(apt) || !o.live ? { aptRepo: apt } : {}),
    hostid: randomBytes(4).toString('hex'),
    espGuid: randomUUID(),
    stamp: utcStamp(),
    efiVars: o.live && existsSync('/sys/firmware/efi/efivars'),
    diskReal: diskReal(targetDisks(a).boot),
    console: o.live ? cmdline.split(/\s+/).filter((w) => w.startsWith('console=')) : [],
    logFile: o.logFile,
    secureBoot: o.live && secureBoot(),
    tpm: o.live && existsSync('/sys/class/tpm/tpm0'),
  };
}
