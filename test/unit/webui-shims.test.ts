/**
 * The page validates with the answers schema compiled for the browser, where node:net and Buffer are
 * shims (src/webui/page/shims). They must agree with Node's on what the validators ask them, or the
 * page would refuse what the server takes (or the other way round).
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { Buffer as PageBuffer } from '../../src/webui/page/shims/buffer.ts';
import { isIP as pageIsIP } from '../../src/webui/page/shims/net.ts';

const ADDRESSES = [
  '10.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '256.1.1.1',
  '10.0.0',
  '10.0.0.01',
  '1.2.3.4.5',
  ' 10.0.0.1',
  '::',
  '::1',
  'fe80::1',
  'fe80::1%eth0',
  'fe80::1%',
  'fe80::1%a%b',
  '10.0.0.1%eth0',
  '2001:db8::8a2e:370:7334',
  '2001:db8:0:0:0:0:2:1',
  '2001:db8::1::2',
  '::ffff:192.0.2.1',
  'gggg::1',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '',
  'localhost',
];

test('the page’s isIP agrees with Node’s on every address form the answers use', () => {
  for (const a of ADDRESSES) assert.equal(pageIsIP(a), isIP(a), `isIP(${JSON.stringify(a)})`);
});

test('the page’s Buffer reads an ssh key blob and base64 text as Node’s does', () => {
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.alloc(36, 7)]);
  const b64 = blob.toString('base64');
  // The npm package the page carries, not Node's own under another name.
  assert.notEqual(PageBuffer, Buffer);
  const mine = PageBuffer.from(b64, 'base64');
  assert.equal(mine.readUInt32BE(0), 11);
  assert.equal(mine.subarray(4, 15).toString(), 'ssh-ed25519');
  const script = '#!/bin/sh\necho héllo\n';
  assert.equal(PageBuffer.from(Buffer.from(script).toString('base64'), 'base64').toString('utf8'), script);
});
