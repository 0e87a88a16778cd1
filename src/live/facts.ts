import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Answers } from '../answers/schema.ts';
import { KldloadError } from '../core/errors.ts';
import { retry, utcStamp } from '../core/time.ts';
import { MEDIUM } from '../layout.ts';
import { checkGoldenDir, type ImageInfo, ImageInfoSchema } from '../layout-image.ts';
import { targetDisks } from '../plan/disks.ts';
import type { InstallFacts } from '../plan/install.ts';

export const medium = (rel: string) => join(MEDIUM.root, rel);

// Callers outside day2 still import it from here; day2 takes it from core (day2 must not depend on live).
export { utcStamp };

/** The medium's image.json, checked against the contract (the same kldload wrote it). */
export function readImage(): ImageInfo | undefined {
  const p = medium(MEDIUM.image);
  if (!existsSync(p)) return undefined;
  const r = ImageInfoSchema.safeParse(JSON.parse(readFileSync(p, 'utf8')));
  if (!r.success) throw new KldloadError(`${p}: not a kldload image description: ${r.error.message}`);
  return r.data;
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

/**
 * The postinstaller from KLDLOAD_POSTINSTALL_URL, checked against KLDLOAD_POSTINSTALL_SHA256 when given.
 * The URL may hold a token: no message here names it.
 */
export async function fetchPostinstall(
  url: string,
  sha256?: string,
  get: (u: string) => Promise<Response> = (u) => fetch(u, { signal: AbortSignal.timeout(30_000) }),
): Promise<string> {
  const body = await retry(
    async () => {
      const r = await get(url);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    },
    {
      attempts: 3,
      delayMs: (i) => 2000 * (i + 1),
      giveUp: (last) =>
        new KldloadError(
          `KLDLOAD_POSTINSTALL_URL: cannot fetch after 3 attempts (${last instanceof Error ? last.message : String(last)})`,
        ),
    },
  );
  if (sha256 !== undefined) {
    const got = createHash('sha256').update(body).digest('hex');
    if (got !== sha256)
      throw new KldloadError(
        `KLDLOAD_POSTINSTALL_URL: the fetched script has sha256 ${got}, KLDLOAD_POSTINSTALL_SHA256 says ${sha256}; refusing to run it`,
      );
  }
  return body.toString('utf8');
}

/** The golden image on the medium (image.json names one): the build checked it, so damage is the medium's. */
function mediumGolden(): NonNullable<InstallFacts['golden']> {
  const dir = medium(MEDIUM.golden);
  const r = checkGoldenDir(dir);
  if (!r.ok) throw new KldloadError(`${dir}: the ISO's golden image is damaged: ${r.why}; rebuild the ISO`);
  return { dir, manifest: r.manifest };
}

/** The kernel node behind a disk path; PICKED_DISK (no disk picked yet) stays as it is. */
const diskReal = (d: string) => (existsSync(d) ? realpathSync(d) : d);
/** kldload.reinstall=1 (or bare kldload.reinstall) on the kernel command line. */
export function reinstallAsked(cmdline: string): boolean {
  return /(?:^|\s)kldload\.reinstall(?:=1)?(?=\s|$)/.test(cmdline);
}

/**
 * Facts of the machine the installer runs on. `live` reads the medium and probes hardware;
 * otherwise (dry-run on any host) placeholders stand where the medium would answer.
 */
export async function gatherFacts(
  a: Answers,
  o: {
    root: string;
    live: boolean;
    logFile: string;
    bundle: string;
    /** The disk picked on this machine when the answers name none (see pickDisk). */
    pickedDisk?: string;
  },
): Promise<InstallFacts> {
  const img = readImage();
  if (o.live && !img)
    throw new KldloadError(`${medium(MEDIUM.image)} missing: is this the kldload live medium?`);
  let postinstall: InstallFacts['postinstall'];
  if (a.KLDLOAD_POSTINSTALL_B64 !== undefined)
    postinstall = { source: 'KLDLOAD_POSTINSTALL_B64', content: a.KLDLOAD_POSTINSTALL_B64 };
  else if (a.KLDLOAD_POSTINSTALL_URL !== undefined)
    postinstall = {
      // The key, not the URL: the URL is a secret (it may carry a token).
      source: 'KLDLOAD_POSTINSTALL_URL',
      content: o.live
        ? await fetchPostinstall(a.KLDLOAD_POSTINSTALL_URL, a.KLDLOAD_POSTINSTALL_SHA256)
        : '# (fetched at install time)\n',
    };
  const cmdline = existsSync('/proc/cmdline') ? readFileSync('/proc/cmdline', 'utf8') : '';
  const payload = medium(MEDIUM.payload);
  const apt = medium(MEDIUM.apt);
  const zbm = medium(MEDIUM.zbm);
  const lib = medium(MEDIUM.postinstallLib);
  const golden = img?.golden ? mediumGolden() : undefined;
  return {
    root: o.root,
    // A golden image boots its own kernel (its /boot holds it), which may be newer than the image's.
    kabi: golden?.manifest.kernel ?? img?.kabi ?? '<kernel ABI of the medium>',
    ...(golden ? { golden } : {}),
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
    diskReal: diskReal(targetDisks(a, o.pickedDisk).boot),
    disksReal: targetDisks(a, o.pickedDisk).all.map(diskReal),
    ...(o.pickedDisk !== undefined ? { pickedDisk: o.pickedDisk } : {}),
    ...(img?.buildId ? { isoBuild: img.buildId } : {}),
    reinstall: o.live && reinstallAsked(cmdline),
    console: o.live ? cmdline.split(/\s+/).filter((w) => w.startsWith('console=')) : [],
    logFile: o.logFile,
    secureBoot: o.live && secureBoot(),
    tpm: o.live && existsSync('/sys/class/tpm/tpm0'),
  };
}
