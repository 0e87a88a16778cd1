/**
 * kldload replicate, the receiving side (machine B): a non-root user (REPL_USER) with `zfs allow` of
 * what receiving needs on the replica parent, and, per sender, a key in its authorized_keys with
 * `restrict` and a forced command (REPLICATE_SERVE) that runs only the commands syncoid 2.2 sends to
 * a target with --no-privilege-elevation (test/fixtures/replicate/syncoid-2.2.0-target.txt, recorded
 * from trixie's syncoid) and the few kldload replicate sends itself (list, send, read a file),
 * each only for datasets strictly below the key's own parent.
 *
 * The forced command never hands the line to a shell: it splits it into words (blanks), accepts only
 * words of dataset-name characters where single quotes are removed (what syncoid's quoting adds),
 * compares the words with fixed forms and runs the matching command as an argv.
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Plan, run, write } from '../core/plan.ts';
import { isDataset, zfs } from '../zfs/zfs.ts';
import { checkPublicKey, REPL_USER } from './replicate.ts';

export const SERVE_PATH = '/usr/lib/kldload/replicate-serve';
export const READ_PATH = '/usr/lib/kldload/replicate-read';
export const SUDOERS_PATH = '/etc/sudoers.d/kldload-replicate';
export const REPL_HOME = '/var/lib/kldload-repl';

/**
 * What the user may do below the parent: receive (zfs requires create and mount with it, even for
 * receive -u), rollback (receive -F rolls the replica back to the common snapshot), destroy
 * (syncoid prunes its old sync snapshots; zfs requires mount with it) and send (restore).
 */
export const ZFS_ALLOW = ['create', 'mount', 'receive', 'rollback', 'destroy', 'send'];

/** The forced command. $1: the parent this key may write below. Exit 126: refused. */
export const REPLICATE_SERVE = `#!/bin/bash
# kldload: the forced command of a replication key (~${REPL_USER}/.ssh/authorized_keys).
# Runs only what syncoid (--no-privilege-elevation) and kldload replicate run on a receiving machine,
# for datasets strictly below ROOT ($1). The line is never given to a shell.
set -u
root=\${1:?usage: replicate-serve ROOT}
pool=\${root%%/*}
line=\${SSH_ORIGINAL_COMMAND-}
refuse() {
  echo "kldload replicate-serve: refused: $1" >&2
  logger -t kldload-replicate -- "refused for ROOT=$root: $line" 2>/dev/null || true
  exit 126
}
[[ -n $line ]] || refuse 'no command (this key runs replication only)'
[[ $line != *[$'\\n\\r\\t']* ]] || refuse 'control characters'
below() { [[ $1 =~ ^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)+$ && $1 == "$root"/* && /$1/ != */../* && /$1/ != */./* ]]; }
snap_below() { [[ $1 == *@* && \${1#*@} =~ ^[A-Za-z0-9_.:+-]+$ ]] && below "\${1%@*}"; }
# One ;-separated part → words in w[]; quotes dropped from words made of name characters only.
words() {
  local raw q
  read -r -a raw <<<"$1"
  w=()
  for q in "\${raw[@]}"; do
    [[ $q =~ ^[A-Za-z0-9_.:@/%+=,\\'-]+$ || $q == '2>&1' ]] || refuse "word not allowed: $q"
    local n=\${q//[^\\']/}
    (( \${#n} % 2 == 0 )) || refuse "unbalanced quote: $q"
    w+=("\${q//\\'/}")
  done
}
# syncoid prunes its old sync snapshots with 'zfs destroy D@s; zfs destroy D@t': each part checked
# before any runs.
if [[ $line == *';'* || $line =~ ^[[:space:]]*zfs[[:space:]]+destroy ]]; then
  IFS=';' read -r -a parts <<<"$line"
  for p in "\${parts[@]}"; do
    words "$p"
    if ! [[ \${#w[@]} -eq 3 && \${w[0]} == zfs && \${w[1]} == destroy && \${w[2]#*@} == syncoid_* ]] || ! snap_below "\${w[2]}"; then
      refuse "only 'zfs destroy' of syncoid snapshots below $root may be chained: $p"
    fi
  done
  for p in "\${parts[@]}"; do
    words "$p"
    zfs destroy "\${w[2]}" || exit
  done
  exit 0
fi
words "$line"
(( \${#w[@]} )) || refuse 'no command'
# shellcheck disable=SC2009
case "\${w[*]}" in
  exit | 'echo -n') exit 0 ;;
  # No pipeline is allowed, so there is no mbuffer or decompressor on this side for syncoid.
  'command -v '*) exit 1 ;;
  # syncoid reads this exact format (not pgrep's); only receive processes are shown to the sender.
  'ps -Ao args=') ps -Ao args= | grep -E 'zfs +(receive|recv)'; exit 0 ;;
  "zpool get -o value -H feature@extensible_dataset $pool") exec zpool get -o value -H feature@extensible_dataset "$pool" ;;
esac
n=\${#w[@]}
# syncoid reads receive's errors on stdout: the one redirection allowed, done here.
if [[ \${w[n-1]} == '2>&1' ]]; then exec 2>&1; n=$((n - 1)); w=("\${w[@]:0:n}"); fi
last=\${w[n-1]}
case "\${w[*]:0:n-1}" in
  'zfs get -H name' | 'zfs get -H receive_resume_token' | 'zfs get -H type' | 'zfs get -H -p used' | \\
    'zfs get -Hpd 1 -t snapshot guid,creation' | 'zfs get -Hpd 1 type,guid,creation' | \\
    'zfs list -Hp -o name,creation -t snapshot -s creation -d 1' | \\
    'zfs receive -u -s -F' | 'zfs receive -u -F' | 'zfs receive -u -s' | 'zfs receive -u' | \\
    'zfs receive -A')
    below "$last" && exec "\${w[@]}" ;;
  'zfs send -L -c -e') snap_below "$last" && exec zfs send -L -c -e "$last" ;;
  # kldload replicate restore --file: a file of a snapshot, by a root helper that checks the path.
  'kldload-read stat '* | 'kldload-read cat '*)
    [[ $n -eq 4 ]] && snap_below "\${w[2]}" && exec sudo -n ${READ_PATH} "\${w[1]}" "$root" "\${w[2]}" "$last" ;;
esac
refuse "not a replication command for datasets below $root: $line"
`;

/**
 * Root helper (sudo, for REPL_USER only): a file of a replica's snapshot. A snapshot is mounted
 * read-only in a private folder; the path (base64, so any name crosses ssh as one word) may not hold
 * a `..` part, and what it resolves to (symlinks followed) must stay in that folder and be a regular
 * file. stat prints `mode uid gid size`; cat the bytes.
 */
export const REPLICATE_READ = `#!/bin/bash
# kldload: read one file of a replica's snapshot for kldload replicate restore --file (run by sudo).
set -euo pipefail
verb=$1 root=$2 snap=$3
refuse() { echo "kldload replicate-read: refused: $1" >&2; exit 126; }
[[ $verb == stat || $verb == cat ]] || refuse "verb $verb"
[[ $snap =~ ^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)+@[A-Za-z0-9_.:+-]+$ && $snap == "$root"/* ]] || refuse "not a snapshot below $root: $snap"
path=$(printf '%s' "$4" | base64 -d) || refuse 'path is not base64'
rel=\${path#/}
[[ -n $rel && /$rel/ != */../* && /$rel/ != */./* ]] || refuse "path must name a file without . or .. parts: $path"
mnt=$(mktemp -d "\${KLDLOAD_REPL_RUN:-/run}/kldload-replicate-read.XXXXXX")
trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
mount -t zfs -o ro "$snap" "$mnt" || refuse "cannot mount $snap"
# Where it leads first, whether it exists second: a symlink out of the snapshot is refused alike
# whether or not its target exists here, so the answer tells nothing about this host's files.
real=$(realpath -m -- "$mnt/$rel" 2>/dev/null) || refuse "no such file in $snap: $path"
[[ $real == "$mnt"/* ]] || refuse "$path leaves the snapshot (a symlink out of it)"
[[ -e $real ]] || refuse "no such file in $snap: $path"
[[ -f $real && ! -L $real ]] || refuse "$path is not a regular file"
if [[ $verb == stat ]]; then stat -c '%a %u %g %s' -- "$real"; else cat -- "$real"; fi
`;

export const SUDOERS = `# kldload replicate accept: ${REPL_USER} reads files of replica snapshots (restore --file) through
# ${READ_PATH}, which checks the snapshot and the path; nothing else.
${REPL_USER} ALL=(root) NOPASSWD: ${READ_PATH}
`;

/** The authorized_keys line of one sender: only the forced command, no pty, no forwarding. */
export function authorizedKeyLine(root: string, key: string): string {
  return `restrict,command="${SERVE_PATH} ${root}" ${key}`;
}

export interface AcceptFacts {
  into: string;
  /** The sender's public key line (checked). */
  key: string;
  /** authorized_keys of REPL_USER as it is now ('' when absent). */
  authorizedKeys: string;
  userExists: boolean;
  intoExists: boolean;
}

/** accept: user, delegation, the parent (unmounted, read-only replicas), helpers, the key. */
export function planAccept(f: AcceptFacts): Plan {
  if (!isDataset(f.into) || !f.into.includes('/'))
    throw new KldloadError(
      `--into ${JSON.stringify(f.into)}: a dataset below the pool, e.g. rpool/replica`,
      EXIT.badInput,
    );
  const key = checkPublicKey(f.key, '--from-key');
  const blob = key.split(' ')[1] ?? '';
  const kept = f.authorizedKeys.split('\n').filter((l) => l.trim() && !l.split(' ').includes(blob));
  // Each sender its own tree: a key may read, roll back and prune whatever is below its root.
  for (const l of kept) {
    const other = new RegExp(`command="${SERVE_PATH} (\\S+)"`).exec(l)?.[1];
    if (other && (other === f.into || other.startsWith(`${f.into}/`) || f.into.startsWith(`${other}/`)))
      throw new KldloadError(
        `--into ${f.into}: another sender's key already replicates into ${other}; a key may read, roll back and prune everything below its --into, so give each sender its own (kldload replicate add proposes rpool/replica/<its host>)`,
        EXIT.badInput,
      );
  }
  const ak = `${[...kept, authorizedKeyLine(f.into, key)].join('\n')}\n`;
  const ssh = `${REPL_HOME}/.ssh`;
  return {
    facts: { user: REPL_USER, into: f.into, key: key.split(' ').slice(0, 2).join(' ') },
    steps: [
      {
        name: 'user',
        title: `${REPL_USER}: a system user without password, home ${REPL_HOME}, that only replication keys log in as`,
        actions: f.userExists
          ? []
          : [
              run([
                'useradd',
                '--system',
                '--home-dir',
                REPL_HOME,
                '--create-home',
                '--shell',
                '/bin/bash',
                REPL_USER,
              ]),
            ],
      },
      {
        name: 'dataset',
        title: `${f.into}: the replicas' parent; mountpoint=none (replicas are received unmounted: only root mounts on Linux), readonly`,
        actions: f.intoExists
          ? [run(zfs.set(f.into, { mountpoint: 'none', readonly: 'on' }))]
          : [run(['zfs', 'create', '-p', '-o', 'mountpoint=none', '-o', 'readonly=on', f.into])],
      },
      {
        name: 'allow',
        title: `zfs allow ${REPL_USER} ${ZFS_ALLOW.join(',')} on ${f.into} and below`,
        actions: [run(['zfs', 'allow', '-u', REPL_USER, ZFS_ALLOW.join(','), f.into])],
      },
      {
        name: 'helpers',
        title: `${SERVE_PATH} (the forced command), ${READ_PATH} and ${SUDOERS_PATH} (restore --file)`,
        actions: [
          write(SERVE_PATH, REPLICATE_SERVE, 0o755),
          write(READ_PATH, REPLICATE_READ, 0o755),
          write(SUDOERS_PATH, SUDOERS, 0o440),
          run(['visudo', '-c', '-q', '-f', SUDOERS_PATH]),
        ],
      },
      {
        name: 'key',
        title: `${ssh}/authorized_keys: the sender's key, restricted to ${SERVE_PATH} ${f.into}`,
        actions: [
          { kind: 'mkdir', path: ssh, mode: 0o700 },
          write(`${ssh}/authorized_keys`, ak, 0o600),
          run(['chown', '-R', `${REPL_USER}:${REPL_USER}`, ssh]),
        ],
      },
    ],
    cleanup: [],
  };
}
