import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { check, formatFinding } from '../../postinstall/check.ts';
import {
  hostSelectors,
  matchHost,
  planRoles,
  readRoles,
  roleMapOf,
  rolesDirOf,
  unmetRequirements,
} from '../../postinstall/roles.ts';
import { newRole } from '../../postinstall/scaffold.ts';
import { jsonOption, type Run } from '../options.ts';

const wordList = (v: string) => v.split(/[\s,]+/).filter(Boolean);

function roleNumber(v: string): number {
  if (!/^[0-9]{1,3}$/.test(v)) throw new InvalidArgumentError('a number 0-999');
  return Number(v);
}

export function postinstallCommand(program: Command, run: Run) {
  const pi = program
    .command('postinstall')
    .description('Postinstall payloads: roles run on first boot by the dispatcher (postinstall.sh)');

  pi.command('new')
    .description('write roles/NN-NAME.sh from the role template (next free NN)')
    .requiredOption('--role <name>', 'role name, e.g. webserver')
    .option('--requires <words>', 'capabilities earlier roles provide (comma or space separated)')
    .option('--provides <words>', 'capabilities this role provides (default: the role name)')
    .option('--shared', 'run on every host, before the host roles (numbered 00-09)')
    .option('--number <nn>', 'use this NN instead of the next free one', roleNumber)
    .option('--description <text>', 'one line for the header')
    .addOption(jsonOption())
    .argument('<dir>', 'the payload folder (copied to /root/darksite) or its roles/ folder')
    .action(
      (
        dir: string,
        o: {
          role: string;
          requires?: string;
          provides?: string;
          shared?: boolean;
          number?: number;
          description?: string;
          json?: boolean;
        },
      ) =>
        run(async () => {
          const r = newRole(dir, o.role, {
            ...(o.requires !== undefined ? { requires: wordList(o.requires) } : {}),
            ...(o.provides !== undefined ? { provides: wordList(o.provides) } : {}),
            ...(o.shared ? { shared: true } : {}),
            ...(o.number !== undefined ? { number: o.number } : {}),
            ...(o.description !== undefined ? { description: o.description } : {}),
          });
          return { exitCode: 0, json: { ok: true, ...r }, text: `wrote ${r.path}` };
        }, !!o.json),
    );

  pi.command('check')
    .description('bash -n, shellcheck and role requires/provides order; exit 1 on errors')
    .argument('<dir>', 'the payload folder (copied to /root/darksite) or a roles/ folder')
    .addOption(jsonOption())
    .action((dir: string, o: { json?: boolean }) =>
      run(async () => {
        const findings = await check(dir, new SystemExecutor());
        const errors = findings.filter((f) => f.level === 'error').length;
        const warnings = findings.filter((f) => f.level === 'warning').length;
        const summary =
          errors || warnings
            ? `postinstall check: ${errors} error(s), ${warnings} warning(s)`
            : 'postinstall check: ok';
        return {
          exitCode: errors ? 1 : 0,
          json: { ok: errors === 0, dir: resolve(dir), errors, warnings, findings },
          text: [...findings.map(formatFinding), summary].join('\n'),
        };
      }, !!o.json),
    );

  pi.command('plan')
    .description('the roles the dispatcher would run on a host, in order')
    .argument('<dir>', 'the payload folder or a roles/ folder')
    .requiredOption('--host <name>', 'the host name (KLDLOAD_HOSTNAME)')
    .addOption(jsonOption())
    .action((dir: string, o: { host: string; json?: boolean }) =>
      run(async () => {
        const root = resolve(dir);
        // A mistyped folder would otherwise plan zero roles and look like success.
        if (!existsSync(root) || !statSync(root).isDirectory())
          throw new KldloadError(
            `${dir}: no such folder; give the payload folder or its roles/ folder`,
            EXIT.badInput,
          );
        const rolesDir = rolesDirOf(root);
        const { roles } = readRoles(rolesDir);
        const { entries, file } = roleMapOf(rolesDir);
        const selectors = hostSelectors(o.host, entries);
        const entry = matchHost(o.host, entries);
        const { run: plan, unselected } = planRoles(roles, selectors, { chosenRun: !file });
        const unmet = unmetRequirements(plan, roles, `host ${o.host}`);
        const from = entry
          ? `${file ?? 'built-in map'} line ${entry.line} ('${entry.prefix}')`
          : 'no prefix matched';
        return {
          exitCode: unmet.length ? 1 : 0,
          json: {
            ok: unmet.length === 0,
            host: o.host,
            selectors,
            run: plan.map((r) => r.file),
            unselected: unselected.map((r) => r.file),
            unmet: unmet.map((u) => ({ role: u.role.file, requires: u.requirement.word, hint: u.hint })),
          },
          text: [
            `host ${o.host}: selectors ${selectors.join(' ')} (${from})`,
            ...plan.map((r, i) => `${String(i + 1).padStart(3)}. ${r.file}${r.shared ? ' (shared)' : ''}`),
            ...(unselected.length ? [`not for this host: ${unselected.map((r) => r.file).join(' ')}`] : []),
            ...unmet.map(
              (u) =>
                `error: ${u.role.file} requires '${u.requirement.word}', which no earlier role provides: ${u.hint}`,
            ),
          ].join('\n'),
        };
      }, !!o.json),
    );
}
