/**
 * Role settings: answers that belong to a role rather than to the installer (KLDLOAD_CI_TOKEN,
 * KLDLOAD_NFS_CLIENTS …). Each role declares them in its header, one line each:
 *
 *   # setting: KLDLOAD_CI_TOKEN token secret
 *
 * (the key, a check from CHECKS, and `secret` when the value must never be shown). Answers carry
 * them like any other key; they are checked at build (embedded answers, against the chosen roles)
 * and at install (against the roles on the medium). Secrets reach first boot only through a
 * root-only file; they never go into the manifest, a log or the plan. Reading them from role
 * headers is src/postinstall/settings.ts; what a value must look like is here.
 */
import { isIP } from 'node:net';

export interface RoleSetting {
  key: string;
  check: string;
  secret: boolean;
  /** The role that declares it (its name, e.g. ci-runner). */
  role: string;
}

export interface RoleSettingValue {
  key: string;
  value: string;
  secret: boolean;
  role: string;
}

const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function cidr(v: string, family?: 4 | 6): boolean {
  const [addr, pre, extra] = v.split('/');
  if (extra !== undefined || !addr || !pre || !/^(0|[1-9]\d*)$/.test(pre)) return false;
  const f = isIP(addr);
  if (!f || (family && f !== family)) return false;
  return Number(pre) <= (f === 6 ? 128 : 32);
}

const list = (v: string, item: (x: string) => boolean) => v.split(',').every((x) => x !== '' && item(x));

/** Check name → test and what the value must look like. Values never need shell quoting tricks. */
const CHECKS: Record<string, { test: (v: string) => boolean; help: string }> = {
  url: {
    test: (v) => {
      if (!/^https?:\/\/[^\s'"`\\]+$/.test(v)) return false;
      try {
        return Boolean(new URL(v).hostname);
      } catch {
        return false;
      }
    },
    help: 'must be an http:// or https:// URL such as https://gitlab.example.com',
  },
  token: {
    test: (v) => /^[A-Za-z0-9._~+/=:-]{8,1024}$/.test(v),
    help: 'must be a token of 8-1024 letters, digits and . _ ~ + / = : -',
  },
  count: { test: (v) => /^[1-9][0-9]{0,5}$/.test(v), help: 'must be a whole number from 1' },
  port: {
    test: (v) => /^[1-9][0-9]{0,4}$/.test(v) && Number(v) <= 65535,
    help: 'must be a port number from 1 to 65535',
  },
  name: {
    test: (v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v),
    help: 'must be a user or group name: lowercase letters, digits, _ and -, starting with a letter or _',
  },
  word: {
    test: (v) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(v),
    help: 'must be letters, digits, _ . and -, starting with a letter or digit',
  },
  domain: {
    test: (v) => v.length <= 253 && DOMAIN.test(v),
    help: 'must be a lowercase domain name with at least one dot, such as example.com',
  },
  host: {
    test: (v) => isIP(v) !== 0 || (v.length <= 253 && v.split('.').every((l) => LABEL.test(l))),
    help: 'must be a host name (lowercase) or an IP address, such as vpn.example.com',
  },
  email: {
    test: (v) => {
      const at = v.lastIndexOf('@');
      return at > 0 && /^[A-Za-z0-9._%+-]+$/.test(v.slice(0, at)) && DOMAIN.test(v.slice(at + 1));
    },
    help: 'must be an e-mail address such as admin@example.com',
  },
  cidr4: {
    test: (v) => cidr(v, 4),
    help: 'must be an IPv4 network with prefix length, such as 192.168.1.0/24',
  },
  'cidr4-24': {
    test: (v) => /^\d+\.\d+\.\d+\.0\/24$/.test(v) && cidr(v, 4),
    help: 'must be an IPv4 /24 ending in .0, such as 10.200.0.0/24',
  },
  cidrs: {
    test: (v) => list(v, (x) => cidr(x) || isIP(x) !== 0),
    help: 'must be IPv4/IPv6 addresses or networks separated by commas (no spaces), such as 192.168.1.0/24,fd00::/8',
  },
  ips: {
    test: (v) => list(v, (x) => isIP(x) !== 0),
    help: 'must be IP addresses separated by commas (no spaces), such as 10.0.0.53,9.9.9.9',
  },
};

/** The check named in a header, or undefined: CHECKS or `one-of:a,b,…`. */
export function checkOf(name: string): { test: (v: string) => boolean; help: string } | undefined {
  if (name.startsWith('one-of:')) {
    const options = name.slice('one-of:'.length).split(',').filter(Boolean);
    return options.length
      ? { test: (v) => options.includes(v), help: `must be one of ${options.join(', ')}` }
      : undefined;
  }
  return CHECKS[name];
}

export const SETTING_CHECKS = [...Object.keys(CHECKS), 'one-of:A,B,…'];

/** What is wrong with VALUE for setting S, or undefined when it is fine. */
export function checkSetting(s: RoleSetting, value: string): string | undefined {
  const c = checkOf(s.check);
  if (!c) return `role ${s.role} declares an unknown check '${s.check}'`;
  return c.test(value) ? undefined : `${c.help} (a setting of role ${s.role})`;
}
