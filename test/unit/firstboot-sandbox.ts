import { join, resolve } from 'node:path';
import type { FirstbootPaths } from '../../src/firstboot/firstboot.ts';

/** The first-boot paths moved under a scratch folder `d`; lib.sh and strict-env.sh are the repo's own. */
export function sandboxPaths(d: string): FirstbootPaths {
  return {
    manifest: join(d, 'manifest.env'),
    script: join(d, 'darksite/postinstall.sh'),
    done: join(d, 'state/firstboot.done'),
    state: join(d, 'state/firstboot.json'),
    postinstallLog: join(d, 'log/postinstall.log'),
    firstbootLog: join(d, 'log/firstboot.log'),
    failure: join(d, 'state/postinstall-failure'),
    lib: resolve('payload/target/postinstall/lib.sh'),
    strictEnv: resolve('payload/target/postinstall/strict-env.sh'),
    darksiteList: join(d, 'etc/darksite.list'),
    darksiteDir: join(d, 'darksite-repo'),
    lock: join(d, 'run/firstboot.lock'),
    roleSettings: join(d, 'etc/role-settings.env'),
    roleSecrets: join(d, 'etc/role-secrets.env'),
  };
}
