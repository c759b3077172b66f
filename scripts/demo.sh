#!/usr/bin/env bash
# Sets up and runs hacore's main job on its embedded defaults, as two stories (needs root
# and iproute2):
#  1. `hacore lab`: three hacore nodes in network namespaces on a bridge with a client,
#     and a VRRP failover timeline;
#  2. `hacore lab --lvs`: the LVS-DR story, two hacore directors (VRRP + IPVS) in front of
#     three web servers, a web server killed and revived, the master director killed. It
#     needs the kernel's IPVS: run directly where /proc/net/ip_vs exists, else inside the
#     User-Mode Linux guest of scripts/vm/run.sh (skipped, with the reason, when neither).
# Without root it runs the VRRP story in the deterministic simulator instead, which needs
# nothing. Extra args go to the first command. Exits non-zero when a story failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
  echo "demo: hacore lab needs root and iproute2 (ip); running the simulator demo instead" >&2
  exec "$deno" run --allow-env main.ts sim "$@"
fi

status=0
echo "=== VRRP failover: hacore lab ==="
"$deno" run -A main.ts lab "$@" || status=$?

echo
echo "=== LVS-DR: hacore lab --lvs ==="
[ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null || true
if [ -e /proc/net/ip_vs ]; then
  "$deno" run -A main.ts lab --lvs || status=$?
elif [ -x /usr/bin/linux.uml ] || [ -n "${UML_ROOT:-}" ]; then
  echo "demo: this kernel has no IPVS; running the LVS story in the User-Mode Linux guest"
  bash scripts/vm/run.sh -- "$deno" run -A main.ts lab --lvs || status=$?
else
  echo "demo: LVS story skipped: this kernel has no IPVS and user-mode-linux is not installed" \
    "(as root: scripts/deps.sh)" >&2
fi
exit "$status"
