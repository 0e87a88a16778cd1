import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { aptSourceLine } from '../core/debian.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { linkOrCopy, safeRemove } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { sha256 } from '../core/paths.ts';
import { parseControl, releaseSums } from '../debian/control.ts';
import { REPO } from '../layout.ts';
import type { SigningKey } from './signing-key.ts';

/**
 * The darksite as an APT repository: written, signed, verified, listed, and tried with apt on a
 * scratch root. Its signing key: signing-key.ts.
 */

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
