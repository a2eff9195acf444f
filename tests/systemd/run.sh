#!/bin/bash
# tests/systemd/run.sh BERTH
#
# berth's tests on a host whose init is systemd, with pure cgroup v2: run in
# the guest that `scripts/v2-guest.sh --systemd` boots (`make test-systemd`
# does both), from the guest's own v2g.service. BERTH is the berth binary
# built on the host. One boot serves every systemd test: a boot takes about
# 45 s of guest time under TCG, most of it systemd loading the host's units.
#
#  1. Proves the ground, or exits 125 (an infrastructure failure, never a
#     skip): PID 1 is systemd, cgroup v2 is the only hierarchy, the services
#     the host enables did not start, systemd answers on the system bus and
#     on its private socket, and a transient scope with a delegated cgroup and
#     a pids limit can be made and stopped, as the systemd driver will.
#  2. (To come with the driver: berth --systemd-cgroup, checked through
#     `systemctl show` and the cgroup files.)
#
# Exits 0 only if all of it passed.
set -uo pipefail
exec 2>&1

[ $# -ge 1 ] || { sed -n '2p' "$0"; exit 2; }
BERTH=$1
failed=0
ok() { echo "ok   - $*"; }
not_ok() { echo "FAIL - $*"; failed=1; }
infra() { echo "systemd: $*: not the systemd host the tests need" >&2; exit 125; }
# Every systemctl call is bounded: a bus that never answers fails, not hangs.
sc() { timeout 60 systemctl "$@"; }

# ----------------------------------------------------------------- ground ----
[ "$(cat /proc/1/comm)" = systemd ] || infra "PID 1 is $(cat /proc/1/comm)"
fstype=$(stat -fc %T /sys/fs/cgroup)
[ "$fstype" = cgroup2fs ] || infra "/sys/fs/cgroup is $fstype, not cgroup2fs"
v1=$(awk '$3 == "cgroup" { print $2 }' /proc/self/mounts)
[ -z "$v1" ] || infra "cgroup v1 hierarchies are mounted: $v1"
for u in containerd docker postgresql; do
  s=$(sc is-active "$u" 2>/dev/null)
  [ "$s" = inactive ] || infra "$u.service is $s: systemd started more than v2g.target"
done
version=$(timeout 60 busctl --system get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
  org.freedesktop.systemd1.Manager Version) || infra "systemd does not answer on the system bus"
version=${version#s }
[ -S /run/systemd/private ] || infra "systemd has no private socket /run/systemd/private"
echo "systemd: PID 1 is systemd $version, on pure cgroup v2 (root's subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control))," \
  "uptime $(cut -d' ' -f1 /proc/uptime)s"

# A transient scope as the driver will make one: Delegate, a pids limit that
# shows in the unit and in the cgroup, and nothing left after stop.
unit=v2g-probe-$$.scope
timeout 60 systemd-run --quiet --scope --unit="$unit" --slice=v2g-probe.slice -p Delegate=yes -p TasksMax=7 \
  sleep 600 &
sleeper=$!
for _ in $(seq 100); do [ "$(sc is-active "$unit" 2>/dev/null)" = active ] && break; sleep 0.2; done
cg=/sys/fs/cgroup$(sc show -P ControlGroup "$unit")
if [ "$(sc show -P Delegate "$unit")" = yes ] && [ "$(sc show -P TasksMax "$unit")" = 7 ] \
   && [ "$(cat "$cg/pids.max" 2>&1)" = 7 ]; then
  echo "systemd: a transient scope: $cg, Delegate=yes, pids.max 7"
else
  infra "transient scope $unit: Delegate=$(sc show -P Delegate "$unit") TasksMax=$(sc show -P TasksMax "$unit") at $cg: $(cat "$cg/pids.max" 2>&1)"
fi
sc stop "$unit" v2g-probe.slice
wait "$sleeper" 2>/dev/null
[ "$(sc is-active "$unit")" = inactive ] && [ ! -e "$cg" ] || infra "$unit left behind after stop"

# ----------------------------------------------------------------- berth ----
[ -x "$BERTH" ] || infra "$BERTH is not an executable the guest sees"
"$BERTH" --version >/dev/null && ok "berth runs under systemd" || not_ok "berth --version failed"

exit $failed
