/**
 * Automatic snapshots: Debian's sanoid with a policy generated for the dataset tree the installer
 * made, and a drop-in folder that roles and the administrator add to.
 *
 * sanoid reads exactly one policy file (sanoid.conf in its --configdir; the format has no include),
 * yet the policy has several writers: the installer (the tree: 00-kldload.conf), roles at first boot
 * (postinstall's snapshot_schedule: 50-<dataset>.conf), the administrator (e.g. 90-local.conf). So
 * each writes its own file in SANOID_DIR and kldload composes sanoid.conf from them (SANOID_COMPOSE),
 * before every sanoid run: whatever is in the folder is what sanoid sees 15 minutes later at most.
 */

export const SANOID_DIR = '/etc/kldload/sanoid.d';
export const SANOID_CONF = '/etc/sanoid/sanoid.conf';
export const SANOID_COMPOSE_PATH = '/usr/lib/kldload/sanoid-compose';
/** The installer's drop-in: templates and the dataset tree. */
export const SANOID_BASE = `${SANOID_DIR}/00-kldload.conf`;
export const SANOID_SERVICE_DROPIN = '/etc/systemd/system/sanoid.service.d/kldload.conf';

/**
 * How sanoid treats a dataset of the installed tree:
 * - boot-environments: <pool>/ROOT; every BE below it (today's and those kbe, rollback and kupgrade
 *   make later) with the system template; ROOT itself holds no files and gets none.
 * - system: the system template (/var/log: logs outlive a rollback of the root, which is the point).
 * - data: the data template, recursive: a dataset made below it later (a user's, a role's under
 *   /srv) is covered without a new section.
 * - none: caches and scratch space, never snapshotted (listed, so no recursive parent pulls them in).
 * - covered: not listed; its parent's section covers it (a BE) or it holds no files (var).
 */
export type SnapshotPolicy = 'boot-environments' | 'system' | 'data' | 'none' | 'covered';

/** Templates of the base drop-in; roles' and local sections may use them (use_template = data). */
export const SANOID_TEMPLATES: Record<'system' | 'data' | 'none', Record<string, string>> = {
  // The root changes with packages, and kpkg snapshots every change already: a short history.
  system: {
    frequently: '0',
    hourly: '24',
    daily: '7',
    weekly: '4',
    monthly: '3',
    yearly: '0',
    autosnap: 'yes',
    autoprune: 'yes',
  },
  // People's and services' files: a longer one.
  data: {
    frequently: '0',
    hourly: '48',
    daily: '30',
    weekly: '8',
    monthly: '12',
    yearly: '0',
    autosnap: 'yes',
    autoprune: 'yes',
  },
  // monitor = no: sanoid --monitor-snapshots does not report these as missing snapshots.
  none: { autosnap: 'no', autoprune: 'no', monitor: 'no' },
};

const block = (name: string, kv: Record<string, string>) =>
  [`[${name}]`, ...Object.entries(kv).map(([k, v]) => `  ${k} = ${v}`)].join('\n');

/** The installer's sanoid policy (SANOID_BASE) for POOL's dataset tree. One generator, golden-tested. */
export function sanoidPolicy(
  pool: string,
  tree: readonly { name: string; snapshots: SnapshotPolicy }[],
): string {
  const section: Record<SnapshotPolicy, Record<string, string> | undefined> = {
    'boot-environments': { use_template: 'system', recursive: 'yes', process_children_only: 'yes' },
    system: { use_template: 'system' },
    data: { use_template: 'data', recursive: 'yes' },
    none: { use_template: 'none' },
    covered: undefined,
  };
  const sections = tree.flatMap((d) => {
    const kv = section[d.snapshots];
    return kv ? [block(`${pool}/${d.name}`, kv)] : [];
  });
  return `${[
    [
      `# kldload: automatic snapshots of the dataset tree the installer made (${pool}), by sanoid.`,
      `# sanoid reads ${SANOID_CONF} only; kldload composes it from`,
      `# ${SANOID_DIR}/*.conf in name order before every sanoid run. Roles add`,
      '# 50-<dataset>.conf (snapshot_schedule), you add e.g. 90-local.conf; a [section] there replaces',
      '# the one of the same name here, and may use these templates (use_template = data). Sections are',
      `# read in file order, so one for a dataset below a recursive one here (${pool}/srv/www below`,
      `# ${pool}/srv) comes later and wins for that dataset.`,
    ].join('\n'),
    ...Object.entries(SANOID_TEMPLATES).map(([name, kv]) => block(`template_${name}`, kv)),
    ...sections,
  ].join('\n\n')}\n`;
}

/**
 * Composes SANOID_CONF from SANOID_DIR/*.conf (POSIX sh + awk: it runs before every sanoid run and
 * must not depend on node). Files in C-locale name order; a [section] that a later file (or a later
 * place in the same file) defines again is left out whole: sanoid's ini reader (Config::IniFiles)
 * would otherwise merge the two into multi-valued settings sanoid cannot use. Rewrites the file only
 * when it changes; with no drop-in at all it leaves it alone. KLDLOAD_SANOID_DIR/_CONF are for tests.
 */
export const SANOID_COMPOSE = `#!/bin/sh
# kldload: compose ${SANOID_CONF} from ${SANOID_DIR}/*.conf.
# Why: sanoid reads exactly one policy file and has no include, but the policy has several writers
# (the installer: 00-kldload.conf, roles: 50-*.conf, the administrator: e.g. 90-local.conf), each in
# its own file. Name order; a [section] defined again later replaces the earlier one whole (sanoid
# would merge both into broken multi-valued settings). Run by sanoid.service (ExecStartPre) and by
# snapshot_schedule; edit the drop-ins, not sanoid.conf.
set -eu
export LC_ALL=C
dir=\${KLDLOAD_SANOID_DIR:-${SANOID_DIR}}
conf=\${KLDLOAD_SANOID_CONF:-${SANOID_CONF}}
set -- "$dir"/*.conf
if [ ! -e "$1" ]; then
  echo "sanoid-compose: no $dir/*.conf; $conf left as it is" >&2
  exit 0
fi
mkdir -p "$(dirname "$conf")"
tmp="$conf.kldload-new"
{
  echo "# Written by kldload (${SANOID_COMPOSE_PATH}) before every sanoid run, from"
  echo "# $dir/*.conf in name order. Edit those files, not this one."
  awk '
    function name(s) { sub(/^[ \\t]*\\[[ \\t]*/, "", s); sub(/[ \\t]*\\].*$/, "", s); return s }
    pass == 1 { if ($0 ~ /^[ \\t]*\\[/) last[name($0)]++; next }
    FNR == 1 { printf "\\n# --- %s\\n", FILENAME; keep = 1 }
    /^[ \\t]*\\[/ {
      s = name($0)
      keep = (++seen[s] == last[s])
      if (!keep) {
        printf "# [%s] left out: defined again later\\n", s
        printf "sanoid-compose: [%s] in %s left out: defined again later\\n", s, FILENAME > "/dev/stderr"
      }
    }
    keep { print }
  ' pass=1 "$@" pass=2 "$@"
} >"$tmp"
if cmp -s "$tmp" "$conf"; then rm -f "$tmp"; else mv -f "$tmp" "$conf"; fi
`;

/** sanoid.service composes first; '-': a failed compose keeps the last good file (sanoid still runs). */
export const SANOID_SERVICE_CONF = `# kldload: sanoid reads one policy file; compose it from ${SANOID_DIR} first (${SANOID_COMPOSE_PATH} says why).
[Service]
ExecStartPre=-${SANOID_COMPOSE_PATH}
`;
