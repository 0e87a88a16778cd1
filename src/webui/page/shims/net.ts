/**
 * node:net for the page's bundle: isIP, which the answers validators use. The browser checks with
 * zod's own IP formats; the server validates again with Node's parser and has the last word.
 */
import { z } from 'zod';

const v4 = z.ipv4();
const v6 = z.ipv6();
export function isIP(v: string): number {
  if (v4.safeParse(v).success) return 4;
  // Node takes an IPv6 address with a zone (fe80::1%eth0); zod's format has none.
  const [addr = '', zone, extra] = v.split('%');
  if (zone === '' || extra !== undefined) return 0;
  return v6.safeParse(addr).success ? 6 : 0;
}
