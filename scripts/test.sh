#!/usr/bin/env bash
# Sets up (pinned deno, npm deps, and as root the system packages: scripts/deps.sh) and runs
# every test: the host tests, then tests/ipvs/ where the kernel has IPVS — directly when the
# host has it, otherwise inside the User-Mode Linux guest of scripts/vm/run.sh.
# Ends with one plain line summing both runs, "tests: N passed, N failed, N skipped", for CI
# to read; exits non-zero when either run failed.
#
#   scripts/test.sh                            # everything
#   scripts/test.sh tests/unit/log_test.ts     # only these paths (host or guest, by path)
#   scripts/test.sh --filter failover tests/netns
#
# Arguments that name an existing file or directory choose what runs (paths under tests/ipvs
# go to the IPVS run, the rest to the host run, and tests/ or . to both); every other
# argument is passed to both `deno test` runs. HACORE_HOST_TIMEOUT (seconds, default 2400)
# bounds the host run, HACORE_VM_TIMEOUT (default 1200) the guest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deno="$("$root/scripts/setup.sh")"
bash "$root/scripts/deps.sh"

flags=()
host_paths=()
ipvs_paths=()
picked=0
for a in "$@"; do
  if [[ "$a" != -* && -e "$a" ]]; then
    picked=1
    rel="$(realpath -m --relative-to="$root" "$a")"
    case "$rel" in
      tests/ipvs | tests/ipvs/*) ipvs_paths+=("$rel") ;;
      . | tests) host_paths+=("$rel") && ipvs_paths+=(tests/ipvs) ;;
      *) host_paths+=("$rel") ;;
    esac
  else
    flags+=("$a")
  fi
done
if [ "$picked" = 0 ]; then
  host_paths=(tests/)
  ipvs_paths=(tests/ipvs/)
fi
cd "$root"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
passed=0 failed=0 skipped=0 status=0

# Runs one `deno test` (the command in "$@") with its output teed to $logs/$name, then adds
# deno's own summary ("ok | 12 passed | 0 failed | 1 ignored (3s)", colours stripped) to the
# totals.
run_tests() {
  local name="$1" code summary n
  shift
  set +e
  "$@" 2>&1 | tee "$logs/$name"
  code=${PIPESTATUS[0]}
  set -e
  summary="$(sed 's/\x1b\[[0-9;]*m//g' "$logs/$name" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1 || true)"
  n="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
  passed=$((passed + ${n:-0}))
  n="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
  failed=$((failed + ${n:-0}))
  n="$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$summary")"
  skipped=$((skipped + ${n:-0}))
  if [ "$code" != 0 ]; then
    status=1
    if [ "$code" = 124 ] || [ "$code" = 137 ]; then
      echo "tests: the $name run ran out of time; the test it hung in is the last one named above" >&2
    fi
    [ -n "$summary" ] || echo "tests: the $name run exited $code before deno's summary" >&2
  fi
}

if [ "${#host_paths[@]}" -gt 0 ]; then
  # A hung test must fail the run with its name on the last line, not eat CI's budget.
  run_tests host timeout -k 30 "${HACORE_HOST_TIMEOUT:-2400}" \
    "$deno" test -A --ignore=tests/ipvs/ "${flags[@]}" "${host_paths[@]}"
fi
if [ "${#ipvs_paths[@]}" -gt 0 ]; then
  if [ -e /proc/net/ip_vs ] || [ ! -x "${UML_ROOT:-}/usr/bin/linux.uml" ]; then
    # Host has IPVS, or no guest is possible: run here (without IPVS the tests say why they
    # skip, and fail under CI=true).
    run_tests ipvs "$deno" test -A "${flags[@]}" "${ipvs_paths[@]}"
  else
    echo "tests: running tests/ipvs in the User-Mode Linux guest (scripts/vm/run.sh)"
    # Type-check here, where deno's cache persists: in the guest the check costs ~7 s a run
    # because the guest's writes to the cache vanish with it.
    if "$deno" check "${ipvs_paths[@]}"; then
      run_tests ipvs bash scripts/vm/run.sh --timeout "${HACORE_VM_TIMEOUT:-1200}" -- \
        "$deno" test -A --no-check "${flags[@]}" "${ipvs_paths[@]}"
    else
      echo "tests: tests/ipvs does not type-check; the guest run is skipped" >&2
      status=1
    fi
  fi
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
