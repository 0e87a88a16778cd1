/**
 * `kldload postinstall check DIR`: what can be known about a postinstall payload before it is baked
 * into an ISO. Every .sh file gets `bash -n` and shellcheck; roles/NN-name.sh files get their
 * `# requires:` / `# provides:` headers checked against the order dispatch.sh will run them in, for
 * every host the role map can select (and for a host that matches no prefix: all roles).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Executor, SystemExecutor } from '../core/exec.ts';
import { TARGET } from '../layout.ts';
import {
  type MapEntry,
  planRoles,
  type Role,
  readRoles,
  roleMapOf,
  roleMatches,
  rolesDirOf,
  unmetRequirements,
} from './roles.ts';
import { settingsFromHeader } from './settings.ts';

export type Level = 'error' | 'warning' | 'info';

export interface Finding {
  /** Relative to the checked folder. */
  file: string;
  line?: number;
  column?: number;
  level: Level;
  /** shellcheck code (SC2034) or a short name of the rule. */
  code?: string;
  message: string;
}

export interface CheckOptions {
  /** Folder holding lib.sh, for shellcheck to follow `source` (default: found next to kldload). */
  libDir?: string;
}

/** payload/target/postinstall, from source (src/postinstall) or from the bundle (dist/). */
export function postinstallLibDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, '../../payload/target/postinstall'),
    join(here, '../payload/target/postinstall'),
    TARGET.postinstallLib,
  ];
  const found = candidates.find((c) => existsSync(join(c, 'lib.sh')));
  return found ? resolve(found) : undefined;
}

function shellFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && name.endsWith('.sh')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const rel = (dir: string, p: string) => relative(dir, p).split(sep).join('/') || p;

/** `bash -n`: one finding per reported line, messages of the same line joined. */
async function syntaxCheck(exec: Executor, dir: string, file: string): Promise<Finding[]> {
  const r = await exec.run(['bash', '-n', file], { check: false });
  if (r.exitCode === 0) return [];
  const byLine = new Map<number, string[]>();
  const loose: string[] = [];
  for (const l of r.all.split('\n')) {
    if (!l.trim()) continue;
    const m = /^.*?: line (\d+): (.*)$/.exec(l);
    if (m?.[1]) {
      const n = Number(m[1]);
      byLine.set(n, [...(byLine.get(n) ?? []), (m[2] ?? '').trim()]);
    } else loose.push(l.trim());
  }
  const file_ = rel(dir, file);
  const out: Finding[] = [...byLine].map(([line, msgs]) => ({
    file: file_,
    line,
    level: 'error' as const,
    code: 'syntax',
    message: `bash -n: ${msgs.join(' — ')}`,
  }));
  if (!out.length)
    out.push({
      file: file_,
      level: 'error',
      code: 'syntax',
      message: `bash -n failed (exit ${r.exitCode})${loose.length ? `: ${loose.join(' ')}` : ''}`,
    });
  return out;
}

interface ShellcheckComment {
  file: string;
  line: number;
  column: number;
  level: string;
  code: number;
  message: string;
}

async function shellcheck(exec: Executor, dir: string, files: string[], libDir?: string): Promise<Finding[]> {
  if (!files.length) return [];
  const argv = ['shellcheck', '-x', '-S', 'warning', '-f', 'json1', '-P', 'SCRIPTDIR', '-P', dir];
  if (libDir) argv.push('-P', libDir);
  const r = await exec.run([...argv, ...files], { check: false, cwd: dir });
  let parsed: { comments?: ShellcheckComment[] } | undefined;
  try {
    parsed = JSON.parse(r.stdout) as { comments?: ShellcheckComment[] };
  } catch {
    parsed = undefined;
  }
  if (!parsed || (r.exitCode !== 0 && r.exitCode !== 1)) {
    if (!parsed && r.exitCode === 255 && !r.stdout.trim())
      return [
        {
          file: '.',
          level: 'warning',
          code: 'shellcheck-missing',
          message: 'shellcheck could not be run, so the scripts were not linted (apt-get install shellcheck)',
        },
      ];
    return [
      {
        file: '.',
        level: 'error',
        code: 'shellcheck-failed',
        message: `shellcheck failed (exit ${r.exitCode}): ${r.all.trim().split('\n').slice(-5).join(' ')}`,
      },
    ];
  }
  return (parsed.comments ?? []).map((c) => ({
    file: rel(dir, resolve(dir, c.file)),
    line: c.line,
    column: c.column,
    level: c.level === 'error' ? 'error' : c.level === 'warning' ? 'warning' : 'info',
    code: `SC${c.code}`,
    message: c.message,
  }));
}

/** Header and map checks that need no subprocess. */
function roleFindings(dir: string): Finding[] {
  const rolesDir = rolesDirOf(dir);
  const { roles, ignored } = readRoles(rolesDir);
  const out: Finding[] = [];
  const f = (r: Role) => rel(dir, r.path);
  if (rolesDir !== dir)
    for (const file of ignored)
      out.push({
        file: rel(dir, join(rolesDir, file)),
        level: 'warning',
        code: 'role-name',
        message:
          'the dispatcher does not run this file: role files are named NN-name.sh (e.g. 40-webserver.sh)',
      });
  if (!roles.length) return out;

  for (const r of roles) {
    if (!/^\s*kl_strict\b/m.test(r.text))
      out.push({
        file: f(r),
        level: 'warning',
        code: 'kl-strict',
        message:
          'does not call kl_strict (after sourcing lib.sh): a failure would not be recorded with its line and command',
      });
    for (const w of [...r.requires, ...r.provides])
      if (w.word.includes(','))
        out.push({
          file: f(r),
          line: w.line,
          level: 'warning',
          code: 'header',
          message: `'${w.word}': header words are separated by spaces, not commas`,
        });
    // Answers are checked against these lines at build and install: a broken one is an error now.
    for (const e of settingsFromHeader(r.name, r.text).errors)
      out.push({ file: f(r), line: e.line, level: 'error', code: 'header', message: e.message });
  }

  const { entries, file: mapFile } = roleMapOf(rolesDir);
  const hostRoles = roles.filter((r) => !r.shared && !r.final);
  if (mapFile) {
    const mapRel = rel(dir, mapFile);
    entries.forEach((e, i) => {
      const earlier = entries.slice(0, i).find((p) => p.prefix === '*' || e.prefix.startsWith(p.prefix));
      if (earlier)
        out.push({
          file: mapRel,
          line: e.line,
          level: 'warning',
          code: 'map',
          message: `'${e.prefix}' is never used: line ${earlier.line} ('${earlier.prefix}') matches every host it matches`,
        });
      for (const s of e.selectors)
        if (s !== 'all' && s !== 'none' && !hostRoles.some((r) => roleMatches(r.name, [s])))
          out.push({
            file: mapRel,
            line: e.line,
            level: 'warning',
            code: 'map',
            message: `'${s}' selects no role in ${rel(dir, rolesDir) || '.'} (for hosts '${e.prefix}*')`,
          });
    });
  }

  // Every plan the dispatcher can make: a host no prefix matches (all roles), then each map line.
  const plans: { label: string; selectors: string[] }[] = [
    { label: 'a host that matches no prefix', selectors: ['all'] },
    ...entries.map((e: MapEntry) => ({
      label: e.prefix === '*' ? 'every host' : `hosts '${e.prefix}*'`,
      selectors: e.selectors,
    })),
  ];
  const seen = new Set<string>();
  for (const p of plans) {
    const { run } = planRoles(roles, p.selectors, { chosenRun: !mapFile });
    for (const u of unmetRequirements(run, roles, p.label)) {
      const key = `${u.role.file}\0${u.requirement.line}\0${u.requirement.word}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        file: f(u.role),
        line: u.requirement.line,
        level: 'error',
        code: 'requires',
        message: `${u.role.file} requires '${u.requirement.word}', which no earlier role provides (on ${p.label}): ${u.hint}`,
      });
    }
  }
  return out;
}

const LEVEL_ORDER: Record<Level, number> = { error: 0, warning: 1, info: 2 };

/** All findings for a postinstall folder (a darksite payload, or a roles folder), sorted by file and line. */
export async function check(
  dir: string,
  exec: Executor = new SystemExecutor(),
  opts: CheckOptions = {},
): Promise<Finding[]> {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new KldloadError(`${dir}: not a folder`, EXIT.badInput);
  const files = shellFiles(root);
  const syntax = (await Promise.all(files.map((file) => syntaxCheck(exec, root, file)))).flat();
  const broken = new Set(syntax.map((s) => s.file));
  // A file bash cannot parse is reported once, by bash -n; shellcheck would repeat it less clearly.
  const lintable = files.filter((file) => !broken.has(rel(root, file)));
  const lint = await shellcheck(exec, root, lintable, opts.libDir ?? postinstallLibDir());
  const findings = [...syntax, ...lint, ...roleFindings(root)];
  return findings.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level],
  );
}

export function formatFinding(f: Finding): string {
  const where = f.line ? `${f.file}:${f.line}${f.column ? `:${f.column}` : ''}` : f.file;
  return `${where}: ${f.level}: ${f.message}${f.code?.startsWith('SC') ? ` [${f.code}]` : ''}`;
}
