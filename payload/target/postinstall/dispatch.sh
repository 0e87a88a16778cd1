#!/bin/bash
# kldload postinstall dispatcher. Ship it as /root/darksite/postinstall.sh; on first boot it runs the
# roles in /root/darksite/roles/NN-name.sh, each as its own bash process, in this order:
#   1. shared roles (NN 00-09, or a `# shared: yes` header) in numeric order, on every host;
#   2. the roles the short hostname selects, in numeric order: the first line of roles/map (or of
#      the built-in map: web- db- mon- cp- worker- … name the library's roles) whose prefix the
#      hostname starts with names the selectors; when no prefix matches, every role runs. Roles
#      chosen at build (`# chosen: build`, from kldload build --role) run on every host unless
#      roles/map or KLDLOAD_ROLES selects instead;
#   3. NN-verification.sh, last.
# Before anything runs, every `# requires:` word of every role must be a `# provides:` word of a role
# earlier in that order, or a base capability (KL_BASE_PROVIDES in lib.sh); otherwise nothing runs.
# A role that finishes is recorded in $KLDLOAD_STATE_DIR/roles.done; later runs (after a failure or a
# power cut) skip it, so roles must be idempotent. Remove roles.done to run every role again.
#
# Usage: postinstall.sh [--plan]
#   --plan   print the roles this host would run (one per line) and check requirements; runs nothing
# Environment (all optional):
#   KLDLOAD_ROLES_DIR        roles directory (default: roles/ next to this script, else
#                            /root/darksite/roles); roles run with its parent as working directory
#   KLDLOAD_STATE_DIR        roles.done and postinstall-failure (default /var/lib/kldload)
#   KLDLOAD_HOSTNAME         host name for the map (default: the install manifest, then hostname -s)
#   KLDLOAD_ROLES            selectors to use instead of the map, e.g. "webserver database" or "all"
#   KLDLOAD_POSTINSTALL_LIB  lib.sh (default: lib.sh next to this script, else
#                            /usr/lib/kldload/postinstall/lib.sh)

# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail

mode=run
case "${1:-}" in
  "") ;;
  --plan) mode=plan ;;
  -h | --help)
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *)
    echo "postinstall: unknown argument '$1' (usage: postinstall.sh [--plan])" >&2
    exit 2
    ;;
esac

_here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
if [[ -z "${KLDLOAD_POSTINSTALL_LIB:-}" ]]; then
  for _c in "${_here}/lib.sh" /usr/lib/kldload/postinstall/lib.sh; do
    if [[ -r "$_c" ]]; then
      KLDLOAD_POSTINSTALL_LIB="$_c"
      break
    fi
  done
fi
if [[ ! -r "${KLDLOAD_POSTINSTALL_LIB:-}" ]]; then
  echo "postinstall: lib.sh not found (looked for ${_here}/lib.sh and" \
    "/usr/lib/kldload/postinstall/lib.sh); set KLDLOAD_POSTINSTALL_LIB" >&2
  exit 1
fi
export KLDLOAD_POSTINSTALL_LIB

if [[ "$mode" == plan ]]; then
  # Plan mode writes nothing: log lines go to stderr only, the plan to stdout.
  export KLDLOAD_LOG=""
  exec 3>&1 1>&2
fi

# shellcheck source=lib.sh
source "$KLDLOAD_POSTINSTALL_LIB"
kl_strict
if [[ "$mode" == plan ]]; then
  _KL_FAILURE_RECORDED=plan
fi

kl_load_manifest "${KLDLOAD_MANIFEST:-/etc/kldload/install-manifest.env}"
export KLDLOAD_LOG KLDLOAD_STATE_DIR KLDLOAD_FAILURE_FILE
ROLES_DIR="${KLDLOAD_ROLES_DIR:-}"
if [[ -z "$ROLES_DIR" ]]; then
  ROLES_DIR="${_here}/roles"
  if [[ ! -d "$ROLES_DIR" ]]; then
    ROLES_DIR=/root/darksite/roles
  fi
fi
if [[ -d "$ROLES_DIR" ]]; then
  ROLES_DIR="$(cd -- "$ROLES_DIR" && pwd -P)"
fi
export KLDLOAD_DARKSITE="${KLDLOAD_DARKSITE:-${ROLES_DIR%/*}}"
DONE_FILE="${KLDLOAD_STATE_DIR}/roles.done"

host="${KLDLOAD_HOSTNAME:-}"
if [[ -z "$host" ]]; then
  host="$(hostname -s 2>/dev/null || cat /proc/sys/kernel/hostname)"
fi
host="${host%%.*}"

declare -a selectors=()
if [[ -n "${KLDLOAD_ROLES:-}" ]]; then
  read -r -a selectors <<<"${KLDLOAD_ROLES}"
  why="KLDLOAD_ROLES"
elif [[ -r "${ROLES_DIR}/map" ]]; then
  read -r -a selectors <<<"$(kl_host_selectors "$host" "${ROLES_DIR}/map")"
  why="${ROLES_DIR}/map"
else
  read -r -a selectors <<<"$(kl_host_selectors "$host")"
  why="built-in map"
fi
export KLDLOAD_HOST_SELECTORS="${selectors[*]}"

# ── The plan ──────────────────────────────────────────────────────────────────────────────────────────
declare -a found=() all=() shared=() hostroles=() final=() unselected=()
shopt -s nullglob
for f in "${ROLES_DIR}"/*.sh; do
  b="${f##*/}"
  if [[ "$b" =~ ^[0-9]+-[A-Za-z0-9][A-Za-z0-9_.-]*\.sh$ ]]; then
    found+=("$b")
  else
    warn "ignoring ${f}: role files are named NN-name.sh"
  fi
done
shopt -u nullglob
if ((${#found[@]})); then
  mapfile -t all < <(printf '%s\n' "${found[@]}" | LC_ALL=C sort -t- -k1,1n -k2)
fi

for b in "${all[@]}"; do
  f="${ROLES_DIR}/${b}"
  if role_is_final "$f"; then
    final+=("$b")
  elif role_is_shared "$f"; then
    shared+=("$b")
  elif role_matches "$(role_name "$f")" "${selectors[@]}"; then
    hostroles+=("$b")
  elif [[ "$why" == "built-in map" ]] && role_is_chosen "$f"; then
    hostroles+=("$b")
  else
    unselected+=("$b")
  fi
done
declare -a plan=("${shared[@]}" "${hostroles[@]}" "${final[@]}")

log "host ${host}: selectors from ${why}: ${selectors[*]:-(none)}"
log "plan: ${plan[*]:-(no roles)}"
if ((${#unselected[@]})); then
  log "not for this host: ${unselected[*]}"
  if ((${#hostroles[@]} == 0)); then
    warn "none of the ${#unselected[@]} host roles is for host ${host} (selectors ${selectors[*]:-none} from ${why})"
  fi
fi

# ── Requirements: checked for the whole plan before anything runs ─────────────────────────────────────
declare -A provided=() providers=() planned=()
for c in "${KL_BASE_PROVIDES[@]}"; do
  provided["$c"]="base system"
done
for b in "${all[@]}"; do
  read -r -a words <<<"$(role_meta "${ROLES_DIR}/${b}" provides)"
  for c in "${words[@]}"; do
    providers["$c"]+="${providers[$c]:+ }${b}"
  done
done
for b in "${plan[@]}"; do
  planned["$b"]=1
done

declare -a problems=()
first_bad=""
first_req=""
for b in "${plan[@]}"; do
  read -r -a words <<<"$(role_meta "${ROLES_DIR}/${b}" requires)"
  for r in "${words[@]}"; do
    if [[ -n "${provided[$r]+set}" ]]; then
      continue
    fi
    hint="no role provides it"
    if [[ -n "${providers[$r]:-}" ]]; then
      hint=""
      for p in ${providers[$r]}; do
        if [[ -n "${planned[$p]+set}" ]]; then
          hint+="${hint:+; }${p} provides it but runs later"
        else
          hint+="${hint:+; }${p} provides it but is not selected for host ${host}"
        fi
      done
    fi
    problems+=("role ${b} requires '${r}', which no earlier role provides (${hint})")
    if [[ -z "$first_bad" ]]; then
      first_bad="$b"
      first_req="$r"
    fi
  done
  read -r -a words <<<"$(role_meta "${ROLES_DIR}/${b}" provides)"
  for c in "${words[@]}"; do
    provided["$c"]="$b"
  done
done

if [[ "$mode" == plan ]]; then
  if ((${#plan[@]})); then
    printf '%s\n' "${plan[@]}" >&3
  fi
  for p in "${problems[@]}"; do
    log "ERROR: ${p}"
  done
  if ((${#problems[@]})); then
    exit 1
  fi
  exit 0
fi

mkdir -p -- "$KLDLOAD_STATE_DIR"
rm -f -- "$KLDLOAD_FAILURE_FILE"

if ((${#problems[@]})); then
  for p in "${problems[@]}"; do
    log "ERROR: ${p}"
  done
  log "nothing was run: fix the roles' '# requires:' / '# provides:' headers or the role map"
  req_line="$(awk -v w="$first_req" '/^#[[:space:]]*requires:/ {
    for (i = 1; i <= NF; i++) if ($i == w) { print NR; exit }
  }' "${ROLES_DIR}/${first_bad}")" || req_line=""
  KLDLOAD_ROLE="${first_bad%.sh}" _kl_record_failure 1 "${req_line:-unknown}" "requires: ${first_req}" \
    "${ROLES_DIR}/${first_bad}" "${problems[0]}"
  exit 1
fi

if ((${#plan[@]} == 0)); then
  warn "no roles to run in ${ROLES_DIR}"
  exit 0
fi

# ── Run ───────────────────────────────────────────────────────────────────────────────────────────────
role_done() {
  local name rest
  if [[ ! -r "$DONE_FILE" ]]; then
    return 1
  fi
  while IFS=$'\t' read -r name rest; do
    if [[ "$name" == "$1" ]]; then
      return 0
    fi
  done <"$DONE_FILE"
  return 1
}

t0=$SECONDS
n=0
skipped=0
group=""
for b in "${plan[@]}"; do
  n=$((n + 1))
  f="${ROLES_DIR}/${b}"
  g="host roles (${selectors[*]:-none})"
  if role_is_final "$f"; then
    g="verification"
  elif role_is_shared "$f"; then
    g="shared roles"
  fi
  if [[ "$g" != "$group" ]]; then
    group="$g"
    kl_phase "$group"
  fi
  if role_done "$b"; then
    log "role ${b} (${n}/${#plan[@]}): already done, skipped"
    skipped=$((skipped + 1))
    continue
  fi
  log "=== role ${b} (${n}/${#plan[@]}) start"
  rt0=$SECONDS
  rc=0
  rm -f -- "$KLDLOAD_FAILURE_FILE"
  (cd -- "$KLDLOAD_DARKSITE" && KLDLOAD_ROLE="${b%.sh}" KLDLOAD_ROLE_FILE="$f" exec bash "$f" </dev/null) || rc=$?
  dur=$((SECONDS - rt0))
  if ((rc != 0)); then
    if [[ ! -s "$KLDLOAD_FAILURE_FILE" ]]; then
      KLDLOAD_ROLE="${b%.sh}" _kl_record_failure "$rc" unknown "bash ${f}" "$f" \
        "the role exited ${rc} without writing a failure record (does it call kl_strict?)"
    fi
    _KL_FAILURE_RECORDED=role
    log "=== role ${b} FAILED (exit ${rc}) after ${dur}s; failure record: ${KLDLOAD_FAILURE_FILE}"
    log "fix it and run again: roles that finished are recorded in ${DONE_FILE} and will be skipped"
    exit "$rc"
  fi
  printf '%s\t%s\t%ss\n' "$b" "$(date -u +%FT%TZ)" "$dur" >>"$DONE_FILE"
  sync -- "$DONE_FILE" 2>/dev/null || true
  log "=== role ${b} done in ${dur}s"
done
kl_phase_end
log "postinstall complete: ${#plan[@]} roles (${skipped} already done) in $((SECONDS - t0))s"
