/**
 * A spoke's side of enrollment: the request to the hub over HTTPS with the seed's certificate as
 * the only trust anchor and its SHA-256 fingerprint pinned (no CA store, no "insecure"), and the plan
 * that applies the answer: wg0 to the hub, the hub's ansible key for the unprivileged ansible user.
 */
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { type Plan, run } from '../core/plan.ts';
import { ANSIBLE_HOME, ANSIBLE_USER, authorizedKeysLine, spokeWgConf } from './cluster-config.ts';
import type { EnrollAnswer, EnrollRequest } from './cluster-hub.ts';
import { type ClusterNet, contains } from './cluster-net.ts';
import type { ClusterPaths } from './cluster-state.ts';

/** Exit code of a final refusal (wrong token, window closed, pin mismatch): systemd does not retry it. */
export const EXIT_REFUSED = 3;

export type EnrollOutcome =
  | { kind: 'enrolled'; answer: EnrollAnswer }
  /** Final: the hub said no, or it is not the hub the seed names. */
  | { kind: 'refused'; reason: string }
  /** Worth another try: the hub is not up yet, or it failed inside. */
  | { kind: 'retry'; reason: string };

const PIN_ERROR = 'KLDLOAD_PIN_MISMATCH';

export async function postEnroll(o: {
  host: string;
  port: number;
  cert: string;
  pin: string;
  body: EnrollRequest;
  timeoutMs?: number;
}): Promise<EnrollOutcome> {
  const data = JSON.stringify(o.body);
  return new Promise((resolve) => {
    const req = request(
      {
        host: o.host.replace(/^\[|\]$/g, ''),
        port: o.port,
        method: 'POST',
        path: '/enroll',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        // The seed's certificate is the only anchor, and the name check is the fingerprint pin.
        ca: [o.cert],
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          cert.fingerprint256 === o.pin
            ? undefined
            : Object.assign(
                new Error(`the hub's certificate ${cert.fingerprint256} is not the pinned ${o.pin}`),
                {
                  code: PIN_ERROR,
                },
              ),
        timeout: o.timeoutMs ?? 15_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { error: text.slice(0, 200) };
          }
          const status = res.statusCode ?? 0;
          const error = typeof body.error === 'string' ? body.error : `HTTP ${status}`;
          if (status === 200) resolve({ kind: 'enrolled', answer: body as unknown as EnrollAnswer });
          else if (status >= 400 && status < 500)
            resolve({ kind: 'refused', reason: `hub refused: ${error}` });
          else resolve({ kind: 'retry', reason: `hub answered ${status}: ${error}` });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${(o.timeoutMs ?? 15_000) / 1000}s`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      resolve(
        notThePinnedHub(e)
          ? { kind: 'refused', reason: `not the hub the seed pins (${o.pin}): ${e.message}` }
          : { kind: 'retry', reason: `hub ${o.host}:${o.port} not reachable: ${e.message}` },
      );
    });
    req.end(data);
  });
}

/**
 * Errors that say the peer is not the hub the seed pins: the pin, or the chain check against the
 * seed's certificate alone. Anything else, a reset during the handshake or a clock before the
 * certificate's start included, is worth another try (the join unit retries; a refusal is final).
 */
const NOT_THE_HUB = new Set([
  PIN_ERROR,
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
export const notThePinnedHub = (e: { code?: string | undefined }) => NOT_THE_HUB.has(e.code ?? '');

/** The answer must fit the seed: an address in its net, the hub key it names. */
export function checkAnswer(a: EnrollAnswer, net: ClusterNet, hubPublicKey: string): string | undefined {
  if (!contains(net, a.address ?? '')) return `the hub gave address '${a.address}', not in ${net.cidr}`;
  if (a.hubPublicKey !== hubPublicKey) return "the hub's WireGuard key differs from the seed's";
  if (!/^ssh-ed25519 [A-Za-z0-9+/]+={0,2}( .*)?$/.test(a.ansiblePublicKey ?? ''))
    return 'the hub sent no ansible key (ssh-ed25519)';
  return undefined;
}

export function spokeJoinPlan(o: {
  paths: ClusterPaths;
  net: ClusterNet;
  endpoint: string;
  answer: EnrollAnswer;
}): Plan {
  const ssh = `${ANSIBLE_HOME}/.ssh`;
  return {
    facts: { address: o.answer.address, hub: o.answer.hubAddress, endpoint: o.endpoint },
    steps: [
      {
        name: 'wg0',
        title: `wg0 at ${o.answer.address}, the hub ${o.endpoint} as its one peer for ${o.net.cidr}`,
        actions: [
          {
            kind: 'write',
            path: o.paths.wgConf,
            content: spokeWgConf({
              address: o.answer.address,
              prefix: o.net.prefix,
              keyFile: o.paths.wgKey,
              hubPublicKey: o.answer.hubPublicKey,
              endpoint: o.endpoint,
              net: o.net.cidr,
            }),
            mode: 0o600,
          },
          run(['systemctl', 'enable', 'wg-quick@wg0.service']),
          run(['systemctl', 'restart', 'wg-quick@wg0.service']),
        ],
      },
      {
        name: 'ansible-key',
        title: `the hub's ansible key for ${ANSIBLE_USER}, from ${o.answer.hubAddress} only`,
        actions: [
          { kind: 'mkdir', path: ssh, mode: 0o700 },
          {
            kind: 'write',
            path: `${ssh}/authorized_keys`,
            content: authorizedKeysLine(o.answer.hubAddress, o.answer.ansiblePublicKey),
            mode: 0o600,
          },
          run(['chown', '-R', `${ANSIBLE_USER}:${ANSIBLE_USER}`, ssh]),
        ],
      },
    ],
    cleanup: [],
  };
}
