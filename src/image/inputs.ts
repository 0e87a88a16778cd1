/**
 * The build's input checks, all before any work: embedded answers, payload, files given on the
 * command line, and (once the darksite exists) the packages embedded answers ask for.
 */

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Answers, FIELD_KEYS, type FieldKey, fieldDef } from '../answers/schema.ts';
import { type ValidateOptions, validateAnswersFile } from '../answers/validate.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { profilePackages } from '../package-sets/package-sets.ts';
import { check, formatFinding } from '../postinstall/check.ts';
import { payloadSettings } from '../postinstall/settings.ts';
import { readGolden } from './golden.ts';
import { availableRoles, expandRoles, librarySettings } from './role-library.ts';
import type { BuildOptions } from './spec.ts';

/** What to do instead of embedding a secret in plain text, per key; secrets not listed get the seed-stick advice. */
const PLAIN_SECRET_ADVICE: Partial<Record<FieldKey, string>> = {
  KLDLOAD_PASSWORD: "use KLDLOAD_PASSWORD_HASH='$y$…' instead (mkpasswd -m yescrypt)",
  KLDLOAD_ROOT_PASSWORD:
    'leave it unset (root stays locked, the administrator has sudo) or set it after the install',
  KLDLOAD_ZFS_PASSPHRASE:
    'a passphrase has no hashed form: give the answers on a KLDLOADSEED USB stick at install time instead of embedding them',
  KLDLOAD_POSTINSTALL_URL:
    'a token in it is readable too: use a URL without a token (pin it with KLDLOAD_POSTINSTALL_SHA256), or give the answers on a KLDLOADSEED USB stick',
};
/** Secret keys whose value is already one-way (a crypt hash): safe enough on the medium. */
const HASHED_SECRETS = new Set<FieldKey>(['KLDLOAD_PASSWORD_HASH']);

/** One warning per secret that `build --answers` would put on the ISO readable by anyone holding it. */
export function embeddedSecretWarnings(file: string, a: Answers): string[] {
  return FIELD_KEYS.filter((k) => fieldDef(k).secret && !HASHED_SECRETS.has(k) && a[k] !== undefined).map(
    (k) =>
      `WARNING: --answers ${file}: ${k} goes onto the ISO in plain text (anyone with the ISO can read it); ${
        PLAIN_SECRET_ADVICE[k] ?? 'give it on a KLDLOADSEED USB stick at install time instead'
      }`,
  );
}

/**
 * Role settings embedded answers may carry: those of the chosen roles (with the ones they pull in)
 * and of the payload's own roles; the library's others are named in the error when given.
 */
export function buildSettings(o: Pick<BuildOptions, 'roles' | 'payload'>): ValidateOptions {
  const chosen = expandRoles(o.roles);
  const payloadDir = o.payload && existsSync(o.payload) ? o.payload : undefined;
  return {
    roleSettings: [...librarySettings(chosen), ...(payloadDir ? payloadSettings(payloadDir) : [])],
    otherSettings: librarySettings(availableRoles().filter((r) => !chosen.includes(r))),
  };
}

export function checkBuildInputs(o: BuildOptions, warn: (m: string) => void = () => undefined): void {
  if (o.answers) {
    const v = validateAnswersFile(o.answers, buildSettings(o));
    if (!v.ok)
      throw new KldloadError(
        `--answers ${o.answers} is invalid; refusing to embed it:\n${v.errors.map((e) => e.text).join('\n')}`,
        EXIT.badInput,
      );
    for (const w of v.warnings) warn(`WARNING: ${w.text}`);
    for (const w of embeddedSecretWarnings(o.answers, v.answers)) warn(w);
  }
  if (o.payload && !(existsSync(o.payload) && statSync(o.payload).isDirectory()))
    throw new KldloadError(`--payload ${o.payload}: not a directory`, EXIT.badInput);
  if (o.zbm && !existsSync(o.zbm)) throw new KldloadError(`--zbm ${o.zbm}: no such file`, EXIT.badInput);
  if (o.golden) readGolden(o.golden);
  if (!existsSync(o.bundle)) throw new KldloadError(`kldload bundle ${o.bundle} missing: run npm run bundle`);
  profilePackages(o.profile, o.extraPackages);
}

/** Embedded answers may only ask for packages the darksite really carries. */
export function checkEmbeddedExtras(
  answersFile: string,
  available: string[],
  settings: ValidateOptions,
): void {
  const v = validateAnswersFile(answersFile, settings);
  if (!v.ok) return;
  const have = new Set(available);
  const missing = (v.answers.KLDLOAD_EXTRA_PACKAGES ?? []).filter((n) => !have.has(n));
  if (missing.length)
    throw new KldloadError(
      `${answersFile}:${v.lines.KLDLOAD_EXTRA_PACKAGES}: KLDLOAD_EXTRA_PACKAGES: ${missing.join(', ')} not on the darksite; add them with --packages`,
      EXIT.badInput,
    );
}

/** A broken postinstaller never goes into an ISO: bash -n, shellcheck and role order, before building. */
export async function checkPayload(exec: Executor, log: Logger, payload: string): Promise<void> {
  const hasScripts = existsSync(join(payload, 'postinstall.sh')) || existsSync(join(payload, 'roles'));
  if (!hasScripts) return;
  const findings = await check(payload, exec);
  for (const f of findings.filter((x) => x.level !== 'info'))
    log.info(`postinstall check: ${formatFinding(f)}`);
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length)
    throw new KldloadError(
      `--payload ${payload}: the postinstaller has errors; fix them (kldload postinstall check ${payload}):\n${errors.map(formatFinding).join('\n')}`,
      EXIT.badInput,
    );
}
