#!/usr/bin/env bash
# Runs one command inside a throwaway User-Mode Linux guest that has IPVS, and exits with the
# command's status:
#
#   scripts/vm/run.sh [--mem MiB] [--timeout S] -- CMD...
#
# Why a guest at all: the test hosts' kernels have no IPVS and cannot load modules, and nested
# KVM does not work there (their KVM is PVM-only). UML (Debian's user-mode-linux package) is
# a Linux 6.1 kernel that runs as an ordinary host process, with the IPVS modules beside it;
# it boots to a shell command in 2.5-5 s and needs no image:
# - Root is the host's own / through hostfs, read-only, so deno, ip, ipvsadm, keepalived and the
#   deno cache are all there as they are on the host. An overlay with its upper layer on a
#   guest tmpfs (scripts/vm/init.sh) makes it writable; every write vanishes with the guest.
# - The repository is the one host path mounted read-write (hostfs again, at the same path), so
#   tests can write output and fixtures back.
# - There is no NIC and no terminal. The guest's serial lines are mapped to host file
#   descriptors instead: ttyS0 to our stdout, ttyS1 to our stderr, ttyS2 to a file that receives
#   the command's exit status; the kernel console goes to a log printed only when the guest
#   fails. Guest RAM is an unlinked file in $TMPDIR, which we point at /dev/shm (disk only
#   when /dev/shm is too small).
# - The guest is one host process per guest process, all in one process group of their own.
#   Every way out (exit, failure, --timeout, Ctrl-C, SIGTERM) kills that group; if this script
#   itself is SIGKILLed, the kernel process gets SIGKILL (pdeathsig) and a watchdog in its own
#   session kills the group within a second.
#
# CMD runs as root in the repository's root directory with stdin at /dev/null and the host's
# PATH (plus .tools/bin), HOME, DENO_DIR, CI, TERM, LANG and DENO_*/HACORE_* variables.
# Exit status: CMD's; 124 on timeout; 125 when the guest could not run CMD; 2 on bad usage.
# Environment: UML_ROOT (a directory holding usr/bin/linux.uml and usr/lib/uml/modules, e.g.
# from `dpkg -x`; default /), HACORE_VM_CONSOLE=1 (print the guest's console log at the end).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

usage() {
  echo "usage: $0 [--mem MiB] [--timeout S] -- CMD..." >&2
  exit 2
}

mem=1024
timeout=900
while [ $# -gt 0 ]; do
  case "$1" in
    --mem) [ $# -ge 2 ] || usage; mem="$2"; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout="$2"; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -gt 0 ] || usage
[[ "$mem" =~ ^[0-9]+$ && "$timeout" =~ ^[0-9]+$ ]] || usage

uml_root="${UML_ROOT:-/}"
uml="$uml_root/usr/bin/linux.uml"
if [ ! -x "$uml" ]; then
  echo "vm: $uml not found: install user-mode-linux (as root: scripts/deps.sh)" >&2
  exit 125
fi
kver="$("$uml" --version 2>/dev/null | head -n1)"
mods="$uml_root/usr/lib/uml/modules/$kver"
[ -d "$mods" ] || { echo "vm: no modules for UML $kver in $mods" >&2; exit 125; }
# The kernel command line splits on spaces; these paths travel on it.
for p in "$root" "$mods"; do
  [[ "$p" != *[[:space:]]* ]] || { echo "vm: path with spaces not supported: $p" >&2; exit 125; }
done
[ "$(id -u)" = 0 ] || echo "vm: warning: not root; the guest's files are only as writable as yours" >&2

# The ptrace shim (see scripts/vm/uml_xstate.c): without it UML dies at boot on hosts whose
# XSAVE area is larger than it knows (AMX's). Built once per change of its source, next
# to the pinned Deno; without a C compiler UML runs as it is, which works on smaller hosts.
shim="$root/.tools/uml_xstate.so"
if [ ! -f "$shim" ] || [ "$root/scripts/vm/uml_xstate.c" -nt "$shim" ]; then
  mkdir -p "$root/.tools"
  if command -v cc >/dev/null 2>&1 &&
    cc -O2 -shared -fPIC -o "$shim.$$" "$root/scripts/vm/uml_xstate.c" -ldl 2>"$shim.$$.log"; then
    mv -f "$shim.$$" "$shim"
  else
    echo "vm: warning: could not build the UML ptrace shim (no cc, or: $(head -c 300 "$shim.$$.log" 2>/dev/null))" >&2
  fi
  rm -f "$shim.$$" "$shim.$$.log"
fi
preload=()
[ -f "$shim" ] && preload=("LD_PRELOAD=$shim")

# The job directory must be visible inside the guest through hostfs, so not under /dev.
work="$(mktemp -d /tmp/hacore-vm.XXXXXX)"
vm=""
watchdog=""
cleanup() {
  [ -z "$vm" ] || kill -KILL -- "-$vm" 2>/dev/null || true
  [ -z "$watchdog" ] || kill -KILL -- "-$watchdog" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${HACORE_VM_CONSOLE:-}" = 1 ] && [ -f "$work/console.log" ]; then
    cat "$work/console.log" >&2
  fi
  rm -rf "$work"
}
# On a signal, clean up and then die of that same signal, so a calling shell sees an
# interrupted child (and stops too) rather than one that merely failed.
on_signal() {
  trap - EXIT "$1"
  cleanup
  kill -s "$1" "$$"
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

write_job() {
  local v
  printf 'cd %q || exit 125\n' "$root"
  printf 'export PATH=%q\n' "$root/.tools/bin:$PATH"
  printf 'export DENO_DIR=%q\n' "${DENO_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/deno}"
  for v in HOME USER LANG LC_ALL TERM CI NO_COLOR $(compgen -e | grep -E '^(DENO|HACORE)_' || true); do
    [ "$v" = DENO_DIR ] || [ -z "${!v+x}" ] || printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf 'exec'
  printf ' %q' "$@"
  echo
}
write_job "$@" >"$work/job.sh"
: >"$work/status"

cmdline=(
  "mem=${mem}M" root=/dev/root rootfstype=hostfs rootflags=/ ro quiet
  "init=$root/scripts/vm/init.sh"
  con=null con0=null,fd:3 ssl=null ssl0=null,fd:4 ssl1=null,fd:5 ssl2=null,fd:6
  "hacore_job=$work/job.sh" "hacore_repo=$root" "hacore_mods=$mods"
)
# Guest RAM is a file in $TMPDIR: tmpfs when /dev/shm has room for all of it (containers often
# give /dev/shm 64 MiB, and a guest touching more than that would die of SIGBUS), disk otherwise.
ram_dir=/dev/shm
if [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -lt $((mem * 1024)) ] 2>/dev/null ||
  [ ! -d /dev/shm ]; then
  ram_dir="${TMPDIR:-/tmp}"
  echo "vm: /dev/shm has less than ${mem} MiB free; guest RAM goes to $ram_dir" >&2
fi

# A background child of a script is not a process-group leader, so setsid execs in place and
# $! is the kernel process and its new group's id.
setsid setpriv --pdeathsig KILL env TMPDIR="$ram_dir" "${preload[@]}" "$uml" "${cmdline[@]}" \
  </dev/null 4>&1 5>&2 3>>"$work/console.log" 6>"$work/status" >>"$work/console.log" 2>&1 &
vm=$!

# The watchdog outlives a SIGKILLed runner (own session: Ctrl-C does not reach it either) and
# enforces the timeout.
setsid bash -c '
  end=$((SECONDS + $3))
  while kill -0 "$1" 2>/dev/null && kill -0 -- "-$2" 2>/dev/null; do
    if [ "$SECONDS" -ge "$end" ]; then : >"$4/timed-out"; break; fi
    sleep 0.5
  done
  kill -KILL -- "-$2" 2>/dev/null
  kill -0 "$1" 2>/dev/null || rm -rf "$4"
' watchdog "$$" "$vm" "$timeout" "$work" </dev/null >/dev/null 2>&1 &
watchdog=$!
disown "$watchdog" # no "Killed" job notice when cleanup ends it

set +e
wait "$vm" 2>/dev/null
set -e
status="$(head -n1 "$work/status" | tr -dc 0-9)"
if [ -n "$status" ]; then exit "$status"; fi
if [ -e "$work/timed-out" ]; then
  echo "vm: timed out after ${timeout}s; guest killed" >&2
  exit 124
fi
echo "vm: the guest ended without an exit status; its console said:" >&2
tail -n 30 "$work/console.log" >&2
if grep -q "ptrace set fp regs failed" "$work/console.log" && [ ! -f "$shim" ]; then
  echo "vm: this host's FPU state is larger than UML knows; install a C compiler (gcc) so that" \
    "the shim scripts/vm/uml_xstate.c can be built" >&2
fi
exit 125
