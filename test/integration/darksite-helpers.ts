/** Shared by the darksite tests: real .deb files made with dpkg-deb, real gpg homes. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestDeb {
  name: string;
  version: string;
  arch?: string;
  depends?: string;
  preDepends?: string;
  provides?: string;
}

/** Builds `<dir>/<name>_<version>_<arch>.deb` with dpkg-deb --build (one small file inside). */
export function makeDeb(dir: string, d: TestDeb): string {
  const arch = d.arch ?? 'all';
  const root = join(dir, `src-${d.name}-${d.version}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr/share/doc', d.name), { recursive: true });
  writeFileSync(
    join(root, 'usr/share/doc', d.name, 'README'),
    `${d.name} ${d.version}: a kldload test package\n`,
  );
  const fields = [
    `Package: ${d.name}`,
    `Version: ${d.version}`,
    `Architecture: ${arch}`,
    'Maintainer: kldload tests <tests@kldload.invalid>',
    'Priority: optional',
    'Section: misc',
    ...(d.preDepends ? [`Pre-Depends: ${d.preDepends}`] : []),
    ...(d.depends ? [`Depends: ${d.depends}`] : []),
    ...(d.provides ? [`Provides: ${d.provides}`] : []),
    `Description: kldload test package ${d.name}`,
    ' Built by the darksite tests with dpkg-deb --build.',
  ];
  writeFileSync(join(root, 'DEBIAN/control'), `${fields.join('\n')}\n`);
  const out = join(dir, `${d.name}_${d.version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out], { stdio: 'pipe' });
  return out;
}

/** A fresh GNUPGHOME with one passphrase-less ed25519 signing key; returns its fingerprint. */
export function makeGpgHome(
  home: string,
  uid = 'kldload test <test@kldload.invalid>',
  usage = 'sign',
): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  execFileSync('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', usage, 'never'], {
    env: { ...process.env, GNUPGHOME: home },
    stdio: 'pipe',
  });
  const list = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], {
    env: { ...process.env, GNUPGHOME: home },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return /^fpr:(?:[^:]*:){8}([0-9A-F]+):/m.exec(list)?.[1] ?? '';
}

/** Stops the gpg-agent a test started for `home` (each GNUPGHOME gets its own). */
export function killAgent(home: string): void {
  try {
    execFileSync('gpgconf', ['--kill', 'gpg-agent'], {
      env: { ...process.env, GNUPGHOME: home },
      stdio: 'pipe',
    });
  } catch {
    // no agent running
  }
}
