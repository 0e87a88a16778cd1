/**
 * What `kldload test` checks about the pool's layout: the vdev tree the answers asked for, native
 * encryption and its key, and one ESP per disk with the same files (kept in step by kldload esp sync).
 * The guest prints raw sections (part of GUEST_REPORT); evaluation happens here, host side.
 */
import type { CheckResult } from './checks.ts';

export interface LayoutExpect {
  topology: 'single' | 'mirror' | 'raidz1' | 'raidz2' | 'mirror-stripe';
  disks: number;
  encrypted: boolean;
  /** Every vdev named by /dev/disk/by-id (the answers named the disks that way). */
  byId?: boolean;
}

/**
 * Sections zpool-status, encryption and esps. Each ESP of /etc/kldload/esps: "<partuuid> <hash>
 * <files>" (hash over every file but the per-ESP random seed), or "<partuuid> missing". The mounted
 * one is read where it is; the others are mounted read-only for the reading.
 */
export const LAYOUT_REPORT = String.raw`sec zpool-status; zpool status -P "$POOL"
sec encryption; zfs get -H -o value encryption,encryptionroot,keystatus "$POOL/ROOT/default" | tr '\n' ' '
sec esps; b=$(readlink -f "$(findmnt -no SOURCE /boot/efi)")
for u in $(grep -iE '^[0-9a-f-]{36}$' /etc/kldload/esps 2>/dev/null); do
  d=/dev/disk/by-partuuid/$u; [ -e "$d" ] || { echo "$u missing"; continue; }
  if [ "$(readlink -f "$d")" = "$b" ]; then m=/boot/efi; else m=$(mktemp -d); mount -o ro "$d" "$m"; fi
  h=$(cd "$m" && find . -type f ! -path ./loader/random-seed | LC_ALL=C sort | xargs -d '\n' md5sum | md5sum | cut -c1-16)
  n=$(cd "$m" && find . -type f ! -path ./loader/random-seed | wc -l)
  [ "$m" = /boot/efi ] || { umount "$m"; rmdir "$m"; }
  echo "$u $h $n"
done
`;

/** The top-level vdevs `zpool status` shows for each topology (single: none). */
const TOP: Record<LayoutExpect['topology'], string[]> = {
  single: [],
  mirror: ['mirror-0'],
  raidz1: ['raidz1-0'],
  raidz2: ['raidz2-0'],
  'mirror-stripe': ['mirror-0', 'mirror-1'],
};

export function evaluateLayout(r: (section: string) => string, pool: string, l: LayoutExpect): CheckResult[] {
  const out: CheckResult[] = [];
  const check = (name: string, ok: boolean, detail: string) => out.push({ name, ok, detail });

  const status = r('zpool-status');
  const tops = [...status.matchAll(/^\s+((?:mirror|raidz\d?)-\d+)\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  const devs = [...status.matchAll(/^\s+(\/dev\/\S+)\s+(\S+)/gm)].map((m) => [m[1] ?? '', m[2] ?? '']);
  const want = TOP[l.topology];
  check(
    `pool: ${l.topology} of ${l.disks} disk${l.disks === 1 ? '' : 's'}, every one ONLINE${l.byId ? ', named by-id' : ''}`,
    /^\s+state: ONLINE$/m.test(status) &&
      tops.join(',') === want.map((t) => `${t} ONLINE`).join(',') &&
      devs.length === l.disks &&
      devs.every(([, st]) => st === 'ONLINE') &&
      (!l.byId || devs.every(([d]) => d?.startsWith('/dev/disk/by-id/'))),
    `${tops.join(' ') || 'no group vdev'}; ${devs.map(([d, s]) => `${d} ${s}`).join(', ') || 'no devices'}`,
  );

  const [alg, root, key] = r('encryption').trim().split(/\s+/);
  check(
    l.encrypted
      ? `encryption: aes-256-gcm, encryption root ${pool}, key loaded`
      : 'encryption: off (not asked for)',
    l.encrypted
      ? alg === 'aes-256-gcm' && root === pool && key === 'available'
      : alg === 'off' && root === '-',
    r('encryption').trim(),
  );

  const esps = r('esps')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '));
  const hashes = new Set(esps.map((e) => e[1]));
  check(
    `ESPs: ${l.disks} (one per disk), the same ${l.disks > 1 ? 'loader, kernels and entries on each' : 'files'}`,
    esps.length === l.disks && esps.every((e) => e.length === 3 && Number(e[2]) > 0) && hashes.size === 1,
    esps.map((e) => e.join(' ')).join('; ') || 'no /etc/kldload/esps',
  );
  return out;
}
