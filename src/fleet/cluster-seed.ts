/**
 * `kldload cluster seed`: what a hub and its spokes carry in their payloads. The hub's WireGuard
 * keypair (raw X25519, as wg genkey/pubkey make them), an enrollment token (256 random bits), a
 * self-signed TLS certificate for the enrollment endpoint (openssl) whose SHA-256 fingerprint the
 * spokes pin, and the settings both sides read from cluster/seed.env (the env-file codec writes it).
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { safeRemove } from '../core/fs.ts';
import { EXAMPLE_SITE } from './cluster-config.ts';
import { capacity, hubAddress, parseEndpoint, parseNet } from './cluster-net.ts';

export const DEFAULTS = { net: '10.88.0.0/24', spokes: 2, windowMinutes: 60, enrollPort: 51821 } as const;

/** The folder both payload trees use: it lands at /root/darksite/cluster on the target. */
export const PAYLOAD_DIR = 'cluster';

export interface SeedOptions {
  endpoint: string;
  net?: string;
  spokes?: number;
  windowMinutes?: number;
  enrollPort?: number;
}

export interface SeedFile {
  /** Relative to the side's payload tree (hub/ or spoke/). */
  path: string;
  content: string;
  mode: number;
}

export interface Seed {
  /** Non-secret facts, for the report (and --json). */
  facts: Record<string, string | number>;
  /** seed.env of each side, as keys and values; the CLI writes it with the env-file codec. */
  env: { hub: Record<string, string>; spoke: Record<string, string> };
  files: { hub: SeedFile[]; spoke: SeedFile[] };
}

/** A WireGuard keypair: the raw 32-byte X25519 keys in base64, the form wg(8) reads and prints. */
export function wgKeypair(): { privateKey: string; publicKey: string } {
  const k = generateKeyPairSync('x25519');
  // PKCS#8 and SPKI DER of X25519 end with the raw 32-byte key.
  const raw = (der: Buffer) => der.subarray(der.length - 32).toString('base64');
  return {
    privateKey: raw(k.privateKey.export({ format: 'der', type: 'pkcs8' })),
    publicKey: raw(k.publicKey.export({ format: 'der', type: 'spki' })),
  };
}

/** The form spokes pin: `openssl x509 -fingerprint -sha256` prints the same (AB:CD:…). */
export const certFingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** A self-signed P-256 certificate for the enrollment endpoint, made by openssl in a temporary folder. */
export async function selfSignedCert(exec: Executor): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kl-cluster-tls-'));
  try {
    // openssl writes the key 0600 under the umask-free temporary folder (0700 by mkdtemp).
    await exec.run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'tls.crt'),
      '-days',
      '3650',
      '-subj',
      '/CN=kldload-cluster-hub',
    ]);
    return {
      cert: readFileSync(join(dir, 'tls.crt'), 'utf8'),
      key: readFileSync(join(dir, 'tls.key'), 'utf8'),
    };
  } finally {
    safeRemove(dir);
  }
}

/** The pure part: checked options and made secrets → both payload trees. */
export function seedTrees(
  o: SeedOptions,
  made: { wg: { privateKey: string; publicKey: string }; token: string; cert: string; certKey: string },
): Seed {
  const net = parseNet(o.net ?? DEFAULTS.net);
  const { port } = parseEndpoint(o.endpoint);
  const spokes = o.spokes ?? DEFAULTS.spokes;
  if (spokes > capacity(net))
    throw new Error(
      `--spokes: ${spokes} do not fit in ${net.cidr} (room for ${capacity(net)}); give a larger --net`,
    );
  const enrollPort = o.enrollPort ?? DEFAULTS.enrollPort;
  const pin = certFingerprint(made.cert);
  const common = {
    CLUSTER_NET: net.cidr,
    CLUSTER_HUB_ADDRESS: hubAddress(net),
    CLUSTER_ENDPOINT: o.endpoint,
    CLUSTER_WG_PORT: String(port),
    CLUSTER_ENROLL_PORT: String(enrollPort),
    CLUSTER_HUB_PUBLIC_KEY: made.wg.publicKey,
    CLUSTER_CERT_SHA256: pin,
  };
  const f = (path: string, content: string, mode = 0o600): SeedFile => ({
    path: `${PAYLOAD_DIR}/${path}`,
    content,
    mode,
  });
  const shared = [f('token', `${made.token}\n`), f('tls.crt', made.cert, 0o644)];
  return {
    facts: {
      ...common,
      CLUSTER_SPOKES: spokes,
      CLUSTER_WINDOW_MINUTES: o.windowMinutes ?? DEFAULTS.windowMinutes,
    },
    env: {
      hub: {
        CLUSTER_ROLE: 'hub',
        ...common,
        CLUSTER_SPOKES: String(spokes),
        CLUSTER_WINDOW_MINUTES: String(o.windowMinutes ?? DEFAULTS.windowMinutes),
      },
      spoke: { CLUSTER_ROLE: 'spoke', ...common },
    },
    files: {
      hub: [
        ...shared,
        f('tls.key', made.certKey),
        f('wg.key', `${made.wg.privateKey}\n`),
        f('ansible/site.yml', EXAMPLE_SITE, 0o644),
      ],
      spoke: shared,
    },
  };
}

/** Makes the secrets (keys, token, certificate) and both trees. */
export async function makeSeed(exec: Executor, o: SeedOptions): Promise<Seed> {
  parseEndpoint(o.endpoint);
  parseNet(o.net ?? DEFAULTS.net);
  const tls = await selfSignedCert(exec);
  return seedTrees(o, {
    wg: wgKeypair(),
    token: randomBytes(32).toString('base64url'),
    cert: tls.cert,
    certKey: tls.key,
  });
}
