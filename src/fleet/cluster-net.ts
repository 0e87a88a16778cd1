/**
 * The cluster's WireGuard network: an IPv4 CIDR whose first host address is the hub's and whose
 * next free ones go to spokes in enrollment order. Pure: no I/O.
 */
import { KldloadError } from '../core/errors.ts';

export interface ClusterNet {
  /** The network as given, normalised: 10.88.0.0/24. */
  cidr: string;
  /** Network address as a 32-bit number. */
  base: number;
  prefix: number;
}

const toNum = (ip: string): number | undefined => {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
};

const toIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** Reads `A.B.C.D/N` (N 16–30, the address the network's own); `what` names the field in errors. */
export function parseNet(cidr: string, what = '--net'): ClusterNet {
  const [ip = '', bits = ''] = cidr.split('/');
  const n = toNum(ip);
  const prefix = Number(bits);
  if (n === undefined || !/^\d+$/.test(bits) || prefix < 16 || prefix > 30)
    throw new KldloadError(
      `${what}: '${cidr}' is not an IPv4 network from /16 to /30; give one such as 10.88.0.0/24`,
      2,
    );
  const size = 2 ** (32 - prefix);
  if (n % size !== 0)
    throw new KldloadError(
      `${what}: '${cidr}' has host bits set; the network is ${toIp(n - (n % size))}/${prefix}`,
      2,
    );
  return { cidr: `${ip}/${prefix}`, base: n, prefix };
}

/** The hub's address: the network's first host. */
export const hubAddress = (net: ClusterNet): string => toIp(net.base + 1);

/** How many spokes fit: every host address but the hub's (and not the broadcast). */
export const capacity = (net: ClusterNet): number => 2 ** (32 - net.prefix) - 3;

/** The lowest host address after the hub's that `used` does not hold; undefined when the net is full. */
export function nextAddress(net: ClusterNet, used: readonly string[]): string | undefined {
  const taken = new Set(used);
  for (let i = 2; i < 2 ** (32 - net.prefix) - 1; i++) {
    const ip = toIp(net.base + i);
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

/** Whether `ip` is a host address of `net`. */
export function contains(net: ClusterNet, ip: string): boolean {
  const n = toNum(ip);
  return n !== undefined && n > net.base && n < net.base + 2 ** (32 - net.prefix) - 1;
}

/** `HOST:PORT` (a name, an IPv4 address, or [IPv6]:port) → its parts; `what` names the field. */
export function parseEndpoint(v: string, what = '--endpoint'): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m?.[1] || port < 1 || port > 65535)
    throw new KldloadError(
      `${what}: '${v}' must be HOST:PORT, the hub's address as spokes reach it and its WireGuard UDP port (hub.example.net:51820)`,
      2,
    );
  return { host: m[1], port };
}
