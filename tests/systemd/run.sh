#!/bin/bash
# tests/systemd/run.sh BERTH [CLIENTS]
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
#  2. berth --systemd-cgroup, checked as a user would: `systemctl show` of
#     the scope, the cgroup files, limits that bite, update, pause/resume,
#     daemon-reload, nested kubepods slices, annotations, errors, and that
#     delete leaves no unit and no cgroup.
#  3. Rootless (user.sh): berth as an ordinary user, with the user's own
#     systemd (user@UID.service) owning the container's scope, beside
#     runc, and under rootless podman (--cgroup-manager systemd).
#  4. Its real clients set up for systemd cgroups (clients.sh): ctr, podman,
#     dockerd; and with CLIENTS, the tests/clients binary built on the host,
#     containerd's CRI plugin with SystemdCgroup = true in kubepods slices
#     (its ignored test cri::systemd::containerd_cri_systemd_cgroup).
#
# Exits 0 only if all of it passed.
set -uo pipefail
exec 2>&1

[ $# -ge 1 ] || { sed -n '2p' "$0"; exit 2; }
BERTH=$1
CLIENTS=${2:-}
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
"$BERTH" --version >/dev/null || infra "berth --version failed"

WORK=$(mktemp -d /tmp/berth-systemd.XXXXXX)
ROOT=$WORK/state
ids=()
cleanup() {
  for id in "${ids[@]}"; do timeout 60 "$BERTH" --root "$ROOT" delete --force "$id" >/dev/null 2>&1; done
  declare -F stop_daemons >/dev/null && stop_daemons
  declare -F stop_user >/dev/null && stop_user
  rm -rf "$WORK"
}
trap cleanup EXIT
b() { timeout 120 "$BERTH" --root "$ROOT" --systemd-cgroup "$@"; }
show() { sc show -P "$2" "$1" 2>/dev/null; }
# expect NAME ACTUAL WANTED
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi; }

# One busybox rootfs, shared read-only by every bundle (under TCG each
# file made costs: a rootfs per bundle would cost seconds each).
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/dev" "$R/sys" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
(cd "$WORK" && "$BERTH" spec) || infra "berth spec failed"
# A bundle: `berth spec`'s config with JQ's changes applied.
bundle() { # bundle NAME JQ
  local d=$WORK/$1
  mkdir -p "$d"
  jq ".root.path = \"$R\" | .process.terminal = false | $2" "$WORK/config.json" > "$d/config.json" \
    || infra "jq on $1's config failed"
  echo "$d"
}
# A container left running, detached; its id joins the cleanup.
start() { # start ID BUNDLE
  ids+=("$1")
  b run -d --bundle "$2" "$1" </dev/null >"$WORK/$1.out" 2>&1 || { not_ok "run -d $1: $(cat "$WORK/$1.out")"; return 1; }
}
gone() { # gone UNIT CGROUPDIR: no unit, no cgroup
  local st; st=$(sc show -P LoadState "$1" 2>/dev/null)
  [ "$st" = not-found ] && [ ! -e "$2" ]
}

# 1. A scope with limits: the unit, the files, update, pause, reload, delete.
d=$(bundle c1 '.process.args = ["sleep", "600"] | .linux.cgroupsPath = "" |
  .linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 20} |
  .linux.resources.cpu = {"quota": 50000, "period": 100000, "shares": 1024}')
if start c1 "$d"; then
  u=berth-c1.scope cg=/sys/fs/cgroup/system.slice/berth-c1.scope
  expect "the default unit is active" "$(show $u ActiveState)" active
  expect "the scope is delegated" "$(show $u Delegate)" yes
  expect "the scope's cgroup is under system.slice" "$(show $u ControlGroup)" /system.slice/berth-c1.scope
  expect "MemoryMax is the memory limit" "$(show $u MemoryMax)" 67108864
  expect "TasksMax is the pids limit" "$(show $u TasksMax)" 20
  expect "CPUQuotaPerSecUSec is quota/period" "$(show $u CPUQuotaPerSecUSec)" 500ms
  expect "CPUWeight is runc's conversion of shares" "$(show $u CPUWeight)" 39
  expect "memory.max" "$(cat $cg/memory.max)" 67108864
  expect "pids.max" "$(cat $cg/pids.max)" 20
  expect "cpu.max" "$(cat $cg/cpu.max)" "50000 100000"
  pid=$(b state c1 | jq .pid)
  expect "the container's process is in the scope" "$(cat $cg/cgroup.procs)" "$pid"
  expect "ps lists it" "$(b ps -f json c1)" "[$pid]"
  b update --memory 134217728 --pids-limit 30 c1 || not_ok "update failed"
  expect "update sets MemoryMax" "$(show $u MemoryMax)" 134217728
  expect "update sets TasksMax" "$(show $u TasksMax)" 30
  expect "update writes memory.max" "$(cat $cg/memory.max)" 134217728
  b pause c1 && expect "pause freezes the scope" "$(b state c1 | jq -r .status) $(cat $cg/cgroup.freeze)" "paused 1"
  b resume c1 && expect "resume thaws it" "$(b state c1 | jq -r .status) $(cat $cg/cgroup.freeze)" "running 0"
  sc daemon-reload || not_ok "daemon-reload failed"
  expect "limits survive daemon-reload" "$(cat $cg/memory.max) $(cat $cg/pids.max) $(cat $cg/cpu.max)" "134217728 30 50000 100000"
  b delete --force c1 || not_ok "delete --force c1 failed"
  gone $u $cg && ok "delete stops the unit and systemd removes its cgroup" \
    || not_ok "after delete: $u is $(show $u LoadState)/$(show $u ActiveState), $cg $( [ -e $cg ] && echo exists)"
  [ ! -e "$ROOT/c1" ] && ok "delete removes the state" || not_ok "state of c1 left in $ROOT"
fi

# 2. Limits that bite: pids (fork fails) and memory (the OOM killer).
d=$(bundle pids '.process.args = ["sh", "-c", "for i in $(seq 12); do sleep 1 & done 2>&1; wait"] |
  .linux.cgroupsPath = "system.slice:berth:pids" | .linux.resources.pids = {"limit": 5}')
out=$(b run --bundle "$d" pids 2>&1)
case $out in *"can't fork"*|*"Resource temporarily unavailable"*) ok "TasksMax stops a fork bomb";;
  *) not_ok "12 forks under TasksMax=5: $out";; esac
gone berth-pids.scope /sys/fs/cgroup/system.slice/berth-pids.scope && ok "run's end removes the unit" || not_ok "berth-pids.scope left after run"
d=$(bundle oom '.process.args = ["sh", "-c", "echo 1000 > /proc/self/oom_score_adj; tail /dev/zero"] |
  .linux.cgroupsPath = "system.slice:berth:oom" | .linux.resources.memory = {"limit": 33554432}')
b run --bundle "$d" oom >/dev/null 2>&1
expect "MemoryMax kills an allocation (exit 137)" "$?" 137

# 3. Two containers in kubepods-style nested slices that do not exist yet.
for p in besteffort-pod123:a burstable-pod456:b; do
  slice=kubepods-${p%%:*}.slice id=k${p#*:}
  d=$(bundle $id ".process.args = [\"sleep\", \"600\"] | .linux.cgroupsPath = \"$slice:cri-containerd:$id\" |
    .linux.resources.memory = {\"limit\": 50331648}")
  start $id "$d" || continue
  want=/kubepods.slice/kubepods-${p%%-*}.slice/$slice/cri-containerd-$id.scope
  expect "$id's scope in nested slices" "$(show cri-containerd-$id.scope ControlGroup)" "$want"
  expect "$id's memory.max" "$(cat /sys/fs/cgroup$want/memory.max)" 50331648
done
for id in ka kb; do b delete --force $id; done
gone cri-containerd-ka.scope x && gone cri-containerd-kb.scope x && ok "both scopes gone after delete" || not_ok "a kubepods scope is left"

# 4. Annotations become properties; device rules hold, also after a reload.
d=$(bundle ann '.process.args = ["sleep", "600"] | .linux.cgroupsPath = "system.slice:berth:ann" |
  .process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] |
  .process.capabilities.permitted += ["CAP_MKNOD"] |
  .mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}] |
  .annotations = {"org.systemd.property.TimeoutStopUSec": "uint64 123456789", "org.systemd.property.CollectMode": "'"'inactive-or-failed'"'"}')
if start ann "$d"; then
  expect "org.systemd.property.TimeoutStopUSec" "$(show berth-ann.scope TimeoutStopUSec)" "2min 3.456789s"
  expect "org.systemd.property.CollectMode" "$(show berth-ann.scope CollectMode)" inactive-or-failed
  expect "device rules: DevicePolicy" "$(show berth-ann.scope DevicePolicy)" strict
  probe='rm -f /tmp/mem; mknod /tmp/mem c 1 1 && head -c1 /tmp/mem >/dev/null 2>&1 && echo mem-readable; head -c1 /dev/zero | wc -c'
  expect "/dev/mem denied, /dev/zero allowed" "$(timeout 60 "$BERTH" --root "$ROOT" exec ann sh -c "$probe" 2>&1)" 1
  sc daemon-reload
  expect "... still after daemon-reload" "$(timeout 60 "$BERTH" --root "$ROOT" exec ann sh -c "$probe" 2>&1)" 1
  b delete --force ann
fi

# 5. Errors name what is wrong and leave nothing behind.
d=$(bundle bad '.linux.cgroupsPath = "/not/systemd/form"')
out=$(b create --bundle "$d" bad 2>&1)
case $out in *linux.cgroupsPath*slice:prefix:name*) ok "a cgroupsPath of another form is refused: $out";;
  *) not_ok "cgroupsPath /not/systemd/form: $out";; esac
[ ! -e "$ROOT/bad" ] && ok "... leaving no state" || not_ok "state of bad left"
d=$(bundle dup1 '.process.args = ["sleep", "600"] | .linux.cgroupsPath = "system.slice:berth:dup"')
if start dup1 "$d"; then
  d=$(bundle dup2 '.process.args = ["sleep", "600"] | .linux.cgroupsPath = "system.slice:berth:dup"')
  ids+=(dup2)
  out=$(b create --bundle "$d" dup2 2>&1)
  case $out in *"systemd unit berth-dup.scope"*) ok "a unit that exists is an error naming it: $out";;
    *) not_ok "a second container in berth-dup.scope: $out";; esac
  [ ! -e "$ROOT/dup2" ] && ok "... leaving no state" || not_ok "state of dup2 left"
  expect "... and the first container runs on" "$(b state dup1 | jq -r .status)" running
  b delete --force dup1
fi
# 6. Rootless: the user's own systemd (user.sh), with runc beside it.
. "$(dirname "$0")/user.sh"

# 7. The clients, each set up for systemd cgroups.
. "$(dirname "$0")/clients.sh"

# 8. containerd's CRI plugin with SystemdCgroup = true, driven as kubelet
# does by the client suite's test (its daemon private, stopped by the test).
if [ -n "$CLIENTS" ]; then
  t=cri::systemd::containerd_cri_systemd_cgroup
  start=$SECONDS
  timeout -k 10 1200 "$CLIENTS" --ignored --exact "$t" --nocapture > "$WORK/cri.log" 2>&1
  rc=$?
  cat "$WORK/cri.log"
  if [ $rc = 0 ] && grep -q '^test result: ok. 1 passed' "$WORK/cri.log"; then
    ok "CRI with SystemdCgroup = true: $t passed in $((SECONDS - start)) s"
  else
    not_ok "CRI with SystemdCgroup = true: $t exited $rc after $((SECONDS - start)) s"
  fi
fi

leftover=$(sc list-units --all --no-legend 'berth-*' 'cri-containerd-*' 'libpod-*' 'docker-*' 2>/dev/null)
[ -z "$leftover" ] && ok "no berth unit is left" || not_ok "units left: $leftover"

exit $failed
