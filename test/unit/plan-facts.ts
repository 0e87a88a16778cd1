import type { InstallFacts } from '../../src/plan/install.ts';

/** Fixed facts: a golden plan must not change between runs or machines. */
export const FACTS: InstallFacts = {
  root: '/mnt',
  kabi: '6.12.107+deb13-amd64',
  suite: 'trixie',
  image: '/run/live/medium/kldload/target.squashfs',
  bundle: '/run/live/medium/kldload/kldload.mjs',
  payloadDir: '/run/live/medium/kldload/payload',
  postinstallLib: '/run/live/medium/kldload/postinstall',
  aptRepo: '/run/live/medium/kldload/apt',
  hostid: '1abc0fee',
  espGuid: '6a2c7f3e-0b1d-4c55-9e0f-5d7c2b8a9e11',
  stamp: '20261122T031800Z',
  efiVars: true,
  diskReal: '/dev/vda',
  console: ['console=tty0', 'console=ttyS0,115200n8'],
  logFile: '/var/log/kldload/installer.log',
  secureBoot: false,
  tpm: false,
  isoBuild: '5eed1e55c0ffee00',
  reinstall: false,
};
