#!/usr/bin/env bash
# Sets up (pinned deno, npm deps) and runs every test. Extra args go to `deno test`.
# Ends with one plain line, "tests: N passed, N failed, N skipped", for CI to read.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
cd "$root"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
"$deno" task test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# deno's own summary is "ok | 12 passed | 0 failed | 1 ignored (3s)"; strip its colours.
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1 || true)"
passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
failed="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
skipped="$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$summary")"
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
