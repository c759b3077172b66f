#!/usr/bin/env bash
# Makes sure the system packages the tests use are installed, so a newcomer's first
# `scripts/test.sh` skips nothing. As root it installs the missing ones with apt-get (one
# `apt-get update`, only when something is missing); without root it installs nothing and
# says what is missing and how to get it (those tests then skip with a message).
#
#   scripts/deps.sh            # check, install as root
#   scripts/deps.sh --check    # only report; exit 1 when something is missing
#
# What each package is for: iproute2 (namespaces), keepalived and frr (interop peers),
# tshark (wire captures), curl and openssl (vmac and HTTPS check tests), ipvsadm,
# user-mode-linux and kmod (the IPVS guest of scripts/vm/run.sh), gcc and libc6-dev (its
# ptrace shim, scripts/vm/uml_xstate.c), nftables, strace (scripts/vm/capture-ipvsadm.sh).
# HACORE_NO_INSTALL=1 turns installing off (report only, exit 0).
set -euo pipefail

# package:probe, where the probe is a command name or an absolute path (of any file) that
# the package installs. Probing files, not dpkg, keeps this working where dpkg is not the
# package manager.
PACKAGES=(
  iproute2:ip keepalived:keepalived tshark:tshark frr:/usr/lib/frr/vrrpd curl:curl
  openssl:openssl ipvsadm:ipvsadm user-mode-linux:linux.uml kmod:modprobe nftables:nft
  strace:strace gcc:cc libc6-dev:/usr/include/elf.h
)

have() {
  local probe="$1"
  if [[ "$probe" == /* ]]; then
    [ -e "$probe" ]
  else
    command -v "$probe" >/dev/null 2>&1 || [ -x "/usr/sbin/$probe" ] || [ -x "/sbin/$probe" ]
  fi
}

missing() {
  local entry
  for entry in "${PACKAGES[@]}"; do
    have "${entry#*:}" || echo "${entry%%:*}"
  done
}

mapfile -t need < <(missing)
[ "${#need[@]}" -gt 0 ] || exit 0

if [ "${1:-}" = --check ] || [ "${HACORE_NO_INSTALL:-}" = 1 ] || [ "$(id -u)" != 0 ] ||
  ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing ${need[*]}; the tests that need them will skip." >&2
  echo "deps: install them with: sudo apt-get install ${need[*]}  (or: sudo scripts/deps.sh)" >&2
  [ "${1:-}" = --check ] && exit 1
  exit 0
fi

echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
mapfile -t still < <(missing)
if [ "${#still[@]}" -gt 0 ]; then
  echo "deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
