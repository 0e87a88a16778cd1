/** The install's system steps: the base image, the chroot mounts, system settings, users and network. */
import { aptSourceStanza, DEBIAN_KEYRING } from '../core/debian.ts';
import { type Action, inTarget, run, type Step, write } from '../core/plan.ts';
import { REIDENTIFY_MARKER } from '../layout.ts';
import { partition } from './disks.ts';
import { type InstallContext, networkUnit } from './install.ts';

/** base-os, chroot-mounts, system, users and network, in that order. */
export function systemSteps({ a, f, target, R }: InstallContext): Step[] {
  const esp = partition(target.boot, 1);
  const user = a.KLDLOAD_USERNAME;
  const short = a.KLDLOAD_HOSTNAME.split('.')[0] ?? a.KLDLOAD_HOSTNAME;
  const fqdn = a.KLDLOAD_HOSTNAME;
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  step(
    'base-os',
    f.golden
      ? `nothing to unpack: the golden image ${f.golden.manifest.name} was received (datasets)`
      : `unpack the ${f.suite} base image (offline, from the medium)`,
    [
      ...(f.golden ? [] : [run(['unsquashfs', '-f', '-n', '-d', R, f.image])]),
      run(['chmod', '1777', `${R}/tmp`, `${R}/var/tmp`]),
      run(['chmod', '0700', `${R}/root`]),
    ],
  );

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
    // A golden image was sealed to renew its identity on its first boot; this install just made it.
    ...(f.golden ? [run(['rm', '-f', `${R}${REIDENTIFY_MARKER}`])] : []),
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
      // A golden image may carry the user already, but never the home folders (an empty /home):
      // made from /etc/skel and owned by the user, before the keys go in (sshd reads them as the user).
      ...(f.golden
        ? [
            inTarget(['usermod', '--append', '--groups', 'sudo', user]),
            inTarget(['mkhomedir_helper', user], { unless: ['test', '-d', `${R}/home/${user}`] }),
          ]
        : []),
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
  return steps;
}
