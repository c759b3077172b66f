#!/usr/bin/env bash
# Builds the single hacore binary into dist/hacore with `deno compile`.
# deno compile needs the `denort` runtime for the target: it downloads it, or uses the
# file named by DENORT_BIN (a denort of the same version, 2.9.6). On a machine that
# can reach neither, this fails with that reason; run hacore with `deno run -A main.ts`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
mkdir -p dist
if [ -n "${DENORT_BIN:-}" ]; then
  [ -x "$DENORT_BIN" ] || { echo "compile: DENORT_BIN=$DENORT_BIN is not an executable file" >&2; exit 1; }
  echo "compile: using denort from DENORT_BIN=$DENORT_BIN" >&2
fi
# The V8 flags every launcher uses (lib/sys/runtime_flags.ts), baked into the binary.
v8flags="$("$deno" run lib/sys/runtime_flags.ts)"
if ! "$deno" compile --allow-all "$v8flags" --output dist/hacore main.ts; then
  echo "compile: deno compile failed. It needs denort 2.9.6: set DENORT_BIN to a local copy" >&2
  echo "compile: when the download is not reachable. (The deno binary itself is not a denort.)" >&2
  exit 1
fi
# A denort of another build, or a plain deno passed as DENORT_BIN, yields a binary that
# starts Deno's REPL instead of hacore: catch that here rather than on an appliance.
if ! out="$(timeout 10 dist/hacore --version </dev/null 2>&1)" || [[ "$out" != hacore* ]]; then
  echo "compile: dist/hacore does not run as hacore (got: ${out%%$'\n'*}); is DENORT_BIN a denort 2.9.6?" >&2
  exit 1
fi
echo "compile: built dist/hacore ($out, $v8flags)"
