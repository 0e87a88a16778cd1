import { formatEnvLine } from '../answers/parse.ts';
import type { RoleSettingValue } from '../answers/role-settings.ts';
import type { Answers } from '../answers/schema.ts';
import { FIELD_KEYS, fieldDef } from '../answers/schema.ts';
import { aptSourceLine, aptSourceStanza, DEBIAN_KEYRING } from '../core/debian.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, inTarget, type Plan, run, type Step, write } from '../core/plan.ts';
import { BOOT_TRIES } from '../day2/be.ts';
import { APT_HOOK, APT_HOOK_CONF } from '../day2/pkg.ts';
import {
  SANOID_BASE,
  SANOID_COMPOSE,
  SANOID_COMPOSE_PATH,
  SANOID_DIR,
  SANOID_SERVICE_CONF,
  SANOID_SERVICE_DROPIN,
  type SnapshotPolicy,
  sanoidPolicy,
} from '../day2/sanoid.ts';
import {
  BOOT_OK_UNIT,
  BOOT_OK_UNIT_TEXT,
  CONFIRM_UNIT,
  CONFIRM_UNIT_TEXT,
  PANIC_ARG,
} from '../day2/upgrade.ts';
import { isoMarker, LOGS, REPO, TARGET } from '../layout.ts';
import { type Props, zfs, zpool } from '../zfs/zfs.ts';
import { partition, targetDisks } from './disks.ts';

/** Everything besides the answers that decides the plan. Gathered in the live system, fixed in tests. */
export interface InstallFacts {
  /** Where the target is assembled (altroot). */
  root: string;
  kabi: string;
  suite: string;
  /** The target base image (squashfs) on the medium. */
  image: string;
  /** The kldload bundle to install on the target. */
  bundle: string;
  /** Directory copied to /root/darksite, when the medium has one. */
  payloadDir?: string;
  /** A postinstall.sh obtained from KLDLOAD_POSTINSTALL_URL/_B64 (not secret). */
  postinstall?: { source: string; content: string };
  /** A user-supplied ZFSBootMenu EFI binary on the medium. */
  zbm?: string;
  /** The postinstall framework (lib.sh, dispatch.sh) on the medium. */
  postinstallLib?: string;
  /** The signed APT repository (darksite) on the medium. */
  aptRepo?: string;
  /** The payload has roles/: first boot installs their packages from the darksite on the disk. */
  payloadRoles?: boolean;
  /** 8 hex digits, written once to /etc/hostid and baked into the initramfs. */
  hostid: string;
  /** Unique GUID of the ESP partition, so fstab can name it before it exists. */
  espGuid: string;
  /** UTC stamp for the factory snapshot, e.g. 20261122T031800Z. */
  stamp: string;
  /** EFI variables are writable in the live system (booted via UEFI). */
  efiVars: boolean;
  /** Kernel device behind the boot disk (efibootmgr wants the real node). */
  diskReal: string;
  /**
   * The disk picked at preflight when KLDLOAD_DISK is empty or absent (and no
   * KLDLOAD_ZFS_DATA_DISKS): the one eligible disk (see pickDisk). Unset in a dry run: the plan then
   * shows PICKED_DISK (src/plan/disks.ts) in its place.
   */
  pickedDisk?: string;
  /** Build id of the ISO (image.json): written on the pool after a good install, checked before a wipe. */
  isoBuild?: string;
  /** kldload.reinstall=1 on the kernel command line: a human allows wiping a disk this ISO installed. */
  reinstall?: boolean;
  /** console= arguments the live system booted with; the installed system keeps them. */
  console: string[];
  /** The installer log, copied to the target at the end. */
  logFile: string;
  secureBoot: boolean;
  tpm: boolean;
}

export const FIRSTBOOT_UNIT = `[Unit]
Description=kldload first boot: run ${TARGET.postinstall} once
Documentation=file://${TARGET.manifest}
After=network-online.target zfs-mount.service
Wants=network-online.target
ConditionPathExists=!${TARGET.firstbootDone}

[Service]
Type=oneshot
ExecStart=/usr/sbin/kldload firstboot run
RemainAfterExit=yes
TimeoutStartSec=infinity
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

/** The KLDLOAD_* facts of this install, for postinstallers; never a secret. */
export function manifest(a: Answers, f: InstallFacts): string {
  const lines: string[] = ['# Written by the kldload installer. Facts of this install; no secrets.'];
  // The disk actually used, also when it was picked at preflight.
  const effective: Answers = { ...a, KLDLOAD_DISK: targetDisks(a, f.pickedDisk).boot };
  for (const k of FIELD_KEYS) {
    const def = fieldDef(k);
    if (def.secret || def.noManifest) continue;
    const v = effective[k];
    if (v === undefined) continue;
    const s = Array.isArray(v)
      ? v.join(' ')
      : typeof v === 'boolean'
        ? v
          ? '1'
          : '0'
        : k === 'KLDLOAD_ESP_SIZE'
          ? `${v}M`
          : String(v);
    lines.push(formatEnvLine(k, s));
  }
  const facts: [string, string][] = [
    ['KLDLOAD_STORAGE_MODE', 'zfs'],
    ['KLDLOAD_KERNEL', f.kabi],
    ['KLDLOAD_HOSTID', f.hostid],
    ['KLDLOAD_FACTORY_SNAPSHOT', `${a.KLDLOAD_POOL_NAME}@install-${f.stamp}`],
    ['KLDLOAD_SECURE_BOOT', f.secureBoot ? '1' : '0'],
    ['KLDLOAD_TPM_PRESENT', f.tpm ? '1' : '0'],
    ['KLDLOAD_BOOTLOADER', f.zbm ? 'zfsbootmenu' : 'systemd-boot'],
  ];
  for (const [k, v] of facts) lines.push(formatEnvLine(k, v));
  return `${lines.join('\n')}\n`;
}

function networkUnit(a: Answers): string {
  const match = a.KLDLOAD_NET_IFACE === '*' ? 'Name=en* eth*' : `Name=${a.KLDLOAD_NET_IFACE}`;
  if (a.KLDLOAD_NET_METHOD === 'dhcp') return `[Match]\n${match}\n\n[Network]\nDHCP=yes\n`;
  return `[Match]\n${match}\n\n[Network]\nAddress=${a.KLDLOAD_NET_IP}\nGateway=${a.KLDLOAD_NET_GW}\n${(a.KLDLOAD_NET_DNS ?? []).map((d) => `DNS=${d}`).join('\n')}\n`;
}

/** The pool comment that marks a disk installed by an ISO: it lives in every ZFS label (zdb -l reads it). */

/**
 * Role settings from the answers, for first boot: the plain ones in role-settings.env (0640), the
 * secret ones in role-secrets.env (0600, root only; shown as <redacted> in every plan output).
 */
export function roleSettingsActions(R: string, settings: readonly RoleSettingValue[]): Action[] {
  const file = (secret: boolean) => {
    const lines = settings.filter((s) => s.secret === secret).map((s) => formatEnvLine(s.key, s.value));
    if (!lines.length) return [];
    const head = `# Written by the kldload installer: ${secret ? 'secret ' : ''}settings of the roles (from the answers).`;
    const content = `${head}\n${lines.join('\n')}\n`;
    const path = `${R}${secret ? TARGET.roleSecrets : TARGET.roleSettings}`;
    return [
      {
        kind: 'write',
        path,
        content,
        mode: secret ? 0o600 : 0o640,
        ...(secret ? { secret: true } : {}),
      } satisfies Action,
    ];
  };
  return [...file(false), ...file(true)];
}

const noSnap = { 'com.sun:auto-snapshot': 'false' };

/**
 * The dataset tree the installer makes (below the pool, in creation order) and how sanoid snapshots
 * each (src/day2/sanoid.ts): the datasets step and the sanoid policy are both made from this list.
 */
export const DATASETS: readonly { name: string; props: Props; snapshots: SnapshotPolicy }[] = [
  { name: 'ROOT', props: { canmount: 'off', mountpoint: 'none' }, snapshots: 'boot-environments' },
  { name: 'ROOT/default', props: { canmount: 'noauto', mountpoint: '/' }, snapshots: 'covered' },
  { name: 'home', props: { mountpoint: '/home' }, snapshots: 'data' },
  { name: 'root', props: { mountpoint: '/root' }, snapshots: 'data' },
  { name: 'srv', props: { mountpoint: '/srv' }, snapshots: 'data' },
  { name: 'var', props: { canmount: 'off', mountpoint: '/var' }, snapshots: 'covered' },
  { name: 'var/log', props: {}, snapshots: 'system' },
  { name: 'var/cache', props: noSnap, snapshots: 'none' },
  { name: 'var/tmp', props: noSnap, snapshots: 'none' },
  {
    name: 'tmp',
    props: { mountpoint: '/tmp', sync: 'disabled', exec: 'off', setuid: 'off', devices: 'off', ...noSnap },
    snapshots: 'none',
  },
];

/** answers + facts → the ordered install plan. Pure: no I/O. */
export function planInstall(
  answers: Answers,
  f: InstallFacts,
  settings: readonly RoleSettingValue[] = [],
): Plan {
  const target = targetDisks(answers, f.pickedDisk);
  // From here on the plan, the manifest included, names the boot disk actually used.
  const a = { ...answers, KLDLOAD_DISK: target.boot };
  const R = f.root;
  const pool = a.KLDLOAD_POOL_NAME;
  const disks = target.all;
  const esp = partition(target.boot, 1);
  const be = `${pool}/ROOT/default`;
  const user = a.KLDLOAD_USERNAME;
  const short = a.KLDLOAD_HOSTNAME.split('.')[0] ?? a.KLDLOAD_HOSTNAME;
  const fqdn = a.KLDLOAD_HOSTNAME;
  // panic=10 only with boot counting (systemd-boot, /etc/kernel/tries below): a failed initramfs then
  // resets and systemd-boot falls back; without counting it would only loop (docs/day2.md).
  const cmdline = [`root=ZFS=${be}`, 'boot=zfs', 'rw', ...(f.zbm ? [] : [PANIC_ARG]), ...f.console].join(' ');
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  const pick = {
    answers: '',
    'data-disks': `KLDLOAD_DISK is empty: the boot partition goes on ${target.boot}, the first of KLDLOAD_ZFS_DATA_DISKS; `,
    picked: `KLDLOAD_DISK is empty: ${target.boot} was picked at preflight as the one eligible disk; `,
    'pick-at-preflight': `KLDLOAD_DISK is empty: the one eligible disk is picked here (not the boot medium, not the seed volume, not in use; none or several: refused, listing the candidates) and stands for ${target.boot} below; `,
  }[target.source];
  const picking = target.source === 'picked' || target.source === 'pick-at-preflight';
  step(
    'preflight',
    `${picking ? 'pick the target disk, ' : ''}refuse unsafe targets before the first write`,
    [
      {
        kind: 'check',
        check: 'uefi',
        args: {},
        why: 'the machine booted via UEFI: the installed system boots only that way (no legacy BIOS path)',
      },
      { kind: 'check', check: 'zfs-loads', args: {}, why: 'the zfs module loads in the live system' },
      {
        kind: 'check',
        check: 'disk-safe',
        args: {
          disks,
          forceWipe: a.KLDLOAD_FORCE_WIPE,
          pool,
          ...(f.isoBuild ? { isoBuild: f.isoBuild, reinstall: !!f.reinstall } : {}),
        },
        why: `${pick}each disk exists, is not the boot medium or the answers volume, nothing on it is in use (whole holder chain), no other pool is imported as ${pool}, this ISO did not install it already (unless kldload.reinstall=1), and it is empty unless KLDLOAD_FORCE_WIPE=1`,
      },
    ],
  );

  if (a.KLDLOAD_FORCE_WIPE)
    step('wipe', 'erase partition tables, filesystem signatures and ZFS labels (KLDLOAD_FORCE_WIPE=1)', [
      // Preflight let an imported pool of this name through only if it lives on these disks.
      run(zpool.destroy(pool), { unless: ['sh', '-c', `! ${zpool.exists(pool).join(' ')} >/dev/null 2>&1`] }),
      ...disks.flatMap((d) => [
        run(zpool.labelclear(partition(d, 2)), { mayFail: true }),
        run(['wipefs', '--all', '--force', d]),
        run(['sgdisk', '--zap-all', d]),
      ]),
    ]);

  step('partition', `GPT: ${a.KLDLOAD_ESP_SIZE} MiB ESP (FAT32) + ZFS on each disk`, [
    ...disks.flatMap((d, i) => [
      run([
        'sgdisk',
        `-n1:1M:+${a.KLDLOAD_ESP_SIZE}M`,
        '-t1:EF00',
        `-c1:EFI${i ? i : ''}`,
        ...(i === 0 ? [`-u1:${f.espGuid}`] : []),
        '-n2:0:0',
        '-t2:BF00',
        `-c2:${pool}${i ? i : ''}`,
        d,
      ]),
    ]),
    run(['udevadm', 'settle', '--timeout=30']),
    ...disks.map((d) => run(['mkfs.vfat', '-F', '32', '-n', 'EFI', partition(d, 1)])),
  ]);

  const enc: Record<string, string> = a.KLDLOAD_ZFS_ENCRYPT
    ? { encryption: 'aes-256-gcm', keyformat: 'passphrase', keylocation: 'prompt' }
    : {};
  step('pool', `create ${pool} (${a.KLDLOAD_ZFS_TOPOLOGY}${a.KLDLOAD_ZFS_ENCRYPT ? ', encrypted' : ''})`, [
    run(
      zpool.create(pool, target.vdevs, {
        poolProps: { ashift: a.KLDLOAD_ZFS_ASHIFT, autotrim: 'on', cachefile: '/etc/zfs/zpool.cache' },
        fsProps: {
          compression: 'lz4',
          acltype: 'posixacl',
          xattr: 'sa',
          relatime: 'on',
          dnodesize: 'auto',
          normalization: 'formD',
          canmount: 'off',
          mountpoint: 'none',
          ...enc,
        },
        altroot: R,
        force: true,
      }),
      {
        unless: zpool.exists(pool),
        ...(a.KLDLOAD_ZFS_ENCRYPT ? { input: `${a.KLDLOAD_ZFS_PASSPHRASE}\n`, secretInput: true } : {}),
      },
    ),
  ]);

  step('datasets', 'root boot environment and the dataset tree', [
    ...DATASETS.flatMap((d) => [
      run(zfs.create(`${pool}/${d.name}`, d.props), { unless: zfs.exists(`${pool}/${d.name}`) }),
      // The root is mounted before the rest, which mount below it.
      ...(d.name === 'ROOT/default'
        ? [run(zfs.mount(be), { unless: ['mountpoint', '-q', R] }), run(zpool.set(pool, 'bootfs', be))]
        : []),
    ]),
  ]);

  step('base-os', `unpack the ${f.suite} base image (offline, from the medium)`, [
    run(['unsquashfs', '-f', '-n', '-d', R, f.image]),
    run(['chmod', '1777', `${R}/tmp`, `${R}/var/tmp`]),
    run(['chmod', '0700', `${R}/root`]),
  ]);

  step('chroot-mounts', 'ESP and kernel filesystems for the chroot (plain mounts: rbind blocks export)', [
    { kind: 'mkdir', path: `${R}/boot/efi` },
    run(['mount', '-t', 'vfat', '-o', 'umask=0077', esp, `${R}/boot/efi`], {
      unless: ['mountpoint', '-q', `${R}/boot/efi`],
    }),
    run(['mount', '-t', 'proc', 'proc', `${R}/proc`], { unless: ['mountpoint', '-q', `${R}/proc`] }),
    run(['mount', '-t', 'sysfs', 'sysfs', `${R}/sys`], { unless: ['mountpoint', '-q', `${R}/sys`] }),
    run(['mount', '--bind', '/dev', `${R}/dev`], { unless: ['mountpoint', '-q', `${R}/dev`] }),
    run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', `${R}/run`], {
      unless: ['mountpoint', '-q', `${R}/run`],
    }),
  ]);

  const localeGen =
    a.KLDLOAD_LOCALE === 'C.UTF-8'
      ? []
      : [
          write(
            `${R}/etc/locale.gen`,
            `${a.KLDLOAD_LOCALE} ${a.KLDLOAD_LOCALE.includes('.UTF-8') ? 'UTF-8' : 'ISO-8859-1'}\n`,
          ),
          inTarget(['locale-gen']),
        ];
  step('system', 'hostname, hosts, locale, time zone, keyboard, machine-id, ssh host keys', [
    write(`${R}/etc/hostname`, `${short}\n`),
    write(
      `${R}/etc/hosts`,
      `127.0.0.1\tlocalhost\n127.0.1.1\t${fqdn === short ? short : `${fqdn} ${short}`}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
    ),
    ...localeGen,
    write(`${R}/etc/default/locale`, `LANG=${a.KLDLOAD_LOCALE}\n`),
    inTarget(['ln', '-sfn', `/usr/share/zoneinfo/${a.KLDLOAD_TIMEZONE}`, '/etc/localtime']),
    write(`${R}/etc/timezone`, `${a.KLDLOAD_TIMEZONE}\n`),
    write(
      `${R}/etc/default/keyboard`,
      `XKBMODEL="pc105"\nXKBLAYOUT="${a.KLDLOAD_KEYBOARD_LAYOUT}"\nXKBVARIANT="${a.KLDLOAD_KEYBOARD_VARIANT ?? ''}"\nXKBOPTIONS=""\nBACKSPACE="guess"\n`,
    ),
    ...(a.KLDLOAD_DEBIAN_BACKPORTS
      ? [
          write(
            `${R}/etc/apt/sources.list.d/debian-backports.sources`,
            aptSourceStanza({
              uri: 'http://deb.debian.org/debian',
              suites: [`${f.suite}-backports`],
              components: ['main', 'contrib', 'non-free-firmware'],
              signedBy: DEBIAN_KEYRING,
            }),
          ),
        ]
      : []),
    run(['systemd-machine-id-setup', `--root=${R}`], { unless: ['test', '-s', `${R}/etc/machine-id`] }),
    inTarget(['ssh-keygen', '-A']),
  ]);

  const pw: Action[] = [];
  if (a.KLDLOAD_PASSWORD !== undefined)
    pw.push(inTarget(['chpasswd'], { input: `${user}:${a.KLDLOAD_PASSWORD}\n`, secretInput: true }));
  if (a.KLDLOAD_PASSWORD_HASH !== undefined)
    pw.push(
      inTarget(['chpasswd', '-e'], { input: `${user}:${a.KLDLOAD_PASSWORD_HASH}\n`, secretInput: true }),
    );
  if (a.KLDLOAD_ROOT_PASSWORD !== undefined)
    pw.push(inTarget(['chpasswd'], { input: `root:${a.KLDLOAD_ROOT_PASSWORD}\n`, secretInput: true }));
  else pw.push(inTarget(['passwd', '--lock', 'root']));
  const adminKeys = [
    ...(a.KLDLOAD_SSH_PUBKEY ? [a.KLDLOAD_SSH_PUBKEY] : []),
    ...(a.KLDLOAD_ADMIN_SSH_KEYS ?? []),
  ];
  const keys: Action[] = adminKeys.length
    ? [
        { kind: 'mkdir', path: `${R}/home/${user}/.ssh`, mode: 0o700 },
        write(`${R}/home/${user}/.ssh/authorized_keys`, `${adminKeys.join('\n')}\n`, 0o600),
        inTarget(['chown', '-R', `${user}:${user}`, `/home/${user}/.ssh`]),
      ]
    : [];
  if (a.KLDLOAD_ADMIN_SSH_PUBKEY)
    keys.push(
      { kind: 'mkdir', path: `${R}/root/.ssh`, mode: 0o700 },
      write(`${R}/root/.ssh/authorized_keys`, `${a.KLDLOAD_ADMIN_SSH_PUBKEY}\n`, 0o600),
    );
  step(
    'users',
    `administrator ${user} (sudo), root ${a.KLDLOAD_ROOT_PASSWORD !== undefined ? 'password' : 'locked'}`,
    [
      inTarget(['useradd', '--create-home', '--shell', '/bin/bash', '--groups', 'sudo', user], {
        unless: ['chroot', R, 'id', '-u', user],
      }),
      ...pw,
      ...keys,
    ],
  );

  step('network', `${a.KLDLOAD_NET_METHOD} via systemd-networkd`, [
    write(`${R}/etc/systemd/network/20-kldload.network`, networkUnit(a)),
    // Wait for one link, not all: a second unplugged NIC must not fail network-online for 2 minutes.
    write(
      `${R}/etc/systemd/system/systemd-networkd-wait-online.service.d/kldload.conf`,
      '[Service]\nExecStart=\nExecStart=/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=60\n',
    ),
    inTarget(['systemctl', 'enable', 'systemd-networkd.service', 'systemd-resolved.service', 'ssh.service']),
  ]);

  const extra = a.KLDLOAD_EXTRA_PACKAGES ?? [];
  if ((extra.length || a.KLDLOAD_KEEP_DARKSITE) && !f.aptRepo)
    throw new KldloadError(
      'KLDLOAD_EXTRA_PACKAGES / KLDLOAD_KEEP_DARKSITE need the darksite, and this medium has none',
      EXIT.badInput,
    );
  if (extra.length && f.aptRepo) {
    // apt in the chroot sees only the darksite, through signed-by: offline, and verified like any mirror.
    const inRepo = '/run/kldload-apt';
    const list = '/run/kldload-apt.list';
    // An empty parts folder: the target's own sources.list.d must not be consulted (no network).
    const parts = '/run/kldload-apt.d';
    const aptOpts = [
      '-o',
      `Dir::Etc::SourceList=${list}`,
      '-o',
      `Dir::Etc::SourceParts=${parts}`,
      '-o',
      'APT::Get::List-Cleanup=0',
    ];
    step('packages', `install ${extra.join(' ')} from the signed darksite on the medium (offline)`, [
      { kind: 'mkdir', path: `${R}${inRepo}` },
      { kind: 'mkdir', path: `${R}${parts}` },
      run(['mount', '-o', 'bind,ro', f.aptRepo, `${R}${inRepo}`], {
        unless: ['mountpoint', '-q', `${R}${inRepo}`],
      }),
      write(
        `${R}${list}`,
        `${aptSourceLine({ uri: `file:${inRepo}`, suite: f.suite, components: [REPO.component], signedBy: `${inRepo}/${REPO.keyring}` })}\n`,
      ),
      inTarget(['apt-get', ...aptOpts, 'update']),
      inTarget(['apt-get', ...aptOpts, 'install', '-y', '--no-install-recommends', ...extra]),
      run(['find', `${R}/var/lib/apt/lists`, '-maxdepth', '1', '-name', '_run_kldload-apt_*', '-delete']),
      run(['umount', `${R}${inRepo}`]),
    ]);
  }
  if ((a.KLDLOAD_KEEP_DARKSITE || f.payloadRoles) && f.aptRepo) {
    const keep = a.KLDLOAD_KEEP_DARKSITE;
    step(
      'darksite-target',
      keep
        ? `keep the darksite at ${REPO.targetDir} as an apt source (KLDLOAD_KEEP_DARKSITE=1)`
        : `the darksite at ${REPO.targetDir} for the first-boot roles (removed after they succeed)`,
      [
        { kind: 'mkdir', path: `${R}${REPO.targetDir}` },
        { kind: 'copy', from: f.aptRepo, to: `${R}${REPO.targetDir}` },
        { kind: 'copy', from: `${f.aptRepo}/${REPO.keyring}`, to: `${R}${REPO.targetKeyring}` },
        // What lib.sh's pkg_install uses on first boot: the darksite alone, no network.
        write(
          `${R}${REPO.firstbootList}`,
          `${aptSourceLine({ uri: `file:${REPO.targetDir}`, suite: f.suite, components: [REPO.component], signedBy: REPO.targetKeyring })}\n`,
        ),
        ...(keep
          ? [
              write(
                `${R}/etc/apt/sources.list.d/kldload-darksite.sources`,
                aptSourceStanza({
                  uri: `file:${REPO.targetDir}`,
                  suites: [f.suite],
                  components: [REPO.component],
                  signedBy: REPO.targetKeyring,
                }),
              ),
            ]
          : []),
      ],
    );
  }

  step('hostid', 'hostid written once; the initramfs gets the same file', [
    run(['zgenhostid', '-f', '-o', `${R}/etc/hostid`, `0x${f.hostid}`], {
      unless: ['test', '-s', `${R}/etc/hostid`],
    }),
  ]);

  step('zpool-cache', 'zpool.cache for a fast, predictable import at boot', [
    { kind: 'mkdir', path: `${R}/etc/zfs` },
    { kind: 'copy', from: '/etc/zfs/zpool.cache', to: `${R}/etc/zfs/zpool.cache` },
  ]);

  const initrd = `${R}/boot/initrd.img-${f.kabi}`;
  step('initramfs', `initramfs for ${f.kabi} with ZFS, plus this machine's hostid and zpool.cache`, [
    // The image ships an initrd built at build time without a hostid; make one only if it is missing.
    inTarget(['update-initramfs', '-c', '-k', f.kabi], { unless: ['test', '-e', initrd] }),
    {
      kind: 'initrd-early',
      initrd,
      files: { 'etc/hostid': `${R}/etc/hostid`, 'etc/zfs/zpool.cache': `${R}/etc/zfs/zpool.cache` },
    },
  ]);

  const boot: Action[] = [write(`${R}/etc/kernel/cmdline`, `${cmdline}\n`)];
  if (f.zbm) {
    boot.push(
      { kind: 'mkdir', path: `${R}/boot/efi/EFI/ZBM` },
      { kind: 'copy', from: f.zbm, to: `${R}/boot/efi/EFI/ZBM/zfsbootmenu.efi` },
      { kind: 'mkdir', path: `${R}/boot/efi/EFI/BOOT` },
      { kind: 'copy', from: f.zbm, to: `${R}/boot/efi/EFI/BOOT/BOOTX64.EFI` },
      run(zfs.set(`${pool}/ROOT`, { 'org.zfsbootmenu:commandline': ['rw', ...f.console].join(' ') })),
    );
  } else {
    boot.push(
      // Boot counting: kernel-install names every entry …+3.conf; systemd-bless-boot (systemd-boot
      // package) marks it good once kldload-boot-ok.service saw multi-user.target.
      write(`${R}/etc/kernel/tries`, `${BOOT_TRIES}\n`),
      inTarget(['bootctl', 'install', '--esp-path=/boot/efi', '--no-variables', '--graceful'], {
        unless: ['chroot', R, 'bootctl', '--esp-path=/boot/efi', 'is-installed'],
      }),
      write(
        `${R}/boot/efi/loader/loader.conf`,
        `timeout ${a.KLDLOAD_ZBM_TIMEOUT === '-1' ? 'menu-force' : a.KLDLOAD_ZBM_TIMEOUT}\neditor no\n`,
      ),
      inTarget(['kernel-install', 'add', f.kabi, `/boot/vmlinuz-${f.kabi}`, `/boot/initrd.img-${f.kabi}`]),
    );
  }
  if (f.efiVars) {
    const label = f.zbm ? 'kldload (ZFSBootMenu)' : 'kldload';
    const loader = f.zbm ? '\\EFI\\ZBM\\zfsbootmenu.efi' : '\\EFI\\systemd\\systemd-bootx64.efi';
    boot.push(
      run(
        [
          'efibootmgr',
          '--quiet',
          '--create',
          '--disk',
          f.diskReal,
          '--part',
          '1',
          '--label',
          label,
          '--loader',
          loader,
        ],
        {
          unless: ['sh', '-c', `efibootmgr | grep -qF '${label}'`],
        },
      ),
    );
  }
  step(
    'bootloader',
    f.zbm
      ? 'ZFSBootMenu (user-supplied) on the ESP + fallback path'
      : 'systemd-boot on the ESP, kernel + initrd, fallback \\EFI\\BOOT\\BOOTX64.EFI',
    boot,
  );

  step('fstab-services', 'fstab holds only the ESP; ZFS mounts itself', [
    write(
      `${R}/etc/fstab`,
      // nofail: a missing ESP never stops the boot; the device timeout (default 90 s) is long because
      // a loaded, emulated machine was seen to bring the disk's device later than that.
      `# ZFS datasets are mounted by zfs-mount.service, not fstab.\nPARTUUID=${f.espGuid}\t/boot/efi\tvfat\tumask=0077,nofail,x-systemd.device-timeout=10min\t0\t1\n`,
    ),
    inTarget([
      'systemctl',
      'enable',
      'zfs-import-cache.service',
      'zfs-mount.service',
      'zfs-import.target',
      'zfs.target',
      'zfs-zed.service',
    ]),
  ]);

  step(
    'kldload-tools',
    'the kldload bundle (run by Debian nodejs), kbe, ksnap, kpkg and kupgrade, the APT snapshot hook, the upgrade-confirm and boot-ok units, and the postinstall library',
    [
      { kind: 'mkdir', path: `${R}${TARGET.libDir}` },
      { kind: 'copy', from: f.bundle, to: `${R}${TARGET.bundle}` },
      write(`${R}/usr/sbin/kldload`, `#!/bin/sh\nexec /usr/bin/node ${TARGET.bundle} "$@"\n`, 0o755),
      // The seed's short names: thin wrappers, one implementation.
      ...Object.entries({
        kbe: 'be',
        ksnap: 'snap',
        kpkg: 'pkg',
        kupgrade: 'upgrade',
        kst: 'st',
        kclone: 'clone',
        kexport: 'export',
      }).map(([short, sub]) =>
        write(`${R}/usr/sbin/${short}`, `#!/bin/sh\nexec /usr/sbin/kldload ${sub} "$@"\n`, 0o755),
      ),
      // Plain apt gets kpkg's snapshot; written after the install's own apt runs (and a chroot
      // without a booted BE makes the hook a no-op anyway).
      write(`${R}${APT_HOOK_CONF}`, APT_HOOK),
      // kupgrade's BE becomes the default after a boot that reached multi-user; a boot-counted entry
      // is good only from multi-user on.
      write(`${R}/etc/systemd/system/${CONFIRM_UNIT}`, CONFIRM_UNIT_TEXT),
      write(`${R}/etc/systemd/system/${BOOT_OK_UNIT}`, BOOT_OK_UNIT_TEXT),
      inTarget(['systemctl', 'enable', CONFIRM_UNIT, BOOT_OK_UNIT]),
      ...(f.postinstallLib
        ? [{ kind: 'copy', from: f.postinstallLib, to: `${R}${TARGET.postinstallLib}` } satisfies Action]
        : []),
    ],
  );

  step(
    'sanoid',
    `automatic snapshots: sanoid's policy for the dataset tree (${SANOID_BASE}), composed with what roles add`,
    [
      { kind: 'mkdir', path: `${R}${SANOID_DIR}` },
      write(`${R}${SANOID_BASE}`, sanoidPolicy(pool, DATASETS)),
      write(`${R}${SANOID_COMPOSE_PATH}`, SANOID_COMPOSE, 0o755),
      write(`${R}${SANOID_SERVICE_DROPIN}`, SANOID_SERVICE_CONF),
      // Composed now as well: sanoid.service runs only when sanoid.conf is not empty
      // (ConditionFileNotEmpty is checked before ExecStartPre could write it).
      inTarget([SANOID_COMPOSE_PATH]),
      // The server and desktop profiles carry sanoid; core does not (kpkg install sanoid later finds
      // the policy ready, and its package enables the timer).
      inTarget(['systemctl', 'enable', 'sanoid.timer'], {
        unless: ['sh', '-c', `! test -e ${R}/usr/sbin/sanoid`],
      }),
    ],
  );

  step('manifest', `${TARGET.manifest} (no secrets, mode 0640)`, [
    { kind: 'mkdir', path: `${R}${TARGET.configDir}` },
    write(`${R}${TARGET.manifest}`, manifest(a, f), 0o640),
  ]);
  if (settings.length)
    step('role-settings', 'settings of the roles for first boot; secrets in a root-only file', [
      ...roleSettingsActions(R, settings),
    ]);

  const payload: Action[] = [{ kind: 'mkdir', path: `${R}${TARGET.payload}`, mode: 0o700 }];
  if (f.payloadDir) payload.push({ kind: 'copy', from: f.payloadDir, to: `${R}${TARGET.payload}` });
  if (f.postinstall) payload.push(write(`${R}${TARGET.postinstall}`, f.postinstall.content, 0o755));
  step(
    'payload',
    f.postinstall
      ? `${TARGET.payload} + postinstall.sh from ${f.postinstall.source}`
      : `${TARGET.payload} payload`,
    payload,
  );

  step('firstboot', 'kldload-firstboot.service runs postinstall.sh once on the first boot', [
    write(`${R}/etc/systemd/system/kldload-firstboot.service`, FIRSTBOOT_UNIT),
    inTarget(['systemctl', 'enable', 'kldload-firstboot.service']),
  ]);

  step('snapshot', `factory snapshot ${pool}@install-${f.stamp}`, [
    { kind: 'mkdir', path: `${R}${LOGS.dir}` },
    { kind: 'copy', from: f.logFile, to: `${R}${LOGS.installer}` },
    run(zfs.snapshot(`${pool}@install-${f.stamp}`), { unless: zfs.exists(`${pool}@install-${f.stamp}`) }),
  ]);

  const unmounts = ['boot/efi', 'run', 'dev', 'sys', 'proc'].map((m) =>
    run(['umount', `${R}/${m}`], { unless: ['sh', '-c', `! mountpoint -q ${R}/${m}`] }),
  );
  step('export', 'unmount everything and export the pool for a clean first import', [
    ...unmounts,
    // Marks the disk as installed by this ISO, so an ISO left attached does not wipe it on the next boot.
    ...(f.isoBuild ? [run(zpool.set(pool, 'comment', isoMarker(f.isoBuild)))] : []),
    run(zpool.export(pool)),
  ]);

  return {
    facts: { ...f, disks, answersPool: pool },
    steps,
    cleanup: [
      ...['boot/efi', 'run', 'dev', 'sys', 'proc'].map((m) =>
        run(['umount', '-l', `${R}/${m}`], { mayFail: true }),
      ),
      run(zpool.destroy(pool), { mayFail: true }),
      ...disks.flatMap((d) => [
        run(['wipefs', '--all', '--force', d], { mayFail: true }),
        run(['sgdisk', '--zap-all', d], { mayFail: true }),
      ]),
    ],
  };
}

/** Cleanup only runs once a step at or after this one began: before it, nothing was written. */
export const FIRST_WRITING_STEP = new Set(['wipe', 'partition']);
