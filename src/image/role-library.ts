import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import type { RoleSetting } from '../answers/role-settings.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { cacheDir } from '../core/paths.ts';
import { type PackageEntry, profilesDir, readPackageSet } from '../package-sets/package-sets.ts';
import { postinstallLibDir } from '../postinstall/check.ts';
import { BASE_PROVIDES, parseHeader } from '../postinstall/roles.ts';
import { settingsFromHeader } from '../postinstall/settings.ts';

/** The role library shipped with kldload: roles/<name>/role.sh and roles/<name>/packages.list. */
export function rolesDir(): string {
  return join(profilesDir(), '../roles');
}

export function availableRoles(): string[] {
  const d = rolesDir();
  return existsSync(d)
    ? readdirSync(d)
        .filter((n) => existsSync(join(d, n, 'role.sh')))
        .sort()
    : [];
}

function checkRoles(roles: string[]): void {
  const have = availableRoles();
  const unknown = roles.filter((r) => !have.includes(r));
  if (unknown.length)
    throw new KldloadError(
      `--role ${unknown.join(', ')}: no such role; available: ${have.join(', ')}`,
      EXIT.badInput,
    );
}

function header(role: string, key: string): string[] {
  const h = parseHeader(readFileSync(join(rolesDir(), role, 'role.sh'), 'utf8'));
  return (h.get(key) ?? []).map((w) => w.word);
}

/**
 * The selected roles plus every library role they need: a role whose `# requires:` names something
 * no selected role (nor the base system) provides pulls in the library role that provides it
 * (`--role xmpp` brings postgres and web). Order: as given, additions after their dependents' request.
 */
export function expandRoles(roles: string[], log?: (msg: string) => void): string[] {
  checkRoles(roles);
  const library = availableRoles();
  const out = [...new Set(roles)];
  for (let i = 0; i < out.length; i++) {
    const role = out[i] as string;
    for (const need of header(role, 'requires')) {
      if (BASE_PROVIDES.includes(need)) continue;
      if (out.some((r) => header(r, 'provides').includes(need))) continue;
      const by = library.find((r) => header(r, 'provides').includes(need));
      if (!by)
        throw new KldloadError(
          `--role ${role}: requires '${need}', which no library role provides; add a role that provides it to --payload`,
          EXIT.badInput,
        );
      out.push(by);
      log?.(`role ${role} requires '${need}': adding role ${by}`);
    }
  }
  return out;
}

/** Settings the library roles NAMES declare (every library role when NAMES is not given). */
export function librarySettings(names: readonly string[] = availableRoles()): RoleSetting[] {
  checkRoles([...names]);
  return names.flatMap(
    (r) => settingsFromHeader(r, readFileSync(join(rolesDir(), r, 'role.sh'), 'utf8')).settings,
  );
}

/**
 * Packages Debian does not carry that ROLES use when the user supplies their .debs (`# wants-debs:`):
 * role → names missing from HAVE. The build warns; the roles say the same on first boot.
 */
export function missingWantedDebs(roles: string[], have: Set<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of roles) {
    const missing = header(r, 'wants-debs').filter((n) => !have.has(n));
    if (missing.length) out.set(r, missing);
  }
  return out;
}

/** Packages the selected roles install on first boot: they go onto the darksite. */
export function rolePackages(roles: string[]): PackageEntry[] {
  checkRoles(roles);
  return roles.flatMap((r) => {
    const f = join(rolesDir(), r, 'packages.list');
    return existsSync(f) ? readPackageSet(f).map((p) => ({ ...p, from: `roles/${r}/${p.from}` })) : [];
  });
}

/** OCI / docker-save archives are tar files: refuse anything else before it costs ISO space. */
function checkImage(path: string): void {
  if (!existsSync(path) || !statSync(path).isFile())
    throw new KldloadError(`--image ${path}: no such file`, EXIT.badInput);
  const head = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (head.subarray(257, 262).toString('latin1') !== 'ustar')
    throw new KldloadError(
      `--image ${path}: not a tar archive (docker save / OCI image tarball expected)`,
      EXIT.badInput,
    );
}

function order(role: string): string {
  const m = /^# order: (\d{2})$/m.exec(readFileSync(join(rolesDir(), role, 'role.sh'), 'utf8'));
  return m?.[1] ?? '50';
}

/**
 * A library role as chosen with --role: `# chosen: build` in its header (after the #! line), so the
 * dispatcher runs it on every host unless the user's roles/map or KLDLOAD_ROLES selects instead.
 */
export function markChosen(text: string): string {
  const line = '# chosen: build\n';
  if (!text.startsWith('#!')) return line + text;
  const nl = text.indexOf('\n') + 1;
  return text.slice(0, nl) + line + text.slice(nl);
}

/**
 * The payload that goes onto the ISO: the user's --payload, plus roles/NN-<role>.sh for every
 * --role, plus the dispatcher as postinstall.sh when the user brought none. Without roles the
 * user's folder is used as it is.
 */
export function assemblePayload(
  userPayload: string | undefined,
  roles: string[],
  images: string[] = [],
): string | undefined {
  if (!roles.length && !images.length) return userPayload;
  checkRoles(roles);
  for (const img of images) checkImage(img);
  // Not under cache/tmp: the build lock empties that folder when it starts.
  mkdirSync(cacheDir('payloads'), { recursive: true });
  const dir = mkdtempSync(join(cacheDir('payloads'), 'payload-'));
  if (userPayload) cpSync(userPayload, dir, { recursive: true, dereference: true });
  if (images.length) mkdirSync(join(dir, 'images'), { recursive: true });
  for (const img of images) copyFileSync(img, join(dir, 'images', basename(img)));
  if (!roles.length) return dir;
  mkdirSync(join(dir, 'roles'), { recursive: true });
  for (const r of roles) {
    const dst = join(dir, 'roles', `${order(r)}-${r}.sh`);
    writeFileSync(dst, markChosen(readFileSync(join(rolesDir(), r, 'role.sh'), 'utf8')), { mode: 0o755 });
  }
  if (!existsSync(join(dir, 'postinstall.sh'))) {
    const lib = postinstallLibDir();
    if (!lib) throw new KldloadError('postinstall library (dispatch.sh) not found next to kldload');
    copyFileSync(join(lib, 'dispatch.sh'), join(dir, 'postinstall.sh'));
  }
  return dir;
}
