import { networkInterfaces } from 'node:os';
import QRCode from 'qrcode';

/**
 * What the person at the machine reads on the console: the address to open (with the boot's token
 * in it), the same as a QR code for a phone, and every address this machine has. The marker line
 * is what `npm run e2e:webui` reads from the serial console.
 */
export function addresses(): string[] {
  return Object.entries(networkInterfaces())
    .flatMap(([name, list]) => (name === 'lo' ? [] : (list ?? [])))
    .filter((a) => !a.internal && (a.family === 'IPv4' || !a.address.startsWith('fe80')))
    .map((a) => (a.family === 'IPv6' ? `[${a.address}]` : a.address));
}

export function pageUrl(address: string, port: number, token: string): string {
  return `http://${address}${port === 80 ? '' : `:${port}`}/?token=${token}`;
}

export async function banner(port: number, token: string, addrs: string[]): Promise<string> {
  if (!addrs.length)
    return `kldload web installer: waiting for a network address (DHCP) on ${
      Object.keys(networkInterfaces())
        .filter((n) => n !== 'lo')
        .join(', ') || 'no interface'
    }; token ${token}`;
  const urls = addrs.map((a) => pageUrl(a, port, token));
  const qr = await QRCode.toString(urls[0] as string, { type: 'utf8', errorCorrectionLevel: 'L' });
  return [
    '',
    'kldload web installer — open this address in a browser on the same network:',
    ...urls.map((u) => `  ${u}`),
    `token (one per boot): ${token}`,
    qr,
    ...urls.map((u) => `KLDLOAD-WEBUI url=${u}`),
    '',
  ].join('\n');
}

/** Prints the banner now and again whenever the machine's addresses change (DHCP came, a cable moved). */
export function watchAddresses(
  print: (text: string) => void,
  listen: { host: string; port: number },
  token: string,
  everyMs = 3000,
): () => void {
  const { port } = listen;
  // Listening on one address: that is the only one to show. '::' takes IPv4 too; '0.0.0.0' only IPv4.
  const any = listen.host === '::' || listen.host === '0.0.0.0';
  const v4only = listen.host === '0.0.0.0';
  let last = '';
  const tick = () => {
    const a = any ? addresses().filter((x) => !v4only || !x.startsWith('[')) : [listen.host];
    const key = a.join(' ');
    if (key === last) return;
    last = key;
    void banner(port, token, a).then(print);
  };
  tick();
  const t = setInterval(tick, everyMs);
  return () => clearInterval(t);
}
