import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { gzipSync } from 'node:zlib';
import { aptSourceLine } from '../core/debian.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { linkOrCopy, safeRemove } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, sha256 } from '../core/paths.ts';
import { parseControl, releaseSums } from '../debian/control.ts';
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

export interface RepoDeb {
  name: string;
  version: string;
  arch: string;
  path: string;
}

/** Where a package lives in the repository's pool (also the Filename the resolver sees for a supplied .deb). */
export function poolName(d: Pick<RepoDeb, 'name' | 'version' | 'arch'>): string {
  const ver = d.version.replace(/^\d+:/, '');
  const prefix = d.name.startsWith('lib') ? d.name.slice(0, 4) : d.name[0];
  return join('pool', REPO.component, prefix ?? '_', d.name, `${d.name}_${ver}_${d.arch}.deb`);
}

/**
 * A real APT repository: pool/, dists/<suite>/main/binary-amd64/Packages(.gz), Release with
 * SHA256 sums, InRelease and Release.gpg signed by the build key. Made with apt-ftparchive.
 */
export async function writeRepo(
  exec: Executor,
  log: Logger,
  o: { dir: string; suite: string; debs: RepoDeb[]; key: SigningKey },
): Promise<void> {
  const tmp = `${o.dir}.tmp`;
  if (existsSync(tmp)) safeRemove(tmp);
  for (const d of o.debs) {
    linkOrCopy(d.path, join(tmp, poolName(d)));
  }
  const dists = join(tmp, 'dists', o.suite);
  const bin = join(dists, REPO.component, 'binary-amd64');
  mkdirSync(bin, { recursive: true });
  const packages = await exec.run(['apt-ftparchive', 'packages', `pool/${REPO.component}`], { cwd: tmp });
  writeFileSync(join(bin, 'Packages'), packages.stdout);
  writeFileSync(join(bin, 'Packages.gz'), gzipSync(packages.stdout));
  const release = await exec.run(
    [
      'apt-ftparchive',
      '-o',
      'APT::FTPArchive::Release::Origin=kldload',
      '-o',
      'APT::FTPArchive::Release::Label=kldload darksite',
      '-o',
      `APT::FTPArchive::Release::Suite=${o.suite}`,
      '-o',
      `APT::FTPArchive::Release::Codename=${o.suite}`,
      '-o',
      'APT::FTPArchive::Release::Architectures=amd64 all',
      '-o',
      `APT::FTPArchive::Release::Components=${REPO.component}`,
      '-o',
      'APT::FTPArchive::Release::MD5=false',
      '-o',
      'APT::FTPArchive::Release::SHA1=false',
      'release',
      '.',
    ],
    { cwd: dists },
  );
  writeFileSync(join(dists, 'Release'), release.stdout);
  const env = { GNUPGHOME: o.key.home };
  await exec.run(
    [
      'gpg',
      '--batch',
      '--yes',
      '--local-user',
      o.key.fingerprint,
      '--clearsign',
      '--output',
      join(dists, 'InRelease'),
      join(dists, 'Release'),
    ],
    { env },
  );
  await exec.run(
    [
      'gpg',
      '--batch',
      '--yes',
      '--local-user',
      o.key.fingerprint,
      '--armor',
      '--detach-sign',
      '--output',
      join(dists, 'Release.gpg'),
      join(dists, 'Release'),
    ],
    { env },
  );
  copyFileSync(o.key.keyring, join(tmp, REPO.keyring));
  if (existsSync(o.dir)) safeRemove(o.dir);
  renameSync(tmp, o.dir);
  log.info(`darksite: ${o.debs.length} packages in ${o.dir}, signed`);
}

export interface VerifyFinding {
  file: string;
  problem: string;
}

/** Signature of InRelease, Packages against it, every .deb against Packages: what apt would check. */
export async function verifyRepo(
  exec: Executor,
  dir: string,
  suite: string,
  keyring = join(dir, REPO.keyring),
): Promise<VerifyFinding[]> {
  const dists = join(dir, 'dists', suite);
  const out: VerifyFinding[] = [];
  const sig = await exec.run(['gpgv', '--keyring', keyring, '--output', '-', join(dists, 'InRelease')], {
    check: false,
  });
  if (sig.exitCode !== 0) return [{ file: join(dists, 'InRelease'), problem: 'bad or missing signature' }];
  const sums = releaseSums(parseControl(sig.stdout)[0]);
  const pk = `${REPO.component}/binary-amd64/Packages`;
  const pkPath = join(dists, pk);
  if (!existsSync(pkPath) || sha256(readFileSync(pkPath)) !== sums.get(pk))
    return [...out, { file: pkPath, problem: 'does not match the signed Release' }];
  for (const s of parseControl(readFileSync(pkPath, 'utf8'))) {
    const f = join(dir, s.get('Filename') ?? '');
    if (!existsSync(f)) out.push({ file: f, problem: 'missing' });
    else if (sha256(readFileSync(f)) !== s.get('SHA256'))
      out.push({ file: f, problem: 'SHA256 mismatch against Packages' });
  }
  return out;
}

/** apt options that make apt-get see only `root` (its own state, lists, cache, sources). */
export function scratchApt(root: string): string[] {
  return [
    '-o',
    `Dir=${root}`,
    '-o',
    `Dir::State::status=${join(root, 'var/lib/dpkg/status')}`,
    '-o',
    'APT::Architecture=amd64',
    '-o',
    'APT::Architectures::=amd64',
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Get::List-Cleanup=0',
  ];
}

export function makeScratchRoot(root: string, sourcesLine: string): void {
  // With Dir= relocated, apt's .d folders are read from here: empty ones keep the host's out.
  for (const d of [
    'etc/apt/sources.list.d',
    'etc/apt/apt.conf.d',
    'etc/apt/preferences.d',
    'var/lib/dpkg',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
  ])
    mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), '');
  writeFileSync(join(root, 'etc/apt/sources.list'), `${sourcesLine}\n`);
}

export const sourcesLine = (dir: string, suite: string, keyring: string) =>
  aptSourceLine({ uri: `file:${dir}`, suite, components: [REPO.component], signedBy: keyring });

/**
 * The build gate: apt itself, on an empty system that sees only the darksite, must be able to
 * install `packages`. Returns apt's complaint (the missing names) when it cannot.
 */
export async function simulateInstall(
  exec: Executor,
  o: { dir: string; suite: string; packages: string[]; scratch: string },
): Promise<{ ok: boolean; output: string }> {
  if (existsSync(o.scratch)) safeRemove(o.scratch);
  makeScratchRoot(o.scratch, sourcesLine(o.dir, o.suite, join(o.dir, REPO.keyring)));
  const apt = scratchApt(o.scratch);
  const up = await exec.run(['apt-get', ...apt, 'update'], { check: false });
  if (up.exitCode !== 0) return { ok: false, output: up.all };
  const r = await exec.run(['apt-get', ...apt, '-s', '--no-install-recommends', 'install', ...o.packages], {
    check: false,
  });
  return { ok: r.exitCode === 0, output: r.all };
}

/** Packages present in a built repository (for `darksite ls` and `darksitePackageNames`). */
export function listRepo(
  dir: string,
  suite: string,
): { name: string; version: string; arch: string; size: number }[] {
  const p = join(dir, 'dists', suite, REPO.component, 'binary-amd64/Packages');
  if (!existsSync(p)) throw new KldloadError(`${dir}: no darksite repository for ${suite}`, EXIT.badInput);
  return parseControl(readFileSync(p, 'utf8')).map((s) => ({
    name: s.get('Package') ?? '',
    version: s.get('Version') ?? '',
    arch: s.get('Architecture') ?? '',
    size: Number(s.get('Size') ?? 0),
  }));
}

/** Names of the packages a built darksite carries: "does the darksite have X" is `.has(X)`. */
export function darksitePackageNames(dir: string, suite: string): Set<string> {
  return new Set(listRepo(dir, suite).map((p) => p.name));
}
