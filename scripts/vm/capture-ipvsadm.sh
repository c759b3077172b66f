#!/usr/bin/env bash
# Re-records the IPVS netlink byte fixtures in tests/fixtures/ipvs/ (see
# scripts/vm/capture_ipvsadm.ts): inside the UML guest, or directly where the host has IPVS.
# Needs strace and ipvsadm (scripts/deps.sh installs them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
cmd=("$deno" run -A scripts/vm/capture_ipvsadm.ts)
if [ -e /proc/net/ip_vs ]; then
  exec "${cmd[@]}"
fi
exec bash scripts/vm/run.sh --timeout 600 -- "${cmd[@]}"
