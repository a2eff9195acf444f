#!/usr/bin/env python3
"""make bench: berth, Debian's runc and, where it can run, crun side by side.

Runs the same workloads with every runtime (interleaved, rotating which one
goes first) and prints a table of median, min and max wall time per workload
and runtime and the ratios berth/runc and berth/crun, then the peak RSS of
each command and the binaries' sizes (scripts/bench_report.py). The table is
also written to target/bench/latest.txt (quick mode:
target/bench/latest-quick.txt) with the date and the machine at the top.

crun takes part only where /sys/fs/cgroup is cgroup2 (pure v2): on a v1 or
hybrid host it cannot manage the container's cgroups, and the report says it
was skipped and why. `make bench-v2` runs the bench in the pure v2 guest of
scripts/v2-guest.sh, where all three run.

Each command is timed with a monotonic clock (perf_counter_ns) around
posix_spawn + wait of the runtime's CLI, so the figures include exec and
start-up of the runtime binary, as a caller (containerd's shim, podman) sees
them. Peak RSS is measured in separate, untimed lifecycles, each command under
GNU time (-f %M: ru_maxrss of the command and any descendant it reaped). Not
from our own wait4: a child vforked by python carries python's peak RSS
across exec.

This is a benchmark, not a test: it never fails on a ratio or a time, only
when a workload itself fails (a command exits non-zero, or a parallel create
fails). BENCH_QUICK=1 runs a few iterations of each workload, only to check
that it works. BENCH_SCALE=F (a fraction, default 1) multiplies the full
mode's iteration counts and the number of containers that state and list see
(at least 20: creating and removing them is the slowest part), keeping its 50
parallel creates: `make bench-v2` uses it, since everything under the
guest's qemu TCG is 5-10 times slower and the full mode would take most of an
hour there.

Environment: BERTH (default target/x86_64-unknown-linux-gnu/release/berth), RUNC (default
/usr/sbin/runc), CRUN (default /usr/bin/crun), BENCH_QUICK=1, BENCH_SCALE,
BENCH_OUT (the file to write), BERTH_FLAGS, RUNC_FLAGS, CRUN_FLAGS (global
flags before each command: with RUNC set to berth and RUNC_FLAGS="--debug
--log-format json --log FILE", the run measures what per-phase tracing costs).

Workload 8 runs /bin/true as an ordinary user the bench makes (and removes),
each runtime with its own `spec --rootless` bundle (scripts/bench_rootless.py).

Everything it makes lives in a temp dir (bundles, --root of each runtime) and
in cgroups /berth-bench/<id>, /runc-bench/<id> and /crun-bench/<id>, ids
starting with bench<pid>-; all of it is removed at the end, also on failure
or Ctrl-C.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import textwrap
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the checkout for this one import
from bench_report import report  # noqa: E402
from bench_rootless import RootlessRuntime, RootlessUser  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
BERTH = os.environ.get("BERTH", os.path.join(REPO, "target/x86_64-unknown-linux-gnu/release/berth"))
RUNC = os.environ.get("RUNC", "/usr/sbin/runc")
CRUN = os.environ.get("CRUN", "/usr/bin/crun")
# Global flags each runtime gets before its command (e.g. RUNC_FLAGS="--debug
# --log-format json --log /tmp/l" with RUNC set to berth: tracing's cost).
FLAGS = {name: os.environ.get(f"{name.upper()}_FLAGS", "").split()
         for name in ("berth", "runc", "crun")}
SCALE = float(os.environ.get("BENCH_SCALE") or 1)
OUT = os.environ.get(
    "BENCH_OUT",
    os.path.join(REPO, "target/bench", "latest-quick.txt" if QUICK else "latest.txt"),
)
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
GNU_TIME = "/usr/bin/time"
FLOOR_ARGS = ["--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "/bin/true"]

# Iterations per workload.
if QUICK:
    WARMUP = 1
    N_RUN = 5          # 1: run, sequential
    N_CSD = 5          # 2: create / start / delete
    N_EXISTING = 10    # 3: containers in existence for state and list
    N_QUERY = 5        # 3: state and list calls
    N_PARALLEL = 10    # 4: containers created and started at once
    ROUNDS = 1         # 4: rounds of those
    N_EXEC = 5         # 5: exec
    N_RSS = 2          # 6: lifecycles measured for peak RSS
    N_ROOTLESS = 5     # 8: rootless run
else:
    def scaled(n, least=2):
        return max(least, round(n * SCALE))
    WARMUP = 3
    N_RUN = scaled(200)
    N_CSD = scaled(100)
    N_EXISTING = scaled(100, 20)
    N_QUERY = scaled(100)
    N_PARALLEL = 50
    ROUNDS = scaled(5, 1)  # each round is 150 containers: the slowest part
    N_EXEC = scaled(100)
    N_RSS = scaled(20)
    N_ROOTLESS = scaled(100)

CMD_TIMEOUT = 120.0     # seconds; a command taking longer is killed and fails
GONE_TIMEOUT = 15.0     # seconds to wait for a killed container process
TAG = f"bench{os.getpid()}"
# Signals reset to default in the commands we run (python ignores SIGPIPE and
# SIGXFSZ); SIGINT too, so that Ctrl-C stops a command, except during cleanup.
SETSIGDEF = [signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM]
INTERRUPTED = []
LOAD_AT_START = "?"
PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2
CGROUP2_SUPER_MAGIC = 0x63677270
RUNTIMES = ("berth", "runc", "crun")

libc = ctypes.CDLL(None, use_errno=True)


class BenchError(Exception):
    """A workload failed: the bench exits non-zero after cleaning up."""


# ---------------------------------------------------------------- processes

class Result:
    __slots__ = ("argv", "rc", "ns", "out", "err")

    def __init__(self, argv, rc, ns, out, err):
        self.argv, self.rc, self.ns, self.out, self.err = argv, rc, ns, out, err

    def check(self):
        if self.rc != 0:
            raise BenchError(
                f"{' '.join(self.argv)}: exit {self.rc}: {self.err.strip() or self.out.strip()}")
        return self


def spawn(argv, tmp):
    """Runs argv with stdin /dev/null and stdout/stderr to unlinked files;
    returns the exit code, wall ns (monotonic, around spawn + wait) and the
    output. Thread-safe; never raises for the command's own failure."""
    with tempfile.TemporaryFile(dir=tmp) as fo, tempfile.TemporaryFile(dir=tmp) as fe:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fo.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, fe.fileno(), 2),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions,
                             setsigdef=SETSIGDEF if not INTERRUPTED else SETSIGDEF[:2])
        pidfd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], CMD_TIMEOUT)
            timed_out = not ready
            if timed_out:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            ns = time.perf_counter_ns() - t0
        finally:
            os.close(pidfd)
        rc = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode(errors="replace")
        err = fe.read().decode(errors="replace")
        if timed_out:
            rc, err = -1, f"timed out after {CMD_TIMEOUT:.0f} s; {err}"
        return Result(argv, rc, ns, out, err)


def reap():
    """Reaps every exited child: orphaned container processes come to us
    (we are a child subreaper, as containerd's shim and conmon are)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_gone(pid, timeout=GONE_TIMEOUT):
    """Waits for a container process to exit (and reaps it if it is ours)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return bool(ready)


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ----------------------------------------------------------------- runtimes

class Runtime:
    def __init__(self, name, binary, tmp):
        self.name = name
        self.bin = binary
        self.tmp = tmp
        self.root = os.path.join(tmp, f"{name}-root")
        self.dir = os.path.join(tmp, f"{name}-bundles")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.cg_parent = f"{name}-bench"
        # per command: wall ns; peak RSS KiB
        self.times = {}
        self.rss = {}
        self.init_hwm = []
        os.makedirs(self.root)
        os.makedirs(self.dir)

    def prepare(self):
        make_rootfs(self.rootfs)
        spec_dir = os.path.join(self.dir, "spec")
        os.makedirs(spec_dir)
        # Each runtime's own default config (`runc spec`, `berth spec`).
        spawn([self.bin, "spec", "--bundle", spec_dir], self.tmp).check()
        with open(os.path.join(spec_dir, "config.json")) as f:
            self.spec = json.load(f)
        self.spec["process"]["terminal"] = False
        self.spec["root"]["path"] = self.rootfs
        self.version = spawn([self.bin, "--version"], self.tmp).out.splitlines()[0:1]

    def bundle(self, cid, args):
        spec = json.loads(json.dumps(self.spec))
        spec["process"]["args"] = args
        spec["linux"]["cgroupsPath"] = f"/{self.cg_parent}/{cid}"
        b = os.path.join(self.dir, cid)
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    def argv(self, *args):
        return [self.bin, *FLAGS[self.name], "--root", self.root, *args]

    def cmd(self, *args, record=None):
        """Runs a runtime command; record names the row its time counts in."""
        r = spawn(self.argv(*args), self.tmp)
        if record is not None and r.rc == 0:
            self.times.setdefault(record, []).append(r.ns)
        return r

    def measure_rss(self, *args):
        """Runs a runtime command under GNU time; records its peak RSS."""
        out = os.path.join(self.tmp, f"rss-{self.name}")
        r = spawn([GNU_TIME, "-f", "%M", "-o", out, *self.argv(*args)], self.tmp).check()
        with open(out) as f:
            self.rss.setdefault(args[0], []).append(int(f.read().split()[-1]))
        return r

    def state(self, cid):
        r = self.cmd("state", cid)
        if r.rc != 0:
            return None
        return json.loads(r.out)

    def destroy(self, cid):
        """Kills, waits for and deletes a container; untimed."""
        st = self.state(cid)
        if st is None:
            return
        pid = st.get("pid") or 0
        if st.get("status") in ("created", "running", "paused") and pid > 0:
            self.cmd("kill", cid, "KILL")
            wait_gone(pid)
        if self.cmd("delete", cid).rc != 0:
            self.cmd("delete", "--force", cid)
        reap()

    def has_exec(self):
        return spawn([self.bin, "exec", "--help"], self.tmp).rc == 0

    def leftovers(self):
        """State dirs and container cgroups a runtime left behind."""
        left = []
        if os.path.isdir(self.root):
            left += [f"{self.root}/{e}" for e in os.listdir(self.root)
                     if os.path.isdir(os.path.join(self.root, e))]
        for h in hierarchies():
            p = os.path.join(h, self.cg_parent)
            if os.path.isdir(p):
                left += [os.path.join(p, e) for e in os.listdir(p)
                         if e.startswith(TAG) and os.path.isdir(os.path.join(p, e))]
        return left


def make_rootfs(rootfs):
    bindir = os.path.join(rootfs, "bin")
    os.makedirs(bindir)
    shutil.copy2("/bin/busybox", os.path.join(bindir, "busybox"))
    r = spawn(["/bin/busybox", "--list"], tempfile.gettempdir())
    for applet in r.out.split():
        if applet != "busybox":
            os.symlink("busybox", os.path.join(bindir, applet))


def fs_type(path):
    """statfs(2)'s f_type, or None."""
    buf = ctypes.create_string_buffer(256)  # struct statfs: 120 bytes on x86_64
    if libc.statfs(path.encode(), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value  # f_type comes first


def pure_v2():
    return fs_type("/sys/fs/cgroup") == CGROUP2_SUPER_MAGIC


def hierarchies():
    """The root of every cgroup hierarchy: on a pure v2 host /sys/fs/cgroup
    itself (whose entries are cgroups, not hierarchies), else its v1
    controllers' mounts and the unified one, each once (cpu and cpuacct are
    symlinks to one)."""
    if pure_v2():
        return ["/sys/fs/cgroup"]
    seen, out = set(), []
    for e in sorted(os.listdir("/sys/fs/cgroup")):
        p = os.path.join("/sys/fs/cgroup", e)
        if os.path.islink(p) or not os.path.isdir(p):
            continue
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(p)
    return out


def crun_skip_reason():
    """Why crun cannot take part here, or None."""
    if not pure_v2():
        kind = "v1 (hybrid)" if fs_type("/sys/fs/cgroup/unified") == CGROUP2_SUPER_MAGIC else "v1"
        return (f"this host is cgroup {kind}, where crun cannot manage the container's "
                "cgroups (make bench-v2 runs it in a pure cgroup v2 guest)")
    if not os.access(CRUN, os.X_OK):
        return f"{CRUN} missing (apt-get install crun, or set CRUN)"
    return None


# ---------------------------------------------------------------- workloads

def interleaved(rts, i):
    """The runtimes in iteration i's order: each goes first in turn, so that
    none always runs right after another one's (cache, page cache, cgroup
    teardown)."""
    k = i % len(rts) if rts else 0
    return rts[k:] + rts[:k]


def w_run(rts, floor, tmp):
    """1 (and 7): run /bin/true, create+start+wait+delete; the unshare floor."""
    for i in range(WARMUP + N_RUN):
        rec = "run" if i >= WARMUP else None
        for rt in interleaved(rts, i):
            cid = f"{TAG}-run-{i}"
            b = rt.bundle(cid, ["/bin/true"])
            rt.cmd("run", "--bundle", b, cid, record=rec).check()
        r = spawn([UNSHARE, *FLOOR_ARGS], tmp).check()
        if rec:
            floor.append(r.ns)
    reap()


def w_create_start_delete(rts):
    """2: create, start and delete timed separately. The container runs
    sleep 1000; between start and delete (untimed) it is killed with `kill
    KILL` and reaped, so delete removes a stopped container. (Not /bin/true:
    berth's start can report a container that exits at once as stopped.)"""
    for i in range(WARMUP + N_CSD):
        warm = i < WARMUP
        for rt in interleaved(rts, i):
            cid = f"{TAG}-csd-{i}"
            b = rt.bundle(cid, ["sleep", "1000"])
            rt.cmd("create", "--bundle", b, cid, record=None if warm else "create").check()
            st = rt.state(cid)
            if st is None or st.get("status") != "created":
                raise BenchError(f"{rt.name}: {cid} not created after create: {st}")
            pid = st["pid"]
            hwm = vm_hwm_kb(pid)
            if hwm is not None and not warm:
                rt.init_hwm.append(hwm)
            rt.cmd("start", cid, record=None if warm else "start").check()
            rt.cmd("kill", cid, "KILL").check()
            if not wait_gone(pid):
                raise BenchError(f"{rt.name}: {cid}: still running after kill KILL")
            rt.cmd("delete", cid, record=None if warm else "delete").check()
    reap()


def w_state_list(rts):
    """3: state and list with N_EXISTING containers created (not started)."""
    ids = [f"{TAG}-idle-{j}" for j in range(N_EXISTING)]
    try:
        for rt in rts:
            for cid in ids:
                b = rt.bundle(cid, ["sleep", "1000"])
                rt.cmd("create", "--bundle", b, cid).check()
        for i in range(WARMUP + N_QUERY):
            warm = i < WARMUP
            for rt in interleaved(rts, i):
                cid = ids[i % len(ids)]
                r = rt.cmd("state", cid, record=None if warm else "state").check()
                if json.loads(r.out).get("status") != "created":
                    raise BenchError(f"{rt.name} state {cid}: {r.out.strip()}")
                r = rt.cmd("list", record=None if warm else "list").check()
                n = sum(1 for line in r.out.splitlines() if f"{TAG}-idle-" in line)
                if n != len(ids):
                    raise BenchError(f"{rt.name} list shows {n} of {len(ids)} containers")
    finally:
        for rt in rts:
            for cid in ids:
                rt.destroy(cid)


def w_parallel(rts, tmp, results):
    """4: N_PARALLEL containers created and started at once (each one
    create then start, running sleep 1000); wall time until all are started."""
    for rnd in range(ROUNDS):
        for rt in interleaved(rts, rnd):
            ids = [f"{TAG}-par{rnd}-{j}" for j in range(N_PARALLEL)]
            bundles = [rt.bundle(cid, ["sleep", "1000"]) for cid in ids]
            errors = [None] * len(ids)
            barrier = threading.Barrier(len(ids) + 1)

            def job(j):
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    errors[j] = "aborted"
                    return
                r = spawn(rt.argv("create", "--bundle", bundles[j], ids[j]), tmp)
                if r.rc == 0:
                    r = spawn(rt.argv("start", ids[j]), tmp)
                if r.rc != 0:
                    errors[j] = f"{' '.join(r.argv[3:])}: exit {r.rc}: {r.err.strip()}"

            threads = [threading.Thread(target=job, args=(j,)) for j in range(len(ids))]
            try:
                for t in threads:
                    t.start()
                barrier.wait()
                t0 = time.perf_counter_ns()
                for t in threads:
                    t.join()
                wall = time.perf_counter_ns() - t0
            except BaseException:
                barrier.abort()
                for t in threads:
                    t.join()
                raise
            finally:
                for cid in ids:
                    rt.destroy(cid)
            res = results.setdefault(rt.name, {"wall": [], "failed": 0, "total": 0, "errors": []})
            res["wall"].append(wall)
            res["total"] += len(ids)
            failed = [e for e in errors if e]
            res["failed"] += len(failed)
            res["errors"] += failed[:3]
    reap()


def w_exec(rts):
    """5: exec /bin/true into a running container (sleep 1000)."""
    support = {rt.name: rt.has_exec() for rt in rts}
    able = [rt for rt in rts if support[rt.name]]
    cid = f"{TAG}-exec"
    try:
        for rt in able:
            b = rt.bundle(cid, ["sleep", "1000"])
            rt.cmd("create", "--bundle", b, cid).check()
            rt.cmd("start", cid).check()
        for i in range(WARMUP + N_EXEC):
            for rt in interleaved(able, i):
                rt.cmd("exec", cid, "/bin/true", record=None if i < WARMUP else "exec").check()
    finally:
        for rt in able:
            rt.destroy(cid)
    return support


def w_rss(rts, exec_support):
    """6: peak RSS of each command of a lifecycle (create, state, list, start,
    exec, kill, delete of a container running sleep 1000; run of /bin/true),
    each command under GNU time; untimed."""
    for i in range(N_RSS):
        for rt in interleaved(rts, i):
            cid = f"{TAG}-rss-{i}"
            try:
                rt.measure_rss("create", "--bundle", rt.bundle(cid, ["sleep", "1000"]), cid)
                rt.measure_rss("state", cid)
                rt.measure_rss("list")
                rt.measure_rss("start", cid)
                if exec_support.get(rt.name):
                    rt.measure_rss("exec", cid, "/bin/true")
                pid = rt.state(cid)["pid"]
                rt.measure_rss("kill", cid, "KILL")
                wait_gone(pid)
                rt.measure_rss("delete", cid)
            finally:
                rt.destroy(cid)
            rid = f"{TAG}-rssrun-{i}"
            rt.measure_rss("run", "--bundle", rt.bundle(rid, ["/bin/true"]), rid)
    reap()


def w_rootless(rts, tmp, users):
    """8: run /bin/true as an ordinary user (bench_rootless.py), berth and
    runc: crun's rootless mode is not what the bench compares."""
    user = RootlessUser(tmp)
    users.append(user)
    rl = [RootlessRuntime(rt, user, spawn) for rt in rts if rt.name != "crun"]
    for i in range(WARMUP + N_ROOTLESS):
        for r in interleaved(rl, i):
            r.run(f"{TAG}-rl-{i}", record=i >= WARMUP).check()
    left = [f"{r.rt.name}: {e}" for r in rl for e in r.leftovers()]
    if left:
        raise BenchError(f"rootless run left state behind: {', '.join(left[:5])}")


# ------------------------------------------------------------------ cleanup

def cleanup(rts, tmp):
    """Removes every container, cgroup, mount and the temp dir; best effort,
    never raises. Returns a list of what could not be removed."""
    problems = []
    reap()
    for rt in rts:
        if os.path.isdir(rt.root):
            for cid in os.listdir(rt.root):
                if os.path.isdir(os.path.join(rt.root, cid)):
                    try:
                        rt.destroy(cid)
                    except Exception as e:  # keep going
                        problems.append(f"{rt.name} {cid}: {e}")
    # Our containers' cgroups (and the parents we made) in every hierarchy.
    for parent in (f"{name}-bench" for name in RUNTIMES):
        for h in hierarchies():
            p = os.path.join(h, parent)
            if not os.path.isdir(p):
                continue
            for top, dirs, _ in os.walk(p, topdown=False):
                rel = os.path.relpath(top, p)
                if rel == "." or not rel.split("/")[0].startswith(TAG):
                    continue
                kill_cgroup(top)
                try:
                    os.rmdir(top)
                except OSError as e:
                    problems.append(f"rmdir {top}: {e.strerror}")
            try:
                os.rmdir(p)  # only if empty: another bench may be using it
            except OSError:
                if not os.listdir(p) or any(e.startswith(TAG) for e in os.listdir(p)):
                    problems.append(f"cannot remove {p}")
    reap()
    # Mounts under our temp dir (none expected: the runtimes mount in the
    # container's own mount namespace).
    for _ in range(3):
        mps = mounts_under(tmp)
        if not mps:
            break
        for mp in reversed(mps):
            libc.umount2(mp.encode(), MNT_DETACH)
    mps = mounts_under(tmp)
    if mps:
        problems.append(f"still mounted, {tmp} kept: {', '.join(mps)}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return problems


def kill_cgroup(path):
    for _ in range(50):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            wait_gone(pid, 1.0)


def mounts_under(tmp):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == tmp or mp.startswith(tmp + "/"):
                out.append(mp)
    return out


# --------------------------------------------------------------------- main

def main():
    if os.geteuid() != 0:
        print("make bench runs containers: run it as root", file=sys.stderr)
        return 1
    crun_skipped = crun_skip_reason()
    for path, what in ((BERTH, "berth (make build)"), (RUNC, "runc (apt-get install runc)"),
                       ("/bin/busybox", "busybox-static"), (GNU_TIME, "apt-get install time"),
                       (UNSHARE, "util-linux")):
        if not os.access(path, os.X_OK):
            print(f"bench: {path} missing: {what}", file=sys.stderr)
            return 1
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("bench: cannot become a child subreaper", file=sys.stderr)
        return 1

    def on_signal(signum, frame):
        if not INTERRUPTED:
            INTERRUPTED.append(signal.Signals(signum).name)
            raise KeyboardInterrupt
    # Also when started with SIGINT ignored (a background job): the bench
    # must always get to its cleanup.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    global LOAD_AT_START
    with open("/proc/loadavg") as f:
        LOAD_AT_START = " ".join(f.read().split()[:3])
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="berth-bench.", dir="/run")
    rts = []
    users = []
    failure = None
    text = None
    try:
        rts = [Runtime("berth", os.path.realpath(BERTH), tmp),
               Runtime("runc", os.path.realpath(RUNC), tmp)]
        if crun_skipped is None:
            rts.append(Runtime("crun", os.path.realpath(CRUN), tmp))
        for rt in rts:
            rt.prepare()
        floor, par = [], {}
        steps = [
            ("1 run + 7 floor", lambda: w_run(rts, floor, tmp)),
            ("2 create/start/delete", lambda: w_create_start_delete(rts)),
            ("3 state/list", lambda: w_state_list(rts)),
            ("4 parallel", lambda: w_parallel(rts, tmp, par)),
        ]
        def progress(name):
            print(f"bench: {name} (at {time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
        for name, fn in steps:
            progress(name)
            fn()
        progress("5 exec")
        exec_support = w_exec(rts)
        progress("6 peak RSS")
        w_rss(rts, exec_support)
        progress("8 rootless run")
        w_rootless(rts, tmp, users)
        notes = []
        for rt in rts:
            left = rt.leftovers()
            if left:
                notes.append(f"note: {rt.name} left {len(left)} state dir(s)/cgroup(s) behind "
                             f"(removed by the bench): {', '.join(left[:5])}")
        skipped = [] if crun_skipped is None else textwrap.wrap(
            f"crun: skipped; {crun_skipped}", 79, subsequent_indent="      ")
        text = report(rts, floor, par, exec_support, time.monotonic() - start, notes,
                      quick=QUICK, n_existing=N_EXISTING, n_parallel=N_PARALLEL,
                      load=LOAD_AT_START, repo=REPO, skipped=skipped)
        if any(p["failed"] for p in par.values()):
            failure = "parallel create+start had failures"
    except BenchError as e:
        failure = str(e)
    except KeyboardInterrupt:
        failure = "interrupted"
    except Exception:
        failure = "internal error:\n" + traceback.format_exc()
    finally:
        # From here on signals are ignored and no longer reach the commands
        # (INTERRUPTED keeps SIGINT out of their default set): cleanup runs whole.
        INTERRUPTED.append("cleanup")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        problems = [p for u in users for p in u.remove()] + cleanup(rts, tmp)
    if INTERRUPTED[0] != "cleanup":
        failure = f"interrupted ({INTERRUPTED[0]})"
        text = None
    for p in problems:
        print(f"bench: cleanup: {p}", file=sys.stderr)
    if text is not None:
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w") as f:
            f.write(text)
        sys.stdout.write(text)
        print(f"(written to {os.path.relpath(OUT, REPO) if OUT.startswith(REPO) else OUT})")
    if failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
