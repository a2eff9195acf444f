"""make bench's rootless row (workload 8): `run /bin/true` as an ordinary
user, with each runtime's own `spec --rootless` bundle (made by that user)
and a --root of the user's, as a user runs runc or berth by hand. The user
is made for the bench (useradd) and removed at its end with everything it
owned: its processes, its directory, the /etc/subuid and /etc/subgid lines
useradd gave it.

Each command runs through setpriv (the user's uid and gid, no supplementary
groups), so the row's times include one more exec than the root rows', the
same for every runtime: compare the runtimes within the row, not the row
with workload 1.
"""

import json
import os
import pwd
import shutil
import subprocess

SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


class RootlessUser:
    """An ordinary user and a directory of its own under `tmp`."""

    def __init__(self, tmp):
        self.name = f"brbench{os.getpid()}"
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", self.name], check=True,
                       capture_output=True, timeout=60)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # The bench's temp dir is root's (0700): the user may pass through
        # it (not list it) to its own directory and to the shared rootfs.
        os.chmod(tmp, 0o711)
        self.dir = os.path.join(tmp, "rootless")
        os.makedirs(self.dir)
        os.chown(self.dir, self.uid, self.gid)

    def argv(self, *args):
        return [SETPRIV, "--reuid", str(self.uid), "--regid", str(self.gid),
                "--clear-groups", "--", *args]

    def remove(self):
        """Kills the user's processes, then removes the user; best effort,
        returns what went wrong."""
        problems = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.stat(f"/proc/{p}").st_uid == self.uid:
                        os.kill(int(p), 9)
                        problems.append(f"process {p} of {self.name} was left")
                except OSError:
                    pass
        r = subprocess.run(["userdel", "-f", self.name], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            problems.append(f"userdel {self.name}: {r.stderr.strip()}")
        for f in ("/etc/subuid", "/etc/subgid"):
            try:
                with open(f) as fh:
                    lines = fh.readlines()
            except OSError:
                continue
            kept = [line for line in lines if line.split(":")[0] != self.name]
            if kept != lines:
                with open(f, "w") as fh:
                    fh.writelines(kept)
        return problems


class RootlessRuntime:
    """One runtime as the user sees it: its --root in the user's directory,
    its own `spec --rootless` config, and a rootfs of the user's."""

    def __init__(self, rt, user, spawn):
        self.rt, self.user, self.spawn = rt, user, spawn
        self.root = os.path.join(user.dir, f"{rt.name}-root")
        self.bundles = os.path.join(user.dir, f"{rt.name}-bundles")
        for d in (self.root, self.bundles):
            os.makedirs(d)
            os.chown(d, user.uid, user.gid)
        spec_dir = os.path.join(self.bundles, "spec")
        os.makedirs(spec_dir)
        os.chown(spec_dir, user.uid, user.gid)
        self.run_as(rt.bin, "spec", "--rootless", "--bundle", spec_dir).check()
        with open(os.path.join(spec_dir, "config.json")) as f:
            self.spec = json.load(f)
        self.spec["process"]["terminal"] = False
        self.spec["process"]["args"] = ["/bin/true"]
        # The user's own copy of the rootfs, as a user's bundle has: the
        # runtime makes its mount points there.
        rootfs = os.path.join(self.bundles, "rootfs")
        shutil.copytree(rt.rootfs, rootfs, symlinks=True)
        subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", rootfs], check=True)
        self.spec["root"]["path"] = rootfs

    def run_as(self, *argv):
        return self.spawn(self.user.argv(*argv), self.rt.tmp)

    def bundle(self, cid):
        b = os.path.join(self.bundles, cid)
        os.makedirs(b)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(self.spec, f)
        return b

    def run(self, cid, record):
        """`run` of /bin/true as the user; its time in the runtime's row."""
        r = self.run_as(self.rt.bin, "--root", self.root, "run", "--bundle", self.bundle(cid), cid)
        if record and r.rc == 0:
            self.rt.times.setdefault("rootless run", []).append(r.ns)
        return r

    def leftovers(self):
        return [e for e in os.listdir(self.root)]
