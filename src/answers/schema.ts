import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_PROFILE, DEFAULT_SUITE, PROFILES, quotedChoices, SUITES } from '../core/debian.ts';

/**
 * The answers schema: the single source of truth for every KLDLOAD_* variable — its validation,
 * default, whether it is a secret (never logged, never in the manifest), and its help text.
 * The CLI validator, the installer, the manifest writer and (later) the web UI all read this table.
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

const bool = z.enum(['0', '1'], { error: 'must be 0 or 1' }).transform((v) => v === '1');

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const hostname = z
  .string()
  .max(253, { error: 'must be at most 253 characters' })
  .refine((v) => v.split('.').every((l) => HOST_LABEL.test(l)), {
    error:
      'must be lowercase letters, digits and hyphens (RFC 1123), labels of 1-63 characters, not starting or ending with a hyphen',
  });

const devPath = z.string().regex(/^\/dev\/[A-Za-z0-9._:/+-]+$/, {
  error: 'must be an absolute device path such as /dev/vda, /dev/nvme0n1 or /dev/disk/by-id/…',
});

/** IPv4 or IPv6 literal (no prefix), by Node's own parser. */
const isIp = (v: string): boolean => isIP(v) !== 0;
const ip = z.string().refine(isIp, { error: 'must be an IPv4 or IPv6 address such as 10.0.0.1' });
const cidr = z.string().refine(
  (v) => {
    const [addr, pre, extra] = v.split('/');
    if (extra !== undefined || !addr || !pre || !/^(0|[1-9]\d*)$/.test(pre)) return false;
    return isIp(addr) && Number(pre) <= (addr.includes(':') ? 128 : 32);
  },
  { error: 'must be an address with prefix length, such as 10.0.0.50/24' },
);
/** The original kldload's form (address, KLDLOAD_NET_PREFIX apart) or ours (address/prefix). */
const ipMaybeCidr = z.string().refine((v) => (v.includes('/') ? cidr.safeParse(v).success : isIp(v)), {
  error:
    'must be an address with prefix length, such as 10.0.0.50/24 (or the address alone with KLDLOAD_NET_PREFIX=24)',
});

/** The key types sshd accepts in authorized_keys; the base64 blob must name the same type. */
const SSH_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];
const sshKey = z.string().refine(
  (v) => {
    const [type, blob] = v.split(/\s+/);
    if (!type || !blob || !SSH_TYPES.includes(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return false;
    const raw = Buffer.from(blob, 'base64');
    const n = raw.length >= 4 ? raw.readUInt32BE(0) : 0;
    return raw.subarray(4, 4 + n).toString() === type;
  },
  {
    error: `must be one OpenSSH public key line: '<type> <base64> [comment]', type one of ${SSH_TYPES.slice(0, 5).join(', ')}`,
  },
);

/**
 * One or more OpenSSH key lines on one line (the original kldload's KLDLOAD_ADMIN_SSH_KEYS): a new key
 * starts where a key type word starts; a literal \n between keys is accepted too.
 */
const SPLIT_KEYS = new RegExp(
  `(?:\\s*\\\\n\\s*|\\s+)(?=(?:${SSH_TYPES.map((t) => t.replace(/[.+]/g, '\\$&')).join('|')})\\s)`,
);
export function splitKeys(v: string): string[] {
  return v
    .split(SPLIT_KEYS)
    .map((k) => k.trim())
    .filter(Boolean);
}
const sshKeys = z
  .string()
  .refine((v) => splitKeys(v).length > 0 && splitKeys(v).every((k) => sshKey.safeParse(k).success), {
    error: `must be OpenSSH public key lines ('<type> <base64> [comment]') one after another, type one of ${SSH_TYPES.slice(0, 5).join(', ')}`,
  })
  .transform(splitKeys);

/** zpool(8) naming: begins with a letter; letters, digits, _ - . : ; not a vdev keyword. */
const poolName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/, {
    error: 'must start with a letter; letters, digits, _ - . : only',
  })
  .refine((v) => !/^(mirror|raidz\d?|draid\d?|spare|log|cache|special|dedup)$/.test(v) && !/^c\d/.test(v), {
    error: 'is a reserved word in zpool (mirror, raidz, spare, log, cache, c0…)',
  });

function parseSize(v: string): number | undefined {
  const m = /^(\d+)([MG])$/.exec(v);
  if (!m?.[1]) return undefined;
  return Number(m[1]) * (m[2] === 'G' ? 1024 : 1);
}
const espSize = z
  .string()
  .refine(
    (v) => {
      const mib = parseSize(v);
      return mib !== undefined && mib >= 100 && mib <= 4096;
    },
    { error: 'must be a size in M or G between 100M and 4G, such as 512M or 1G' },
  )
  .transform((v) => parseSize(v) ?? 512);

/** Any zone ICU resolves, aliases included (Asia/Kolkata and Asia/Calcutta alike). */
function knownZone(v: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(v)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: v });
    return true;
  } catch {
    return false;
  }
}
const timezone = z.string().refine(knownZone, {
  error: 'must be an IANA time zone such as UTC, Europe/Berlin or America/Toronto',
});

const locale = z.string().regex(/^(C\.UTF-8|[a-z]{2,3}_[A-Z]{2}(\.UTF-8)?(@[a-z]+)?)$/, {
  error: 'must be a glibc locale such as en_US.UTF-8, de_DE.UTF-8 or C.UTF-8',
});

const username = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
    error: 'must be 1-32 characters: lowercase letters, digits, _ and -, starting with a letter or _',
  })
  .refine(
    (v) =>
      ![
        'root',
        'daemon',
        'bin',
        'sys',
        'sync',
        'games',
        'man',
        'lp',
        'mail',
        'news',
        'nobody',
        'sshd',
        'systemd-network',
      ].includes(v),
    {
      error: 'is a system account name; choose another',
    },
  );

const cryptHash = z.string().regex(/^\$(y|gy|7|6|5|2[aby])\$[./A-Za-z0-9$,=+-]{20,}$/, {
  error: "must be a crypt(3) hash such as '$6$…' or '$y$…' (make one with: mkpasswd -m yescrypt)",
});

const url = z.string().regex(/^https?:\/\/[^\s/$.?#].[^\s]*$/, {
  error: 'must be an https:// URL (or http:// with KLDLOAD_POSTINSTALL_SHA256)',
});

const b64 = z
  .string()
  .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0, {
    error:
      "must be base64 of the script (answers are data, not shell: '$(base64 -w0 < file)' is not run; paste its output)",
  })
  .transform((v) => Buffer.from(v, 'base64').toString('utf8'));

const dnsList = z
  .string()
  .refine((v) => v.split(/[ ,]+/).filter(Boolean).every(isIp), {
    error: 'must be one or more IP addresses separated by spaces or commas',
  })
  .transform((v) => v.split(/[ ,]+/).filter(Boolean));

const diskList = z
  .string()
  .refine(
    (v) =>
      v
        .split(/[ ,]+/)
        .filter(Boolean)
        .every((d) => devPath.safeParse(d).success),
    {
      error: 'must be device paths separated by spaces, such as /dev/vdb /dev/vdc',
    },
  )
  .transform((v) => v.split(/[ ,]+/).filter(Boolean));

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
