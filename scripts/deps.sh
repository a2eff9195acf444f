#!/bin/sh
# Installs what building berth, its demo and its tests need on a fresh
# Debian 12 machine.
#   scripts/deps.sh            what build, demo and make test need, with
#                              the clients tests/clients drives (containerd,
#                              podman, dockerd), none of them started
#   scripts/deps.sh v2-guest   that, and what scripts/v2-guest.sh needs to boot
#                              the cgroup v2 test guest (make test-v2)
#   scripts/deps.sh systemd-guest  v2-guest's, and systemd and D-Bus, whose
#                              binaries the guest of make test-systemd boots
#   scripts/deps.sh bench      that, and the runtimes and tools make bench
#                              compares with and measures by
#   scripts/deps.sh bench-v2   all of the above, and crun (make bench-v2: the
#                              guest runs the host's binaries)
set -eu
need=""
[ -x /bin/busybox ] && ! head -c 4096 /bin/busybox | grep -qa ld-linux || need="$need busybox-static"
command -v jq >/dev/null || need="$need jq"
# libseccomp is linked statically into berth (.cargo/config.toml).
[ -f /usr/lib/x86_64-linux-gnu/libseccomp.a ] || need="$need libseccomp-dev pkg-config"
# tests/compat runs every scenario with Debian's runc too, the reference.
[ -n "${RUNC:-}" ] || [ -x /usr/sbin/runc ] || need="$need runc"
# tests/compat/process.rs builds a static probe program into a rootfs.
command -v cc >/dev/null || need="$need gcc"
# tests/clients: the real clients with berth in runc's place, each started
# privately by the test. catatonit is the pause process of podman and of the
# CRI sandbox; the CNI plugins serve podman and containerd's CRI plugin.
command -v containerd >/dev/null && command -v ctr >/dev/null || need="$need containerd"
command -v podman >/dev/null || need="$need podman"
command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || need="$need conmon"
command -v dockerd >/dev/null || need="$need docker.io"
[ -x /usr/lib/cni/bridge ] || need="$need containernetworking-plugins"
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || need="$need catatonit"
# tests/cri-client, the CRI client of tests/clients: its k8s-cri crate
# compiles the CRI's protobuf definitions with protoc.
command -v protoc >/dev/null || need="$need protobuf-compiler"
# tests/integration/rootless.rs: an unprivileged test user's multi-id
# user namespace goes through the setuid newuidmap and newgidmap, and so
# does rootless podman's (tests/clients/podman_rootless.rs).
command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || need="$need uidmap"
# tests/integration/netdev.rs: veth pairs in network namespaces of its own.
command -v ip >/dev/null || need="$need iproute2"
command -v nsenter >/dev/null || need="$need util-linux"
# tests/integration/criu: a stand-in criu (python3) answers CRIU's RPC as
# an old CRIU would.
command -v python3 >/dev/null || need="$need python3"
v2_guest() {
  # qemu runs the guest; xz unpacks its kernel's ELF image once; the tests
  # in the guest make an ext4 (tests/v2/run.sh).
  command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
  command -v xz >/dev/null || need="$need xz-utils"
  command -v mkfs.ext4 >/dev/null || need="$need e2fsprogs"
  # The guest boots with AppArmor on: tests/integration/apparmor.rs loads
  # profiles of its own with the host's parser (the host's AppArmor may
  # well be off; nothing is loaded here).
  [ -x /sbin/apparmor_parser ] || [ -x /usr/sbin/apparmor_parser ] || need="$need apparmor"
  # tests/integration/criu.rs: checkpoint and restore through CRIU, which
  # starts in the guest's 6.1 kernel (3.17 cannot on these hosts' 6.18).
  command -v criu >/dev/null || need="$need criu"
}
systemd_guest() {
  # The guest runs the host's systemd as its PID 1; the host's own init is
  # left alone (systemd-sysv is what would replace it, not these).
  [ -x /lib/systemd/systemd ] || need="$need systemd"
  command -v dbus-daemon >/dev/null || need="$need dbus"
  # The test user's own bus ($XDG_RUNTIME_DIR/bus), for rootless
  # --systemd-cgroup (tests/systemd/user.sh).
  [ -e /usr/lib/systemd/user/dbus.socket ] || need="$need dbus-user-session"
}
bench() {
  # CRUN names another build to compare with: then Debian's is not needed.
  [ -x /usr/bin/time ] || need="$need time"
}
case "${1:-}" in
  "") ;;
  v2-guest) v2_guest;;
  systemd-guest) v2_guest; systemd_guest;;
  bench) bench;;
  bench-v2)
    v2_guest
    bench
    [ -n "${CRUN:-}" ] || [ -x /usr/bin/crun ] || need="$need crun"
    ;;
  *) echo "usage: $0 [v2-guest|systemd-guest|bench|bench-v2]" >&2; exit 2;;
esac
# .ci/run checks formatting and lints (make lint): rustup's default profile
# has rustfmt and clippy, a minimal one does not (static.rust-lang.org).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy
  else
    echo "$0: cargo fmt and cargo clippy are missing, and there is no rustup to add them" >&2
    exit 1
  fi
fi
[ -n "$need" ] || exit 0

# docker.io and containerd ship init scripts that their postinst starts: on a
# machine without systemd that is a dockerd on the host (a docker0 bridge,
# iptables rules). A policy-rc.d that refuses every action (101) keeps them
# stopped; one the machine already has is put back afterwards.
policy=/usr/sbin/policy-rc.d
saved=$policy.berth-deps-saved
restore() {
  rm -f "$policy"
  if [ -e "$saved" ]; then mv "$saved" "$policy"; fi
}
if [ -e "$policy" ]; then mv "$policy" "$saved"; fi
trap restore EXIT
trap 'exit 1' INT TERM HUP
printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' > "$policy"
chmod 0755 "$policy"

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need

# Whatever the packages did, no daemon of theirs may run on the host.
started=""
for d in dockerd containerd podman; do
  if pgrep -x "$d" >/dev/null; then started="$started $d"; fi
done
if [ -e /sys/class/net/docker0 ]; then started="$started docker0"; fi
if [ -n "$started" ]; then
  echo "deps.sh: installing$need left running on the host:$started" >&2
  exit 1
fi
