/**
 * Role settings as roles declare them: `# setting: KEY CHECK [secret]` lines of a role's header
 * (see src/answers/role-settings.ts for the checks and how answers carry them).
 */
import { checkOf, type RoleSetting, SETTING_CHECKS } from '../answers/role-settings.ts';
import { parseHeader, readRoles, rolesDirOf } from './roles.ts';

/** `# setting:` lines of a role's header; malformed lines come back as errors with their line. */
export function settingsFromHeader(
  role: string,
  text: string,
): { settings: RoleSetting[]; errors: { line: number; message: string }[] } {
  const byLine = new Map<number, string[]>();
  for (const w of parseHeader(text).get('setting') ?? [])
    byLine.set(w.line, [...(byLine.get(w.line) ?? []), w.word]);
  const settings: RoleSetting[] = [];
  const errors: { line: number; message: string }[] = [];
  for (const [line, words] of byLine) {
    const [key, check, flag, ...rest] = words;
    if (!key || !/^KLDLOAD_[A-Z0-9_]+$/.test(key))
      errors.push({
        line,
        message: `setting '${key ?? ''}': the key must be KLDLOAD_ and capitals, digits, _`,
      });
    else if (!check || !checkOf(check))
      errors.push({
        line,
        message: `setting ${key}: check '${check ?? ''}' is not one of ${SETTING_CHECKS.join(', ')}`,
      });
    else if ((flag !== undefined && flag !== 'secret') || rest.length)
      errors.push({ line, message: `setting ${key}: expected '# setting: KEY CHECK [secret]'` });
    else settings.push({ key, check, secret: flag === 'secret', role });
  }
  return { settings, errors };
}

/** Settings declared by the roles of a payload folder (or of a roles/ folder given directly). */
export function payloadSettings(dir: string): RoleSetting[] {
  return readRoles(rolesDirOf(dir)).roles.flatMap((r) => settingsFromHeader(r.name, r.text).settings);
}
