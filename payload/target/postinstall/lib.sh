# shellcheck shell=bash
# kldload postinstall framework. Installed on targets as /usr/lib/kldload/postinstall/lib.sh.
#
# Source it from postinstall.sh and from every role, then turn on strict mode:
#
#   # shellcheck source=lib.sh
#   source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
#   kl_strict
#
# Every function is safe under `set -Eeuo pipefail`. Environment it honours (all optional):
#   KLDLOAD_LOG           copy of every log line (default /var/log/kldload/postinstall.log; empty: stdout only)
#   KLDLOAD_STATE_DIR     state directory (default /var/lib/kldload)
#   KLDLOAD_FAILURE_FILE  failure record (default $KLDLOAD_STATE_DIR/postinstall-failure)
#   KLDLOAD_DISTRO        debian (the default; pkg_install refuses anything else)
#   KLDLOAD_ROLE          tag for log lines (the dispatcher sets it for each role)
#   KLDLOAD_PKG_RETRIES   attempts for package installs (default 3), KLDLOAD_PKG_RETRY_DELAY seconds apart (5)
#   KLDLOAD_APT_UPDATE    0: pkg_install does not run apt-get update first
#   KLDLOAD_HTTP_CLIENT   bash: verify_http uses /dev/tcp even when curl is installed
#   KLDLOAD_UNIT_DIR      where install_timer writes units (default /etc/systemd/system)

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "lib.sh is a library: source it from a postinstaller or role" >&2
  exit 2
fi
# Sourcing twice (dispatcher and a role in one shell) is harmless.
if [[ -n "${_KL_LIB_FILE:-}" ]]; then
  return 0
fi
_KL_LIB_FILE="${BASH_SOURCE[0]}"

: "${KLDLOAD_LOG=/var/log/kldload/postinstall.log}"
: "${KLDLOAD_STATE_DIR:=/var/lib/kldload}"
: "${KLDLOAD_FAILURE_FILE:=${KLDLOAD_STATE_DIR}/postinstall-failure}"

# Capabilities the base install guarantees. A role may `# requires:` these without any role providing
# them. `kldload postinstall check` keeps the same list (src/postinstall/roles.ts; a unit test compares).
# shellcheck disable=SC2034 # read by dispatch.sh
KL_BASE_PROVIDES=(base systemd zfs ssh apt)

KL_VERIFY_PASSED=0
KL_VERIFY_FAILED=0
_KL_PHASE=""
_KL_PHASE_T0=0
_KL_FAILURE_RECORDED=""
_KL_APT_UPDATED=""
_KL_EXIT_HOOKS=()

# ── Logging ──────────────────────────────────────────────────────────────────────────────────────────

# log MESSAGE… — one timestamped line to stdout and to $KLDLOAD_LOG.
log() {
  local tag=postinstall line dir
  if [[ -n "${KLDLOAD_ROLE:-}" ]]; then
    tag+=":${KLDLOAD_ROLE}"
  fi
  printf -v line '[%(%F %T)T] [%s] %s' -1 "$tag" "$*"
  printf '%s\n' "$line"
  if [[ -n "${KLDLOAD_LOG:-}" ]]; then
    dir=.
    if [[ "$KLDLOAD_LOG" == */* ]]; then
      dir="${KLDLOAD_LOG%/*}"
    fi
    { mkdir -p -- "${dir:-/}" && printf '%s\n' "$line" >>"$KLDLOAD_LOG"; } 2>/dev/null || true
  fi
}

warn() {
  log "WARNING: $*"
}

# die MESSAGE… — log, record the failure (caller's file and line), exit 1.
die() {
  local where
  log "FATAL: $*"
  where="$(_kl_where)"
  _kl_record_failure 1 "${where##*:}" "die $*" "${where%:*}" ""
  exit 1
}

# kl_phase NAME — start a named phase; the previous one is logged as done with its duration.
kl_phase() {
  kl_phase_end
  _KL_PHASE="$*"
  _KL_PHASE_T0=$SECONDS
  log "── phase: $*"
}

kl_phase_end() {
  if [[ -n "$_KL_PHASE" ]]; then
    log "── phase done: ${_KL_PHASE} ($((SECONDS - _KL_PHASE_T0))s)"
    _KL_PHASE=""
  fi
}

# kl_on_exit COMMAND… — run COMMAND (eval'd) when the script exits, after the failure record is written.
# Use this instead of `trap … EXIT`, which would replace the framework's own exit handler.
kl_on_exit() {
  _KL_EXIT_HOOKS+=("$*")
}

# ── Strict mode and failure records ──────────────────────────────────────────────────────────────────

# kl_strict — set -Eeuo pipefail, and an ERR trap that records where a role failed:
# $KLDLOAD_FAILURE_FILE gets key=value lines (line=, command=, file=, exit=, and context) and they are
# printed. A failure inside a lib function is reported at the role line that called it.
kl_strict() {
  set -Eeuo pipefail
  shopt -s inherit_errexit
  trap '_kl_on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR
  trap '_kl_on_exit "$?"' EXIT
}

# Prints FILE:LINE of the innermost stack frame outside this library.
_kl_where() {
  local i src
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    src="${BASH_SOURCE[i]}"
    if [[ "$src" != "$_KL_LIB_FILE" ]]; then
      printf '%s:%s\n' "${src:-$0}" "${BASH_LINENO[i - 1]}"
      return 0
    fi
  done
  printf '%s:%s\n' "$0" 0
}

# Text of line N of FILE, trimmed (the command as written, when BASH_COMMAND says only `return 1`).
_kl_source_line() {
  local file=$1 n=$2 text=""
  if [[ -r "$file" && "$n" =~ ^[1-9][0-9]*$ ]]; then
    text="$(sed -n "${n}p" -- "$file" 2>/dev/null)" || text=""
  fi
  text="${text#"${text%%[![:space:]]*}"}"
  printf '%s' "${text%"${text##*[![:space:]]}"}"
}

_kl_on_err() {
  local code=$1 lineno=$2 cmd=$3 where file line inner="" i
  set +e
  where="$(_kl_where)"
  file="${where%:*}"
  line="${where##*:}"
  # When a function returned non-zero, BASH_COMMAND is its `return`: the call as written says more.
  if [[ "$cmd" == return || "$cmd" == "return "* ]]; then
    cmd="$(_kl_source_line "${BASH_SOURCE[1]:-$0}" "$lineno")"
  fi
  # Frame 1 is the one that failed. Inside the lib: report the role line, and the lib line as detail.
  if [[ "${BASH_SOURCE[1]:-}" == "$_KL_LIB_FILE" ]]; then
    inner="${_KL_LIB_FILE}:${lineno} (${FUNCNAME[1]:-?}): ${cmd}"
    cmd="$(_kl_source_line "$file" "$line")"
  fi
  for ((i = 1; i < ${#FUNCNAME[@]}; i++)); do
    if [[ "${FUNCNAME[i]}" != main && "${BASH_SOURCE[i]}" != "$_KL_LIB_FILE" ]]; then
      inner="${inner:+${inner}; }in function ${FUNCNAME[i]}"
      break
    fi
  done
  _kl_record_failure "$code" "$line" "$cmd" "$file" "$inner"
  exit "$code"
}

_kl_on_exit() {
  local code=$1 hook i
  set +e
  if ((code != 0)); then
    _kl_record_failure "$code" unknown \
      "exit ${code} outside the ERR trap (an unset variable under set -u, or an explicit exit)" \
      "$0" ""
  else
    kl_phase_end
  fi
  for ((i = ${#_KL_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    hook="${_KL_EXIT_HOOKS[i]}"
    eval "$hook" || log "exit hook failed: ${hook}"
  done
  exit "$code"
}

# _kl_record_failure EXIT LINE COMMAND FILE DETAIL — writes $KLDLOAD_FAILURE_FILE once per process.
# The innermost failure wins: a subshell's trap fires before its parent's, and both share $$.
_kl_record_failure() {
  local code=$1 line=$2 cmd=$3 file=$4 detail=${5:-} f="$KLDLOAD_FAILURE_FILE" l tmp
  if [[ -n "$_KL_FAILURE_RECORDED" ]]; then
    return 0
  fi
  if [[ -r "$f" ]]; then
    while IFS= read -r l; do
      if [[ "$l" == "pid=$$" ]]; then
        return 0
      fi
    done <"$f"
  fi
  _KL_FAILURE_RECORDED=1
  cmd="${cmd//$'\n'/\\n}"
  detail="${detail//$'\n'/\\n}"
  # One KEY=value line each, in the env-file format `kldload firstboot status` reads (kl_env_quote).
  local -a rec=()
  local pair
  for pair in "line=${line}" "command=${cmd}" "file=${file}" "exit=${code}" "role=${KLDLOAD_ROLE:-}" \
    "phase=${_KL_PHASE}" "detail=${detail}" "time=$(date -u +%FT%TZ)" "pid=$$"; do
    kl_env_quote "${pair#*=}"
    rec+=("${pair%%=*}=${REPLY}")
  done
  tmp="${f}.tmp.$$"
  { mkdir -p -- "${f%/*}" && printf '%s\n' "${rec[@]}" >"$tmp" && mv -f -- "$tmp" "$f"; } 2>/dev/null ||
    log "(could not write ${f})"
  log "FAILED: ${file} line ${line} (exit ${code}): ${cmd}"
  for l in "${rec[@]}"; do
    log "  ${l}"
  done
}

# ── Helpers ──────────────────────────────────────────────────────────────────────────────────────────

# retry N DELAY COMMAND… — run COMMAND up to N times, DELAY seconds apart; returns its last exit code.
# COMMAND should be a program: bash ignores `set -e` inside a function run as a condition.
retry() {
  if (($# < 3)); then
    die "usage: retry ATTEMPTS DELAY COMMAND…"
  fi
  local max=$1 delay=$2 attempt=1 rc
  shift 2
  if ! [[ "$max" =~ ^[1-9][0-9]*$ && "$delay" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    die "retry: ATTEMPTS must be a positive integer and DELAY a number of seconds (got '$max' '$delay')"
  fi
  while :; do
    rc=0
    "$@" || rc=$?
    if ((rc == 0)); then
      if ((attempt > 1)); then
        log "retry: succeeded on attempt ${attempt}/${max}: $*"
      fi
      return 0
    fi
    if ((attempt >= max)); then
      log "retry: giving up after ${max} attempts (exit ${rc}): $*"
      return "$rc"
    fi
    log "retry: attempt ${attempt}/${max} failed (exit ${rc}), again in ${delay}s: $*"
    sleep "$delay"
    attempt=$((attempt + 1))
  done
}

# apt options that make the darksite the only source, when it is on disk (one per line).
_kl_apt_src() {
  local list="${KLDLOAD_DARKSITE_LIST:-/etc/kldload/darksite.list}"
  if [[ -r "$list" ]]; then
    mkdir -p /run/kldload/apt-empty.d
    printf '%s\n' -o "Dir::Etc::SourceList=${list}" -o Dir::Etc::SourceParts=/run/kldload/apt-empty.d
  fi
}

_kl_apt_update() {
  local -a src
  if [[ -z "$_KL_APT_UPDATED" && "${KLDLOAD_APT_UPDATE:-1}" != 0 ]]; then
    mapfile -t src < <(_kl_apt_src)
    retry "${1:-3}" "${2:-5}" apt-get "${src[@]}" update -q
    _KL_APT_UPDATED=1
  fi
}

# pkg_available PACKAGE — true when apt (on first boot: the darksite) can install PACKAGE. For
# packages Debian does not carry and the user may supply as .deb files (kubeadm, gitlab-runner).
pkg_available() {
  local -a src
  local cand
  if [[ "${KLDLOAD_DISTRO:-debian}" != debian ]]; then
    die "pkg_available: KLDLOAD_DISTRO '${KLDLOAD_DISTRO}': this build installs debian only"
  fi
  _kl_apt_update
  mapfile -t src < <(_kl_apt_src)
  cand="$(apt-cache "${src[@]}" policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')" || cand=""
  [[ -n "$cand" && "$cand" != "(none)" ]]
}

# pkg_install PACKAGE… — install with apt from the darksite (retried: mirrors hiccup). The answers
# schema allows KLDLOAD_DISTRO=debian only; anything else is refused here too.
pkg_install() {
  if (($# == 0)); then
    return 0
  fi
  local tries="${KLDLOAD_PKG_RETRIES:-3}" delay="${KLDLOAD_PKG_RETRY_DELAY:-5}" distro="${KLDLOAD_DISTRO:-debian}"
  if [[ "$distro" != debian ]]; then
    die "pkg_install: KLDLOAD_DISTRO '${distro}': this build installs debian only"
  fi
  log "installing packages: $*"
  local -x DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none
  # On first boot the darksite (the ISO's signed repository, copied to the disk) is the only
  # source: nothing is downloaded at deploy time, and a missing network cannot fail a role.
  local -a src
  _kl_apt_update "$tries" "$delay"
  mapfile -t src < <(_kl_apt_src)
  retry "$tries" "$delay" apt-get "${src[@]}" install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# True when dataset DS has property PROP = WANT, in zfs's display or parsable form (16K or 16384).
_kl_prop_is() {
  local ds=$1 prop=$2 want=$3 shown parsed
  shown="$(zfs get -H -o value "$prop" "$ds" 2>/dev/null)" || return 1
  parsed="$(zfs get -H -p -o value "$prop" "$ds" 2>/dev/null)" || parsed="$shown"
  [[ "${want,,}" == "${shown,,}" || "${want,,}" == "${parsed,,}" ]]
}

_kl_check_props() {
  local kv
  for kv in "$@"; do
    if ! [[ "$kv" =~ ^[a-z][a-z0-9_:.-]*=.+$ ]]; then
      die "dataset property '${kv}' is not prop=value"
    fi
  done
}

# ensure_dataset NAME [prop=value…] — create NAME (and parents) with the properties, or, when it
# exists, set only the properties whose value differs. Safe to run again.
ensure_dataset() {
  if (($# < 1)); then
    die "usage: ensure_dataset NAME [prop=value…]"
  fi
  local ds=$1 kv
  shift
  _kl_check_props "$@"
  if zfs list -H -o name "$ds" >/dev/null 2>&1; then
    for kv in "$@"; do
      if ! _kl_prop_is "$ds" "${kv%%=*}" "${kv#*=}"; then
        zfs set "$kv" "$ds"
        log "dataset ${ds}: set ${kv}"
      fi
    done
    log "dataset ${ds}: present"
  else
    local -a opts=()
    for kv in "$@"; do
      opts+=(-o "$kv")
    done
    zfs create -p "${opts[@]}" "$ds"
    log "dataset ${ds}: created${*:+ ($*)}"
  fi
}

_kl_journal_tail() {
  journalctl -u "$1" --no-pager -n "${2:-20}" 2>/dev/null || true
}

# wait_for_service UNIT [TIMEOUT=60] — wait until UNIT is active; fail at once if it failed.
wait_for_service() {
  if (($# < 1)); then
    die "usage: wait_for_service UNIT [TIMEOUT_SECONDS]"
  fi
  local unit=$1 timeout=${2:-60} state deadline
  deadline=$((SECONDS + timeout))
  while :; do
    state="$(systemctl is-active "$unit" 2>/dev/null)" || true
    case "$state" in
      active)
        log "service ${unit} is active"
        return 0
        ;;
      failed)
        log "service ${unit} failed to start; last journal lines:"
        _kl_journal_tail "$unit"
        return 1
        ;;
    esac
    if ((SECONDS >= deadline)); then
      log "service ${unit} not active after ${timeout}s (state: ${state:-unknown}); last journal lines:"
      _kl_journal_tail "$unit"
      return 1
    fi
    sleep 1
  done
}

# restart_service UNIT [TIMEOUT=60] — enable UNIT at boot, restart it now (so it reads what the role
# just wrote) and wait until it is active: a unit that does not come back fails the role at this line.
restart_service() {
  if (($# < 1 || $# > 2)); then
    die "usage: restart_service UNIT [TIMEOUT_SECONDS]"
  fi
  systemctl enable "$1"
  systemctl restart "$1"
  wait_for_service "$1" "${2:-60}"
}

# install_timer NAME CALENDAR DESCRIPTION COMMAND [after=UNIT] [requires=UNIT] [delay=SPAN] — a oneshot
# NAME.service that runs COMMAND (one ExecStart= line, as systemd reads it) and NAME.timer
# (OnCalendar=CALENDAR; Persistent, so a run missed while the machine was off happens at the next boot;
# delay= spreads the start, RandomizedDelaySec) in $KLDLOAD_UNIT_DIR (/etc/systemd/system), enabled
# and started. CALENDAR is checked by systemd-analyze before anything is written. Safe to run again:
# files are rewritten only when their text differs.
install_timer() {
  if (($# < 4)); then
    die "usage: install_timer NAME CALENDAR DESCRIPTION COMMAND [after=UNIT] [requires=UNIT] [delay=SPAN]"
  fi
  local name=$1 cal=$2 desc=$3 cmd=$4 kv after="" requires="" delay="" dir="${KLDLOAD_UNIT_DIR:-/etc/systemd/system}"
  shift 4
  if ! [[ "$name" =~ ^[A-Za-z0-9_.@-]+$ && "$name" != *.service && "$name" != *.timer ]]; then
    die "install_timer: NAME '${name}' must be [A-Za-z0-9_.@-]+, without .service or .timer"
  fi
  local text
  for text in "$cal" "$desc" "$cmd"; do
    if [[ -z "$text" || "$text" == *$'\n'* ]]; then
      die "install_timer ${name}: CALENDAR, DESCRIPTION and COMMAND must each be one non-empty line"
    fi
  done
  for kv in "$@"; do
    case "$kv" in
      after=?*) after="${kv#*=}" ;;
      requires=?*) requires="${kv#*=}" ;;
      delay=?*) delay="${kv#*=}" ;;
      *) die "install_timer ${name}: '${kv}' is not after=UNIT, requires=UNIT or delay=SPAN" ;;
    esac
  done
  if ! systemd-analyze calendar "$cal" >/dev/null 2>&1; then
    die "install_timer ${name}: '${cal}' is not a calendar systemd understands (see: systemd-analyze calendar '${cal}')"
  fi
  local service timer changed=""
  service="[Unit]"$'\n'"Description=${desc}"$'\n'
  if [[ -n "$after" ]]; then
    service+="After=${after}"$'\n'
  fi
  if [[ -n "$requires" ]]; then
    service+="Requires=${requires}"$'\n'
  fi
  service+=$'\n'"[Service]"$'\n'"Type=oneshot"$'\n'"ExecStart=${cmd}"$'\n'
  timer="[Unit]"$'\n'"Description=${desc} (${cal})"$'\n\n'"[Timer]"$'\n'"OnCalendar=${cal}"$'\n'
  if [[ -n "$delay" ]]; then
    timer+="RandomizedDelaySec=${delay}"$'\n'
  fi
  timer+="Persistent=true"$'\n\n'"[Install]"$'\n'"WantedBy=timers.target"$'\n'
  mkdir -p -- "$dir"
  for kv in "service:${service}" "timer:${timer}"; do
    text="${kv#*:}"
    if [[ "$(cat -- "${dir}/${name}.${kv%%:*}" 2>/dev/null)"$'\n' != "$text" ]]; then
      printf '%s' "$text" >"${dir}/${name}.${kv%%:*}"
      changed=1
    fi
  done
  if [[ -n "$changed" ]]; then
    systemctl daemon-reload
  fi
  systemctl enable --now "${name}.timer"
  log "timer ${name}: ${cal} runs ${cmd}"
}

# ensure_line FILE LINE [REGEX] — append LINE to FILE (made, with its folder, when missing) unless a
# line of FILE matches REGEX (grep -E; without REGEX: LINE itself, whole). Safe to run again.
ensure_line() {
  if (($# < 2 || $# > 3)); then
    die "usage: ensure_line FILE LINE [REGEX]"
  fi
  local file=$1 line=$2 re=${3:-}
  if [[ "$line" == *$'\n'* ]]; then
    die "ensure_line ${file}: LINE must be one line"
  fi
  if [[ -n "$re" ]]; then
    if grep -qE -- "$re" "$file" 2>/dev/null; then
      return 0
    fi
  elif grep -qxF -- "$line" "$file" 2>/dev/null; then
    return 0
  fi
  mkdir -p -- "$(dirname -- "$file")"
  # A last line without its newline would be glued to LINE.
  if [[ -s "$file" && -n "$(tail -c1 -- "$file")" ]]; then
    printf '\n' >>"$file"
  fi
  printf '%s\n' "$line" >>"$file"
  log "${file}: added ${line}"
}

# ensure_user NAME [useradd option…] — create the account NAME with the options (-m -s /bin/bash, -G
# GROUP…) unless it exists; an existing account is left as it is. Safe to run again.
ensure_user() {
  if (($# < 1)) || [[ -z "$1" || "$1" == -* ]]; then
    die "usage: ensure_user NAME [useradd option…]"
  fi
  local name=$1
  shift
  if id -u -- "$name" >/dev/null 2>&1; then
    return 0
  fi
  useradd "$@" "$name"
  log "user ${name} created"
}

# ── Verification: each prints a PASS or FAIL line and returns non-zero on failure ────────────────────
# Under kl_strict the first failing check ends the role. To run every check and fail at the end:
#   verify_service_active nginx || true
#   verify_port_listening 80 || true
#   verify_summary

_kl_pass() {
  KL_VERIFY_PASSED=$((KL_VERIFY_PASSED + 1))
  log "PASS: $*"
}

_kl_fail() {
  KL_VERIFY_FAILED=$((KL_VERIFY_FAILED + 1))
  log "FAIL: $*"
}

verify_service_active() {
  local unit=$1
  if systemctl is-active --quiet "$unit" 2>/dev/null; then
    _kl_pass "service ${unit} is active"
    return 0
  fi
  _kl_fail "service ${unit} is not active ($(systemctl is-active "$unit" 2>/dev/null || true))"
  _kl_journal_tail "$unit" 10
  return 1
}

# verify_dataset NAME [prop=value…]
verify_dataset() {
  local ds=$1 kv bad=()
  shift
  if ! zfs list -H -o name "$ds" >/dev/null 2>&1; then
    _kl_fail "dataset ${ds} does not exist"
    return 1
  fi
  for kv in "$@"; do
    if ! _kl_prop_is "$ds" "${kv%%=*}" "${kv#*=}"; then
      bad+=("${kv%%=*}=$(zfs get -H -o value "${kv%%=*}" "$ds" 2>/dev/null || echo '?') (want ${kv#*=})")
    fi
  done
  if ((${#bad[@]})); then
    _kl_fail "dataset ${ds}: ${bad[*]}"
    return 1
  fi
  _kl_pass "dataset ${ds} exists${*:+ with $*}"
}

# True when something listens on TCP (or UDP) PORT; ss when present, else /proc/net.
_kl_listening() {
  local port=$1 proto=$2 hex state f
  if command -v ss >/dev/null 2>&1; then
    local flag=-Hltn
    if [[ "$proto" == udp ]]; then
      flag=-Hlun
    fi
    ss "$flag" 2>/dev/null | awk -v p="$port" '{ n = split($4, a, ":"); if (a[n] == p) f = 1 } END { exit !f }'
    return
  fi
  printf -v hex '%04X' "$port"
  state=0A
  if [[ "$proto" == udp ]]; then
    state=07
  fi
  for f in "/proc/net/${proto}" "/proc/net/${proto}6"; do
    if [[ -r "$f" ]] && awk -v h=":${hex}" -v s="$state" \
      'NR > 1 && substr($2, length($2) - 4) == h && $4 == s { f = 1 } END { exit !f }' "$f"; then
      return 0
    fi
  done
  return 1
}

# verify_port_listening PORT [tcp|udp]
verify_port_listening() {
  local port=$1 proto=${2:-tcp}
  if ! [[ "$port" =~ ^[0-9]+$ && "$proto" =~ ^(tcp|udp)$ ]]; then
    _kl_fail "verify_port_listening: bad port/protocol '${port}' '${proto}'"
    return 1
  fi
  if _kl_listening "$port" "$proto"; then
    _kl_pass "${proto} port ${port} is listening"
    return 0
  fi
  _kl_fail "${proto} port ${port} is not listening"
  return 1
}

verify_pool_healthy() {
  local pool=${1:-${KLDLOAD_POOL_NAME:-rpool}} health
  health="$(zpool list -H -o health "$pool" 2>/dev/null)" || health=""
  if [[ "$health" == ONLINE ]]; then
    _kl_pass "pool ${pool} is ONLINE"
    return 0
  fi
  _kl_fail "pool ${pool} is ${health:-missing}"
  zpool status "$pool" 2>/dev/null || true
  return 1
}

# Prints the body of an http:// URL using bash's /dev/tcp; fails on a status other than 2xx/3xx.
_kl_http_get_devtcp() {
  local url=$1 timeout=$2 rest hostport host port path fd status line
  if [[ "$url" != http://* ]]; then
    echo "only http:// works without curl" >&2
    return 2
  fi
  rest="${url#http://}"
  hostport="${rest%%[/?#]*}"
  path="${rest#"$hostport"}"
  path="/${path#/}"
  path="${path%%#*}"
  if [[ "$hostport" =~ ^\[([^]]+)\](:([0-9]+))?$ || "$hostport" =~ ^([^:]+)(:([0-9]+))?$ ]]; then
    host="${BASH_REMATCH[1]}"
    port="${BASH_REMATCH[3]:-80}"
  else
    echo "cannot parse host in ${url}" >&2
    return 2
  fi
  exec {fd}<>"/dev/tcp/${host}/${port}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: kldload-postinstall\r\nConnection: close\r\n\r\n' \
    "$path" "$hostport" >&"$fd"
  if ! IFS= read -r -t "$timeout" -u "$fd" status; then
    exec {fd}>&-
    echo "no response" >&2
    return 1
  fi
  status="${status%$'\r'}"
  # Skip the headers, then print the body.
  while IFS= read -r -t "$timeout" -u "$fd" line; do
    if [[ "${line%$'\r'}" == "" ]]; then
      break
    fi
  done
  cat <&"$fd"
  exec {fd}>&-
  if [[ "$status" =~ ^HTTP/[0-9.]+\ ([23][0-9][0-9]) ]]; then
    return 0
  fi
  echo "${status}" >&2
  return 1
}

# verify_http URL [EXPECTED_SUBSTRING] — 2xx/3xx (curl: after redirects, 4xx/5xx fail) and,
# when given, the body contains EXPECTED_SUBSTRING.
verify_http() {
  local url=$1 want=${2:-} body err rc=0 timeout="${KLDLOAD_HTTP_TIMEOUT:-10}"
  if [[ "${KLDLOAD_HTTP_CLIENT:-}" != bash ]] && command -v curl >/dev/null 2>&1; then
    body="$(curl -fsSL --max-time "$timeout" "$url" 2>&1)" || rc=$?
  else
    body="$(_kl_http_get_devtcp "$url" "$timeout" 2>&1)" || rc=$?
  fi
  if ((rc != 0)); then
    err="$(printf '%s' "$body" | tail -n 1)"
    _kl_fail "${url} did not answer with success (${err:-exit ${rc}})"
    return 1
  fi
  if [[ -n "$want" && "$body" != *"$want"* ]]; then
    _kl_fail "${url} answered, but without \"${want}\""
    return 1
  fi
  _kl_pass "${url} answered${want:+ with \"${want}\"}"
}

# verify_summary — totals of this shell's verify_* calls; non-zero when any failed.
verify_summary() {
  if ((KL_VERIFY_FAILED > 0)); then
    log "verification: ${KL_VERIFY_FAILED} failed, ${KL_VERIFY_PASSED} passed"
    return 1
  fi
  log "verification: all ${KL_VERIFY_PASSED} checks passed"
}

# verify_cmd DESCRIPTION COMMAND… — PASS when COMMAND succeeds; FAIL shows its last output lines.
verify_cmd() {
  if (($# < 2)); then
    _kl_fail "usage: verify_cmd DESCRIPTION COMMAND…"
    return 1
  fi
  local what=$1 out rc=0
  shift
  out="$("$@" 2>&1)" || rc=$?
  if ((rc == 0)); then
    _kl_pass "$what"
    return 0
  fi
  _kl_fail "${what} (exit ${rc}: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' '))"
  return 1
}

# ── Secrets ──────────────────────────────────────────────────────────────────────────────────────────

# secret_get NAME [LENGTH=32] — print the secret NAME, generating it on first use into
# $KLDLOAD_SECRETS_DIR/NAME (0600 under a 0700 root-only folder). Never logged: capture it with $(…).
secret_get() {
  local name=$1 len=${2:-32} dir="${KLDLOAD_SECRETS_DIR:-/root/kldload-secrets}" value
  if ! [[ "$name" =~ ^[A-Za-z0-9_.-]+$ && "$len" =~ ^[0-9]+$ ]]; then
    die "secret_get: NAME must be [A-Za-z0-9_.-]+ and LENGTH a number (got '${name}' '${len}')"
  fi
  if [[ ! -s "${dir}/${name}" ]]; then
    (umask 077 && mkdir -p -- "$dir")
    # head closes the pipe early on purpose; tr's SIGPIPE is not an error here.
    value="$(set +o pipefail && LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$len")"
    (umask 077 && printf '%s\n' "$value" >"${dir}/${name}.tmp" && mv -f -- "${dir}/${name}.tmp" "${dir}/${name}")
    # To stderr: stdout is the secret itself, for $(…).
    log "secret ${name}: generated into ${dir}/${name} (0600)" >&2
  fi
  head -n 1 -- "${dir}/${name}"
}

# ── Firewall ─────────────────────────────────────────────────────────────────────────────────────────
# Roles add rules; fw_apply turns all of them into one nftables table, `inet kldload`. Only that table
# is ever replaced: rules of docker, kube-proxy or libvirt in their own tables stay. The base input
# policy is drop with established, loopback, ICMP, DHCP and SSH allowed.
#   fw_allow web tcp 80,443                 input: accept these ports (any source)
#   fw_allow nfs tcp 2049 10.0.0.0/8        input: accept from a network only
#   fw_rule vpn forward 'iifname "wg0" accept'
#   fw_rule vpn postrouting 'oifname "eth0" masquerade'
#   fw_apply

_kl_fw_dir() {
  printf '%s\n' "${KLDLOAD_FW_DIR:-/etc/kldload/nftables.d}"
}

# fw_rule NAME CHAIN RULE — add RULE (nft syntax) to CHAIN (input, forward, prerouting, postrouting)
# under NAME (usually the role). Adding the same rule again changes nothing.
fw_rule() {
  if (($# != 3)); then
    die "usage: fw_rule NAME CHAIN 'RULE'"
  fi
  local name=$1 chain=$2 rule=$3 dir file
  if ! [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]]; then
    die "fw_rule: NAME '${name}' must be [A-Za-z0-9_-]+"
  fi
  case "$chain" in
    input | forward | prerouting | postrouting) ;;
    *) die "fw_rule: CHAIN '${chain}' must be input, forward, prerouting or postrouting" ;;
  esac
  local open="${rule//[^\{]/}" close="${rule//[^\}]/}"
  if [[ -z "${rule//[[:space:]]/}" || "$rule" == *$'\n'* || "$rule" == *\;* || ${#open} -ne ${#close} ]]; then
    die "fw_rule: one rule per call: no newline or semicolon, balanced braces (got '${rule}')"
  fi
  dir="$(_kl_fw_dir)"
  file="${dir}/${name}.${chain}"
  mkdir -p -- "$dir"
  if ! grep -qxF -- "$rule" "$file" 2>/dev/null; then
    printf '%s\n' "$rule" >>"$file"
    log "firewall: ${chain} += ${rule} (${name})"
  fi
}

# fw_allow NAME tcp|udp PORT[,PORT|LOW-HIGH…] [SOURCE_CIDR] — accept incoming connections.
fw_allow() {
  if (($# < 3 || $# > 4)); then
    die "usage: fw_allow NAME tcp|udp PORTS [SOURCE_CIDR]"
  fi
  local name=$1 proto=$2 ports=$3 from=${4:-} rule p
  local -a set
  if [[ "$proto" != tcp && "$proto" != udp ]]; then
    die "fw_allow: protocol '${proto}' must be tcp or udp"
  fi
  IFS=, read -r -a set <<<"$ports"
  for p in "${set[@]}"; do
    if ! [[ "$p" =~ ^[0-9]{1,5}(-[0-9]{1,5})?$ ]]; then
      die "fw_allow: port '${p}' must be a number or LOW-HIGH"
    fi
  done
  rule="${proto} dport { ${ports//,/, } } accept"
  if [[ -n "$from" ]]; then
    if [[ "$from" =~ ^[0-9.]+(/[0-9]{1,2})?$ ]]; then
      rule="ip saddr ${from} ${rule}"
    elif [[ "$from" =~ ^[0-9A-Fa-f:]+(/[0-9]{1,3})?$ ]]; then
      rule="ip6 saddr ${from} ${rule}"
    else
      die "fw_allow: source '${from}' must be an IPv4 or IPv6 address or CIDR"
    fi
  fi
  fw_rule "$name" input "$rule"
}

# fw_allow_from NAME tcp|udp PORTS SOURCE[,SOURCE…] — fw_allow from each source of a comma-separated
# list (addresses or CIDRs). An empty list opens nothing: only this host (loopback) reaches PORTS.
fw_allow_from() {
  if (($# != 4)); then
    die "usage: fw_allow_from NAME tcp|udp PORTS SOURCE[,SOURCE…]"
  fi
  local src
  local -a list=()
  IFS=, read -r -a list <<<"$4"
  for src in "${list[@]}"; do
    if [[ -n "$src" ]]; then
      fw_allow "$1" "$2" "$3" "$src"
    fi
  done
}

# kl_local_subnet — the IPv4 network (CIDR) of the interface with the default route, from its
# link-scope route, e.g. 192.168.1.0/24; prints nothing when there is none.
kl_local_subnet() {
  local dev
  dev="$(ip -4 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
  if [[ -n "$dev" ]]; then
    ip -4 -o route show dev "$dev" scope link 2>/dev/null | awk '$1 ~ /\// { print $1; exit }'
  fi
}

# Prints the rule files of CHAIN as indented lines, each group headed by its name.
_kl_fw_chain_rules() {
  local chain=$1 f
  for f in "$(_kl_fw_dir)"/*."$chain"; do
    if [[ -s "$f" ]]; then
      printf '    # %s\n' "$(basename -- "$f" ".${chain}")"
      sed 's/^/    /' -- "$f"
    fi
  done
}

# fw_apply — write $KLDLOAD_NFT_CONF (/etc/nftables.conf), check it with nft -c, load it, and enable
# nftables.service so it is loaded at boot. Loaded with `nft -f`, never `systemctl restart nftables`:
# the unit's stop action flushes the whole ruleset, other tables included.
fw_apply() {
  local conf="${KLDLOAD_NFT_CONF:-/etc/nftables.conf}" fwd pre post tmp
  fwd="$(_kl_fw_chain_rules forward)"
  pre="$(_kl_fw_chain_rules prerouting)"
  post="$(_kl_fw_chain_rules postrouting)"
  tmp="${conf}.kldload-new"
  {
    printf '#!/usr/sbin/nft -f\n'
    printf '# Written by kldload fw_apply from %s/*.{input,forward,prerouting,postrouting}.\n' "$(_kl_fw_dir)"
    printf '# Edit those files (or call fw_allow / fw_rule) and run fw_apply again; do not edit this file.\n'
    printf '# Only the table inet kldload is replaced; tables of docker, kube-proxy and others are left alone.\n'
    printf 'table inet kldload\ndelete table inet kldload\n'
    printf 'table inet kldload {\n'
    printf '  chain input {\n    type filter hook input priority filter; policy drop;\n'
    printf '    ct state established,related accept\n    ct state invalid drop\n    iif lo accept\n'
    printf '    meta l4proto { icmp, ipv6-icmp } accept\n    udp dport { 68, 546 } accept\n'
    printf '    tcp dport 22 accept\n'
    _kl_fw_chain_rules input
    printf '  }\n'
    if [[ -n "$fwd" ]]; then
      # Forwarding is refused unless a role allows it (a VPN hub, a router).
      printf '  chain forward {\n    type filter hook forward priority filter; policy drop;\n'
      printf '    ct state established,related accept\n%s\n  }\n' "$fwd"
    fi
    if [[ -n "$pre" ]]; then
      printf '  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n%s\n  }\n' "$pre"
    fi
    if [[ -n "$post" ]]; then
      printf '  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n%s\n  }\n' "$post"
    fi
    printf '}\n'
  } >"$tmp"
  if ! nft -c -f "$tmp"; then
    die "fw_apply: nft rejected the generated rules (kept in ${tmp}); fix the rule files in $(_kl_fw_dir)"
  fi
  mv -f -- "$tmp" "$conf"
  nft -f "$conf"
  systemctl enable nftables.service
  log "firewall: ${conf} loaded (table inet kldload)"
}

# ── Snapshot schedules ───────────────────────────────────────────────────────────────────────────────

# snapshot_schedule DATASET [key=value…] — a sanoid policy for DATASET (hourly= daily= weekly=
# monthly= yearly= frequently= autosnap= autoprune= recursive= use_template=) in its own drop-in,
# $KLDLOAD_SANOID_DIR/50-<dataset>.conf, written once (a second call for the same dataset keeps the first). sanoid reads one file, so
# sanoid.conf is composed from the drop-ins (sanoid-compose, also run before every sanoid run): this
# section replaces the installer's for the same dataset (00-kldload.conf) and may use its templates
# (use_template=data). sanoid.timer enabled. autoprune=no keeps every snapshot (an audit trail).
snapshot_schedule() {
  if (($# < 1)); then
    die "usage: snapshot_schedule DATASET [key=value…]"
  fi
  local ds=$1 kv dir="${KLDLOAD_SANOID_DIR:-/etc/kldload/sanoid.d}"
  local compose="${KLDLOAD_SANOID_COMPOSE:-/usr/lib/kldload/sanoid-compose}" file
  shift
  if ! [[ "$ds" =~ ^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)*$ ]]; then
    die "snapshot_schedule: '${ds}' is not a dataset name (pool/path of letters, digits and _ . : -)"
  fi
  for kv in "$@"; do
    if ! [[ "$kv" =~ ^(hourly|daily|weekly|monthly|yearly|frequently|autosnap|autoprune|recursive|use_template)=[A-Za-z0-9_]+$ ]]; then
      die "snapshot_schedule: '${kv}' is not one of hourly= daily= weekly= monthly= yearly= frequently= autosnap= autoprune= recursive= use_template="
    fi
  done
  file="${dir}/50-${ds//\//_}.conf"
  mkdir -p -- "$dir"
  if [[ -e "$file" ]]; then
    log "snapshots: ${ds} already scheduled in ${file}"
  else
    {
      printf '# snapshot_schedule %s%s (%s)\n' "$ds" "${*:+ $*}" "${KLDLOAD_ROLE:-postinstall}"
      printf '[%s]\n' "$ds"
      if [[ " $* " != *" autosnap="* ]]; then
        printf '  autosnap = yes\n'
      fi
      for kv in "$@"; do
        printf '  %s = %s\n' "${kv%%=*}" "${kv#*=}"
      done
    } >"$file"
    log "snapshots: ${ds} scheduled (${*:-sanoid defaults}) in ${file}"
  fi
  if [[ -x "$compose" ]]; then
    "$compose"
  else
    warn "snapshot_schedule: ${compose} is missing; sanoid.conf is composed at the next sanoid run"
  fi
  systemctl enable --now sanoid.timer
}

# ── Manifest ─────────────────────────────────────────────────────────────────────────────────────────

# kl_env_quote VALUE — VALUE as written after KEY= in an env file, in REPLY: bare when safe, else '…',
# else "…" with \" \\ \$ \` escaped (the TypeScript writer's rule; kl_env_value reads it back). Line
# breaks cannot be held and become the two characters \n (\r likewise).
kl_env_quote() {
  local v=$1
  v="${v//$'\n'/\\n}"
  v="${v//$'\r'/\\r}"
  if [[ "$v" =~ ^[A-Za-z0-9_@%+=:,./-]*$ ]]; then
    REPLY=$v
  elif [[ "$v" != *"'"* ]]; then
    REPLY="'${v}'"
  else
    v="${v//\\/\\\\}"
    v="${v//\"/\\\"}"
    v="${v//\$/\\\$}"
    v="${v//\`/\\\`}"
    REPLY="\"${v}\""
  fi
}

# kl_env_value RAW — the value of an env-file line's right-hand side, in REPLY; status 1 (and a reason
# in REPLY) when it is refused. The same rules as the TypeScript codec (src/answers/parse.ts): the rest
# of the line, blanks trimmed; '…' literal; "…" with \" \\ \$ \` only; unquoted, ' #' is refused
# (never cut); $NAME, ${…}, $(…) and backticks are refused, never expanded.
kl_env_value() {
  local s=$1 out='' c n i rest
  local -r sq="'" expands='[A-Za-z0-9_{@*#?$!-]'
  if [[ "$s" =~ ^[[:space:]]+# ]]; then
    REPLY="has ' #' in an unquoted value"
    return 1
  fi
  s="${s#"${s%%[![:space:]]*}"}"
  s="${s%"${s##*[![:space:]]}"}"
  if [[ "${s:0:1}" == "$sq" ]]; then
    rest="${s:1}"
    if [[ "$rest" != *"$sq"* ]]; then
      REPLY='unterminated single quote'
      return 1
    fi
    out="${rest%%"$sq"*}"
    rest="${rest#*"$sq"}"
    if [[ -n "$rest" && ! "$rest" =~ ^[[:space:]]+# ]]; then
      REPLY='text after the closing quote'
      return 1
    fi
    REPLY=$out
    return 0
  fi
  if [[ "${s:0:1}" == '"' ]]; then
    for ((i = 1; i < ${#s}; i++)); do
      c="${s:i:1}"
      n="${s:i+1:1}"
      if [[ "$c" == "\\" ]]; then
        if [[ -n "$n" && "\"\\\$\`" == *"$n"* ]]; then
          out+=$n
          i=$((i + 1))
        else
          out+=$c
        fi
      elif [[ "$c" == '`' || ("$c" == '$' && "$n" =~ $expands) || ("$c" == '$' && "$n" == '(') ]]; then
        REPLY='contains an expansion, which is never done'
        return 1
      elif [[ "$c" == '"' ]]; then
        rest="${s:i+1}"
        if [[ -z "$rest" || "$rest" =~ ^[[:space:]]+# ]]; then
          REPLY=$out
          return 0
        fi
        break
      else
        out+=$c
      fi
    done
    REPLY='unterminated double quote (or text after it)'
    return 1
  fi
  if [[ "$s" =~ [[:space:]]# ]]; then
    REPLY="has ' #' in an unquoted value"
    return 1
  fi
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    n="${s:i+1:1}"
    if [[ "$c" == '`' || ("$c" == '$' && "$n" =~ $expands) || ("$c" == '$' && "$n" == '(') ]]; then
      REPLY='contains an expansion, which is never done'
      return 1
    fi
  done
  REPLY=$s
}

# kl_load_manifest [FILE] — export KEY=value lines of the install manifest that are not already set.
# The file is read as data (never sourced) by kl_env_value; a line it refuses is named in a warning.
kl_load_manifest() {
  local file=${1:-${KLDLOAD_MANIFEST:-/etc/kldload/install-manifest.env}} raw key n=0
  if [[ ! -r "$file" ]]; then
    return 0
  fi
  while IFS= read -r raw || [[ -n "$raw" ]]; do
    n=$((n + 1))
    raw="${raw%$'\r'}"
    if [[ "$raw" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      key="${BASH_REMATCH[2]}"
      if ! kl_env_value "${BASH_REMATCH[3]}"; then
        warn "${file}:${n}: ${key}: ${REPLY}; not exported"
        continue
      fi
      if [[ -z "${!key+set}" ]]; then
        export "$key=$REPLY"
      fi
    fi
  done <"$file"
}

# ── Role metadata (used by the dispatcher; `kldload postinstall check` reads the same headers) ───────
# A role is roles/NN-name.sh. Its header is the leading block of comment and blank lines:
#   # requires: docker datasets     capabilities that an earlier role (or the base system) provides
#   # provides: webserver           capabilities this role sets up
#   # shared: yes                   run on every host, before the host's own roles (also: NN = 00-09)
#   # chosen: build                 chosen with `kldload build --role` (the build writes it): runs on
#                                   every host unless roles/map or KLDLOAD_ROLES decides instead

# role_meta FILE KEY — the words of every `# KEY:` header line.
role_meta() {
  local file=$1 key=${2,,} raw
  local -a words out=()
  while IFS= read -r raw || [[ -n "$raw" ]]; do
    raw="${raw%$'\r'}"
    if [[ -z "${raw//[[:space:]]/}" ]]; then
      continue
    fi
    if [[ "$raw" != \#* ]]; then
      break
    fi
    if [[ "$raw" =~ ^#[[:space:]]*([A-Za-z-]+):(.*)$ && "${BASH_REMATCH[1],,}" == "$key" ]]; then
      read -r -a words <<<"${BASH_REMATCH[2]}"
      out+=("${words[@]}")
    fi
  done <"$file"
  if ((${#out[@]})); then
    printf '%s\n' "${out[*]}"
  fi
}

# role_name FILE — 40-web-server.sh → web-server
role_name() {
  local b="${1##*/}"
  b="${b%.sh}"
  printf '%s\n' "${b#*-}"
}

# role_number FILE — 40-web-server.sh → 40
role_number() {
  local b="${1##*/}"
  printf '%s\n' "${b%%-*}"
}

role_is_shared() {
  local b="${1##*/}" v
  if [[ "$b" =~ ^0[0-9]- ]]; then
    return 0
  fi
  v="$(role_meta "$1" shared)"
  [[ "${v,,}" =~ ^(yes|true|1)$ ]]
}

# role_is_chosen FILE — chosen at build (`# chosen: build`).
role_is_chosen() {
  [[ "$(role_meta "$1" chosen)" == build ]]
}

# The verification role (NN-verification.sh) always runs, after every other role.
role_is_final() {
  [[ "$(role_name "$1")" == verification ]]
}

# role_matches NAME SELECTOR… — a selector picks the role named SELECTOR, or a name that starts with
# SELECTOR- or ends with -SELECTOR (database picks database, zfs-datasets-database, database-backup).
# `all` picks everything.
role_matches() {
  local name=$1 sel
  shift
  for sel in "$@"; do
    if [[ "$sel" == all || "$name" == "$sel" || "$name" == "$sel"-* || "$name" == *-"$sel" ]]; then
      return 0
    fi
  done
  return 1
}

# The hostname-prefix map used when roles/map does not exist. Format of both: `PREFIX SELECTOR…`
# per line, `#` comments; the first prefix the short hostname starts with wins; `*` matches any host.
# When no line matches, every role runs. The built-in map's selectors are the role library's names
# (roles/<name>/ of kldload); roles chosen at build run on every host whatever it selects.
kl_default_role_map() {
  cat <<'MAP'
web-      web
db-       postgres
pg-       postgres
mon-      monitoring
cp-       k8s-node
worker-   k8s-node
k8s-      k8s-node
ci-       ci-runner
docker-   docker
nfs-      nfs
vpn-      vpn-gateway
mail-     mail
mx-       mail
bastion-  bastion
jump-     bastion
xmpp-     xmpp
dev-      workstation
MAP
}

# kl_host_selectors HOST [MAPFILE] — the selectors for HOST (prints `all` when no prefix matches).
kl_host_selectors() {
  local host=$1 map=${2:-} raw prefix
  local -a fields
  while IFS= read -r raw || [[ -n "$raw" ]]; do
    raw="${raw%%#*}"
    read -r -a fields <<<"$raw"
    if ((${#fields[@]} == 0)); then
      continue
    fi
    prefix="${fields[0]}"
    if [[ "$prefix" == '*' || "$host" == "$prefix"* ]]; then
      if ((${#fields[@]} > 1)); then
        printf '%s\n' "${fields[*]:1}"
      else
        printf 'none\n'
      fi
      return 0
    fi
  done < <(if [[ -n "$map" && -r "$map" ]]; then cat -- "$map"; else kl_default_role_map; fi)
  printf 'all\n'
}
