#!/bin/bash
# tests/v2/run.sh [--clients BIN FILTER] BERTH TESTS [LIBTEST-ARGS...]
#
# berth's tests on a pure cgroup v2 host: run inside the guest that
# scripts/v2-guest.sh boots (`make test-v2` does both), or on any machine
# whose only cgroup hierarchy is v2. BERTH and TESTS are the berth binary and
# the integration test binary, built on the host; the guest sees them at the
# same paths. Nothing is built here: under TCG the guest is 30-100x slower.
#
#  1. Proves the cgroups are pure v2, or exits 125 (the guest is not what the
#     tests need: an infrastructure failure).
#  2. A smoke test of berth itself: a container's process in its cgroup from
#     the start, and the cgroup gone after delete. Its config has no
#     linux.resources, so it needs of the v2 manager only what runc's default
#     device rules need (which berth applies all the same).
#  3. TESTS with LIBTEST-ARGS (test-name filters, --exact, --skip, ...; none:
#     every test). A selection that runs no test fails.
#  4. With --clients: BIN, the tests/clients binary, with the libtest filter
#     FILTER (make test-v2: containerd, so ctr's and the CRI plugin's
#     scenarios), both tests side by side. Each client's daemon keeps its
#     root and state under /tmp (tests/clients/host.rs), the guest's tmpfs.
#     The StopContainer race runs CLIENT_RACE_ROUNDS rounds, not the
#     host's 30: under TCG a round takes 40 s, and the host runs the 30.
#     CRI's Exec and Attach through the streaming server are left out
#     (CLIENTS_SKIP): the host runs them, and what they add to ExecSync
#     (containerd's streaming server, a pty, stdin) does not touch cgroups;
#     ExecSync still execs into the v2 cgroup. Under TCG they take 80 s.
#
# Exits 0 only if all of it passed. With V2G_RW set (scripts/v2-guest.sh
# --rw, the checkout), the tests' output is also kept in
# $V2G_RW/target/v2-guest/integration.log and clients.log.
set -uo pipefail
exec 2>&1 # one stream: the order of berth's errors and the checks is kept

CLIENTS= CLIENTS_FILTER=
if [ "${1:-}" = --clients ]; then
  [ $# -ge 3 ] || { sed -n '2p' "$0"; exit 2; }
  CLIENTS=$2 CLIENTS_FILTER=$3
  shift 3
fi
[ $# -ge 2 ] || { sed -n '2p' "$0"; exit 2; }
BERTH=$1
TESTS=$2
shift 2
# How long the integration tests may take. A test can hang rather than fail
# (one waiting on a console socket berth never connects to), and a timeout
# here says so, where the guest's own timeout would only say the guest died.
# Under TCG on a loaded 2-core machine the whole run took 14 min (831 s)
# where it takes 6 on an idle one: the bound leaves room for that.
TEST_TIMEOUT=1500
# The same for the clients' tests, and the race's rounds (see 4. above).
CLIENTS_TIMEOUT=1500
CLIENT_RACE_ROUNDS=2
CLIENTS_SKIP="streaming server"

failed=0
ok() { echo "ok   - $*"; }
not_ok() { echo "FAIL - $*"; failed=1; }

# ---------------------------------------------------------------- pure v2 ----
infra() { echo "v2: $*: this is not a pure cgroup v2 host" >&2; exit 125; }
fstype=$(stat -fc %T /sys/fs/cgroup)
[ "$fstype" = cgroup2fs ] || infra "/sys/fs/cgroup is $fstype, not cgroup2fs"
v1=$(awk '$3 == "cgroup" { print $2 }' /proc/self/mounts)
[ -z "$v1" ] || infra "cgroup v1 hierarchies are mounted: $v1"
# /proc/cgroups gives every v1 controller's hierarchy id, 0 when it is in none.
v1=$(awk '!/^#/ && $2 != 0 { print $1 }' /proc/cgroups)
[ -z "$v1" ] || infra "v1 controllers are in a hierarchy: $v1"
grep -qv '^0::' /proc/self/cgroup && infra "/proc/self/cgroup has v1 lines: $(cat /proc/self/cgroup)"
echo "v2: kernel $(uname -r), /sys/fs/cgroup is cgroup2fs and the only hierarchy;" \
  "root's subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
# The guest boots with AppArmor on (scripts/v2-guest.sh): the tests of
# AppArmor profiles (tests/integration/apparmor.rs) test the real thing only
# where it is, and would otherwise pass on what an AppArmor-less host shows.
if [ "${V2G_GUEST:-}" = 1 ]; then
  { [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && [ -d /sys/kernel/security/apparmor ]; } \
    || { echo "v2: AppArmor is not on in the guest (securityfs at /sys/kernel/security?)" >&2; exit 125; }
  echo "v2: AppArmor is on"
  # And with two NUMA nodes, for memory policies across them
  # (tests/integration/mempolicy.rs).
  [ "$(cat /sys/devices/system/node/online)" = 0-1 ] \
    || { echo "v2: the guest's memory nodes are $(cat /sys/devices/system/node/online), not 0-1" >&2; exit 125; }
  echo "v2: memory nodes 0-1"
fi
# The guest's kernel (Debian 12's 6.1) cannot idmap a tmpfs (6.3 can), and
# the tests' bundles get idmapped mounts: they go to an ext4 (in memory all
# the same) as TMPDIR. Not over /tmp: the repository may live there, shared
# into the guest at its own path.
if [ "${V2G_GUEST:-}" = 1 ]; then
  img=/run/berth-v2-tmp.img
  export TMPDIR=/var/tmp/berth-v2
  { mkdir -p "$TMPDIR" && truncate -s 1G "$img" && mkfs.ext4 -q -F "$img" && mount -o loop "$img" "$TMPDIR" && chmod 1777 "$TMPDIR"; } \
    || { echo "v2: cannot make $TMPDIR an ext4" >&2; exit 125; }
fi
for f in "$BERTH" "$TESTS" ${CLIENTS:+"$CLIENTS"}; do
  [ -x "$f" ] || { echo "v2: $f is not an executable the guest sees (under /tmp or /run on the host?)" >&2; exit 125; }
done

# ------------------------------------------------------------------ smoke ----
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-v2.XXXXXX")
root=$work/state
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
# Only the applets used here: every fork costs ~0.1 s under TCG.
for a in sh cat sleep; do ln -s busybox "$bundle/rootfs/bin/$a"; done
"$BERTH" spec --bundle "$bundle" || { echo "v2: berth spec failed"; exit 1; }
# No linux.resources (berth spec's device rules), no terminal, and no cgroup
# namespace, so /proc/self/cgroup shows the path from the root.
jq 'del(.linux.resources) | .process.terminal = false | .process.args = ["cat", "/proc/self/cgroup"]
    | .linux.namespaces |= map(select(.type != "cgroup"))' "$bundle/config.json" > "$work/base.json"
config() { jq "$@" "$work/base.json" > "$bundle/config.json"; }
berth() { "$BERTH" --root "$root" "$@"; }
cg=/sys/fs/cgroup

# `run` with an absolute cgroupsPath: the process is in exactly that cgroup,
# which is gone afterwards (the parent is ours to remove: berth only removes
# its own default /berth).
id=smoke-abs-$$
config --arg p "/berth-v2-smoke/$id" '.linux.cgroupsPath = $p'
out=$(berth run --bundle "$bundle" "$id")
rc=$?
if [ $rc = 0 ] && [ "$out" = "0::/berth-v2-smoke/$id" ]; then ok "run: the process is in 0::/berth-v2-smoke/$id"
else not_ok "run with cgroupsPath /berth-v2-smoke/$id: exit $rc, /proc/self/cgroup: $out"; fi
[ ! -e "$cg/berth-v2-smoke/$id" ] && ok "run: its cgroup is removed" || not_ok "run: $cg/berth-v2-smoke/$id left behind"
rmdir "$cg/berth-v2-smoke" 2>/dev/null

# `run` without cgroupsPath: /berth/ID, and berth removes /berth with it.
id=smoke-default-$$
config 'del(.linux.cgroupsPath)'
out=$(berth run --bundle "$bundle" "$id")
rc=$?
if [ $rc = 0 ] && [ "$out" = "0::/berth/$id" ]; then ok "run: by default the process is in 0::/berth/$id"
else not_ok "run without cgroupsPath: exit $rc, /proc/self/cgroup: $out"; fi
[ ! -e "$cg/berth" ] && ok "run: /berth is removed with it" || not_ok "run: $cg/berth left behind: $(ls "$cg/berth" 2>&1)"

# `create`: the container's process is in its cgroup before it starts, alone;
# `delete --force` kills it and removes the cgroup.
id=smoke-create-$$
config --arg p "/berth-v2-smoke/$id" '.linux.cgroupsPath = $p | .process.args = ["sleep", "1000"]'
if berth create --bundle "$bundle" "$id"; then
  pid=$(berth state "$id" | jq -r .pid)
  procs=$(cat "$cg/berth-v2-smoke/$id/cgroup.procs" 2>&1)
  [ "$procs" = "$pid" ] && ok "create: the created process $pid is alone in its cgroup" \
    || not_ok "create: cgroup.procs of /berth-v2-smoke/$id is \"$procs\", the container's pid $pid"
  berth delete --force "$id" && [ ! -e "$cg/berth-v2-smoke/$id" ] && ok "delete --force: the cgroup is removed" \
    || not_ok "delete --force: $cg/berth-v2-smoke/$id left behind"
else
  not_ok "create with cgroupsPath /berth-v2-smoke/$id failed"
fi
rmdir "$cg/berth-v2-smoke" 2>/dev/null
rm -rf "$work"

# ---------------------------------------------------------- test binaries ----
# run_tests NAME TIMEOUT BINARY LIBTEST-ARGS...: its output also in NAME.log;
# a selection that runs no test fails.
run_tests() {
  local name=$1 limit=$2 bin=$3 log rc ran start=$SECONDS
  shift 3
  log=${V2G_RW:+$V2G_RW/target/v2-guest/$name.log}
  log=${log:-${TMPDIR:-/tmp}/$name.log}
  echo "v2: $bin $*"
  timeout -k 10 "$limit" "$bin" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" != 124 ] || echo "v2: the $name tests were killed after ${limit}s: one hangs"
  # libtest's summary: "test result: ok. 13 passed; 0 failed; ..."
  ran=$(awk '/^test result:/ { n += $4 + $6 } END { print n + 0 }' "$log")
  if [ "$rc" = 0 ] && [ "$ran" = 0 ]; then not_ok "$name tests: the selection \"$*\" matched no test"
  elif [ "$rc" = 0 ]; then ok "$name tests: $ran passed in $((SECONDS - start)) s"
  else not_ok "$name tests: exit $rc after $((SECONDS - start)) s"; fi
}
run_tests integration "$TEST_TIMEOUT" "$TESTS" "$@"
if [ -n "$CLIENTS" ]; then
  export BERTH_CLIENTS_RACE_ROUNDS=$CLIENT_RACE_ROUNDS BERTH_CLIENTS_SKIP=$CLIENTS_SKIP
  run_tests clients "$CLIENTS_TIMEOUT" "$CLIENTS" "$CLIENTS_FILTER" --test-threads=2 --nocapture
fi

exit $failed
