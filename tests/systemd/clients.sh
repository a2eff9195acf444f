# tests/systemd/clients.sh: sourced by tests/systemd/run.sh, whose helpers
# (b, sc, show, expect, ok, not_ok, gone) and variables (BERTH, WORK, R) it
# uses. berth --systemd-cgroup under its real clients, each told to use
# systemd for cgroups as a systemd host's configuration would: ctr with
# --runc-systemd-cgroup over a private containerd, podman with
# --cgroup-manager systemd, dockerd with native.cgroupdriver=systemd. Each
# container's scope is checked through systemctl, and gone after removal.
# Daemons are private (root, state, sockets under $WORK) and stopped at the
# end; the guest has no network beyond lo and none is made.

CD=$WORK/containerd D=$WORK/docker P=$WORK/podman
mkdir -p "$CD" "$D" "$P"
daemons=()
stop_daemons() {
  for pid in "${daemons[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${daemons[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
}
# wait_socket NAME SOCKET LOG: bounded; the daemon's log when it fails.
wait_socket() {
  for _ in $(seq 300); do [ -S "$2" ] && return 0; sleep 0.2; done
  not_ok "$1 did not start within 60 s: $(tail -5 "$3")"
  return 1
}
# The rootfs as an image, for podman and docker.
tar -C "$R" -cf "$WORK/rootfs.tar" . || infra "cannot tar the rootfs"

# ------------------------------------------------------ containerd + ctr ----
cat > "$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CD/containerd.sock"
[ttrpc]
  address = "$CD/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
EOF
containerd --config "$CD/config.toml" >"$CD/log" 2>&1 &
daemons+=($!)
ctr_() { timeout 120 ctr --address "$CD/containerd.sock" --namespace berth "$@"; }
if wait_socket containerd "$CD/containerd.sock" "$CD/log"; then
  ctr_ run -d --runc-binary "$BERTH" --runc-systemd-cgroup \
    --cgroup system.slice:berth-ctr:c1 --memory-limit 67108864 --rootfs "$R" ctr1 sleep 600 >"$CD/run.out" 2>&1 \
    || not_ok "ctr run --runc-systemd-cgroup: $(cat "$CD/run.out")"
  u=berth-ctr-c1.scope
  expect "ctr: the scope is active" "$(show $u ActiveState)" active
  expect "ctr: its cgroup" "$(show $u ControlGroup)" /system.slice/berth-ctr-c1.scope
  expect "ctr: --memory-limit is MemoryMax" "$(show $u MemoryMax)" 67108864
  pid=$(ctr_ task ls | awk '$1 == "ctr1" { print $2 }')
  expect "ctr: the task is in the scope" "$(cat /sys/fs/cgroup/system.slice/$u/cgroup.procs 2>&1)" "${pid:-no task}"
  ctr_ task kill -s KILL ctr1 2>/dev/null
  for _ in $(seq 100); do ctr_ task ls | grep -q "ctr1.*STOPPED" && break; sleep 0.2; done
  ctr_ task rm ctr1 >/dev/null 2>&1; ctr_ container rm ctr1 2>/dev/null
  gone $u /sys/fs/cgroup/system.slice/$u && ok "ctr: task rm leaves no unit" || not_ok "ctr: $u left after task rm"
fi

# ----------------------------------------------------------------- podman ----
# default_ulimits: podman's own (nofile 1048576) are above what systemd
# gives its services here.
cat > "$P/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024"]
netns = "none"
[engine]
events_logger = "file"
EOF
podman_() {
  CONTAINERS_CONF=$P/containers.conf timeout 120 podman --root "$P/root" --runroot "$P/runroot" \
    --tmpdir "$P/tmp" --runtime "$BERTH" --cgroup-manager systemd "$@"
}
podman_ import "$WORK/rootfs.tar" localhost/berth-bb >"$P/import.out" 2>&1 || not_ok "podman import: $(cat "$P/import.out")"
if podman_ run -d --name p1 --memory 64m localhost/berth-bb sleep 600 >"$P/run.out" 2>&1; then
  u=libpod-$(podman_ inspect -f '{{.Id}}' p1).scope
  expect "podman: the scope is active" "$(show "$u" ActiveState)" active
  expect "podman: under machine.slice" "$(show "$u" Slice)" machine.slice
  expect "podman: --memory is MemoryMax" "$(show "$u" MemoryMax)" 67108864
  expect "podman: exec" "$(podman_ exec p1 echo hi 2>&1)" hi
  podman_ rm -f -t 0 p1 >/dev/null 2>&1
  gone "$u" "/sys/fs/cgroup/machine.slice/$u" && ok "podman: rm -f leaves no unit" || not_ok "podman: $u left after rm"
else
  not_ok "podman --cgroup-manager systemd run -d: $(cat "$P/run.out")"
fi
expect "podman: run --rm" "$(podman_ run --rm localhost/berth-bb echo ok 2>&1)" ok
podman_ rm -a -f -t 0 >/dev/null 2>&1

# ----------------------------------------------------------------- docker ----
echo "{\"deprecated-key-path\": \"$D/key.json\"}" > "$D/daemon.json"
dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" \
  --pidfile "$D/docker.pid" --host "unix://$D/docker.sock" --containerd "$CD/containerd.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --userland-proxy=false --storage-driver=overlay2 --exec-opt native.cgroupdriver=systemd \
  --add-runtime "berth=$BERTH" >"$D/log" 2>&1 &
daemons+=($!)
docker_() { DOCKER_CONFIG=$D/client timeout 120 docker --host "unix://$D/docker.sock" "$@"; }
if wait_socket dockerd "$D/docker.sock" "$D/log"; then
  docker_ import --change 'CMD ["sh"]' "$WORK/rootfs.tar" berth-bb >/dev/null 2>&1
  if docker_ run -d --runtime berth --network none --name d1 --memory 64m berth-bb sleep 600 >"$D/run.out" 2>&1; then
    u=docker-$(docker_ inspect -f '{{.Id}}' d1).scope
    expect "docker: the scope is active" "$(show "$u" ActiveState)" active
    expect "docker: under system.slice" "$(show "$u" Slice)" system.slice
    expect "docker: --memory is MemoryMax" "$(show "$u" MemoryMax)" 67108864
    expect "docker: exec" "$(docker_ exec d1 echo hi 2>&1)" hi
    docker_ rm -f d1 >/dev/null
    gone "$u" "/sys/fs/cgroup/system.slice/$u" && ok "docker: rm -f leaves no unit" || not_ok "docker: $u left after rm"
  else
    not_ok "dockerd native.cgroupdriver=systemd, run -d: $(cat "$D/run.out")"
  fi
fi
stop_daemons
