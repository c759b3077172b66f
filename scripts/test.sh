#!/usr/bin/env bash
# Sets up (pinned deno, npm deps) and runs every test. Extra args go to `deno test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
exec "$deno" task test "$@"
