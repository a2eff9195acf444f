"""The table scripts/bench.py prints and writes: one column group per runtime
and the ratios berth/<other> for every other runtime that ran.

Apart from bench.py so that the measuring part stays short enough to read;
it takes the runtimes' recorded figures and returns the text.
"""

import datetime
import os
import platform
import statistics


def ms(ns):
    return f"{ns / 1e6:.2f}"


def mib(kb):
    return f"{kb / 1024:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"Linux {platform.release()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}"


class Table:
    """Fixed-width rows: a left-aligned label, then right-aligned cells."""

    def __init__(self, add, widths):
        self.add, self.w = add, widths

    def row(self, cells):
        out = str(cells[0]).ljust(self.w[0])
        for c, width in zip(cells[1:], self.w[1:]):
            out += " " + str(c).rjust(width)
        self.add(out.rstrip())

    def rule(self):
        self.add("-" * (sum(self.w) + len(self.w) - 1))


def report(rts, floor, par, exec_support, elapsed, notes, *, quick, n_existing, n_parallel,
           load, repo, skipped):
    """rts: the runtimes that ran, berth first; skipped: lines saying which
    runtime did not run and why."""
    lines = []
    add = lines.append
    berth, others = rts[0], rts[1:]
    names = [rt.name for rt in rts]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    add(f"berth bench ({'quick' if quick else 'full'} mode), {now}")
    add(f"machine: {machine()}")
    add(f"load average at start: {load}")
    for rt in rts:
        ver = rt.version[0] if rt.version else "?"
        shown = os.path.relpath(rt.bin, repo) if rt.bin.startswith(repo + "/") else rt.bin
        add(f"{rt.name:5}: {shown} ({ver})")
    add("wall-clock ms per command: posix_spawn of the CLI to its exit (monotonic clock);")
    order = "alternating" if len(rts) == 2 else "rotating"
    add(f"runs interleaved {'/'.join(names)}, order {order}; after warm-up runs")
    add("")

    # Timings: median, min, max per runtime, then berth/<other> of the medians.
    t = Table(add, [44, 5] + [8, 8, 8] * len(rts) + [11] * len(others))
    t.row(["workload", "n"] + [c for n in names for c in (n, "min", "max")]
          + [f"berth/{rt.name}" for rt in others])
    t.row(["", ""] + ["median", "", ""] * len(rts) + ["(median)"] * len(others))
    t.rule()

    def timing_row(label, series, unsupported=()):
        n = len(next((v for v in series if v), []))
        cells = [label, n]
        for rt, v in zip(rts, series):
            if rt.name in unsupported:
                cells += ["n/a", "-", "-"]
            else:
                cells += [ms(statistics.median(v)), ms(min(v)), ms(max(v))] if v else ["-", "-", "-"]
        b = series[0]
        for v in series[1:]:
            cells.append(ratio(statistics.median(b), statistics.median(v)) if b and v else "-")
        t.row(cells)

    def times(key):
        return [rt.times.get(key) for rt in rts]

    timing_row("1 run /bin/true (create+start+wait+delete)", times("run"))
    timing_row("2 create (container runs sleep 1000)", times("create"))
    timing_row("  start", times("start"))
    timing_row("  delete (killed and reaped first)", times("delete"))
    timing_row(f"3 state, {n_existing} containers created", times("state"))
    timing_row(f"  list, {n_existing} containers created", times("list"))
    timing_row(f"4 {n_parallel} parallel create+start, wall",
               [par.get(n, {}).get("wall") for n in names])
    no_exec = [n for n in names if not exec_support.get(n)]
    timing_row("5 exec /bin/true into a running container", times("exec"), no_exec)
    t.row(["7 floor: unshare --fork --pid --mount", len(floor), ms(statistics.median(floor)),
           ms(min(floor)), ms(max(floor))])
    add("    --uts --ipc --net /bin/true")
    timing_row("8 rootless run /bin/true, as a user", times("rootless run"))
    add("    (spec --rootless, through setpriv)")
    add("")
    for n in no_exec:
        add(f"{n} has no exec yet")
    fm = statistics.median(floor)
    runs = [(rt.name, rt.times.get("run")) for rt in rts]
    if all(v for _, v in runs):
        add("run / floor (medians): "
            + ", ".join(f"{n} {ratio(statistics.median(v), fm)}" for n, v in runs))
    for n in names:
        p = par.get(n)
        if p:
            add(f"{n_parallel} parallel create+start, {n}: {p['failed']} of {p['total']} failed "
                f"over {len(p['wall'])} round(s)")
            for e in p["errors"]:
                add(f"    {e}")
    add("")

    # Peak RSS: median and max per runtime, then berth/<other> of the maxima.
    add("6 peak RSS, MiB, of each command (GNU time %M: its process and the children")
    add("  it reaped; for run that includes the container process)")
    t = Table(add, [44, 5] + [8, 8] * len(rts) + [11] * len(others))
    t.row(["command", "n"] + [c for n in names for c in (n, "max")]
          + [f"berth/{rt.name}" for rt in others])
    t.row(["", ""] + ["median", ""] * len(rts) + ["(max)"] * len(others))
    t.rule()

    def rss_row(label, series):
        cells = [label, len(next((v for v in series if v), []))]
        for v in series:
            cells += [mib(statistics.median(v)), mib(max(v))] if v else ["-", "-"]
        b = series[0]
        for v in series[1:]:
            cells.append(ratio(max(b), max(v)) if b and v else "-")
        t.row(cells)

    for cmd in ("run", "create", "state", "list", "start", "exec", "kill", "delete"):
        series = [rt.rss.get(cmd) for rt in rts]
        if any(series):
            rss_row(cmd, series)
    rss_row("container process while created (VmHWM)", [rt.init_hwm for rt in rts])
    sizes = [os.path.getsize(rt.bin) for rt in rts]
    cells = ["binary size", ""]
    for s in sizes:
        cells += [f"{s / 2**20:.2f}", ""]
    t.row(cells + [ratio(sizes[0], s) for s in sizes[1:]])
    if "crun" in names:
        # berth is static and runc (Go) nearly so: a size ratio against
        # crun would flatter crun without this.
        add("  (crun is dynamically linked: its shared libraries are not in its binary size)")
    add("")
    for s in skipped:
        add(s)
    for n in notes:
        add(n)
    add(f"bench took {elapsed:.0f} s")
    return "\n".join(lines) + "\n"
