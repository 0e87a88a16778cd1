import { z } from 'zod';
import { DEFAULT_PROFILE, DEFAULT_SUITE, PROFILES, quotedChoices, SUITES } from '../core/debian.ts';
import {
  b64,
  bool,
  cryptHash,
  devPath,
  diskList,
  dnsList,
  espSize,
  hostname,
  ip,
  ipMaybeCidr,
  locale,
  poolName,
  sshKey,
  sshKeys,
  timezone,
  url,
  username,
} from './validators.ts';

/**
 * The answers schema: the single source of truth for every KLDLOAD_* variable — its validation,
 * default, whether it is a secret (never logged, never in the manifest), and its help text.
 * The CLI validator, the installer, the manifest writer and (later) the web UI all read this table.
 *
 * FIELDS is one table on purpose: the Answers type is derived from it field by field, and each
 * field's validator, default, secrecy and help stay side by side, read together by every consumer.
 * The validators themselves are in validators.ts.
 */
export interface FieldDef {
  schema: z.ZodType<unknown, string>;
  help: string;
  default?: string;
  required?: boolean;
  secret?: boolean;
  /** Not copied into /etc/kldload/install-manifest.env (secrets never are). */
  noManifest?: boolean;
}

export const FIELDS = {
  KLDLOAD_DISTRO: {
    schema: z.enum(['debian'], { error: "must be 'debian' (the only distribution this build installs)" }),
    default: 'debian',
    help: 'Distribution to install.',
  },
  KLDLOAD_DEBIAN_SUITE: {
    schema: z.enum(SUITES, { error: `must be ${quotedChoices(SUITES)}` }),
    default: DEFAULT_SUITE,
    help: 'Debian release.',
  },
  KLDLOAD_SUITE: {
    schema: z.enum(SUITES, { error: `must be ${quotedChoices(SUITES)}` }),
    noManifest: true,
    help: "The original kldload's name for KLDLOAD_DEBIAN_SUITE; both must agree when both are set.",
  },
  KLDLOAD_ENABLE_ZFS: {
    schema: z.enum(['1'], { error: 'must be 1: this installer always puts the root on ZFS' }),
    noManifest: true,
    help: "The original kldload's switch for ZFS on root; always 1 here.",
  },
  KLDLOAD_STORAGE_MODE: {
    schema: z.enum(['zfs'], { error: "must be 'zfs': this installer always puts the root on ZFS" }),
    noManifest: true,
    help: "The original kldload's storage mode; always zfs here (the manifest records it).",
  },
  KLDLOAD_PROFILE: {
    schema: z.enum(PROFILES, { error: `must be ${quotedChoices(PROFILES)}` }),
    default: DEFAULT_PROFILE,
    help: 'Package profile.',
  },
  KLDLOAD_HOSTNAME: {
    schema: hostname,
    required: true,
    help: 'Host name (RFC 1123); a dotted name sets the domain too.',
  },
  KLDLOAD_DISK: {
    schema: devPath,
    help: 'Target disk, e.g. /dev/vda or /dev/disk/by-id/… (it carries the boot partition). Empty or absent: the installer picks the one eligible disk at preflight (not the boot medium, not the seed volume, not in use, empty unless KLDLOAD_FORCE_WIPE=1) and refuses when there are none or several.',
  },
  KLDLOAD_USERNAME: { schema: username, default: 'admin', help: 'Administrator account (sudo).' },
  KLDLOAD_PASSWORD: {
    schema: z.string().min(1, { error: 'must not be empty' }),
    secret: true,
    help: 'Administrator password (hashed at install).',
  },
  KLDLOAD_PASSWORD_HASH: {
    schema: cryptHash,
    secret: true,
    help: 'Administrator password as a crypt(3) hash.',
  },
  KLDLOAD_ROOT_PASSWORD: {
    schema: z.string().min(1, { error: 'must not be empty' }),
    secret: true,
    help: 'root password; when unset root is locked.',
  },
  KLDLOAD_SSH_PUBKEY: { schema: sshKey, help: "Public key for the administrator's authorized_keys." },
  KLDLOAD_ADMIN_SSH_KEYS: {
    schema: sshKeys,
    help: "Public keys for the administrator's authorized_keys, one after another on the line (the original kldload's key; adds to KLDLOAD_SSH_PUBKEY).",
  },
  KLDLOAD_ADMIN_SSH_PUBKEY: {
    schema: sshKey,
    help: "Public key for root's authorized_keys (the original kldload's meaning: root, not the administrator).",
  },
  KLDLOAD_TIMEZONE: { schema: timezone, default: 'UTC', help: 'IANA time zone.' },
  KLDLOAD_LOCALE: { schema: locale, default: 'en_US.UTF-8', help: 'System locale.' },
  KLDLOAD_KEYBOARD_LAYOUT: {
    schema: z
      .string()
      .regex(/^[a-z]{2,8}(,[a-z]{2,8})*$/, { error: 'must be an XKB layout such as us, de or fr' }),
    default: 'us',
    help: 'Console keyboard layout.',
  },
  KLDLOAD_KEYBOARD_VARIANT: {
    schema: z.string().regex(/^[a-z0-9_-]*(,[a-z0-9_-]*)*$/, {
      error: 'must be an XKB variant such as dvorak, nodeadkeys or intl',
    }),
    help: 'Keyboard variant (XKBVARIANT), e.g. dvorak.',
  },
  KLDLOAD_DOMAIN: {
    schema: hostname,
    help: 'The name services on this machine advertise in links (the original kldload: Grafana); in the manifest for postinstallers.',
  },
  KLDLOAD_NET_METHOD: {
    schema: z.enum(['dhcp', 'static'], { error: "must be 'dhcp' or 'static'" }),
    default: 'dhcp',
    help: 'Network configuration.',
  },
  KLDLOAD_NET_IFACE: {
    schema: z.string().regex(/^[a-zA-Z0-9_.:-]{1,15}$|^\*$/, {
      error: "must be an interface name (max 15 characters) or '*' for every Ethernet interface",
    }),
    default: '*',
    help: 'Interface to configure.',
  },
  KLDLOAD_NET_IP: {
    schema: ipMaybeCidr,
    help: 'Static address with prefix, e.g. 10.0.0.50/24 (or the address alone with KLDLOAD_NET_PREFIX).',
  },
  KLDLOAD_NET_PREFIX: {
    schema: z.string().regex(/^(0|[1-9]\d{0,2})$/, {
      error: 'must be a prefix length such as 24 (0-32 for IPv4, 0-128 for IPv6)',
    }),
    noManifest: true,
    help: 'Prefix length of KLDLOAD_NET_IP when it is written without one (the original kldload keeps them apart).',
  },
  KLDLOAD_NET_GW: { schema: ip, help: 'Static default gateway.' },
  KLDLOAD_NET_DNS: { schema: dnsList, help: 'Static DNS servers.' },
  KLDLOAD_POOL_NAME: { schema: poolName, default: 'rpool', help: 'Root pool name.' },
  KLDLOAD_ZFS_POOL: {
    schema: poolName,
    noManifest: true,
    help: "The original kldload's name of the encryption root; it always created rpool. Here the pool (and its encryption root) is KLDLOAD_POOL_NAME: a different value is refused.",
  },
  KLDLOAD_ZFS_TOPOLOGY: {
    schema: z.enum(['single', 'mirror', 'raidz1', 'raidz2', 'mirror-stripe'], {
      error: "must be 'single', 'mirror', 'raidz1', 'raidz2' or 'mirror-stripe'",
    }),
    default: 'single',
    help: 'Pool layout. single: KLDLOAD_DISK. Otherwise the pool is on KLDLOAD_ZFS_DATA_DISKS (mirror-stripe: mirrored pairs).',
  },
  KLDLOAD_ZFS_DATA_DISKS: {
    schema: diskList,
    help: "The pool's disks for mirror, raidz and mirror-stripe, space separated, KLDLOAD_DISK among them (every one gets a boot partition).",
  },
  KLDLOAD_ZFS_ASHIFT: {
    schema: z.enum(['9', '10', '11', '12', '13', '14', '15', '16'], {
      error: 'must be a whole number from 9 to 16 (12 = 4 KiB sectors)',
    }),
    default: '12',
    help: 'Pool ashift (log2 of the sector size).',
  },
  KLDLOAD_ZFS_ENCRYPT: {
    schema: bool,
    default: '0',
    help: 'Native ZFS encryption of the pool (passphrase at boot).',
  },
  KLDLOAD_ZFS_PASSPHRASE: {
    schema: z
      .string()
      .min(8, { error: 'must be at least 8 characters (a ZFS requirement)' })
      .max(512, { error: 'must be at most 512 characters' }),
    secret: true,
    help: 'Encryption passphrase.',
  },
  KLDLOAD_ESP_SIZE: { schema: espSize, default: '512M', help: 'EFI system partition size.' },
  KLDLOAD_ZBM_TIMEOUT: {
    schema: z.string().regex(/^(-1|0|[1-9]\d{0,2})$/, {
      error: 'must be seconds (0-999), 0 for no menu or -1 to wait for a key',
    }),
    default: '3',
    help: 'Boot menu timeout in seconds; 0 = no menu, -1 = wait for a key (systemd-boot; a supplied ZFSBootMenu keeps its own).',
  },
  KLDLOAD_DEBIAN_BACKPORTS: {
    schema: bool,
    default: '1',
    help: "1 = <suite>-backports in the installed system's apt sources (apt installs from it only when asked).",
  },
  KLDLOAD_FORCE_WIPE: { schema: bool, default: '0', help: '1 = erase a disk that is not empty.' },
  KLDLOAD_KEEP_DARKSITE: {
    schema: bool,
    default: '0',
    help: '1 = keep the offline package repository on the target.',
  },
  KLDLOAD_INFRA_MODE: {
    schema: z.enum(['standalone', 'cluster'], { error: "must be 'standalone' or 'cluster'" }),
    default: 'standalone',
    help: 'Role in an infrastructure.',
  },
  KLDLOAD_CLUSTER_DOMAIN: { schema: hostname, default: 'infra.local', help: 'Cluster DNS domain.' },
  KLDLOAD_POSTINSTALL_URL: {
    schema: url,
    // A URL often carries a token (?token=…): it is kept out of logs, plans and the manifest.
    secret: true,
    noManifest: true,
    help: 'Postinstaller fetched at install time into /root/darksite/postinstall.sh; https://, or http:// with KLDLOAD_POSTINSTALL_SHA256.',
  },
  KLDLOAD_POSTINSTALL_SHA256: {
    schema: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be 64 hex digits (sha256sum postinstall.sh)' })
      .transform((v) => v.toLowerCase()),
    help: 'SHA-256 the fetched postinstaller must have; required for an http:// KLDLOAD_POSTINSTALL_URL.',
  },
  KLDLOAD_POSTINSTALL_B64: { schema: b64, noManifest: true, help: 'Postinstaller embedded as base64.' },
  KLDLOAD_EXTRA_PACKAGES: {
    schema: z
      .string()
      .refine(
        (v) =>
          v
            .split(/[ ,]+/)
            .filter(Boolean)
            .every((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n)),
        {
          error:
            'must be Debian package names separated by spaces (lowercase a-z 0-9 + - .), each on the ISO darksite',
        },
      )
      .transform((v) => v.split(/[ ,]+/).filter(Boolean)),
    help: 'Packages installed at install time from the darksite on the ISO (build with --packages to add them).',
  },
  KLDLOAD_NO_AUTO_REBOOT: {
    schema: bool,
    default: '0',
    help: '1 = stay up after install instead of powering off.',
  },
} satisfies Record<string, FieldDef>;

export type FieldKey = keyof typeof FIELDS;
export const FIELD_KEYS = Object.keys(FIELDS) as FieldKey[];

type Out<K extends FieldKey> = z.output<(typeof FIELDS)[K]['schema']>;

/** Parsed answers: every field typed; defaults filled; optional fields undefined when unset. */
export type Answers = {
  [K in FieldKey]: (typeof FIELDS)[K] extends { default: string } | { required: true }
    ? Out<K>
    : Out<K> | undefined;
};

export function fieldDef(key: FieldKey): FieldDef {
  return FIELDS[key] as FieldDef;
}
