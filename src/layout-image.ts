/**
 * The layout contract's other half: kldload/image.json, as a zod schema. Kept out of layout.ts,
 * which every module imports, because zod is the largest thing in the bundle and a day-2 command
 * (kclone, kst, the kpkg apt hook) never reads image.json: node would evaluate it at each start.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** kldload/image.json: what the image build put on the ISO, for the installer and `kldload test`. */
export const ImageInfoSchema = z.object({
  profile: z.string(),
  suite: z.string(),
  /** Kernel ABI of the target image (as in /lib/modules). */
  kabi: z.string(),
  zfsVersion: z.string(),
  /** The public mirror written into the target's apt sources for later updates. */
  publicMirror: z.string(),
  /** Content key of the target layer. */
  layer: z.string(),
  roles: z.array(z.string()),
  /** Names of the packages supplied as .deb files (--deb, payload debs/) that the darksite carries. */
  suppliedDebs: z.array(z.string()),
  /** File names of the container images (--image) in /root/darksite/images. */
  images: z.array(z.string()),
  /** The --packages entries: what KLDLOAD_EXTRA_PACKAGES can ask for beyond the profile. */
  extraPackages: z.array(z.string()),
  /**
   * Random id of this ISO build. The installer writes it on the pool it made and will not wipe a
   * disk carrying it again without kldload.reinstall=1 (an ISO left attached must not reinstall forever).
   */
  buildId: z.string().optional(),
  /** The golden image the installer receives instead of unpacking the target image (build --golden). */
  golden: z
    .object({
      name: z.string(),
      kernel: z.string(),
      host: z.string(),
      captured: z.string(),
      /** Roles first boot ran on the machine it was captured on (the copy does not run them again). */
      roles: z.array(z.string()),
    })
    .optional(),
});
export type ImageInfo = z.infer<typeof ImageInfoSchema>;

/** An image.json of any kldload version: ISOs built before a field existed lack it. */
export const AnyImageInfoSchema = ImageInfoSchema.partial();
export type AnyImageInfo = z.infer<typeof AnyImageInfoSchema>;

/** Files of a golden image folder (kldload image capture; build --golden; MEDIUM.golden on the ISO). */
export const GOLDEN_FILES = { manifest: 'manifest.json', sums: 'SHA256SUMS' } as const;

export const goldenName = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const relName = /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/;

/**
 * manifest.json of a golden image: what `kldload image capture` sealed and sent, read by the build
 * (which checks SHA256SUMS against the streams) and by the installer (which receives them).
 * - root: the sealed boot environment, received as <pool>/ROOT/default;
 * - data: datasets named at capture, with their content (shell histories removed);
 * - skeleton: log datasets, folders only (services expect their log folders; no log is carried);
 * - tree: every other dataset of the source machine, made empty with its properties.
 */
export const GoldenManifestSchema = z.object({
  format: z.literal('kldload-golden/1'),
  name: z.string().regex(goldenName),
  /** Short host name of the machine it was captured on. */
  host: z.string(),
  /** UTC stamp of the capture, e.g. 20261201T190000Z. */
  captured: z.string(),
  /** The snapshot the root was cloned from. */
  from: z.string(),
  /** The kernel the copy boots (its /boot holds vmlinuz and initrd of it) and every kernel it has. */
  kernel: z.string(),
  kernels: z.array(z.string()),
  /** Roles first boot ran on the source (the copy does not run them again). */
  roles: z.array(z.string()),
  streams: z.array(
    z.object({
      kind: z.enum(['root', 'data', 'skeleton']),
      /** Name below the pool (ROOT/default, srv/www, var/log). */
      rel: z.string().regex(relName),
      file: z.string().regex(/^[a-z0-9-]+\.zfs$/),
      /** Local properties to set on receive (mountpoint, recordsize …). */
      props: z.record(z.string(), z.string()),
    }),
  ),
  tree: z.array(z.object({ rel: z.string().regex(relName), props: z.record(z.string(), z.string()) })),
});
export type GoldenManifest = z.infer<typeof GoldenManifestSchema>;

/**
 * A golden image folder against the contract: the manifest, one root stream, every stream present
 * and named in SHA256SUMS (the hashes themselves are the build's check: src/image/golden.ts).
 */
export function checkGoldenDir(
  dir: string,
): { ok: true; manifest: GoldenManifest } | { ok: false; why: string } {
  const no = (why: string) => ({ ok: false as const, why });
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return no('not a folder');
  const mf = join(dir, GOLDEN_FILES.manifest);
  if (!existsSync(mf)) return no(`no ${GOLDEN_FILES.manifest}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(mf, 'utf8'));
  } catch (e) {
    return no(`${GOLDEN_FILES.manifest} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = GoldenManifestSchema.safeParse(raw);
  if (!r.success)
    return no(
      `${GOLDEN_FILES.manifest}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  const m = r.data;
  if (m.streams.filter((s) => s.kind === 'root').length !== 1)
    return no('the manifest names no single root stream');
  const sumsFile = join(dir, GOLDEN_FILES.sums);
  if (!existsSync(sumsFile)) return no(`no ${GOLDEN_FILES.sums}`);
  const summed = new Set(
    readFileSync(sumsFile, 'utf8')
      .split('\n')
      .map((l) => /^[0-9a-f]{64} [ *](.+)$/.exec(l)?.[1])
      .filter((x): x is string => !!x),
  );
  for (const s of m.streams) {
    if (!existsSync(join(dir, s.file))) return no(`${s.file} (${s.rel}) is missing`);
    if (!summed.has(s.file)) return no(`${s.file} has no line in ${GOLDEN_FILES.sums}`);
  }
  return { ok: true, manifest: m };
}
