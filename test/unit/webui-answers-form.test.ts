/**
 * The wizard's form and answers files (src/webui/page/answers-form.ts): an uploaded file comes back
 * out of the form with every key and value it had (the wizard's own and the ones it has no field
 * for), disks named as the wizard offers them, and what the form writes is valid answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEnvText } from '../../src/answers/parse.ts';
import type { RoleSetting } from '../../src/answers/role-settings.ts';
import { FIELD_KEYS } from '../../src/answers/schema.ts';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { answersText, emptyForm, fromUpload, WIZARD_KEYS } from '../../src/webui/page/answers-form.ts';

const SETTINGS: RoleSetting[] = [
  { key: 'KLDLOAD_CI_TOKEN', check: 'token', secret: true, role: 'ci-runner' },
];
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host';

/** A valid file using keys the wizard edits and many it does not, with values that need quoting. */
const FILE = `KLDLOAD_HOSTNAME=web-01.example.net
KLDLOAD_ZFS_TOPOLOGY=mirror
KLDLOAD_DISK=/dev/sdb
KLDLOAD_ZFS_DATA_DISKS=/dev/sdb /dev/disk/by-id/ata-B
KLDLOAD_FORCE_WIPE=1
KLDLOAD_USERNAME=ops
KLDLOAD_PASSWORD='Tr0ub4dor #3 "x"'
KLDLOAD_ROOT_PASSWORD='root pw $HOME'
KLDLOAD_SSH_PUBKEY="${KEY}"
KLDLOAD_ADMIN_SSH_PUBKEY="${KEY}"
KLDLOAD_NET_METHOD=static
KLDLOAD_NET_IP=10.0.0.5
KLDLOAD_NET_PREFIX=24
KLDLOAD_NET_GW=10.0.0.1
KLDLOAD_NET_DNS=10.0.0.1 9.9.9.9
KLDLOAD_POOL_NAME=tank
KLDLOAD_ZFS_ASHIFT=13
KLDLOAD_ESP_SIZE=1G
KLDLOAD_NO_AUTO_REBOOT=1
KLDLOAD_KEYBOARD_VARIANT=dvorak
KLDLOAD_ZFS_ENCRYPT=1
KLDLOAD_ZFS_PASSPHRASE='long enough passphrase'
KLDLOAD_CI_TOKEN=abcdefgh1234
`;

const entries = (text: string) => new Map([...parseEnvText(text).entries].map(([k, e]) => [k, e.value]));

test('an uploaded file comes back with every key and value, the ones the wizard has no field for too', () => {
  assert.ok(validateAnswersText(FILE, 'in', { roleSettings: SETTINGS }).ok);
  const form = fromUpload(FILE, SETTINGS);
  assert.deepEqual(
    form.kept.map(([k]) => k),
    [
      'KLDLOAD_ROOT_PASSWORD',
      'KLDLOAD_ADMIN_SSH_PUBKEY',
      'KLDLOAD_NET_PREFIX',
      'KLDLOAD_POOL_NAME',
      'KLDLOAD_ZFS_ASHIFT',
      'KLDLOAD_ESP_SIZE',
      'KLDLOAD_NO_AUTO_REBOOT',
      'KLDLOAD_KEYBOARD_VARIANT',
    ],
  );
  const out = answersText(form, SETTINGS);
  assert.ok(validateAnswersText(out, 'out', { roleSettings: SETTINGS }).ok, out);
  const back = entries(out);
  for (const [k, v] of entries(FILE)) assert.equal(back.get(k), v, k);
});

test('disks are named as the wizard offers them: one disk never enters the pool under two names', () => {
  const offered = (p: string) => (p === '/dev/sdb' ? '/dev/disk/by-id/ata-A' : p);
  const form = fromUpload(FILE, SETTINGS, offered);
  assert.deepEqual(form.disks, ['/dev/disk/by-id/ata-A', '/dev/disk/by-id/ata-B']);
  const twice = fromUpload(
    'KLDLOAD_HOSTNAME=a\nKLDLOAD_PASSWORD=pw1\nKLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_DISK=/dev/sdb\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb /dev/disk/by-id/ata-A\n',
    [],
    offered,
  );
  assert.deepEqual(twice.disks, ['/dev/disk/by-id/ata-A']);
});

test('every answers key is either a wizard field or kept from an upload', () => {
  for (const k of FIELD_KEYS) {
    const form = fromUpload(`${k}=x\n`, []);
    const kept = form.kept.some(([key]) => key === k);
    assert.ok(WIZARD_KEYS.includes(k) !== kept, k);
  }
});

test('an empty form writes only defaults it must name: profile, layout, user, locale', () => {
  const out = entries(answersText(emptyForm(), []));
  assert.deepEqual(
    [...out.keys()],
    [
      'KLDLOAD_PROFILE',
      'KLDLOAD_DEBIAN_SUITE',
      'KLDLOAD_ZFS_TOPOLOGY',
      'KLDLOAD_USERNAME',
      'KLDLOAD_TIMEZONE',
      'KLDLOAD_LOCALE',
      'KLDLOAD_KEYBOARD_LAYOUT',
      'KLDLOAD_NET_METHOD',
    ],
  );
});
