import { networkInterfaces } from 'node:os';
import type { RoleSetting } from '../answers/role-settings.ts';
import type { ImageInfo } from '../layout-image.ts';
import type { Host } from '../live/blockdev.ts';
import { diskInventory } from '../live/disk-pick.ts';

/** What the wizard offers, read from this machine and this medium. Reads, never writes. */
export interface WizardDisk {
  path: string;
  byId?: string;
  sizeBytes: number;
  model: string;
  /** Set when the disk holds something: installing erases it, and the page asks to confirm. */
  holdsData?: string;
  /** Set when the disk cannot be installed to at all (in use, read-only, too small). */
  unavailable?: string;
}

export interface WizardFacts {
  image: { profile?: string; suite?: string; kabi?: string; extraPackages: string[] };
  disks: WizardDisk[];
  roles: { name: string; settings: RoleSetting[] }[];
  interfaces: string[];
}

/** Exclusions that mean the disk is never shown: the machine's own medium, the seed stick, RAM. */
const NEVER = [/^the boot medium/, /answers volume$/, /^a RAM or floppy/];

export async function wizardFacts(
  host: Host,
  o: { image: ImageInfo | undefined; roles: string[]; settings: RoleSetting[]; pool: string },
): Promise<WizardFacts> {
  const info: Partial<ImageInfo> = o.image ?? {};
  const disks: WizardDisk[] = [];
  for (const d of await diskInventory(host, { forceWipe: false, exclude: [], pool: o.pool })) {
    if (d.excluded.some((r) => NEVER.some((n) => n.test(r)))) continue;
    const data = d.excluded.filter((r) => r.startsWith('not empty'));
    const other = d.excluded.filter((r) => !r.startsWith('not empty'));
    disks.push({
      path: d.path,
      ...(d.byId ? { byId: d.byId } : {}),
      sizeBytes: d.sizeBytes,
      model: d.model,
      ...(data.length ? { holdsData: data.join('; ').replace(/; KLDLOAD_FORCE_WIPE=1 allows it$/, '') } : {}),
      ...(other.length ? { unavailable: other.join('; ') } : {}),
    });
  }
  return {
    image: {
      ...(info.profile ? { profile: info.profile } : {}),
      ...(info.suite ? { suite: info.suite } : {}),
      ...(info.kabi ? { kabi: info.kabi } : {}),
      extraPackages: info.extraPackages ?? [],
    },
    disks,
    roles: o.roles.map((name) => ({ name, settings: o.settings.filter((s) => s.role === name) })),
    interfaces: Object.keys(networkInterfaces()).filter((n) => n !== 'lo'),
  };
}
