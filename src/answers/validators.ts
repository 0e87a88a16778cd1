/** The zod validators of the answers' fields (schema.ts): what each KLDLOAD_* value must look like. */
import { isIP } from 'node:net';
import { z } from 'zod';

export const bool = z.enum(['0', '1'], { error: 'must be 0 or 1' }).transform((v) => v === '1');

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
export const hostname = z
  .string()
  .max(253, { error: 'must be at most 253 characters' })
  .refine((v) => v.split('.').every((l) => HOST_LABEL.test(l)), {
    error:
      'must be lowercase letters, digits and hyphens (RFC 1123), labels of 1-63 characters, not starting or ending with a hyphen',
  });

export const devPath = z.string().regex(/^\/dev\/[A-Za-z0-9._:/+-]+$/, {
  error: 'must be an absolute device path such as /dev/vda, /dev/nvme0n1 or /dev/disk/by-id/…',
});

/** IPv4 or IPv6 literal (no prefix), by Node's own parser. */
const isIp = (v: string): boolean => isIP(v) !== 0;
export const ip = z.string().refine(isIp, { error: 'must be an IPv4 or IPv6 address such as 10.0.0.1' });
const cidr = z.string().refine(
  (v) => {
    const [addr, pre, extra] = v.split('/');
    if (extra !== undefined || !addr || !pre || !/^(0|[1-9]\d*)$/.test(pre)) return false;
    return isIp(addr) && Number(pre) <= (addr.includes(':') ? 128 : 32);
  },
  { error: 'must be an address with prefix length, such as 10.0.0.50/24' },
);
/** The original kldload's form (address, KLDLOAD_NET_PREFIX apart) or ours (address/prefix). */
export const ipMaybeCidr = z.string().refine((v) => (v.includes('/') ? cidr.safeParse(v).success : isIp(v)), {
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
export const sshKey = z.string().refine(
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
export const sshKeys = z
  .string()
  .refine((v) => splitKeys(v).length > 0 && splitKeys(v).every((k) => sshKey.safeParse(k).success), {
    error: `must be OpenSSH public key lines ('<type> <base64> [comment]') one after another, type one of ${SSH_TYPES.slice(0, 5).join(', ')}`,
  })
  .transform(splitKeys);

/** zpool(8) naming: begins with a letter; letters, digits, _ - . : ; not a vdev keyword. */
export const poolName = z
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
export const espSize = z
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
export const timezone = z.string().refine(knownZone, {
  error: 'must be an IANA time zone such as UTC, Europe/Berlin or America/Toronto',
});

export const locale = z.string().regex(/^(C\.UTF-8|[a-z]{2,3}_[A-Z]{2}(\.UTF-8)?(@[a-z]+)?)$/, {
  error: 'must be a glibc locale such as en_US.UTF-8, de_DE.UTF-8 or C.UTF-8',
});

export const username = z
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

export const cryptHash = z.string().regex(/^\$(y|gy|7|6|5|2[aby])\$[./A-Za-z0-9$,=+-]{20,}$/, {
  error: "must be a crypt(3) hash such as '$6$…' or '$y$…' (make one with: mkpasswd -m yescrypt)",
});

export const url = z.string().regex(/^https?:\/\/[^\s/$.?#].[^\s]*$/, {
  error: 'must be an https:// URL (or http:// with KLDLOAD_POSTINSTALL_SHA256)',
});

export const b64 = z
  .string()
  .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0, {
    error:
      "must be base64 of the script (answers are data, not shell: '$(base64 -w0 < file)' is not run; paste its output)",
  })
  .transform((v) => Buffer.from(v, 'base64').toString('utf8'));

export const dnsList = z
  .string()
  .refine((v) => v.split(/[ ,]+/).filter(Boolean).every(isIp), {
    error: 'must be one or more IP addresses separated by spaces or commas',
  })
  .transform((v) => v.split(/[ ,]+/).filter(Boolean));

export const diskList = z
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
