/**
 * The layout contract's other half: kldload/image.json, as a zod schema. Kept out of layout.ts,
 * which every module imports, because zod is the largest thing in the bundle and a day-2 command
 * (kclone, kst, the kpkg apt hook) never reads image.json: node would evaluate it at each start.
 */
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
});
export type ImageInfo = z.infer<typeof ImageInfoSchema>;

/** An image.json of any kldload version: ISOs built before a field existed lack it. */
export const AnyImageInfoSchema = ImageInfoSchema.partial();
export type AnyImageInfo = z.infer<typeof AnyImageInfoSchema>;
