/**
 * Packages Debian does not carry (kubeadm, gitlab-runner, grafana…), supplied by the user as .deb
 * files (`--deb FILE`, or `debs/*.deb` in the --payload folder). Each is checked before any work;
 * its control stanza joins the resolver as a candidate, so its dependencies come from the archive.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { parseControl, type Stanza } from '../debian/control.ts';
import { poolName, type RepoDeb } from './repo.ts';

/** The darksite is single-architecture: amd64, plus architecture-independent packages. */
export const SUPPLIED_ARCHES = ['amd64', 'all'] as const;

export interface SuppliedDeb extends RepoDeb {
  /** How the user gave it: `--deb` or `--payload DIR debs/`. */
  from: string;
  sha256: string;
  size: number;
  /** The .deb's control stanza plus Filename/SHA256/Size, as a Packages index would list it. */
  stanza: Stanza;
}

export interface DebSource {
  path: string;
  from: string;
}

/** `debs/*.deb` of a payload folder, in name order; they count as if given with --deb. */
export function payloadDebs(payload: string | undefined): DebSource[] {
  const dir = payload ? join(payload, 'debs') : '';
  if (!dir || !existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.deb'))
    .sort()
    .map((n) => ({ path: join(dir, n), from: `--payload ${payload} debs/` }));
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

async function inspectOne(exec: Executor, src: DebSource): Promise<SuppliedDeb> {
  const where = suppliedLabel(src);
  if (!existsSync(src.path))
    throw new KldloadError(`${where}: no such file; give the path of a .deb package`, EXIT.badInput);
  if (!statSync(src.path).isFile())
    throw new KldloadError(`${where}: not a file; give the path of a .deb package`, EXIT.badInput);
  const r = await exec.run(['dpkg-deb', '--field', src.path], { check: false });
  const stanza = r.exitCode === 0 ? parseControl(r.stdout)[0] : undefined;
  const name = stanza?.get('Package') ?? '';
  const version = stanza?.get('Version') ?? '';
  const arch = stanza?.get('Architecture') ?? '';
  if (!stanza || !name || !version || !arch)
    throw new KldloadError(
      `${where}: not a readable Debian package (dpkg-deb --field: ${r.all.trim().split('\n')[0] || 'no Package/Version/Architecture'}); give a .deb made by dpkg-deb --build or downloaded from the vendor`,
      EXIT.badInput,
    );
  if (!(SUPPLIED_ARCHES as readonly string[]).includes(arch))
    throw new KldloadError(
      `${where}: ${name} ${version} is built for ${arch}; the darksite is amd64: supply the amd64 (or all) build of it`,
      EXIT.badInput,
    );
  const sha256 = await fileSha256(src.path);
  const size = statSync(src.path).size;
  const path = resolve(src.path);
  const indexed: Stanza = new Map(stanza);
  indexed.set('Filename', poolName({ name, version, arch }));
  indexed.set('SHA256', sha256);
  indexed.set('Size', String(size));
  return { name, version, arch, path, from: src.from, sha256, size, stanza: indexed };
}

/** `--deb /x/a.deb` or `--payload P debs/a.deb`: how errors name a supplied file. */
export function suppliedLabel(d: Pick<SuppliedDeb, 'from' | 'path'> | DebSource): string {
  return d.from === '--deb' ? `--deb ${d.path}` : `${d.from}${d.path.split('/').pop() ?? d.path}`;
}

/**
 * Validates every supplied .deb before any work: it exists, dpkg-deb reads its control fields,
 * its architecture is amd64 or all. The same file given twice counts once; two different files
 * of one package name are refused (the darksite would carry two candidates for one name).
 */
export async function inspectDebs(exec: Executor, sources: readonly DebSource[]): Promise<SuppliedDeb[]> {
  const seen = new Set<string>();
  const out: SuppliedDeb[] = [];
  for (const src of sources) {
    const d = await inspectOne(exec, src);
    const real = realpathSync(d.path);
    if (seen.has(real) || out.some((o) => o.sha256 === d.sha256)) continue;
    const clash = out.find((o) => o.name === d.name);
    if (clash)
      throw new KldloadError(
        `${suppliedLabel(d)} and ${suppliedLabel(clash)} are both package ${d.name} (${d.version}, ${clash.version}); give only one of them`,
        EXIT.badInput,
      );
    seen.add(real);
    out.push(d);
  }
  return out;
}
