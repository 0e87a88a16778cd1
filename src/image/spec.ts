/** What the build plan is made from: the options as given, the spec after the input checks, the facts. */
import type { Profile, Suite } from '../core/debian.ts';
import type { SuppliedDeb } from '../darksite/supplied.ts';
import type { SuiteIndex } from '../debian/archive.ts';
import type { Stanza } from '../debian/control.ts';
import type { PackageEntry } from '../package-sets/package-sets.ts';

export interface BuildOptions {
  profile: Profile;
  suite: Suite;
  mirror: string;
  output: string;
  bundle: string;
  answers?: string;
  payload?: string;
  zbm?: string;
  /** A golden image folder (kldload image capture) the installer receives instead of the base image. */
  golden?: string;
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
  suite: Suite;
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
  iso: Pick<BuildOptions, 'output' | 'bundle' | 'answers' | 'payload' | 'zbm' | 'golden'> & {
    images: string[];
  };
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
