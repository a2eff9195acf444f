#!/bin/bash
# scripts/v2-guest.sh [--rw DIR] [--systemd] PROGRAM [ARGS...]
#
# Runs PROGRAM as root inside a throw-away Linux guest whose only cgroup
# hierarchy is cgroup v2, and exits with PROGRAM's status. Most hosts that run
# containers are pure v2, while the machines berth is developed and tested on
# are hybrid v1 hosts whose cgroups we may not change, so the v2 code is tested
# in a kernel of its own: Debian's stock amd64 kernel under qemu, booted with
# cgroup_no_v1=all and every controller enabled in the root's subtree_control.
#
# What the program sees:
#  * The modules CRIU needs loaded (sock_diag's, nf_tables, conntrack's
#    netlink): `criu check` says "Looks good." (scripts/deps.sh v2-guest
#    installs criu).
#  * AppArmor on, no profile loaded (securityfs at /sys/kernel/security),
#    and two NUMA nodes, 0 and 1, each with half the memory (not with
#    --systemd).
#  * The host's / at the same paths, read-only (virtio-9p) under a tmpfs
#    overlay: every binary and library of the host is there, so test binaries
#    built here run unchanged. Writes land in guest memory and are lost. Fresh
#    proc, sysfs, devtmpfs, devpts, mqueue, cgroup2 on /sys/fs/cgroup and tmpfs
#    on /tmp, /run and /dev/shm hide the host's: nothing the host keeps under
#    /tmp or /run is visible in the guest.
#  * With --rw DIR, DIR read-write at the same path (made if missing): the one
#    place where the guest can leave files for the host.
#  * The caller's working directory, a minimal environment (PATH, HOME, TERM,
#    LANG, V2G_GUEST=1, V2G_RW=DIR) and no stdin. Its stdout and stderr come
#    out on ours.
#  * With --systemd, PID 1 is the host's own /lib/systemd/systemd (scripts/
#    deps.sh systemd-guest), booted with systemd.unit=v2g.target: a target of
#    the guest's own, whose one service (v2g.service, in system.slice) runs
#    PROGRAM (with V2G_SYSTEMD=1) and then powers off, so that the services the
#    host enables (containerd, docker, ...) never start. D-Bus is there
#    (dbus.socket), without sysinit.target and the host's fstab, and so is
#    user@UID.service when a test starts it. systemd
#    manages the guest's cgroup v2 tree. Its boot takes about 30-40 s of
#    TCG time more than the plain guest's: systemd loads every unit of the
#    host.
#
# Exit status: PROGRAM's, or 125 when the guest itself failed (missing tools,
# kernel download, boot, a mount, timeout); the guest's console log is then
# printed to stderr. A 125 is a failure like any other, never a skip.
#
# The first run installs what is missing (scripts/deps.sh v2-guest: qemu,
# busybox-static, xz-utils), fetches the kernel's .deb with `apt-get download`
# (about 70 MB; nothing is installed on the host) and builds an initramfs, all
# under the cache directory; later runs reuse it and boot in about 5 s. Runs
# may go in parallel.
#
# Environment:
#   V2G_CACHE       cache directory (default /var/cache/berth-v2guest)
#   V2G_KERNEL_PKG  kernel package, e.g. linux-image-6.1.0-57-amd64 (default:
#                   the newest cached, else what linux-image-amd64 depends on)
#   V2G_TIMEOUT     seconds before the guest is killed (default 1800: all of
#                   `make test-v2` takes a few minutes under TCG; CI has 90)
#   V2G_MEM, V2G_SMP  guest memory (default 2G) and CPUs (host's, at most 4)
#   V2G_ACCEL       tcg (default) or kvm. These hosts' /dev/kvm is PVM
#                   (kvm_pvm), which cannot boot a stock kernel: it hangs.
#   V2G_CONSOLE     keep the guest's console log in this file
#   V2G_VERBOSE=1   print the console log after every run
set -euo pipefail

die() { echo "v2-guest: $*" >&2; exit 125; }
usage() { sed -n '2,3p' "$0" >&2; exit 125; }

RW=
SYSTEMD=
while [ $# -gt 0 ]; do
  case $1 in
    --rw) [ $# -ge 2 ] || usage; RW=$2; shift 2;;
    --systemd) SYSTEMD=1; shift;;
    --) shift; break;;
    -*) usage;;
    *) break;;
  esac
done
[ $# -ge 1 ] || usage
case $1 in
  */*) [ -x "$1" ] || die "$1 is not an executable file";;
  *) command -v "$1" >/dev/null || die "$1: command not found";;
esac
CWD=$(pwd -P)
if [ -n "$RW" ]; then
  mkdir -p "$RW" && RW=$(cd "$RW" && pwd -P) || die "cannot make $RW"
  # qemu's -fsdev takes the path inside a comma-separated option list
  case $RW in *,*|*[[:space:]]*) die "--rw DIR must not contain commas or spaces: $RW";; esac
fi

CACHE=${V2G_CACHE:-/var/cache/berth-v2guest}
TIMEOUT=${V2G_TIMEOUT:-1800}
MEM=${V2G_MEM:-2G}
SMP=${V2G_SMP:-$(n=$(nproc); echo $((n > 4 ? 4 : n)))}
ACCEL=${V2G_ACCEL:-tcg}
BUSYBOX=/bin/busybox
# 9p and its virtio transport carry the host's / and --rw; overlay makes that
# writable. The rest is for the program, what container tests tend to need:
# veth, bridge, tun, and loop and ext4 (whose crc32c modules.dep omits);
# and what CRIU needs (tests/integration/criu.rs): the sock_diag modules and
# nf_tables that `criu check` probes (crc32c_generic for it too), and
# nf_conntrack_netlink, without which nfnetlink answers the conntrack dump of
# a network namespace with EINVAL.
MODULES="virtio_pci 9pnet_virtio 9p overlay veth bridge tun loop crc32c_generic ext4"
MODULES+=" netlink_diag unix_diag inet_diag tcp_diag udp_diag af_packet_diag nf_tables nf_conntrack_netlink"

[ "$(id -u)" = 0 ] || die "run me as root: I install packages, write $CACHE and export the host's / to the guest"
"$(dirname "$0")/deps.sh" v2-guest >&2 || die "scripts/deps.sh v2-guest failed"
mkdir -p "$CACHE" || die "cannot make $CACHE"

# ----------------------------------------------------------------- kernel ----
# Parallel runs build the cache one at a time; a finished cache is only read.
exec 9>"$CACHE/.lock"
flock 9

# The package linux-image-amd64 currently points at, from apt's lists (which a
# fresh machine may not have yet).
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true
}
PKG=${V2G_KERNEL_PKG:-}
if [ -z "$PKG" ]; then
  c=$(ls -d "$CACHE"/linux-image-*-amd64/boot 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$c" ]; then
    PKG=$(basename "$(dirname "$c")")
  else
    PKG=$(kernel_pkg)
    [ -n "$PKG" ] || { apt-get update -q >&2 || true; PKG=$(kernel_pkg); }
    [ -n "$PKG" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
  fi
fi
KDIR=$CACHE/$PKG
if [ ! -d "$KDIR/boot" ]; then
  # The generic kernel, not cloud-amd64: the cloud kernel has no 9p.
  echo "v2-guest: fetching $PKG into $CACHE" >&2
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  chown _apt "$tmp" 2>/dev/null || true # else apt warns it downloads unsandboxed
  (cd "$tmp" && { apt-get download -q "$PKG" || { apt-get update -q && apt-get download -q "$PKG"; }; }) >&2 \
    || die "apt-get download $PKG failed"
  dpkg-deb -x "$tmp"/*.deb "$tmp/x" || die "dpkg-deb -x failed"
  # modules.dep, for the initramfs below (busybox's depmod: kmod may be absent)
  "$BUSYBOX" depmod -b "$tmp/x" "$(ls "$tmp/x/lib/modules")" || die "depmod failed"
  mv "$tmp/x" "$KDIR"
  rm -rf "$tmp"
  trap - EXIT
fi
KVER=$(ls "$KDIR/lib/modules")
MODDIR=$KDIR/lib/modules/$KVER
# Booting the uncompressed ELF through its PVH entry skips the kernel's own
# xz decompression, which takes about 5 s under TCG: cut the xz stream out of
# the bzImage once.
VMLINUX=$KDIR/vmlinux.pvh
if [ ! -s "$VMLINUX" ]; then
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$KDIR/boot/vmlinuz-$KVER" | head -n 1 | cut -d: -f1 || true)
  [ -n "$off" ] || die "no xz stream in $KDIR/boot/vmlinuz-$KVER"
  tail -c +$((off + 1)) "$KDIR/boot/vmlinuz-$KVER" | xz -dc --single-stream > "$VMLINUX.tmp" 2>/dev/null || true
  head -c 4 "$VMLINUX.tmp" | grep -q ELF || { rm -f "$VMLINUX.tmp"; die "could not unpack vmlinux from the bzImage"; }
  mv "$VMLINUX.tmp" "$VMLINUX"
fi

# -------------------------------------------------------------- initramfs ----
# PID 1 of the guest. /v2g.conf, a second cpio appended per run, sets V2G_CWD
# and V2G_RW and the program's arguments. The program's stdout, stderr and
# exit status travel on serial ports ttyS1-3 (the kernel console is ttyS0),
# which need no guest drivers beyond the built-in 8250.
read -r -d '' INIT <<'INIT_EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8 V2G_GUEST=1"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
finish() { echo "$1" >/dev/ttyS3; sync; poweroff -f; sleep 10; }
fail() { echo "v2g-init: $*" >/dev/console; finish 125; }
# With --systemd: the units of the guest's own target, in /run (the new
# root's fresh tmpfs), where systemd looks first. Only v2g.target is started
# (the services the host enables are not), and D-Bus without sysinit.target:
# its default dependencies would pull in the host's fstab, udev, journald.
systemd_units() {
  S=$N/run/systemd/system
  mkdir -p $S/dbus.socket.d $S/dbus.service.d || return 1
  printf '[Unit]\nDefaultDependencies=no\n' > $S/dbus.socket.d/v2g.conf
  printf '[Unit]\nDefaultDependencies=no\n' > $S/dbus.service.d/v2g.conf
  # A test user's manager (user@UID.service, started by the test) likewise,
  # and logind, which its runtime directory's service wakes over D-Bus:
  # their sysinit.target would run the host's tmpfiles under the running
  # test, emptying its /tmp.
  for u in user@ user-runtime-dir@ systemd-logind; do
    mkdir -p $S/$u.service.d || return 1
    printf '[Unit]\nDefaultDependencies=no\n' > $S/$u.service.d/v2g.conf
  done
  cat > $S/v2g.target <<'UNIT_EOF' || return 1
[Unit]
Description=berth test guest
Wants=v2g.service
After=v2g.service
UNIT_EOF
  cat > $S/v2g.service <<'UNIT_EOF' || return 1
[Unit]
Description=berth test guest: the program
DefaultDependencies=no
Wants=dbus.socket
After=dbus.socket
[Service]
Type=exec
ExecStart=/run/v2g-run
StandardInput=null
StandardOutput=file:/dev/console
TimeoutStartSec=infinity
UNIT_EOF
  { printf '#!/bin/bash\n. /run/v2g.conf\n'; echo "ENV=\"$ENV\""; cat <<'RUN_EOF'; } > $N/run/v2g-run || return 1
rc=125
if cd "$V2G_CWD"; then
  env -i $ENV V2G_SYSTEMD=1 V2G_RW="$V2G_RW" "$@" </dev/null >/dev/ttyS1 2>/dev/ttyS2
  rc=$?
fi
echo "v2g: program exited $rc at $(cut -d' ' -f1 /proc/uptime)s uptime" >/dev/console
sync
echo $rc >/dev/ttyS3
systemctl poweroff --force --force
RUN_EOF
  chmod 755 $N/run/v2g-run && cp /v2g.conf $N/run/v2g.conf
}
for m in $(cat /modules.order); do insmod "/mod/$m.ko" || fail "insmod $m failed"; done
. /v2g.conf
for t in ttyS1 ttyS2 ttyS3; do stty -F /dev/$t raw -echo || fail "stty $t failed"; done

# The new root: the host's / read-only under a tmpfs, so the guest may write
# anywhere. cache=loose, the fastest: what the guest reads there, binaries and
# libraries, does not change while it runs.
N=/newroot
P9=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$P9,ro,cache=loose" hostroot /lower || fail "cannot mount the host's / (9p)"
mount -t tmpfs -o mode=755 tmpfs /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay $N || fail "overlay mount failed"
mount -t proc proc $N/proc || fail "proc"
mount -t sysfs sysfs $N/sys || fail "sysfs"
mount -t cgroup2 -o nsdelegate cgroup2 $N/sys/fs/cgroup || fail "cgroup2 mount failed"
mount -t devtmpfs devtmpfs $N/dev || fail "devtmpfs"
mkdir -p $N/dev/pts $N/dev/shm $N/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $N/dev/pts && ln -sf pts/ptmx $N/dev/ptmx
mount -t tmpfs -o mode=1777 shm $N/dev/shm
mount -t mqueue mqueue $N/dev/mqueue
mount -t tmpfs -o mode=1777 tmpfs $N/tmp
mount -t tmpfs -o mode=755 tmpfs $N/run && mkdir -p $N/run/lock
# The CNI library caches results in /var/lib/cni, which the host's own client
# tests make and remove: under cache=loose the guest would still see a
# directory the host removed (ENOENT on its files). The guest's own instead.
mkdir -p $N/var/lib/cni && mount -t tmpfs -o mode=755 tmpfs $N/var/lib/cni
mount -t securityfs securityfs $N/sys/kernel/security 2>/dev/null
mount -t bpf bpf $N/sys/fs/bpf 2>/dev/null
if [ -n "$V2G_RW" ]; then
  mkdir -p "$N$V2G_RW" && mount -t 9p -o "$P9,cache=mmap" rw "$N$V2G_RW" || fail "cannot mount $V2G_RW (9p)"
fi
# Pure v2: every controller the kernel has, available to the root's children.
for c in $(cat $N/sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" > $N/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable controller $c"
done
hostname v2guest
[ "$V2G_SYSTEMD" != 1 ] || systemd_units "$@" || fail "cannot write the systemd units"
ip link set lo up
ready="ready at $(cut -d' ' -f1 /proc/uptime)s uptime; controllers: $(cat $N/sys/fs/cgroup/cgroup.subtree_control)"
# Move the new root onto / as switch_root does, then chroot into it: a
# process whose root is not its mount namespace's root counts as chrooted,
# and the kernel refuses it user namespaces (clone(CLONE_NEWUSER): EPERM).
cd $N && mount -o move . / || fail "cannot move the new root onto /"
echo "v2g-init: $ready" >/dev/console
if [ "$V2G_SYSTEMD" = 1 ]; then
  # systemd as PID 1: exec, so that it keeps PID 1. It starts only
  # v2g.target (systemd.unit= on the kernel command line), whose one service
  # runs the program, sends its status and powers off.
  # This host's / may be a docker container's (/.dockerenv): systemd would
  # then believe it runs in one and ignore the kernel command line. The
  # guest is a machine of its own; the file goes from the overlay only.
  rm -f ./.dockerenv
  [ -x ./lib/systemd/systemd ] || fail "--systemd: the host has no /lib/systemd/systemd (scripts/deps.sh systemd-guest)"
  exec chroot . /usr/bin/env -i $ENV /lib/systemd/systemd
fi
chroot . /usr/bin/env -i $ENV V2G_RW="$V2G_RW" V2G_CWD="$V2G_CWD" \
  /bin/sh -c 'cd "$V2G_CWD" || exit 125; unset V2G_CWD; exec "$@"' v2g "$@" \
  </dev/null >/dev/ttyS1 2>/dev/ttyS2
rc=$?
echo "v2g-init: program exited $rc at $(cut -d' ' -f1 /proc/uptime)s uptime" >/dev/console
finish $rc
INIT_EOF

# Module paths in load order, dependencies first, from modules.dep.
resolve_modules() {
  awk -v want="$MODULES" '
    { sub(":", "", $1); n = split($1, a, "/"); name = a[n]; sub(/\.ko$/, "", name); gsub("-", "_", name)
      path[name] = $1; deps[$1] = ""; for (i = 2; i <= NF; i++) deps[$1] = deps[$1] " " $i }
    function visit(p,   d, k, i) { if (p in seen) return; seen[p] = 1
      k = split(deps[p], d, " "); for (i = 1; i <= k; i++) visit(d[i]); print p }
    END { k = split(want, w, " ")
      for (i = 1; i <= k; i++) { if (!(w[i] in path)) { print "no module " w[i] > "/dev/stderr"; exit 1 } visit(path[w[i]]) } }' \
    "$MODDIR/modules.dep"
}
KEY=$({ echo "$KVER $MODULES"; echo "$INIT"; sha256sum < "$BUSYBOX"; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio.gz
if [ ! -s "$INITRD" ]; then
  r=$(mktemp -d)
  trap 'rm -rf "$r"' EXIT
  mkdir -p "$r"/{bin,proc,sys,dev,mod,newroot,lower,rw}
  cp "$BUSYBOX" "$r/bin/busybox"
  printf '%s\n' "$INIT" > "$r/init" && chmod 755 "$r/init"
  mods=$(resolve_modules) || die "kernel $KVER lacks a module the guest needs"
  for p in $mods; do
    n=$(basename "$p" .ko)
    cp "$MODDIR/$p" "$r/mod/$n.ko" && echo "$n" >> "$r/modules.order"
  done
  (cd "$r" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) > "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD" \
    || die "cannot build the initramfs"
  rm -rf "$r"
  trap - EXIT
fi
exec 9>&-

# -------------------------------------------------------------------- run ----
RUN=$(mktemp -d /tmp/berth-v2guest.XXXXXX)
QPID=
cleanup() {
  [ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
  # opening a FIFO read-write never blocks and ends the cats' wait for a writer
  if [ -p "$RUN/out" ]; then exec 7<>"$RUN/out" 8<>"$RUN/err"; exec 7>&- 8>&-; fi
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The program's own settings go in a cpio of their own, not on the kernel
# command line, so that any path or argument survives.
{ printf 'V2G_CWD=%q\nV2G_RW=%q\nV2G_SYSTEMD=%q\nset --' "$CWD" "$RW" "$SYSTEMD"; printf ' %q' "$@"; echo; } > "$RUN/v2g.conf"
(cd "$RUN" && echo v2g.conf | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) > "$RUN/conf.cpio.gz"
cat "$INITRD" "$RUN/conf.cpio.gz" > "$RUN/initrd.gz"
CONSOLE=${V2G_CONSOLE:-$RUN/console.log}
: > "$RUN/status"
# qemu writes the program's output into FIFOs that cats copy to our stdout and
# stderr: given our stdout's file itself, qemu would open it afresh at offset
# 0 and overwrite what the caller had written before.
mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" &
cat "$RUN/err" >&2 &

case $ACCEL in
  kvm) accel=(-accel kvm -cpu host);;
  *) accel=(-accel tcg,thread=multi -cpu max);;
esac
# cgroup_no_v1=all is what makes the guest pure v2. The rest only speeds up a
# boot under TCG (about 9 s to 4.5 s): no mitigations, no clocksource checks
# or crypto self-tests, no audit, one PCI bus. Without --systemd AppArmor is
# on (Debian's kernel has it; these hosts do not), with no profile loaded,
# so that the tests can load profiles of their own (tests/integration/
# apparmor.rs): measured, it adds nothing noticeable to a boot.
append="console=ttyS0 quiet loglevel=4 panic=-1 cgroup_no_v1=all"
append+=" mitigations=off tsc=reliable clocksource=tsc no_timer_check cryptomgr.notests audit=0 pci=lastbus=0"
if [ -z "$SYSTEMD" ]; then append+=" apparmor=1 security=apparmor"; else append+=" apparmor=0"; fi
hostroot=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
          -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
# systemd reads its target from the kernel command line.
[ -z "$SYSTEMD" ] || append+=" systemd.unit=v2g.target systemd.show_status=0"
# Two NUMA nodes (not with --systemd), the memory split between them and
# the CPUs too (with one CPU, node 1 has memory only), so that memory
# policies across nodes can be tested (tests/integration/mempolicy.rs): this
# host has one node.
numa=()
if [ -z "$SYSTEMD" ]; then
  mib=$(( $(numfmt --from=iec "$MEM") / 1048576 )) || die "V2G_MEM=$MEM: not a size"
  half=$(( mib / 2 ))
  cpus0=$(( SMP > 1 ? SMP / 2 : 1 ))
  numa=(-object "memory-backend-ram,id=mem0,size=${half}M" -object "memory-backend-ram,id=mem1,size=$(( mib - half ))M"
        -numa "node,nodeid=0,memdev=mem0,cpus=0-$(( cpus0 - 1 ))")
  if [ "$SMP" -gt "$cpus0" ]; then numa+=(-numa "node,nodeid=1,memdev=mem1,cpus=$cpus0-$(( SMP - 1 ))")
  else numa+=(-numa "node,nodeid=1,memdev=mem1"); fi
fi
rw=()
[ -z "$RW" ] || rw=(-fsdev "local,id=rw,path=$RW,security_model=none,multidevs=remap" -device virtio-9p-pci,fsdev=rw,mount_tag=rw)

timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -machine q35 -smp "$SMP" -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$VMLINUX" -initrd "$RUN/initrd.gz" -append "$append" \
  -chardev "file,id=con,path=$CONSOLE" -serial chardev:con \
  -chardev "file,id=out,path=$RUN/out" -serial chardev:out \
  -chardev "file,id=err,path=$RUN/err" -serial chardev:err \
  -chardev "file,id=status,path=$RUN/status" -serial chardev:status \
  "${numa[@]}" "${hostroot[@]}" "${rw[@]}" </dev/null &
QPID=$!
qrc=0
wait "$QPID" || qrc=$?
QPID=
[ "$qrc" != 124 ] || echo "v2-guest: killed after ${TIMEOUT}s (V2G_TIMEOUT)" >&2
exec 7<>"$RUN/out" 8<>"$RUN/err"; exec 7>&- 8>&-
wait

rc=$(tr -dc 0-9 < "$RUN/status")
if [ -z "$rc" ] || [ "$rc" = 125 ] || [ "${V2G_VERBOSE:-0}" = 1 ]; then
  echo "---- guest console ----" >&2
  tail -c 20000 "$CONSOLE" >&2 || true
fi
[ -n "$rc" ] || die "the guest ended without the program's exit status (qemu exited $qrc)"
exit "$rc"
