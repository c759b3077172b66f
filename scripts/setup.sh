#!/usr/bin/env bash
# Installs the pinned Deno (from the npm registry) into .tools/ when no matching deno is on
# PATH, then caches hacore's npm dependencies. Safe to run again: it does nothing twice.
set -euo pipefail
DENO_VERSION="2.9.6"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

have_deno() {
  local bin="$1"
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | head -n1 | grep -q "^deno $DENO_VERSION "
}

deno_bin=""
if command -v deno >/dev/null 2>&1 && have_deno "$(command -v deno)"; then
  deno_bin="$(command -v deno)"
elif have_deno "$tools/bin/deno"; then
  deno_bin="$tools/bin/deno"
else
  command -v npm >/dev/null 2>&1 || { echo "setup: npm is needed to install deno $DENO_VERSION" >&2; exit 1; }
  echo "setup: installing deno $DENO_VERSION into $tools" >&2
  mkdir -p "$tools/bin"
  npm install --silent --no-audit --no-fund --prefix "$tools" "deno@$DENO_VERSION" >&2
  # The platform package carries the real binary; link it so no node shim sits in front.
  real="$(ls "$tools"/node_modules/@deno/*/deno 2>/dev/null | head -n1 || true)"
  [ -n "$real" ] || real="$tools/node_modules/deno/deno"
  ln -sf "$real" "$tools/bin/deno"
  have_deno "$tools/bin/deno" || { echo "setup: deno $DENO_VERSION did not install" >&2; exit 1; }
  deno_bin="$tools/bin/deno"
fi

# One stable path for scripts and docs, whichever deno was chosen.
mkdir -p "$tools/bin"
# -ef, not =: the same file by another path (a .tools that is a symlink) must not be
# linked to itself.
[ "$deno_bin" -ef "$tools/bin/deno" ] || ln -sf "$deno_bin" "$tools/bin/deno"
deno_bin="$tools/bin/deno"

cd "$root"
"$deno_bin" install --quiet >&2
echo "$deno_bin"
