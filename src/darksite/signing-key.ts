/** The darksite's signing key: the build's own (made once into the cache) or one the user supplies. */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { cacheDir } from '../core/paths.ts';
import { REPO } from '../layout.ts';

export interface SigningKey {
  /** GNUPGHOME holding the secret key. */
  home: string;
  /** Binary public keyring for apt's signed-by (this key only). */
  keyring: string;
  /** Fingerprint of the signing key: part of the darksite's content key, passed to gpg --local-user. */
  fingerprint: string;
}

interface SecretKey {
  fingerprint: string;
  /** Usable capabilities of the whole key (gpg's uppercase letters: S = sign). */
  caps: string;
  validity: string;
}

/** Secret keys in a GNUPGHOME, from gpg's machine-readable listing. */
async function secretKeys(exec: Executor, home: string): Promise<SecretKey[]> {
  const r = await exec.run(['gpg', '--batch', '--with-colons', '--list-secret-keys'], {
    env: { GNUPGHOME: home },
    check: false,
  });
  if (r.exitCode !== 0 && !/^sec:/m.test(r.stdout))
    throw new KldloadError(`gpg cannot list the secret keys in ${home}:\n${r.all.trim()}`, EXIT.badInput);
  const out: SecretKey[] = [];
  let cur: SecretKey | undefined;
  for (const line of r.stdout.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'sec') {
      cur = { fingerprint: '', caps: f[11] ?? '', validity: f[1] ?? '' };
      out.push(cur);
    } else if (f[0] === 'fpr' && cur && !cur.fingerprint) cur.fingerprint = f[9] ?? '';
    else if (f[0] === 'ssb') cur = undefined;
  }
  return out;
}

const canSign = (k: SecretKey): boolean => k.caps.includes('S') && !/[erid]/.test(k.validity);

/** Exports exactly one public key, binary, for signed-by (never the rest of the key ring). */
async function exportKeyring(exec: Executor, home: string, fingerprint: string, keyring: string) {
  mkdirSync(dirname(keyring), { recursive: true });
  await exec.run(['gpg', '--batch', '--yes', '--export', '--output', `${keyring}.tmp`, fingerprint], {
    env: { GNUPGHOME: home },
  });
  renameSync(`${keyring}.tmp`, keyring);
}

/**
 * The build's signing key: generated once into the cache, never passphrase-protected because
 * builds are unattended; the public half ships as a signed-by keyring.
 */
export async function ensureSigningKey(exec: Executor, home = cacheDir('darksite-key')): Promise<SigningKey> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const keyring = join(home, REPO.keyring);
  const env = { GNUPGHOME: home };
  let signers = (await secretKeys(exec, home)).filter(canSign);
  if (!signers.length) {
    await exec.run(
      [
        'gpg',
        '--batch',
        '--passphrase',
        '',
        '--quick-gen-key',
        'kldload darksite <darksite@kldload.invalid>',
        'ed25519',
        'sign',
        'never',
      ],
      { env },
    );
    signers = (await secretKeys(exec, home)).filter(canSign);
  }
  const fingerprint = signers[0]?.fingerprint ?? '';
  if (!fingerprint) throw new KldloadError(`${home}: gpg made no signing key`);
  if (!existsSync(keyring)) await exportKeyring(exec, home, fingerprint, keyring);
  return { home, keyring, fingerprint };
}

/**
 * The build key's fingerprint if it exists, without making one (a dry run must change nothing):
 * the key ensureSigningKey would sign with.
 */
export async function existingSigningKey(
  exec: Executor,
  home = cacheDir('darksite-key'),
): Promise<string | undefined> {
  if (!existsSync(home)) return undefined;
  return (await secretKeys(exec, home)).filter(canSign)[0]?.fingerprint || undefined;
}

/**
 * A signing key the user supplies (`--darksite-key GNUPGHOME`): the directory must hold exactly
 * one usable secret signing key, and gpg must be able to sign with it unattended. The public key
 * is exported into the cache (the user's GNUPGHOME gets no extra files from kldload).
 */
export async function suppliedSigningKey(
  exec: Executor,
  home: string,
  flag = '--darksite-key',
): Promise<SigningKey> {
  const abs = resolvePath(home);
  if (!existsSync(abs) || !statSync(abs).isDirectory())
    throw new KldloadError(
      `${flag} ${home}: no such directory; give a GNUPGHOME holding one secret signing key (e.g. GNUPGHOME=DIR gpg --batch --passphrase '' --quick-gen-key 'NAME <EMAIL>' ed25519 sign never)`,
      EXIT.badInput,
    );
  const signers = (await secretKeys(exec, abs)).filter(canSign);
  if (signers.length !== 1)
    throw new KldloadError(
      signers.length
        ? `${flag} ${home}: holds ${signers.length} secret signing keys (${signers.map((k) => k.fingerprint).join(', ')}); give a GNUPGHOME with exactly one`
        : `${flag} ${home}: holds no usable secret signing key; create one there (GNUPGHOME=${home} gpg --batch --passphrase '' --quick-gen-key 'NAME <EMAIL>' ed25519 sign never) or give another directory`,
      EXIT.badInput,
    );
  const fingerprint = (signers[0] as SecretKey).fingerprint;
  // Builds are unattended: a key that needs a passphrase prompt would stop the build much later.
  const trial = await exec.run(
    ['gpg', '--batch', '--pinentry-mode', 'error', '--local-user', fingerprint, '--clearsign'],
    { env: { GNUPGHOME: abs }, input: 'kldload signing trial\n', check: false },
  );
  if (trial.exitCode !== 0)
    throw new KldloadError(
      `${flag} ${home}: gpg cannot sign with key ${fingerprint} unattended (${trial.all.trim().split('\n').pop() ?? ''}); use a key without a passphrase, or preset its passphrase in gpg-agent`,
      EXIT.badInput,
    );
  const keyring = cacheDir('keyrings', `${fingerprint}.gpg`);
  await exportKeyring(exec, abs, fingerprint, keyring);
  return { home: abs, keyring, fingerprint };
}
