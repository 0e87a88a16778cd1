import { isIP } from 'node:net';
import { z } from 'zod';

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
    schema: z.enum(['trixie', 'bookworm'], { error: "must be 'trixie' or 'bookworm'" }),
    default: 'trixie',
    help: 'Debian release.',
  },
  KLDLOAD_PROFILE: {
    schema: z.enum(['core', 'server', 'desktop'], { error: "must be 'core', 'server' or 'desktop'" }),
    default: 'server',
    help: 'Package profile.',
  },
  KLDLOAD_HOSTNAME: {
    schema: hostname,
    required: true,
    help: 'Host name (RFC 1123); a dotted name sets the domain too.',
  },
  KLDLOAD_DISK: {
    schema: devPath,
    help: 'Target disk, e.g. /dev/vda or /dev/disk/by-id/…; empty or absent: the one eligible disk is picked at install time.',
  },
  KLDLOAD_USERNAME: { schema: username, required: true, help: 'Administrator account (sudo).' },
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
  KLDLOAD_TIMEZONE: { schema: timezone, default: 'UTC', help: 'IANA time zone.' },
  KLDLOAD_LOCALE: { schema: locale, default: 'en_US.UTF-8', help: 'System locale.' },
  KLDLOAD_KEYBOARD_LAYOUT: {
    schema: z
      .string()
      .regex(/^[a-z]{2,8}(,[a-z]{2,8})*$/, { error: 'must be an XKB layout such as us, de or fr' }),
    default: 'us',
    help: 'Console keyboard layout.',
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
  KLDLOAD_NET_IP: { schema: cidr, help: 'Static address with prefix, e.g. 10.0.0.50/24.' },
  KLDLOAD_NET_GW: { schema: ip, help: 'Static default gateway.' },
  KLDLOAD_NET_DNS: { schema: dnsList, help: 'Static DNS servers.' },
  KLDLOAD_POOL_NAME: { schema: poolName, default: 'rpool', help: 'Root pool name.' },
  KLDLOAD_ZFS_TOPOLOGY: {
    schema: z.enum(['single', 'mirror', 'raidz1', 'raidz2'], {
      error: "must be 'single', 'mirror', 'raidz1' or 'raidz2'",
    }),
    default: 'single',
    help: 'Pool layout over KLDLOAD_DISK plus KLDLOAD_ZFS_DATA_DISKS.',
  },
  KLDLOAD_ZFS_DATA_DISKS: { schema: diskList, help: 'Further disks for mirror/raidz, space separated.' },
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
