import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { safeRemove } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, sha256 } from '../core/paths.ts';
import { parseControl } from '../debian/control.ts';

/** Where the darksite lives on the ISO, on the live system and (KLDLOAD_KEEP_DARKSITE=1) on the target. */
export const REPO = {
  onMedium: 'kldload/apt',
  keyring: 'kldload-darksite.gpg',
  targetDir: '/var/lib/kldload/darksite',
  targetKeyring: '/usr/share/keyrings/kldload-darksite.gpg',
  /** One-line source list lib.sh's pkg_install uses on first boot (darksite only). */
  firstbootList: '/etc/kldload/darksite.list',
  component: 'main',
};

export interface SigningKey {
  /** GNUPGHOME holding the secret key. */
  home: string;
  /** Binary public keyring for apt's signed-by. */
  keyring: string;
}

/**
 * The build's signing key: generated once into the cache (or a supplied GNUPGHOME), never
 * passphrase-protected because builds are unattended; the public half ships as a signed-by keyring.
 */
export async function ensureSigningKey(exec: Executor, home = cacheDir('darksite-key')): Promise<SigningKey> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const keyring = join(home, REPO.keyring);
  const env = { GNUPGHOME: home };
  const has = await exec.run(['gpg', '--batch', '--list-secret-keys', '--with-colons'], {
    env,
    check: false,
  });
  if (!/^sec:/m.test(has.stdout))
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
  if (!existsSync(keyring)) {
    await exec.run(['gpg', '--batch', '--export', '--output', `${keyring}.tmp`], { env });
    renameSync(`${keyring}.tmp`, keyring);
  }
  return { home, keyring };
}

export interface RepoDeb {
  name: string;
  version: string;
  arch: string;
  path: string;
}

function poolName(d: RepoDeb): string {
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
    const dst = join(tmp, poolName(d));
    mkdirSync(join(dst, '..'), { recursive: true });
    try {
      linkSync(d.path, dst);
    } catch {
      copyFileSync(d.path, dst);
    }
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
    ['gpg', '--batch', '--yes', '--clearsign', '--output', join(dists, 'InRelease'), join(dists, 'Release')],
    { env },
  );
  await exec.run(
    [
      'gpg',
      '--batch',
      '--yes',
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
  const release = parseControl(sig.stdout)[0];
  const sums = new Map(
    (release?.get('SHA256') ?? '')
      .split('\n')
      .map((l: string) => l.trim().split(/\s+/))
      .filter((f: string[]) => f.length === 3)
      .map((f: string[]) => [f[2] as string, f[0] as string] as const),
  );
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
  `deb [signed-by=${keyring}] file:${dir} ${suite} ${REPO.component}`;

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

/** Packages present in a built repository (for `darksite ls`). */
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
