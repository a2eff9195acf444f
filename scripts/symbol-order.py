#!/usr/bin/env python3
"""make symbol-order: lists the functions berth's commands run, so the linker
puts them side by side (src/symbol-order.txt, read by build.rs).

Why: on this kernel a page fault on the binary's text maps every cached page
of the 64 KiB around it (fault-around), so a command's RSS follows how many
64 KiB windows its code touches, not how much code it runs. Scattered by the
default layout, the few hundred KiB a command runs touch most of the 3 MB of
text; grouped, they fill a few windows (issue 7's notes have the figures).

How: a small ptrace tracer (below) runs each command of a real lifecycle with
an int3 on the first byte of every function of a copy of berth that keeps
its symbols (BERTH_KEEP_SYMBOLS=1, same code and layout). Each trap records
the function, puts the byte back and resumes, so a function costs one stop
per process. It follows every fork (the container process, a second fork,
exec's process) and lets go of a process when it execs the container's
program. valgrind cannot do this: it has no pidfd_open.

The names carry a hash that changes with the toolchain, the dependencies and
berth's version; names the binary no longer has are skipped by the linker, so
a stale list only costs memory. Regenerate after such changes; `make bench`
shows the RSS.

Needs busybox-static; root (it runs containers). Writes src/symbol-order.txt.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "src", "symbol-order.txt")
TARGET_DIR = os.path.join(REPO, "target", "symbol-order")
TRIPLE = "x86_64-unknown-linux-gnu"

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_TRACEME, PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS = 0, 7, 12, 13
PTRACE_DETACH, PTRACE_SETOPTIONS = 17, 0x4200
# TRACEFORK | TRACEVFORK | TRACECLONE | TRACEEXEC | EXITKILL
OPTIONS = 0x2 | 0x4 | 0x8 | 0x10 | 0x100000
EVENT_EXEC = 4
WALL = 0x40000000
RIP = 16  # index of rip in struct user_regs_struct


class Regs(ctypes.Structure):
    _fields_ = [("r", ctypes.c_ulonglong * 27)]


def ptrace(req, pid, addr=0, data=0):
    if libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data)) == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req}, {pid}): {os.strerror(e)}")


class Tracer:
    """Runs argv with a one-shot breakpoint on every function entry."""

    def __init__(self, entries, text):
        self.entries = entries  # address -> name
        self.text = text  # (start, end) of .text

    def run(self, argv, cwd):
        """Returns one set of names per process berth was in."""
        pid = os.fork()
        if pid == 0:
            os.chdir(cwd)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 1)
            os.dup2(null, 2)
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            os.execv(argv[0], argv)
        os.waitpid(pid, WALL)  # stopped at its exec
        ptrace(PTRACE_SETOPTIONS, pid, 0, OPTIONS)
        self.arm(pid)
        hit = {pid: set()}
        live = {pid}
        ptrace(PTRACE_CONT, pid)
        while pid in live:
            p, status = os.waitpid(-1, WALL)
            if not os.WIFSTOPPED(status):
                live.discard(p)
                continue
            if p not in hit:
                hit[p] = set()  # a new fork: it inherited the armed text
                live.add(p)
            sig, event = os.WSTOPSIG(status), status >> 16
            if event == EVENT_EXEC:
                ptrace(PTRACE_DETACH, p)  # the container's program, a hook
                live.discard(p)
            elif event or (sig == signal.SIGTRAP and self.trap(p, hit[p])):
                ptrace(PTRACE_CONT, p)
            else:
                ptrace(PTRACE_CONT, p, 0, 0 if sig in (signal.SIGSTOP, signal.SIGTRAP) else sig)
        # A created container's process waits in berth's code for `start`:
        # it goes on untraced, with its text as it was.
        for p in live:
            os.kill(p, signal.SIGSTOP)
            while True:
                q, status = os.waitpid(p, WALL)
                if os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP:
                    break
                if os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTRAP:
                    self.trap(p, hit[p])
                ptrace(PTRACE_CONT, p)
            with open(f"/proc/{p}/mem", "r+b", buffering=0) as m:
                m.seek(self.text[0])
                m.write(self.original)
            ptrace(PTRACE_DETACH, p)
        return [s for s in hit.values() if s]

    def arm(self, pid):
        start, end = self.text
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as m:
            m.seek(start)
            code = bytearray(m.read(end - start))
            self.original = bytes(code)
            for a in self.entries:
                code[a - start] = 0xCC
            m.seek(start)
            m.write(code)

    def trap(self, pid, names):
        regs = Regs()
        ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
        a = regs.r[RIP] - 1
        if a not in self.entries:
            return False
        names.add(self.entries[a])
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as m:
            m.seek(a)
            m.write(self.original[a - self.text[0] : a - self.text[0] + 1])
        regs.r[RIP] = a
        ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(regs))
        return True


def build():
    env = dict(os.environ, BERTH_KEEP_SYMBOLS="1", CARGO_TARGET_DIR=TARGET_DIR)
    subprocess.run(["cargo", "build", "--release", "--bin", "berth"], cwd=REPO, env=env, check=True)
    return os.path.join(TARGET_DIR, TRIPLE, "release", "berth")


def functions(berth):
    """address -> mangled name of each function, and .text's bounds."""
    nm = subprocess.run(["nm", "--defined-only", berth], capture_output=True, text=True, check=True)
    entries = {}
    for line in nm.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tTwW":
            entries.setdefault(int(f[0], 16), f[2])
    sec = subprocess.run(["readelf", "-SW", berth], capture_output=True, text=True, check=True)
    for line in sec.stdout.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            start, size = int(f[3], 16), int(f[5], 16)
    return {a: n for a, n in entries.items() if start <= a < start + size}, (start, start + size)


def bundle(berth, tmp):
    b = os.path.join(tmp, "bundle")
    os.makedirs(os.path.join(b, "rootfs", "bin"))
    shutil.copy("/bin/busybox", os.path.join(b, "rootfs", "bin", "busybox"))
    for applet in ("true", "sh", "sleep"):
        os.symlink("busybox", os.path.join(b, "rootfs", "bin", applet))
    subprocess.run([berth, "spec", "--bundle", b], check=True)
    cfg = os.path.join(b, "config.json")
    with open(cfg) as f:
        c = json.load(f)
    c["process"]["terminal"] = False
    c["process"]["args"] = ["true"]
    c["linux"]["cgroupsPath"] = f"/berth-symbol-order/{os.getpid()}"
    with open(cfg, "w") as f:
        json.dump(c, f)
    return b, c


def profile(berth, tmp):
    """Each traced process's set of functions, over a real lifecycle."""
    entries, text = functions(berth)
    t = Tracer(entries, text)
    root = os.path.join(tmp, "root")
    b, c = bundle(berth, tmp)
    g = [berth, "--root", root]
    sets = []

    def trace(*args):
        sets.extend(t.run([*g, *args], tmp))

    try:
        trace("--version")
        trace("spec", "--bundle", tmp)
        os.unlink(os.path.join(tmp, "config.json"))
        trace("spec", "--rootless", "--bundle", tmp)
        trace("features")
        trace("list")
        trace("state", "nosuch")
        trace("delete", "nosuch")
        trace("run", "--bundle", b, "run1")
        c["process"]["args"] = ["sleep", "60"]
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(c, f)
        trace("create", "--bundle", b, "c1")
        trace("state", "c1")
        trace("start", "c1")
        trace("list")
        trace("exec", "c1", "true")
        trace("exec", "--detach", "c1", "true")
        trace("ps", "c1")
        trace("pause", "c1")
        trace("resume", "c1")
        trace("events", "--stats", "c1")
        trace("update", "--pids-limit", "100", "c1")
        trace("kill", "c1", "KILL")
        trace("state", "c1")
        trace("delete", "c1")
    finally:
        subprocess.run([*g, "delete", "--force", "c1"], stderr=subprocess.DEVNULL)
        subprocess.run([*g, "delete", "--force", "run1"], stderr=subprocess.DEVNULL)
        parent = os.path.dirname(c["linux"]["cgroupsPath"])
        for h in os.listdir("/sys/fs/cgroup"):
            d = f"/sys/fs/cgroup/{h}{parent}"
            if os.path.isdir(d):
                os.rmdir(d)
    return sets


def main():
    if os.geteuid() != 0:
        sys.exit("symbol-order runs containers: run it as root")
    berth = build()
    with tempfile.TemporaryDirectory(prefix="berth-symbol-order-") as tmp:
        sets = profile(berth, tmp)
    # What every process runs (start-up, libc, argument parsing) first, then
    # what fewer and fewer share: each process's code stays close together.
    users = {}
    for i, names in enumerate(sets):
        for n in names:
            users.setdefault(n, []).append(i)
    order = sorted(users, key=lambda n: (-len(users[n]), users[n], n))
    with open(OUT, "w") as f:
        f.write("".join(n + "\n" for n in order))
    print(f"{OUT}: {len(order)} functions from {len(sets)} processes")


if __name__ == "__main__":
    main()
