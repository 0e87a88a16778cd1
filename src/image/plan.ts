/**
 * The ISO build as a plan: the build spec and the facts (the verified suite index, the signer, what
 * the cache holds) → each layer with its inputs, content key and whether the cache has it, and why.
 * Pure: no network, no cache access, no clock (it reads kldload's own profiles/ and payload/ files,
 * which are part of the recipe). `kldload build --dry-run` prints it; build.ts applies it.
 */
import { join } from 'node:path';
import type { Profile } from '../core/debian.ts';
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
import type { ResolvedPackage } from '../darksite/resolve.ts';

import { liveSpec, targetSpec } from './layers.ts';
import { layerDirName, layerKey, type RootfsSpec } from './rootfs.ts';
import type { BuildFacts, BuildSpec, CacheState } from './spec.ts';
import { type KernelFacts, kernelFacts, moduleDebFields, moduleDebName, moduleUsers } from './zfs-module.ts';

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

/** What each layer's "why" needs to know about the cache. */
interface CacheView {
  have: Set<string>;
  cache: CacheState;
  /** The suite has a kernel or zfs the cache has no module for, while it holds another: the suite moved on. */
  newKernel: boolean;
  kernel: KernelFacts;
}

function indexLayer(spec: BuildSpec, facts: BuildFacts, release: string): LayerPlan {
  return {
    name: 'index',
    title: 'the suite index, verified',
    inputs: {
      mirror: spec.mirror,
      suite: spec.suite,
      release,
      ...(facts.backports ? { backports: `${spec.suite}-backports (pinned packages)` } : {}),
    },
    key: contentKey(facts.index.release.get('SHA256') ?? ''),
    cached: false,
    why: 'fetched on every build: InRelease checked with gpgv against debian-archive-keyring, Packages by the SHA256 it lists (unchanged files come from the cache)',
  };
}

function moduleLayer(v: CacheView, path: string): LayerPlan {
  const k = v.kernel;
  const cached = v.have.has(path);
  const old = others(v.cache, 'zfs-modules/', path);
  return {
    name: 'zfs-module',
    title: 'the ZFS module, compiled once per kernel ABI and zfs version',
    inputs: { kernel: k.kabi, 'zfs-dkms': k.zfsVersion },
    key: moduleDebName(k),
    path,
    cached,
    why: cached
      ? 'in the cache'
      : `${v.newKernel ? `not in the cache, which holds ${old.join(', ')}` : 'not in the cache'}; zfs-dkms compiles it in a throw-away chroot (~4 min)`,
  };
}

/** What the darksite fetches: the remote .debs the cache does not hold yet. */
function fetchText(v: CacheView, remote: readonly ResolvedPackage[]): string {
  const toFetch = remote.filter((p) => !v.have.has(`debs/${p.sha256}`));
  const bytes = mb(toFetch.reduce((n, p) => n + p.size, 0));
  if (toFetch.length === 0) return 'every .deb is in the cache already';
  if (toFetch.length === remote.length) return `downloads all ${remote.length} .debs (${bytes})`;
  return `downloads ${toFetch.length} of ${remote.length} .debs (${bytes}); the others are in the cache`;
}

function darksiteLayer(
  spec: BuildSpec,
  facts: BuildFacts,
  v: CacheView,
): { layer: LayerPlan; resolution: DarksiteResolution; key?: string } {
  const local = moduleDebFields(v.kernel);
  const requests = darksiteRequests({
    profile: spec.profile,
    extra: [],
    packageSet: spec.packageSet,
    supplied: spec.supplied,
  });
  const resolution = resolveDarksiteWith(facts.index, facts.backports, { requests, supplied: spec.supplied });
  assertResolved(spec.profile, resolution, spec.supplied);
  const remote = remotePackages(resolution, spec.supplied);
  // The key names the signer: before the build key exists there is no key to look up.
  const key = facts.signer
    ? darksiteKey({
        suite: spec.suite,
        remote,
        locals: [local],
        supplied: spec.supplied,
        signer: facts.signer,
      })
    : undefined;
  const path = key ? `darksite/${darksiteDirName(spec.suite, spec.profile, key)}` : undefined;
  const cached = path !== undefined && v.have.has(path);
  const old = others(v.cache, `darksite/${spec.suite}-${spec.profile}-`, path);
  const fetch = fetchText(v, remote);
  const layer: LayerPlan = {
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
      local: `${local.name}=${local.version}`,
      signer: facts.signer
        ? `${facts.signer}${spec.darksiteKey ? ` (--darksite-key ${spec.darksiteKey})` : ' (build key)'}`
        : 'the build key, made on this first build',
    },
    ...(key ? { key } : {}),
    ...(path ? { path } : {}),
    cached,
    why: cached
      ? 'in the cache'
      : !facts.signer
        ? `the build's signing key does not exist yet, so no signed repository can be cached; ${fetch}`
        : old.length
          ? `no repository with this key (the cache holds ${old.join(', ')}: a package, version, supplied .deb, the zfs module or the signer differs); ${fetch}`
          : `no ${spec.suite}-${spec.profile} repository in the cache; ${fetch}`,
  };
  return { layer, resolution, ...(key ? { key } : {}) };
}

function rootfsLayer(
  v: CacheView,
  name: 'target-layer' | 'live-layer',
  title: string,
  s: RootfsSpec,
): LayerPlan {
  const path = `layers/${layerDirName(s)}`;
  const cached = v.have.has(path);
  const old = others(v.cache, `layers/${s.name}-`, path);
  return {
    name,
    title,
    inputs: {
      variant: s.variant,
      packages: `${s.packages.length} (${s.packages.slice(0, 2).join(', ')}, …)`,
      debs: s.debs.map((d) => d.split('/').pop()).join(', '),
      // Installed with the debs by the layer's first hook, once the module is compiled.
      late: s.late.join(', '),
      files: Object.keys(s.files).join(', '),
      hooks: String(s.customize.length),
      recipe: String(s.recipe),
    },
    key: layerKey(s),
    path,
    cached,
    why: cached
      ? 'in the cache'
      : v.newKernel
        ? `the suite now ships kernel ${v.kernel.kabi} with zfs ${v.kernel.zfsVersion} (new zfs module); mmdebstrap → squashfs`
        : old.length
          ? `no layer with this key (the cache holds ${old.join(', ')}: its packages, files, hooks, recipe or zfs module differ); mmdebstrap → squashfs`
          : `no ${s.name} layer in the cache; mmdebstrap → squashfs`,
  };
}

function isoLayer(spec: BuildSpec): LayerPlan {
  const iso = spec.iso;
  return {
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
      ...(iso.golden ? { golden: iso.golden } : {}),
    },
    cached: false,
    why: 'written on every build (grub-mkrescue + xorriso) from the layers above, with a new build id',
  };
}

export function planBuild(spec: BuildSpec, facts: BuildFacts): BuildPlan {
  const { index, cache } = facts;
  const kernel = kernelFacts(index);
  const date = index.release.get('Date');
  const release = `${index.release.get('Version') ?? '?'}${date ? ` (${date})` : ''}`;
  const modulePath = `zfs-modules/${moduleDebName(kernel)}`;
  const have = new Set(cache.entries);
  const newKernel = !have.has(modulePath) && others(cache, 'zfs-modules/', modulePath).length > 0;
  const v: CacheView = { have, cache, newKernel, kernel };
  const darksite = darksiteLayer(spec, facts, v);
  const moduleDeb = join(cache.root, modulePath);
  const needsModule = moduleUsers(index);
  const target = targetSpec(spec, kernel, moduleDeb, needsModule);
  const live = liveSpec(spec, kernel, moduleDeb, needsModule);
  return {
    facts: {
      profile: spec.profile,
      suite: spec.suite,
      mirror: spec.mirror,
      release,
      kabi: kernel.kabi,
      zfsVersion: kernel.zfsVersion,
      cache: cache.root,
    },
    layers: [
      indexLayer(spec, facts, release),
      moduleLayer(v, modulePath),
      darksite.layer,
      rootfsLayer(v, 'target-layer', `the target image (${target.name}): the installed system`, target),
      rootfsLayer(v, 'live-layer', 'the live image: the installer system the ISO boots', live),
      isoLayer(spec),
    ],
    kernel,
    moduleDeb,
    darksite: { resolution: darksite.resolution, ...(darksite.key ? { key: darksite.key } : {}) },
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
