/**
 * The ISO build as a plan: the build spec and the facts (the verified suite index, the signer, what
 * the cache holds) → each layer with its inputs, content key and whether the cache has it, and why.
 * Pure: no network, no cache access, no clock (it reads kldload's own profiles/ and payload/ files,
 * which are part of the recipe). `kldload build --dry-run` prints it; build.ts applies it.
 */
import { join } from 'node:path';
import { contentKey } from '../core/paths.ts';
import {
  assertResolved,
  type DarksiteResolution,
  darksiteDirName,
  darksiteKey,
  darksiteRequests,
  remotePackages,
  resolveDarksiteWith,
} from '../darksite/darksite.ts';
import type { SuppliedDeb } from '../darksite/supplied.ts';
import type { SuiteIndex } from '../debian/archive.ts';
import type { Stanza } from '../debian/control.ts';
import type { PackageEntry, Profile } from '../package-sets/package-sets.ts';
import { liveSpec, targetSpec } from './layers.ts';
import { layerDirName, layerKey, type RootfsSpec } from './rootfs.ts';
import { type KernelFacts, kernelFacts, moduleDebFields, moduleDebName } from './zfs-module.ts';

export interface BuildOptions {
  profile: Profile;
  suite: 'trixie' | 'bookworm';
  mirror: string;
  output: string;
  bundle: string;
  answers?: string;
  payload?: string;
  zbm?: string;
  extraPackages: string[];
  /** Roles from the library (roles/<name>), run by the dispatcher on first boot. */
  roles: string[];
  /** OCI / docker-save tarballs for /root/darksite/images (roles load them on first boot). */
  images?: string[];
  /** The user's .debs for the darksite (--deb); the payload's debs/*.deb count too. */
  debs?: string[];
  /** GNUPGHOME whose one secret key signs the darksite (--darksite-key); default the build key. */
  darksiteKey?: string;
}

/** What the user asked for, after the input checks: the planner's first argument. */
export interface BuildSpec {
  profile: Profile;
  suite: 'trixie' | 'bookworm';
  mirror: string;
  /** Library roles with the ones they pull in. */
  roles: string[];
  /** The darksite's requests: profile, --packages and role entries with their file:line. */
  packageSet: PackageEntry[];
  /** The user's --packages alone. */
  requested: string[];
  /** The user's .debs (--deb, payload debs/), already inspected. */
  supplied: SuppliedDeb[];
  /** --darksite-key GNUPGHOME, when the user signs the darksite; else the build key signs. */
  darksiteKey?: string;
  /** What the ISO carries besides the layers (paths as given). */
  iso: { output: string; bundle: string; answers?: string; payload?: string; zbm?: string; images: string[] };
}

/** Complete entries of the cache, relative to its root: `zfs-modules/<deb>`, `layers/<dir>`, `darksite/<dir>`, `debs/<sha256>`. */
export interface CacheState {
  root: string;
  entries: readonly string[];
}

/** Everything besides the spec that decides the plan. Gathered by build-facts.ts, fixed in tests. */
export interface BuildFacts {
  index: SuiteIndex;
  /** <suite>-backports Packages, present when a `name/backports` pin needs it. */
  backports?: readonly Stanza[];
  /** Fingerprint of the key that signs the darksite; unset while the build key does not exist yet. */
  signer?: string;
  cache: CacheState;
}

export const BUILD_LAYERS = ['index', 'zfs-module', 'darksite', 'target-layer', 'live-layer', 'iso'] as const;
export type LayerName = (typeof BUILD_LAYERS)[number];

export interface LayerPlan {
  name: LayerName;
  title: string;
  /** What decides the layer's content, for people (the key is the exact digest). */
  inputs: Record<string, string>;
  /** Content key; unset when it cannot be known before building (the ISO, an unsigned darksite). */
  key?: string;
  /** Where the layer is kept, relative to the cache root. */
  path?: string;
  cached: boolean;
  why: string;
}

export interface BuildPlan {
  facts: {
    profile: Profile;
    suite: string;
    mirror: string;
    release: string;
    kabi: string;
    zfsVersion: string;
    cache: string;
  };
  layers: LayerPlan[];
  /** What the applier needs beyond the list. */
  kernel: KernelFacts;
  moduleDeb: string;
  darksite: { resolution: DarksiteResolution; key?: string };
  target: RootfsSpec;
  live: RootfsSpec;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Cached entries under `prefix` other than `self`, by name: what the cache holds instead. */
function others(cache: CacheState, prefix: string, self: string | undefined): string[] {
  return cache.entries.filter((e) => e.startsWith(prefix) && e !== self).map((e) => e.split('/').pop() ?? e);
}

export function planBuild(spec: BuildSpec, facts: BuildFacts): BuildPlan {
  const { index, cache } = facts;
  const have = new Set(cache.entries);
  const k = kernelFacts(index);
  const date = index.release.get('Date');
  const releaseText = `${index.release.get('Version') ?? '?'}${date ? ` (${date})` : ''}`;

  const moduleName = moduleDebName(k);
  const modulePath = `zfs-modules/${moduleName}`;
  const moduleCached = have.has(modulePath);
  const oldModules = others(cache, 'zfs-modules/', modulePath);
  // A module for another kernel or zfs in the cache: the suite moved on since the last build.
  const newKernel = !moduleCached && oldModules.length > 0;
  const kernelWhy = `the suite now ships kernel ${k.kabi} with zfs ${k.zfsVersion} (new zfs module)`;
  const zfsModule: LayerPlan = {
    name: 'zfs-module',
    title: 'the ZFS module, compiled once per kernel ABI and zfs version',
    inputs: { kernel: k.kabi, 'zfs-dkms': k.zfsVersion },
    key: moduleName,
    path: modulePath,
    cached: moduleCached,
    why: moduleCached
      ? 'in the cache'
      : `${newKernel ? `not in the cache, which holds ${oldModules.join(', ')}` : 'not in the cache'}; zfs-dkms compiles it in a throw-away chroot (~4 min)`,
  };

  const requests = darksiteRequests({
    profile: spec.profile,
    extra: [],
    packageSet: spec.packageSet,
    supplied: spec.supplied,
  });
  const resolution = resolveDarksiteWith(index, facts.backports, { requests, supplied: spec.supplied });
  assertResolved(spec.profile, resolution, spec.supplied);
  const remote = remotePackages(resolution, spec.supplied);
  const dsKey = facts.signer
    ? darksiteKey({
        suite: spec.suite,
        remote,
        locals: [moduleDebFields(k)],
        supplied: spec.supplied,
        signer: facts.signer,
      })
    : undefined;
  const dsPath = dsKey ? `darksite/${darksiteDirName(spec.suite, spec.profile, dsKey)}` : undefined;
  const dsCached = dsPath !== undefined && have.has(dsPath);
  const toFetch = remote.filter((p) => !have.has(`debs/${p.sha256}`));
  const fetchBytes = mb(toFetch.reduce((n, p) => n + p.size, 0));
  const fetchText =
    toFetch.length === 0
      ? 'every .deb is in the cache already'
      : toFetch.length === remote.length
        ? `downloads all ${remote.length} .debs (${fetchBytes})`
        : `downloads ${toFetch.length} of ${remote.length} .debs (${fetchBytes}); the others are in the cache`;
  const oldSites = others(cache, `darksite/${spec.suite}-${spec.profile}-`, dsPath);
  const darksite: LayerPlan = {
    name: 'darksite',
    title: 'the signed offline APT repository (closure of the package set, apt-gated)',
    inputs: {
      requests: `${spec.packageSet.length} (profile ${spec.profile}${spec.requested.length ? `, --packages ${spec.requested.join(',')}` : ''}${spec.roles.length ? `, roles ${spec.roles.join(',')}` : ''})`,
      closure: `${resolution.totals.count} packages, ${mb(resolution.totals.bytes)}`,
      ...(resolution.backports.length
        ? { backports: resolution.backports.map((b) => `${b.name}=${b.version}`).join(', ') }
        : {}),
      ...(spec.supplied.length
        ? { supplied: spec.supplied.map((d) => `${d.name}=${d.version}`).join(', ') }
        : {}),
      local: `${moduleDebFields(k).name}=${moduleDebFields(k).version}`,
      signer: facts.signer
        ? `${facts.signer}${spec.darksiteKey ? ` (--darksite-key ${spec.darksiteKey})` : ' (build key)'}`
        : 'the build key, made on this first build',
    },
    ...(dsKey ? { key: dsKey } : {}),
    ...(dsPath ? { path: dsPath } : {}),
    cached: dsCached,
    why: dsCached
      ? 'in the cache'
      : !facts.signer
        ? `the build's signing key does not exist yet, so no signed repository can be cached; ${fetchText}`
        : oldSites.length
          ? `no repository with this key (the cache holds ${oldSites.join(', ')}: a package, version, supplied .deb, the zfs module or the signer differs); ${fetchText}`
          : `no ${spec.suite}-${spec.profile} repository in the cache; ${fetchText}`,
  };

  const moduleDeb = join(cache.root, modulePath);
  const target = targetSpec(spec, k, moduleDeb);
  const live = liveSpec(spec, k, moduleDeb);
  const rootfsLayer = (name: 'target-layer' | 'live-layer', title: string, s: RootfsSpec): LayerPlan => {
    const path = `layers/${layerDirName(s)}`;
    const cached = have.has(path);
    const old = others(cache, `layers/${s.name}-`, path);
    return {
      name,
      title,
      inputs: {
        variant: s.variant,
        packages: `${s.packages.length} (${s.packages.slice(0, 2).join(', ')}, …)`,
        debs: s.debs.map((d) => d.split('/').pop()).join(', '),
        files: Object.keys(s.files).join(', '),
        hooks: String(s.customize.length),
        recipe: String(s.recipe),
      },
      key: layerKey(s),
      path,
      cached,
      why: cached
        ? 'in the cache'
        : newKernel
          ? `${kernelWhy}; mmdebstrap → squashfs`
          : old.length
            ? `no layer with this key (the cache holds ${old.join(', ')}: its packages, files, hooks, recipe or zfs module differ); mmdebstrap → squashfs`
            : `no ${s.name} layer in the cache; mmdebstrap → squashfs`,
    };
  };

  const iso = spec.iso;
  const layers: LayerPlan[] = [
    {
      name: 'index',
      title: 'the suite index, verified',
      inputs: {
        mirror: spec.mirror,
        suite: spec.suite,
        release: releaseText,
        ...(facts.backports ? { backports: `${spec.suite}-backports (pinned packages)` } : {}),
      },
      key: contentKey(index.release.get('SHA256') ?? ''),
      cached: false,
      why: 'fetched on every build: InRelease checked with gpgv against debian-archive-keyring, Packages by the SHA256 it lists (unchanged files come from the cache)',
    },
    zfsModule,
    darksite,
    rootfsLayer('target-layer', `the target image (${target.name}): the installed system`, target),
    rootfsLayer('live-layer', 'the live image: the installer system the ISO boots', live),
    {
      name: 'iso',
      title: 'the hybrid BIOS+UEFI ISO',
      inputs: {
        output: iso.output,
        bundle: iso.bundle,
        ...(iso.answers ? { answers: iso.answers } : {}),
        ...(iso.payload ? { payload: iso.payload } : {}),
        ...(spec.roles.length ? { roles: spec.roles.join(', ') } : {}),
        ...(iso.images.length ? { images: iso.images.join(', ') } : {}),
        ...(iso.zbm ? { zbm: iso.zbm } : {}),
      },
      cached: false,
      why: 'written on every build (grub-mkrescue + xorriso) from the layers above, with a new build id',
    },
  ];
  return {
    facts: {
      profile: spec.profile,
      suite: spec.suite,
      mirror: spec.mirror,
      release: releaseText,
      kabi: k.kabi,
      zfsVersion: k.zfsVersion,
      cache: cache.root,
    },
    layers,
    kernel: k,
    moduleDeb,
    darksite: { resolution, ...(dsKey ? { key: dsKey } : {}) },
    target,
    live,
  };
}

/** The layer of that name (every plan has all six). */
export function layer(plan: BuildPlan, name: LayerName): LayerPlan {
  const l = plan.layers.find((x) => x.name === name);
  if (!l) throw new Error(`build plan without ${name}`);
  return l;
}

/** The plan without the applier's internals: what --dry-run --json prints. */
export function buildPlanJson(plan: BuildPlan): {
  facts: BuildPlan['facts'];
  layers: LayerPlan[];
  rebuild: LayerName[];
} {
  return {
    facts: plan.facts,
    layers: plan.layers,
    rebuild: plan.layers.filter((l) => !l.cached).map((l) => l.name),
  };
}

/** Human rendering for --dry-run: one block per layer, what it is made of, and why it is (not) rebuilt. */
export function renderBuildPlan(plan: BuildPlan): string {
  const f = plan.facts;
  const out = [
    `build plan: profile ${f.profile}, ${f.suite} ${f.release} from ${f.mirror}`,
    `kernel ${f.kabi}, zfs ${f.zfsVersion}; cache ${f.cache}`,
  ];
  plan.layers.forEach((l, i) => {
    const state = l.cached ? 'cached' : l.name === 'index' ? 'fetch' : 'build';
    out.push(`[${i + 1}/${plan.layers.length}] ${l.name.padEnd(12)} ${state.padEnd(6)} ${l.title}`);
    if (l.path) out.push(`    at: ${l.path}`);
    else if (l.key) out.push(`    key: ${l.key}`);
    for (const [k, v] of Object.entries(l.inputs)) out.push(`    ${k}: ${v}`);
    out.push(`    why: ${l.why}`);
  });
  const rebuild = plan.layers.filter((l) => !l.cached).map((l) => l.name);
  out.push(`to do: ${rebuild.join(', ')}`);
  return out.join('\n');
}
