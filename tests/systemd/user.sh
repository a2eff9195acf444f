# tests/systemd/user.sh: sourced by tests/systemd/run.sh, whose helpers
# (sc, expect, ok, not_ok, infra) and variables (BERTH, WORK, R) it uses.
# A rootless berth --systemd-cgroup talks to the user's own systemd: a test
# user is made, its manager (user@UID.service, with the user's D-Bus from
# dbus-user-session) started, and berth run as that user on a
# `berth spec --rootless` bundle. Checked through `systemctl --user` and the
# cgroup files: the scope in the user's manager, delegated, its limits as
# properties and files, limits that bite, update, pause/resume, delete
# leaving no unit and no cgroup; the errors for an undelegated controller
# and for a user without a manager. runc 1.1.5, run the same way, is the
# reference for where the scope goes and for what it refuses. Then rootless
# podman with --cgroup-manager systemd and berth as its runtime.
# The user's manager is stopped and the user removed at the end (and by
# run.sh's cleanup if this part dies early).

SU=berthsd
SH=$WORK/home-$SU
useradd -M -d "$SH" -s /bin/sh "$SU" || infra "useradd $SU failed"
SUID=$(id -u "$SU") SGID=$(id -g "$SU")
mkdir -p "$SH" && chown "$SU:" "$SH"
# The user reaches the shared rootfs ($WORK is root's 0700) and berth.
chmod 711 "$WORK"
RUNDIR=/run/user/$SUID
stop_user() {
  for id in "${uids[@]}"; do as_user "$BERTH" delete --force "$id" >/dev/null 2>&1; done
  declare -F pu >/dev/null && pu system migrate >/dev/null 2>&1
  sc stop "user@$SUID.service" "user-runtime-dir@$SUID.service" >/dev/null 2>&1
  # Whatever of the test user's ran outside its manager (podman's pause
  # process where podman could not move it to a scope).
  pkill -KILL -U "$SUID" 2>/dev/null
  for _ in $(seq 50); do pgrep -U "$SUID" >/dev/null || break; sleep 0.2; done
  timeout 60 userdel "$SU" 2>/dev/null
  sed -i "/^$SU:/d" /etc/subuid /etc/subgid 2>/dev/null
}
uids=()
# as_user CMD...: as the test user, in the environment of its session.
as_user() {
  timeout 120 setpriv --reuid="$SUID" --regid="$SGID" --init-groups \
    env -i PATH="$PATH" HOME="$SH" USER="$SU" XDG_RUNTIME_DIR="$RUNDIR" "$@"
}
ub() { as_user "$BERTH" --systemd-cgroup "$@"; }
ushow() { as_user systemctl --user show -P "$2" "$1" 2>/dev/null; }
ugone() { # ugone UNIT CGROUPDIR
  [ "$(ushow "$1" LoadState)" = not-found ] && [ ! -e "$2" ]
}
# A bundle of the user's: `berth spec --rootless`, JQ's changes applied.
ubundle() { # ubundle NAME JQ
  local d=$SH/$1
  as_user mkdir -p "$d"
  # --root: spec needs no state, nor the runtime directory (which
  # would be made for any command, and is not there yet for nobus).
  (cd "$d" && as_user "$BERTH" --root "$SH/state" spec --rootless) || infra "berth spec --rootless failed"
  jq ".root.path = \"$R\" | .process.terminal = false | $2" "$d/config.json" > "$WORK/u.json" \
    && cat "$WORK/u.json" > "$d/config.json" || infra "jq on $1's config failed"
  echo "$d"
}

# A runtime directory without the user's manager (a user who is not
# logged in): a clear error, naming the bus and the unit.
d=$(ubundle nobus '.process.args = ["true"]')
as_user mkdir -p "$SH/run"
out=$(RUNDIR=$SH/run ub run --bundle "$d" nobus 2>&1)
case $out in *"$SH/run/bus"*"user@$SUID.service"*"not running"*) ok "no user manager: $out";;
  *) not_ok "rootless --systemd-cgroup without the user's systemd: $out";; esac
[ -z "$(ls "$SH/run/berth" 2>/dev/null)" ] && ok "... leaving no state" || not_ok "state left: $(ls "$SH/run/berth")"

start_user=$SECONDS
sc start "user@$SUID.service" || infra "systemctl start user@$SUID.service failed"
for _ in $(seq 300); do [ -S "$RUNDIR/bus" ] && break; sleep 0.2; done
[ -S "$RUNDIR/bus" ] || infra "user@$SUID.service started, but no $RUNDIR/bus within 60 s"
MCG=$(sc show -P ControlGroup "user@$SUID.service")
delegated=$(cat "/sys/fs/cgroup$MCG/cgroup.controllers")
echo "systemd: user@$SUID.service up in $((SECONDS - start_user)) s, cgroup $MCG, delegated: $delegated"

# 1. The scope in the user's manager: properties, files, update, pause, delete.
d=$(ubundle u1 '.process.args = ["sleep", "600"] |
  .linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 20} |
  .linux.resources.cpu = {"quota": 50000, "period": 100000}')
uids+=(u1)
# (Output to a file: the container's process would hold a pipe open.)
if ub run -d --bundle "$d" u1 >"$WORK/u1.out" 2>&1 </dev/null; then
  u=berth-u1.scope cg=/sys/fs/cgroup$MCG/user.slice/berth-u1.scope
  expect "user: the scope is active in the user's manager" "$(ushow $u ActiveState)" active
  expect "user: the scope is not the system's" "$(sc show -P LoadState $u)" not-found
  expect "user: the scope is delegated" "$(ushow $u Delegate)" yes
  expect "user: the default slice is user.slice, under user@$SUID.service" "$(ushow $u ControlGroup)" "$MCG/user.slice/berth-u1.scope"
  expect "user: MemoryMax" "$(ushow $u MemoryMax)" 67108864
  expect "user: TasksMax" "$(ushow $u TasksMax)" 20
  expect "user: CPUQuotaPerSecUSec" "$(ushow $u CPUQuotaPerSecUSec)" 500ms
  expect "user: memory.max, pids.max, cpu.max" "$(cat $cg/memory.max $cg/pids.max $cg/cpu.max | xargs)" "67108864 20 50000 100000"
  expect "user: the cgroup is the user's" "$(stat -c %u $cg/cgroup.procs)" "$SUID"
  pid=$(ub state u1 | jq .pid)
  expect "user: the container's process is in the scope" "$(cat $cg/cgroup.procs)" "$pid"
  ub update --memory 134217728 --pids-limit 30 u1 || not_ok "user: update failed"
  expect "user: update sets MemoryMax and TasksMax" "$(ushow $u MemoryMax) $(ushow $u TasksMax)" "134217728 30"
  expect "user: update writes the files" "$(cat $cg/memory.max $cg/pids.max | xargs)" "134217728 30"
  ub pause u1 && expect "user: pause freezes the scope" "$(ub state u1 | jq -r .status) $(cat $cg/cgroup.freeze)" "paused 1"
  ub resume u1 && expect "user: resume thaws it" "$(ub state u1 | jq -r .status) $(cat $cg/cgroup.freeze)" "running 0"
  ub delete --force u1 || not_ok "user: delete --force u1 failed"
  ugone $u $cg && ok "user: delete stops the unit, its cgroup goes" \
    || not_ok "user: after delete: $u is $(ushow $u LoadState)/$(ushow $u ActiveState), $cg $( [ -e $cg ] && echo exists)"
else
  not_ok "user: run -d u1: $(cat "$WORK/u1.out")"
fi

# 2. A pids limit bites in the user's scope.
d=$(ubundle upids '.process.args = ["sh", "-c", "for i in $(seq 12); do sleep 1 & done 2>&1; wait"] |
  .linux.cgroupsPath = "user.slice:berth:upids" | .linux.resources.pids = {"limit": 5}')
out=$(ub run --bundle "$d" upids 2>&1)
case $out in *"can't fork"*|*"Resource temporarily unavailable"*) ok "user: TasksMax stops a fork bomb";;
  *) not_ok "user: 12 forks under TasksMax=5: $out";; esac
ugone berth-upids.scope "/sys/fs/cgroup$MCG/user.slice/berth-upids.scope" && ok "user: run's end removes the unit" \
  || not_ok "user: berth-upids.scope left after run"

# 3. A controller the user's manager is not delegated (cpuset: user@.service
# delegates $delegated): berth refuses before anything runs, naming it.
# runc 1.1.5 (measured below) also fails, later, on the missing file.
d=$(ubundle ucpus '.process.args = ["true"] | .linux.resources.cpu = {"cpus": "0"}')
out=$(ub run --bundle "$d" ucpus 2>&1)
case $out in *"linux.resources.cpu.cpus"*"user@$SUID.service"*"no cpuset controller"*) ok "user: an undelegated controller: $out";;
  *) not_ok "user: cpu.cpus without a delegated cpuset: $out";; esac
ugone berth-ucpus.scope "/sys/fs/cgroup$MCG/user.slice/berth-ucpus.scope" && ok "... leaving no unit" \
  || not_ok "user: berth-ucpus.scope left after the refusal"
rout=$(cd "$d" && as_user runc --systemd-cgroup run rcpus 2>&1)
echo "systemd: runc 1.1.5, the same: exit $?: $rout"
as_user runc delete --force rcpus >/dev/null 2>&1

# 4. runc 1.1.5 as the same user: its scope goes to the same place.
d=$(ubundle runc '.process.args = ["sleep", "600"] | .linux.cgroupsPath = ":berth:rc1" |
  .linux.resources.memory = {"limit": 67108864}')
if (cd "$d" && as_user runc --systemd-cgroup run -d rc1 >"$WORK/rc1.out" 2>&1 </dev/null); then
  expect "runc: its scope in the user's user.slice" "$(ushow berth-rc1.scope ControlGroup)" "$MCG/user.slice/berth-rc1.scope"
  expect "runc: MemoryMax" "$(ushow berth-rc1.scope MemoryMax)" 67108864
  as_user runc delete --force rc1
  ugone berth-rc1.scope "/sys/fs/cgroup$MCG/user.slice/berth-rc1.scope" && ok "runc: delete removes it" || not_ok "runc: berth-rc1.scope left"
else
  not_ok "runc --systemd-cgroup run -d rc1 as $SU: $(cat "$WORK/rc1.out")"
fi

# 5. Rootless podman, berth its runtime, with its rootless default on v2
# with a user session: --cgroup-manager systemd, through the user's
# manager (configuration and storage the user's own, as
# tests/clients/podman_rootless.rs sets them up; no network).
PC=$SH/.config/containers
as_user mkdir -p "$PC" "$SH/ptmp"
cat > "$PC/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "systemd"
events_logger = "file"
lock_type = "file"
image_copy_tmp_dir = "$SH/ptmp"
EOF
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' \
  "$RUNDIR/containers" "$SH/storage" > "$PC/storage.conf"
chown -R "$SU:" "$SH/.config"
pu() { as_user podman --runtime "$BERTH" "$@"; }
as_user tar -C "$R" -cf "$SH/rootfs.tar" . && pu import "$SH/rootfs.tar" localhost/berth-bb >"$WORK/pimport.out" 2>&1 \
  || not_ok "rootless podman import: $(cat "$WORK/pimport.out")"
expect "rootless podman: run --rm" "$(pu run --rm --pull=never localhost/berth-bb echo ok 2>&1)" ok
if pu run -d --pull=never --name up1 --memory 64m localhost/berth-bb sleep 600 >"$WORK/prun.out" 2>&1 </dev/null; then
  id=$(pu inspect -f '{{.Id}}' up1) u=libpod-$id.scope
  expect "rootless podman: the scope is active in the user's manager" "$(ushow "$u" ActiveState)" active
  expect "rootless podman: under user@$SUID.service's user.slice" "$(ushow "$u" ControlGroup)" "$MCG/user.slice/$u"
  expect "rootless podman: --memory is MemoryMax" "$(ushow "$u" MemoryMax)" 67108864
  expect "rootless podman: exec" "$(pu exec up1 echo hi 2>&1)" hi
  pu stop -t 0 up1 >/dev/null 2>&1 || not_ok "rootless podman: stop up1"
  expect "rootless podman: stop" "$(pu inspect -f '{{.State.Status}}' up1 2>&1)" exited
  pu rm up1 >/dev/null 2>&1 || not_ok "rootless podman: rm up1"
  ugone "$u" "/sys/fs/cgroup$MCG/user.slice/$u" && ok "rootless podman: rm leaves no unit" \
    || not_ok "rootless podman: $u left after rm"
else
  not_ok "rootless podman --cgroup-manager systemd run -d: $(cat "$WORK/prun.out")"
fi
pu rm -a -f -t 0 >/dev/null 2>&1

left=$(as_user systemctl --user list-units --all --no-legend 'berth-*' 2>/dev/null)
[ -z "$left" ] && ok "user: no berth unit is left in the user's manager" || not_ok "user: units left: $left"
stop_user
uids=()
[ ! -e "$RUNDIR" ] && [ "$(sc show -P ActiveState "user@$SUID.service")" = inactive ] && ! id "$SU" >/dev/null 2>&1 \
  && ok "user: the user's manager stopped, the user removed" || not_ok "user: $SU or its manager left behind"
