#!/bin/bash
# kldload role: workstation — developer tools, project datasets in the user's home, and a fresh-install
# snapshot to rewind to (zfs rollback) after months of experiments.
# order: 80
# requires: base zfs
# provides: workstation devtools
# setting: KLDLOAD_WORKSTATION_USER name
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

DEV="${KLDLOAD_WORKSTATION_USER:-${KLDLOAD_USERNAME:-}}"
if [[ -z "$DEV" ]] || ! getent passwd "$DEV" >/dev/null; then
  die "workstation: no developer account: set KLDLOAD_WORKSTATION_USER (or KLDLOAD_USERNAME in the answers) to an existing user (got '${DEV}')"
fi
HOME_DIR="$(getent passwd "$DEV" | cut -d: -f6)"
HOME_DS="$(findmnt -no SOURCE --target "$HOME_DIR")"
if [[ "$(findmnt -no FSTYPE --target "$HOME_DIR")" != zfs ]]; then
  die "workstation: ${HOME_DIR} is not on ZFS (found ${HOME_DS}); the fresh-install snapshot needs it"
fi

kl_phase "packages"
pkg_install build-essential git tmux vim curl jq shellcheck python3 python3-venv python3-pip make gdb strace htop rsync man-db bash-completion

kl_phase "datasets"
# Source trees compress well and are many small files; VM images and ISOs are big sequential files.
# Children of the user's own home dataset, or, when homes share one dataset, named after the user.
SUB="${HOME_DS}/"
if [[ "$(zfs get -H -o value mountpoint "$HOME_DS")" != "$HOME_DIR" ]]; then
  SUB="${HOME_DS}/${DEV}-"
fi
ensure_dataset "${SUB}projects" mountpoint="${HOME_DIR}/projects" recordsize=128K compression=zstd atime=off
ensure_dataset "${SUB}vms" mountpoint="${HOME_DIR}/vms" recordsize=1M compression=lz4 atime=off
chown "$DEV": "${HOME_DIR}/projects" "${HOME_DIR}/vms"

kl_phase "defaults"
if [[ ! -e "${HOME_DIR}/.gitconfig" ]]; then
  # runuser keeps root's HOME and working directory; git must see the user's own.
  (
    cd "$HOME_DIR" || exit 1
    runuser -u "$DEV" -- env HOME="$HOME_DIR" git config --global init.defaultBranch main
    runuser -u "$DEV" -- env HOME="$HOME_DIR" git config --global pull.rebase true
  )
fi

kl_phase "snapshot"
# Taken once: a later run must not move the point users rewind to.
if ! zfs list -H -o name "${HOME_DS}@fresh-install" >/dev/null 2>&1; then
  zfs snapshot -r "${HOME_DS}@fresh-install"
  log "snapshot ${HOME_DS}@fresh-install taken (rewind: zfs rollback -r ${HOME_DS}@fresh-install)"
fi

kl_phase "verify"
compiles() {
  local d
  d="$(mktemp -d)"
  printf '#include <stdio.h>\nint main(void) { puts("kldload-cc-ok"); return 0; }\n' >"${d}/t.c"
  gcc -O2 -o "${d}/t" "${d}/t.c"
  [[ "$("${d}/t")" == kldload-cc-ok ]]
  rm -rf "$d"
}
for tool in git tmux vim jq shellcheck python3 make gdb; do
  verify_cmd "${tool} is installed" command -v "$tool"
done
verify_cmd "gcc builds and runs a C program" compiles
venv_works() {
  local d
  d="$(mktemp -d)"
  python3 -m venv "${d}/v"
  "${d}/v/bin/python" -c 'print(1)' >/dev/null
  rm -rf "$d"
}
verify_cmd "python3 makes a virtual environment" venv_works
verify_dataset "${SUB}projects" mountpoint="${HOME_DIR}/projects"
verify_cmd "snapshot ${HOME_DS}@fresh-install exists" zfs list -H -t snapshot "${HOME_DS}@fresh-install"
verify_summary
