/**
 * The cold build's floor for bench/floors.ts: the zfs module compiled alone (the build's own
 * ensureZfsModuleDeb, nothing beside it) for the default suite's kernel, into KLDLOAD_CACHE (a
 * throw-away cache: the module must not be there yet). Prints {"seconds": …} on stdout.
 */

import { existsSync } from 'node:fs';
import { DEFAULT_SUITE } from '../src/core/debian.ts';
import { SystemExecutor } from '../src/core/exec.ts';
import { Logger } from '../src/core/log.ts';
import { hostMirror, loadSuiteIndex } from '../src/debian/archive.ts';
import { ensureZfsModuleDeb, kernelFacts, moduleDebPath } from '../src/image/zfs-module.ts';

const log = new Logger({});
const exec = new SystemExecutor(log);
const mirror = hostMirror();
const index = await loadSuiteIndex(exec, mirror, DEFAULT_SUITE);
const kernel = kernelFacts(index);
if (existsSync(moduleDebPath(kernel)))
  throw new Error(`${moduleDebPath(kernel)} exists: use an empty KLDLOAD_CACHE`);
const t0 = Date.now();
await ensureZfsModuleDeb(exec, log, { mirror, suite: DEFAULT_SUITE, kernel });
console.log(JSON.stringify({ seconds: (Date.now() - t0) / 1000, kabi: kernel.kabi, zfs: kernel.zfsVersion }));
