/**
 * What `kldload test` checks about the pool's layout: the vdev tree the answers asked for, native
 * encryption and its key, and one ESP per disk with the same files (kept in step by kldload esp sync).
 * The guest prints raw sections (part of GUEST_REPORT); evaluation happens here, host side. Also the
 * encrypted boot: the passphrase asked and a wrong one refused, and the passphrase on no disk in clear.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../core/exec.ts';
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
sec encryption; zfs get -H -o value encryption,encryptionroot,keystatus "$POOL/ROOT/default" | tr '\n' ' '; echo
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

export const WRONG_PASSPHRASE = 'kldload-test-wrong-passphrase';

/** The boot's console: two prompts answered (wrong, then right), the wrong one refused by zfs load-key. */
export function passphraseCheck(serial: string): CheckResult {
  const typed = serial.match(/\[harness: a line typed at "Enter passphrase for '[^']+':"\]/g)?.length ?? 0;
  const refused = /Key load error|Incorrect key/.test(serial);
  return {
    name: 'passphrase: asked on the console; a wrong one refused and asked again, the right one boots',
    ok: typed >= 2 && refused,
    detail: `${typed} prompt(s) answered; wrong one ${refused ? 'refused' : 'NOT refused'}`,
  };
}

/**
 * The passphrase is on no disk in clear (ESP, pool labels, a stray file, swap) and in no serial log:
 * grep of every qcow2 file as it lies (qcow2 keeps data clusters as they are; a string split across
 * two 64 KiB clusters would escape, a tiny chance accepted). The pattern comes from a file, not argv.
 */
export async function notInClear(
  exec: Executor,
  W: string,
  secret: string,
  files: string[],
): Promise<CheckResult> {
  const pat = join(W, 'secret.pat');
  writeFileSync(pat, `${secret}\n`, { mode: 0o600 });
  const hits: string[] = [];
  for (const f of files) {
    const r = await exec.run(['grep', '-c', '-a', '-F', '-f', pat, f], { check: false });
    if (r.exitCode === 0) hits.push(`${f} (${r.stdout.trim()})`);
    else if (r.exitCode !== 1) hits.push(`${f}: grep failed (${r.exitCode})`);
  }
  rmSync(pat, { force: true });
  return {
    name: 'passphrase: on no disk in clear and in no serial log',
    ok: hits.length === 0,
    detail: hits.length ? `found in ${hits.join(', ')}` : `${files.length} files searched`,
  };
}
