#!/usr/bin/env bash
# Sets up and runs hacore's main job on its embedded default: `hacore lab`, three
# hacore nodes in network namespaces on a bridge with a client, and a failover
# timeline (needs root and iproute2). Without root it runs the same story in the
# deterministic simulator instead, which needs nothing. Extra args go to the command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
  exec "$deno" run -A main.ts lab "$@"
fi
echo "demo: hacore lab needs root and iproute2 (ip); running the simulator demo instead" >&2
exec "$deno" run --allow-env main.ts sim "$@"
