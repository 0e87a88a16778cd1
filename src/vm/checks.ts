import { LOGS, REPO, TARGET } from '../layout.ts';
import { parseGet } from '../zfs/zfs.ts';

/**
 * What the installed guest reports about itself. One script, run once over SSH as root, prints
 * sections `@@name` followed by raw command output; evaluation happens here, host side, as data.
 */
export const GUEST_REPORT = String.raw`set -u
sec() { echo "@@$1"; }
sec root; findmnt -no SOURCE,FSTYPE /
sec zfsget; zfs get -Hp -r -o name,property,value,source canmount,mountpoint,compression,acltype,xattr,relatime,dnodesize,normalization,sync,exec,setuid,devices,com.sun:auto-snapshot "$POOL"
sec zpoolget; zpool get -Hp -o name,property,value ashift,autotrim,bootfs "$POOL"
sec hostid; hostid
sec initrd-hostid
d=$(mktemp -d); i=$(ls /boot/efi/*/"$(uname -r)"/initrd* 2>/dev/null | head -n1); [ -n "$i" ] || i=/boot/initrd.img-$(uname -r)
echo "from=$i"; unmkinitramfs "$i" "$d" >/dev/null 2>&1; f=$(find "$d" -path '*/etc/hostid' | head -n1)
[ -n "$f" ] && od -An -tx4 "$f" | tr -d ' \n'; echo; rm -rf "$d"
sec manifest-mode; stat -c %a ${TARGET.manifest}
sec manifest; cat ${TARGET.manifest}
sec postinstall-runs; f=/var/lib/kldload-test/postinstall-runs; [ -e $f ] && wc -l <$f || echo none
sec firstboot-starts; grep -c 'first boot: start' ${LOGS.firstboot} 2>/dev/null || true
sec firstboot-done; test -e ${TARGET.firstbootDone} && echo yes || echo no
sec failed; systemctl --failed --plain --no-legend
sec running; systemctl is-system-running
sec snapshots; zfs list -H -t snapshot -o name
sec installer-log; test -s ${LOGS.installer} && echo yes || echo no
sec esp; findmnt -no FSTYPE /boot/efi; ls /boot/efi/EFI/BOOT/
sec kernel; uname -r
sec extra; for p in $EXTRA; do echo "$p $(dpkg -s "$p" 2>/dev/null | sed -n 's/^Status: //p')"; done
sec sources; cat /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -E '^URIs:' | sort -u
sec firstboot-status; kldload firstboot status --json 2>&1 | tr -d ' \n'; echo
sec pg; cd /; if command -v psql >/dev/null; then runuser -u postgres -- psql -tAc 'select 41+1' 2>&1; zfs get -H -o value recordsize "$POOL/postgres" 2>&1; fi
sec role-log; grep -cE 'verification: all [0-9]+ checks passed' ${LOGS.postinstall} 2>/dev/null || true
sec darksite-left; test -e ${REPO.targetDir} && echo present || echo gone
sec role-times; grep -ho '=== role [^ ]* done in [0-9]*s' ${LOGS.postinstall} 2>/dev/null || true
sec docker-run; if command -v docker >/dev/null; then for t in $(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^kldload/'); do docker run --rm --network none "$t" 2>&1; done; fi
`;

export function parseReport(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let cur = '';
  for (const line of text.split('\n')) {
    const s = /^@@(\S+)$/.exec(line);
    if (s?.[1]) {
      cur = s[1];
      m.set(cur, '');
    } else if (cur) m.set(cur, `${m.get(cur)}${line}\n`);
  }
  for (const [k, v] of m) m.set(k, v.trim());
  return m;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Expect {
  pool: string;
  /** The boot environment that must be running and be the pool's bootfs (default: default). */
  be?: string;
  /** Secrets that must not appear in the manifest. */
  secrets: string[];
  /** How many times postinstall.sh must have run by now. */
  postinstallRuns: number;
  /** KLDLOAD_EXTRA_PACKAGES: installed at install time from the darksite. */
  extra?: string[];
  /** Roles built into the ISO (--role), which first boot must have run and verified. */
  roles?: string[];
  /** Container images built into the ISO (--image). */
  images?: string[];
}

/** Dataset tree and properties the install promises (seed 003/004 and the spine issue). */
/** [dataset, property, accepted values separated by |, required source (optional)]. */
export function expectedProps(pool: string): [string, string, string, string?][] {
  const P = pool;
  return [
    [P, 'compression', 'lz4'],
    [P, 'acltype', 'posix'],
    // OpenZFS 2.3 reports xattr=sa as "on" (on now means SA-based xattrs; openzfs#17171).
    [P, 'xattr', 'sa|on', 'local'],
    [P, 'relatime', 'on'],
    [P, 'dnodesize', 'auto'],
    [P, 'normalization', 'formD'],
    [P, 'canmount', 'off'],
    [P, 'mountpoint', 'none'],
    [`${P}/ROOT`, 'canmount', 'off'],
    [`${P}/ROOT/default`, 'canmount', 'noauto'],
    [`${P}/ROOT/default`, 'mountpoint', '/'],
    [`${P}/home`, 'mountpoint', '/home'],
    [`${P}/root`, 'mountpoint', '/root'],
    [`${P}/srv`, 'mountpoint', '/srv'],
    [`${P}/var`, 'canmount', 'off'],
    [`${P}/var/log`, 'mountpoint', '/var/log'],
    [`${P}/var/cache`, 'com.sun:auto-snapshot', 'false'],
    [`${P}/var/tmp`, 'com.sun:auto-snapshot', 'false'],
    [`${P}/tmp`, 'sync', 'disabled'],
    [`${P}/tmp`, 'exec', 'off'],
    [`${P}/tmp`, 'setuid', 'off'],
    [`${P}/tmp`, 'devices', 'off'],
  ];
}

export function evaluate(report: Map<string, string>, e: Expect): CheckResult[] {
  const r = (k: string) => report.get(k) ?? '';
  const out: CheckResult[] = [];
  const check = (name: string, ok: boolean, detail: string) => out.push({ name, ok, detail });

  const be = `${e.pool}/ROOT/${e.be ?? 'default'}`;
  check('root is the boot environment on zfs', r('root') === `${be} zfs`, r('root'));

  const props = parseGet(r('zfsget'));
  const missing = expectedProps(e.pool).filter(
    ([ds, p, v, src]) =>
      !props.some(
        (x) =>
          x.name === ds && x.property === p && v.split('|').includes(x.value) && (!src || x.source === src),
      ),
  );
  check(
    'dataset tree and properties',
    missing.length === 0,
    missing.length
      ? `wrong or missing: ${missing.map(([d, p, v]) => `${d} ${p}=${v}`).join(', ')}`
      : `${new Set(props.map((p) => p.name)).size} datasets`,
  );
  const pp = new Map(
    r('zpoolget')
      .split('\n')
      .map((l) => [l.split('\t')[1] ?? '', l.split('\t')[2] ?? '']),
  );
  const poolOk = pp.get('ashift') === '12' && pp.get('autotrim') === 'on' && pp.get('bootfs') === be;
  check('pool ashift=12 autotrim=on bootfs', poolOk, [...pp].map(([k, v]) => `${k}=${v}`).join(' '));

  const ird = r('initrd-hostid').split('\n');
  const irdHostid = ird[1]?.trim() ?? '';
  check(
    'hostid matches the initramfs',
    !!r('hostid') && irdHostid === r('hostid'),
    `hostid=${r('hostid')} initramfs=${irdHostid || 'none'} (${ird[0] ?? ''})`,
  );

  const man = r('manifest');
  const leaked = e.secrets.filter((s) => s && man.includes(s));
  const secretKeys = /^KLDLOAD_(PASSWORD|PASSWORD_HASH|ROOT_PASSWORD|ZFS_PASSPHRASE)=/m.test(man);
  check(
    'manifest present, mode 0640, no secrets',
    man.includes('KLDLOAD_HOSTNAME=') && r('manifest-mode') === '640' && !leaked.length && !secretKeys,
    `mode=${r('manifest-mode')} leaked=${leaked.length} secret-keys=${secretKeys}`,
  );
  // The test payload's recording role counts real runs; an ISO without it (the role bench) is
  // counted by the first-boot service's own start lines.
  const recorded = r('postinstall-runs') !== 'none';
  // No first-boot log at all (a golden image's copy: logs are never carried) is no start.
  const runs = (recorded ? r('postinstall-runs') : r('firstboot-starts')) || '0';
  check(
    `postinstall.sh ran exactly ${e.postinstallRuns === 1 ? 'once' : `${e.postinstallRuns} times`}`,
    runs === String(e.postinstallRuns) && r('firstboot-done') === 'yes',
    `runs=${runs} (${recorded ? 'recorded by the test role' : 'firstboot.log starts'}) done-marker=${r('firstboot-done')}`,
  );
  check('systemctl --failed is empty', r('failed') === '', r('failed') || 'none');
  check('system is running', r('running') === 'running', r('running'));
  const snaps = r('snapshots').split('\n');
  check(
    'factory snapshot exists',
    snaps.some((s) => new RegExp(`^${e.pool}/ROOT/default@install-\\d{8}T\\d{6}Z$`).test(s)) &&
      snaps.some((s) => new RegExp(`^${e.pool}@install-`).test(s)),
    snaps.filter((s) => s.startsWith(`${e.pool}@`)).join(' ') || 'none',
  );
  check('installer log copied to the target', r('installer-log') === 'yes', r('installer-log'));
  if (e.extra?.length) {
    const lines = r('extra').split('\n');
    const ok = e.extra.every((p) => lines.includes(`${p} install ok installed`));
    check('extra packages installed from the darksite', ok, r('extra').replace(/\n/g, '; '));
  }
  const roles = e.roles ?? [];
  if (roles.length) {
    check('first boot status is ok', /"status":"ok"/.test(r('firstboot-status')), r('firstboot-status'));
    const verified = Number(r('role-log') || 0);
    check(
      `every role's own verification passed (${roles.join(', ')})`,
      verified >= roles.length,
      `${verified} verification summaries passed`,
    );
    check(
      'the darksite copy was removed after first boot',
      r('darksite-left') === 'gone',
      r('darksite-left'),
    );
  }
  if (roles.includes('docker') && e.images?.length) {
    check(
      'docker: an image from the ISO runs (zfs storage driver)',
      r('docker-run').includes('kldload-image-ok'),
      r('docker-run') || 'no output',
    );
  }
  if (roles.includes('postgres')) {
    const [answer, recordsize] = r('pg').split('\n');
    check(
      'postgres: psql answers, data on recordsize=8K',
      answer === '42' && recordsize === '8K',
      r('pg').replace(/\n/g, ' '),
    );
  }
  check(
    'apt sources point at the public mirror (darksite not kept)',
    /URIs: http:\/\/deb\.debian\.org\/debian/.test(r('sources')) && !r('sources').includes('file:'),
    r('sources').replace(/\n/g, ' '),
  );
  check(
    'ESP is FAT with the fallback loader',
    /^vfat\n(.*\n)*BOOTX64\.EFI/m.test(r('esp')),
    r('esp').replace(/\n/g, ' '),
  );
  return out;
}

/** "=== role 25-docker.sh done in 81s" lines of the guest's postinstall.log → { docker: 81 }. */
export function roleSeconds(report: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (report.get('role-times') ?? '').split('\n')) {
    const m = /^=== role \d+-(.+)\.sh done in (\d+)s$/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}
