#!/usr/bin/env bash
# Builds hacore for installation into dist/.
#
#   scripts/compile.sh            dist/hacore, one binary, with `deno compile` (of the bundle)
#   scripts/compile.sh --bundle   dist/hacore.js, the whole module graph in one file, and
#                                 dist/hacore, a launcher: `deno run` of that file
#
# deno compile needs the `denort` runtime for the target: it downloads it, or uses the
# file named by DENORT_BIN (a denort of the same version, 2.9.6). On a machine that
# can reach neither (the npm registry carries no denort build either), this fails with
# that reason: build the bundle instead.
#
# Why the bundle: `deno run main.ts` reads, hashes and looks up ~180 modules before the
# first line runs, and a backup cannot take over until it has started; one file (with
# V8's code cache, which Deno keeps for it after its first run) starts in a fraction of
# that time. The bundle needs no deno.json, lock file or npm cache at run time.
# `hacore lab` spawns daemons from the source tree and is not for the bundle.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
mkdir -p dist
# The V8 flags every launcher uses (lib/sys/runtime_flags.ts), baked into the binary.
v8flags="$("$deno" run lib/sys/runtime_flags.ts)"

# A launcher or binary that does not answer as hacore must fail here, not on an appliance.
verify() {
  local out
  if ! out="$(timeout 10 dist/hacore --version </dev/null 2>&1)" || [[ "$out" != hacore* ]]; then
    echo "compile: dist/hacore does not run as hacore (got: ${out%%$'\n'*}); $1" >&2
    exit 1
  fi
  echo "compile: built dist/hacore ($out, $v8flags)"
}

# The whole module graph in dist/hacore.js. Minified (the source map gives stack traces
# their original files and lines): half the text for V8 to hold and scan at every start.
# Without --keep-names: it defines .name on every function and class as its module loads
# (~1,300 calls in all), 2-3 ms of CPU before a start reaches BACKUP; a stack frame then
# shows a minified function name (methods keep theirs) beside the right source line.
bundle() {
  rm -f dist/hacore dist/hacore.js dist/hacore.js.map
  "$deno" bundle --quiet --platform deno --minify --sourcemap=linked \
    --output dist/hacore.js main.ts
  hint
}

# Eager-compile hints (scripts/bundle_hints.ts): the bodies of the modules `hacore run`
# loads go in parentheses, so that V8 compiles them with the top level and Deno's code
# cache holds them (~6 ms of CPU less before a start reaches BACKUP). Where each body
# ends comes from V8's log of one run of the bundle. Without the hints the bundle works
# the same, its starts are slower: a failure here says so and goes on.
hint() {
  local log graph
  log="$(mktemp)"
  graph="$(mktemp)"
  if "$deno" run --allow-all --no-config --cached-only \
    "--v8-flags=--log-function-events,--logfile=$log,--no-logfile-per-isolate" \
    dist/hacore.js --version >/dev/null &&
    "$deno" info --json lib/cli/run.ts >"$graph" &&
    "$deno" run --allow-read --allow-write scripts/bundle_hints.ts dist/hacore.js "$log" "$graph"
  then
    :
  else
    echo "compile: the bundle has no eager-compile hints; it starts a few ms slower" >&2
  fi
  rm -f "$log" "$graph"
}

if [ "${1:-}" = "--bundle" ]; then
  bundle
  # The deno that built it is the fallback when none is on PATH at run time; HACORE_DENO
  # names another. --no-config: no deno.json lookup from the operator's cwd.
  cat >dist/hacore <<EOF
#!/bin/sh
# hacore launcher, written by scripts/compile.sh --bundle: deno run of hacore.js beside it.
# No command substitution and no dirname: each is a fork (and an exec) on every start.
here="\${0%/*}"
[ "\$here" = "\$0" ] && here=.
if [ -n "\${HACORE_DENO:-}" ]; then deno="\$HACORE_DENO"
elif command -v deno >/dev/null 2>&1; then deno=deno
else deno='$deno'
fi
# glibc gives each thread that mallocs an arena of its own; two shared arenas hold ~3 MiB
# fewer free chunks (50 instances at 10 ms). Hooks get a clean environment anyway.
: "\${MALLOC_ARENA_MAX:=2}"
export MALLOC_ARENA_MAX
exec "\$deno" run --allow-all --no-config --cached-only $v8flags "\$here/hacore.js" "\$@"
EOF
  chmod 0755 dist/hacore
  # Also the first run, which leaves V8's code cache for hacore.js behind.
  verify "see the error above"
  exit 0
fi

if [ -n "${DENORT_BIN:-}" ]; then
  [ -x "$DENORT_BIN" ] || { echo "compile: DENORT_BIN=$DENORT_BIN is not an executable file" >&2; exit 1; }
  echo "compile: using denort from DENORT_BIN=$DENORT_BIN" >&2
fi
# The binary embeds the bundle rather than main.ts's ~180 modules: one module to load
# and instantiate at every start instead of a graph.
bundle
if ! "$deno" compile --allow-all "$v8flags" --output dist/hacore dist/hacore.js; then
  echo "compile: deno compile failed. It needs denort 2.9.6: set DENORT_BIN to a local copy" >&2
  echo "compile: when the download is not reachable. (The deno binary itself is not a denort.)" >&2
  echo "compile: without one, 'scripts/compile.sh --bundle' builds a bundle and its launcher." >&2
  exit 1
fi
# A denort of another build, or a plain deno passed as DENORT_BIN, yields a binary that
# starts Deno's REPL instead of hacore: catch that here rather than on an appliance.
verify "is DENORT_BIN a denort 2.9.6?"
