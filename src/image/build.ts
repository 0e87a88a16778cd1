import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { safeRemove, takeBuildLock } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, contentKey } from '../core/paths.ts';
import { buildDarksite } from '../darksite/darksite.ts';
import { listRepo } from '../darksite/repo.ts';
import { type SigningKey, suppliedSigningKey } from '../darksite/signing-key.ts';
import { inspectDebs, payloadDebs, type SuppliedDeb } from '../darksite/supplied.ts';
import type { ImageInfo } from '../layout-image.ts';
import { entryText, mergeEntries, profilePackages } from '../package-sets/package-sets.ts';
import { postinstallLibDir } from '../postinstall/check.ts';
import { gatherBuildFacts, loadIndexes } from './build-facts.ts';
import { readGolden, verifyGolden } from './golden.ts';
import { buildSettings, checkBuildInputs, checkEmbeddedExtras, checkPayload } from './inputs.ts';
import { writeIso } from './iso.ts';
import { PUBLIC_MIRROR } from './layers.ts';
import { type BuildPlan, layer, planBuild } from './plan.ts';
import { assemblePayload, expandRoles, missingWantedDebs, rolePackages } from './role-library.ts';
import { ensureRootfs } from './rootfs.ts';
import type { BuildOptions, BuildSpec } from './spec.ts';
import { ensureZfsModuleDeb } from './zfs-module.ts';

export interface BuildResult {
  iso: string;
  sizeBytes: number;
  image: ImageInfo;
  phases: { name: string; seconds: number; cached: boolean }[];
}

async function timed<T>(
  phases: BuildResult['phases'],
  name: string,
  fn: () => Promise<T>,
  cached: (r: T) => boolean = () => false,
): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  phases.push({ name, seconds: (Date.now() - t0) / 1000, cached: cached(r) });
  return r;
}

/** Both results once both have ended; the first failure (in argument order) if any failed. */
export async function bothOrThrow<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

/** The planner's spec from the options, once roles are expanded and the user's .debs inspected. */
export function buildSpec(o: BuildOptions, roles: string[], supplied: SuppliedDeb[]): BuildSpec {
  return {
    profile: o.profile,
    suite: o.suite,
    mirror: o.mirror,
    roles,
    packageSet: mergeEntries([...profilePackages(o.profile, o.extraPackages), ...rolePackages(roles)]),
    requested: o.extraPackages,
    supplied,
    ...(o.darksiteKey ? { darksiteKey: o.darksiteKey } : {}),
    iso: {
      output: o.output,
      bundle: o.bundle,
      ...(o.answers ? { answers: o.answers } : {}),
      ...(o.payload ? { payload: o.payload } : {}),
      ...(o.zbm ? { zbm: o.zbm } : {}),
      ...(o.golden ? { golden: o.golden } : {}),
      images: o.images ?? [],
    },
  };
}

/** The inputs checks every build starts with (and the dry run too): they touch nothing. */
async function checkInputs(exec: Executor, log: Logger, o: BuildOptions) {
  checkBuildInputs(o, (m) => log.info(m));
  const supplied = await inspectDebs(exec, [
    ...(o.debs ?? []).map((path) => ({ path, from: '--deb' })),
    ...payloadDebs(o.payload),
  ]);
  const signingKey = o.darksiteKey ? await suppliedSigningKey(exec, o.darksiteKey) : undefined;
  const roles = expandRoles(o.roles, (m) => log.info(m));
  return { supplied, signingKey, roles };
}

/**
 * `kldload build --dry-run`: the checked inputs, the verified index and the cache as they are →
 * the plan. Builds nothing, generates no key, takes no build lock, needs no root; it writes only
 * what every build caches first (the verified index files, a --darksite-key's public keyring).
 */
export async function planOnly(exec: Executor, log: Logger, o: BuildOptions): Promise<BuildPlan> {
  const { supplied, signingKey, roles } = await checkInputs(exec, log, o);
  const spec = buildSpec(o, roles, supplied);
  const facts = await gatherBuildFacts(exec, spec, await loadIndexes(exec, spec), {
    cacheRoot: cacheDir(),
    ...(signingKey ? { signer: signingKey.fingerprint } : {}),
    warn: (m) => log.info(`WARNING: ${m}`),
  });
  return planBuild(spec, facts);
}

/** answers → plan → layers (cached by content) → ISO. Only what changed is rebuilt. */
export async function build(exec: Executor, log: Logger, o: BuildOptions): Promise<BuildResult> {
  const { supplied, signingKey, roles } = await checkInputs(exec, log, o);
  const payload = assemblePayload(o.payload, roles, o.images ?? []);
  if (payload) await checkPayload(exec, log, payload);
  const release = await takeBuildLock(cacheDir('build.lock'), cacheDir('tmp'), (mp) => {
    log.info(`cleaning up after an interrupted build: umount ${mp}`);
    return exec.run(['umount', '--lazy', mp]);
  });
  try {
    const opts: BuildOptions = {
      ...o,
      roles,
      ...(payload ? { payload } : {}),
      // Role packages ride on the darksite; first boot installs them offline.
      extraPackages: [...o.extraPackages, ...rolePackages(roles).map(entryText)],
    };
    return await buildLocked(
      exec,
      log,
      opts,
      buildSpec({ ...o, ...(payload ? { payload } : {}) }, roles, supplied),
      signingKey,
    );
  } finally {
    release();
    if (payload && payload !== o.payload) safeRemove(payload);
  }
}

/** The applier: gathers the facts, plans, then runs the builder of every layer in plan order. */
async function buildLocked(
  exec: Executor,
  log: Logger,
  o: BuildOptions,
  spec: BuildSpec,
  signingKey: SigningKey | undefined,
): Promise<BuildResult> {
  const phases: BuildResult['phases'] = [];
  const libDir = postinstallLibDir();
  const indexes = await timed(phases, 'index', () => loadIndexes(exec, spec));
  const plan = planBuild(
    spec,
    await gatherBuildFacts(exec, spec, indexes, {
      cacheRoot: cacheDir(),
      ...(signingKey ? { signer: signingKey.fingerprint } : {}),
      warn: (m) => log.info(`WARNING: ${m}`),
    }),
  );
  const { index } = indexes;
  const k = plan.kernel;
  log.info(`suite ${o.suite} ${index.release.get('Version') ?? ''}: kernel ${k.kabi}, zfs ${k.zfsVersion}`);
  for (const l of plan.layers) log.detail(`plan: ${l.name} ${l.cached ? 'cached' : 'build'}: ${l.why}`);
  // The layers start with the module compile: each installs everything but the module and the
  // packages that need it, then waits for the module's .deb in a hook (rootfs.ts lateInstallHook).
  // A failed compile drops the abort file, so a waiting layer stops instead of waiting.
  mkdirSync(cacheDir('tmp'), { recursive: true });
  const abort = cacheDir('tmp', `module-failed-${process.pid}-${randomBytes(4).toString('hex')}`);
  const modulePromise = timed(
    phases,
    'zfs-module',
    () => ensureZfsModuleDeb(exec, log, { mirror: o.mirror, suite: o.suite, kernel: k }),
    () => layer(plan, 'zfs-module').cached,
  ).catch((e: unknown) => {
    writeFileSync(abort, `${e instanceof Error ? e.message : String(e)}\n`);
    throw e;
  });
  // The two layers need only the module, not each other: built side by side (each is mostly
  // dpkg on one core, and downloads). allSettled: a failing one must not leave the other running unlocked.
  const layersPromise = bothOrThrow(
    timed(
      phases,
      'target-layer',
      () => ensureRootfs(exec, log, plan.target, abort),
      (l) => l.cached,
    ),
    timed(
      phases,
      'live-layer',
      () => ensureRootfs(exec, log, plan.live, abort),
      (l) => l.cached,
    ),
  );
  // The darksite needs the module's .deb (it joins the repository); it is built while the layers finish.
  const darksitePromise = modulePromise.then(async (deb) => {
    const d = await timed(
      phases,
      'darksite',
      () =>
        buildDarksite(exec, log, index, {
          mirror: o.mirror,
          suite: o.suite,
          profile: o.profile,
          extra: o.extraPackages,
          localDebs: [deb],
          supplied: spec.supplied,
          packageSet: spec.packageSet,
          ...(signingKey ? { signingKey } : {}),
          resolution: plan.darksite.resolution,
        }),
      (r) => r.cached,
    );
    // The plan and the builder compute the key with one function; a difference would be a bug.
    if (plan.darksite.key && plan.darksite.key !== d.key)
      log.info(`WARNING: darksite key ${d.key} differs from the planned ${plan.darksite.key}`);
    if (o.answers)
      checkEmbeddedExtras(
        o.answers,
        listRepo(d.dir, o.suite).map((p) => p.name),
        buildSettings(o),
      );
    return d;
  });
  // The darksite first: a failed module compile is named, not the layer it stopped.
  const [darksite, [target, live]] = await bothOrThrow(darksitePromise, layersPromise).finally(() =>
    safeRemove(abort),
  );
  // Checked again here (the folder may have changed since the input checks), hashes included.
  const golden = o.golden ? readGolden(o.golden) : undefined;
  if (o.golden) {
    const dir = o.golden;
    await timed(phases, 'golden-check', () => verifyGolden(exec, dir));
  }
  const image: ImageInfo = {
    profile: o.profile,
    suite: o.suite,
    kabi: target.info.kabi,
    zfsVersion: k.zfsVersion,
    publicMirror: PUBLIC_MIRROR,
    layer: target.info.key,
    roles: o.roles,
    suppliedDebs: darksite.supplied.map((d) => d.name),
    images: (o.images ?? []).map((i) => basename(i)),
    extraPackages: spec.requested,
    buildId: randomBytes(8).toString('hex'),
    ...(golden
      ? {
          golden: {
            name: golden.name,
            kernel: golden.kernel,
            host: golden.host,
            captured: golden.captured,
            roles: golden.roles,
          },
        }
      : {}),
  };
  for (const [role, names] of missingWantedDebs(o.roles, new Set(image.suppliedDebs)))
    log.info(
      `WARNING: role ${role}: ${names.join(', ')} not supplied (Debian does not package them); the role runs without them. Supply them with --deb FILE.deb`,
    );
  const imageJson = cacheDir('tmp', `image-${contentKey(image)}.json`);
  writeFileSync(imageJson, `${JSON.stringify(image, null, 1)}\n`);
  await timed(phases, 'iso', () =>
    writeIso(
      exec,
      log,
      {
        vmlinuz: live.vmlinuz,
        initrd: live.initrd,
        liveSquashfs: live.squashfs,
        targetSquashfs: target.squashfs,
        imageJson,
        bundle: o.bundle,
        ...(o.answers ? { answers: o.answers } : {}),
        ...(o.payload ? { payloadDir: o.payload } : {}),
        ...(o.zbm ? { zbm: o.zbm } : {}),
        ...(o.golden ? { golden: o.golden } : {}),
        ...(libDir ? { postinstallLib: libDir } : {}),
        aptRepo: darksite.dir,
      },
      resolve(o.output),
    ),
  );
  return { iso: resolve(o.output), sizeBytes: statSync(o.output).size, image, phases };
}
