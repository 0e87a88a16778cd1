/**
 * One list of suites and profiles, one APT source line, one definition of the options several
 * commands share: what each gives, and that the answers schema and the CLI refuse the same values.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { FIELDS } from '../../src/answers/schema.ts';
import {
  dryRunOption,
  jsonOption,
  mirrorOption,
  profileOption,
  repeat,
  suiteOption,
} from '../../src/cli/options.ts';
import {
  aptSourceLine,
  aptSourceStanza,
  DEBIAN_KEYRING,
  PROFILES,
  quotedChoices,
  SUITES,
} from '../../src/core/debian.ts';
import { profilesDir } from '../../src/package-sets/package-sets.ts';

test('quotedChoices: a closed list for messages', () => {
  assert.equal(quotedChoices(['trixie', 'bookworm']), "'trixie' or 'bookworm'");
  assert.equal(quotedChoices(['core', 'server', 'desktop']), "'core', 'server' or 'desktop'");
  assert.equal(quotedChoices(['debian']), "'debian'");
});

test('aptSourceLine: deb [signed-by=KEYRING] URI SUITE COMPONENTS', () => {
  assert.equal(
    aptSourceLine({ uri: 'file:/srv/ds', suite: 'trixie', components: ['main'], signedBy: '/k.gpg' }),
    'deb [signed-by=/k.gpg] file:/srv/ds trixie main',
  );
  assert.equal(
    aptSourceLine({
      uri: 'http://deb.debian.org/debian',
      suite: 'bookworm',
      components: ['main', 'contrib'],
      signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
    }),
    'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main contrib',
  );
});

test('aptSourceStanza: one deb822 stanza, lists space separated', () => {
  assert.equal(
    aptSourceStanza({
      uri: 'http://deb.debian.org/debian',
      suites: ['trixie', 'trixie-updates'],
      components: ['main', 'contrib'],
      signedBy: DEBIAN_KEYRING,
    }),
    'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
});

test('every profile has its list file', () => {
  for (const p of PROFILES) assert.ok(existsSync(join(profilesDir(), `${p}.list`)), `profiles/${p}.list`);
});

test('the answers schema takes exactly the suites and profiles of the one list, with their messages', () => {
  for (const key of ['KLDLOAD_DEBIAN_SUITE', 'KLDLOAD_SUITE'] as const) {
    for (const s of SUITES) assert.ok(FIELDS[key].schema.safeParse(s).success, `${key}=${s}`);
    const bad = FIELDS[key].schema.safeParse('sid');
    assert.equal(bad.success, false);
    assert.equal(bad.error?.issues[0]?.message, "must be 'trixie' or 'bookworm'");
  }
  for (const p of PROFILES) assert.ok(FIELDS.KLDLOAD_PROFILE.schema.safeParse(p).success, p);
  const bad = FIELDS.KLDLOAD_PROFILE.schema.safeParse('minimal');
  assert.equal(bad.error?.issues[0]?.message, "must be 'core', 'server' or 'desktop'");
  assert.equal(FIELDS.KLDLOAD_DEBIAN_SUITE.default, 'trixie');
  assert.equal(FIELDS.KLDLOAD_PROFILE.default, 'server');
});

/** A throw-away command with the shared options; parse() returns its options or the usage error. */
function parse(argv: string[]): Record<string, unknown> | CommanderError {
  const c = new Command('t')
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .addOption(profileOption())
    .addOption(suiteOption('Debian suite'))
    .addOption(mirrorOption())
    .option('--role <name>', 'repeatable', repeat, [] as string[])
    .addOption(dryRunOption())
    .addOption(jsonOption());
  try {
    return c.parse(argv, { from: 'user' }).opts();
  } catch (e) {
    if (e instanceof CommanderError) return e;
    throw e;
  }
}

test('shared options: defaults, the one lists of suites and profiles, repeatable values', () => {
  assert.deepEqual(parse([]), { profile: 'server', suite: 'trixie', role: [] });
  assert.deepEqual(
    parse([
      '--profile',
      'desktop',
      '--suite',
      'bookworm',
      '--mirror',
      'http://m/debian',
      '--role',
      'a',
      '--role',
      'b',
      '--dry-run',
      '--json',
    ]),
    {
      profile: 'desktop',
      suite: 'bookworm',
      mirror: 'http://m/debian',
      role: ['a', 'b'],
      dryRun: true,
      json: true,
    },
  );
  const badSuite = parse(['--suite', 'sid']);
  assert.ok(badSuite instanceof CommanderError);
  assert.match(badSuite.message, /--suite.*must be one of trixie, bookworm/);
  const badProfile = parse(['--profile', 'minimal']);
  assert.ok(badProfile instanceof CommanderError);
  assert.match(badProfile.message, /--profile.*must be one of core, server, desktop/);
});

test('each shared option is a new Option: two commands never share one', () => {
  assert.notEqual(jsonOption(), jsonOption());
  assert.equal(jsonOption().description, 'machine-readable result');
  assert.equal(dryRunOption().description, 'print the plan and change nothing');
  assert.equal(profileOption().description, 'package profile: core, server, desktop');
});
