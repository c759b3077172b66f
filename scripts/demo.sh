#!/usr/bin/env bash
# Sets up and runs hacore's main job on its embedded default: a three-router failover
# scenario in the deterministic simulator (no root, no network needed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
exec "$deno" run --allow-env main.ts sim "$@"
