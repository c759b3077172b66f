#!/bin/bash
# PID 1 of the User-Mode Linux guest that scripts/vm/run.sh boots (see the header there).
#
# The kernel hands us the host's / read-only (hostfs) and, as environment variables from its
# command line, hacore_job (the job script the runner wrote on the host), hacore_repo (the
# repository to mount read-write) and hacore_mods (the UML kernel's modules directory).
# We make the root writable with an overlay on tmpfs, load IPVS, run the job with its stdout
# and stderr on the serial lines ttyS0/ttyS1, write its exit status to ttyS2 and power off.
# PID 1 must never exit (the kernel would panic and the VM would hang until the runner's
# timeout), so every failure path ends in power_off too.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "vm-init: $*" >/dev/console; }

power_off() {
  printf '%s\n' "$1" >/dev/ttyS2
  sync
  echo 1 >/proc/sys/kernel/sysrq
  echo o >/proc/sysrq-trigger
  while :; do sleep 60; done
}

die() {
  say "$*"
  printf 'vm: guest setup failed: %s\n' "$*" >/dev/ttyS1
  power_off 125
}

mount -t proc proc /proc || die "mount /proc"
mountpoint -q /dev || mount -t devtmpfs dev /dev || die "mount /dev"
kver="$(uname -r)"

# A writable scratch area before the overlay exists: /run is a plain directory in the
# hostfs view, so a tmpfs over it hides nothing the job needs.
mount -t tmpfs -o mode=0755 scratch /run || die "mount scratch tmpfs"
mkdir -p /run/mods/lib/modules /run/ov/upper /run/ov/work /run/ov/root
ln -s "$hacore_mods" "/run/mods/lib/modules/$kver"
modprobe -d /run/mods overlay || die "modprobe overlay"
mount -t overlay overlay -o lowerdir=/,upperdir=/run/ov/upper,workdir=/run/ov/work /run/ov/root ||
  die "mount overlay"

# pivot_root, not chroot: `ip netns` and mount namespaces need a real root mount.
cd /run/ov/root || die "cd overlay"
mkdir -p .vm-old-root
pivot_root . .vm-old-root || die "pivot_root"
cd /
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
# Fresh /run and /tmp: the host's (other namespaces, other runs' files) are not ours.
mount -t tmpfs -o mode=0755 run /run
cp "$hacore_job" /run/hacore-job.sh || die "copy job $hacore_job"
mount -t tmpfs -o mode=1777 tmp /tmp
umount -l /.vm-old-root && rmdir /.vm-old-root

mkdir -p "/lib/modules/$kver"
mount --bind "$hacore_mods" "/lib/modules/$kver" || die "bind modules"
modprobe ip_vs || die "modprobe ip_vs"
for m in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh ftp pe_sip; do
  modprobe -q "ip_vs_$m" 2>/dev/null || say "no ip_vs_$m"
done

ip link set lo up
hostname hacore-vm
mount -t hostfs -o "$hacore_repo" hostfs "$hacore_repo" || die "mount $hacore_repo read-write"

# Serial lines cook output ("\n" becomes "\r\n") unless raw.
for t in ttyS0 ttyS1 ttyS2; do stty -F "/dev/$t" raw -echo 2>/dev/null; done
# The job writes into pipes, not the ttys: a tty would make deno and others draw progress
# for a terminal the host may not have. Wait for both copies so no tail is lost.
mkfifo /run/hacore-stderr
cat /run/hacore-stderr >/dev/ttyS1 &
errcopy=$!
bash /run/hacore-job.sh </dev/null 2>/run/hacore-stderr | cat >/dev/ttyS0
code=${PIPESTATUS[0]}
wait "$errcopy"
power_off "$code"
